"""Checks for the exercises of notebooks 00-04: data, splits, metrics, classic baselines.

Each check recomputes the answer independently (NumPy on the raw interactions, a closed-form
reference) or tests a property that a wrong answer fails; see :mod:`handson.exercises`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import metrics as M
from ..datasets import Dataset, Interactions
from .core import attempted, ranked, recall, report, unit_rows, values

__all__ = ["check_recommend_user", "check_test_size", "check_most_popular", "check_share_light",
           "check_missing_mean", "check_share_pattern", "check_mrr_function", "check_users_without_test",
           "check_cold_popularity", "check_ease_lambda", "check_cold_capable"]


# -- 00 welcome ------------------------------------------------------------------------------
def check_recommend_user(top: Any, model: Any, user: int, seen: list[Interactions], k: int = 8) -> bool | None:
    """00 · 1: ``top`` must be the model's ``k`` best items for ``user`` with ``seen`` masked."""
    if not attempted("recommend for another user", top):
        return None
    ref = ranked(model.score(np.array([user])), np.array([user]), seen, k)[0]
    top = np.asarray(top).ravel()
    ok = len(top) == k and set(top.tolist()) == set(ref.tolist())
    return report("recommend for another user", ok,
                  f"user {user} gets {sorted(ref.tolist())}" if ok else
                  f"expected the {k} best unseen items of user {user}, not {sorted(top.tolist())}.")


def check_test_size(n_test: Any, data: Dataset | Interactions, ratio: float) -> bool | None:
    """00 · 2: the number of test interactions of ``random_split(data, test=ratio)``, per user
    ``round(ratio * n_u)`` (half up) but at least one interaction left in train."""
    if not attempted("test=0.5", n_test):
        return None
    inter = data.interactions if isinstance(data, Dataset) else data
    n_u = np.bincount(inter.users, minlength=inter.n_users)
    expected = int(np.clip(np.floor(ratio * n_u + 0.5 + 1e-9), 0, np.maximum(n_u - 1, 0)).sum())
    return report("test=0.5", int(n_test) == expected,
                  f"{expected:,} of {len(inter):,} interactions are test ({expected / len(inter):.1%})."
                  if int(n_test) == expected else f"{n_test} is not the size of the test part at test={ratio}.")


# -- 01 data exploration ---------------------------------------------------------------------
def check_most_popular(item: Any, ds: Dataset) -> bool | None:
    """01 · 1: ``item`` must have the most interactions."""
    if not attempted("most popular item", item):
        return None
    counts = np.bincount(ds.interactions.items, minlength=ds.n_items)
    ok = 0 <= int(item) < ds.n_items and counts[int(item)] == counts.max()
    return report("most popular item", ok, f"item {int(item)} has {counts[int(item)]} interactions"
                  + ("." if ok else f", the most popular has {counts.max()}."))


def check_share_light(share: Any, ds: Dataset, threshold: int = 10) -> bool | None:
    """01 · 2: the share of users (of all users) with fewer than ``threshold`` interactions."""
    if not attempted("share of light users", share):
        return None
    expected = float((np.bincount(ds.interactions.users, minlength=ds.n_users) < threshold).mean())
    ok = np.isclose(float(share), expected)
    return report("share of light users", ok, f"{expected:.1%} of users have fewer than {threshold} interactions."
                  if ok else f"{float(share):.4f} is not the share of users with fewer than {threshold}.")


# -- 02 feature extraction -------------------------------------------------------------------
def check_missing_mean(v_mean: Any, v: Any) -> bool | None:
    """02 · 1: rows without content become the mean of the available rows; the others stay."""
    if not attempted("missing='mean'", v_mean):
        return None
    rows, new = values(v), values(v_mean)
    mask = np.asarray(v.mask)
    ok = new.shape == rows.shape and np.allclose(new[mask], rows[mask], atol=1e-5) and \
        np.allclose(new[~mask], rows[mask].mean(0), atol=1e-4)
    return report("missing='mean'", ok, f"{int((~mask).sum())} rows changed, to the mean of the "
                  f"{int(mask.sum())} available rows." if ok else
                  "the rows without content must equal the mean of the available rows, the others stay.")


def check_share_pattern(share: Any, features: Any, mask: np.ndarray, pattern: np.ndarray, k: int = 5) -> bool | None:
    """02 · 2: the share of available items whose ``k`` nearest cosine neighbours (available
    items, not the item itself) all have the item's pattern."""
    if not attempted("neighbours with the same pattern", share):
        return None
    unit, mask = unit_rows(values(features)), np.asarray(mask, dtype=bool)
    sims = unit @ unit.T
    sims[:, ~mask] = -np.inf
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    expected = float((pattern[top] == pattern[:, None]).all(1)[mask].mean())
    ok = np.isclose(float(share), expected, atol=1e-3)
    return report("neighbours with the same pattern", ok,
                  f"{expected:.1%} of items have {k} neighbours with the same pattern." if ok else
                  f"{float(share):.4f} differs from the share computed from the cosine neighbours.")


# -- 03 splitting and evaluation -------------------------------------------------------------
def check_mrr_function(mrr_at_k: Callable | None, n_cases: int = 200, seed: int = 0) -> bool | None:
    """03 · 1: ``mrr_at_k(ranked, relevant, k)`` against the library's MRR on random cases."""
    if not attempted("MRR from scratch", mrr_at_k):
        return None
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        k = int(rng.integers(1, 10))
        ranking = rng.permutation(30)[:12]
        relevant = set(rng.choice(30, size=int(rng.integers(1, 6)), replace=False).tolist())
        hit = np.isin(ranking, list(relevant))[None, :]
        expected = float(M.mrr_at_k(hit, np.array([len(relevant)]), k)[0])
        got = mrr_at_k(list(ranking), relevant, k)
        if got is None or not np.isclose(float(got), expected):
            return report("MRR from scratch", False, f"for ranked={ranking.tolist()}, relevant={sorted(relevant)}, "
                          f"k={k}: got {got}, expected {expected:.4f}.")
    return report("MRR from scratch", True, f"matches the library on {n_cases} random cases.")


def check_users_without_test(no_test: Any, splits: dict) -> bool | None:
    """03 · 2: per split, the users with interactions but no test item."""
    if not attempted("users without a test item", no_test):
        return None
    expected = {}
    for name in ("random, per user", "random, global"):
        s = splits[name]
        parts = [p for p in s if p is not None]
        has_any = np.bincount(Interactions.concat(parts).users, minlength=s.test.n_users) > 0
        expected[name] = int((has_any & (np.bincount(s.test.users, minlength=s.test.n_users) == 0)).sum())
    ok = isinstance(no_test, dict) and all(int(no_test.get(n, -1)) == v for n, v in expected.items())
    return report("users without a test item", ok, f"{expected}: the per-user split gives every user with "
                  "two or more interactions a test item." if ok else f"expected {expected}, got {no_test}.")


class _Popularity:
    """Scores = training interaction counts (MostPop, written here independently)."""

    def __init__(self, train: Interactions) -> None:
        self.pop, self.n_items_ = np.bincount(train.items, minlength=train.n_items).astype(np.float32), train.n_items

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.pop, (len(users), 1))


def check_cold_popularity(cold_recall: Any, cold_split: Any, k: int) -> bool | None:
    """03 · 3: MostPop's Recall@k on the cold-item split (full ranking, train and valid masked)."""
    if not attempted("MostPop on cold items", cold_recall):
        return None
    expected = recall(_Popularity(cold_split.train), cold_split.test, [cold_split.train, cold_split.valid], k)
    ok = np.isclose(float(cold_recall), expected)
    return report("MostPop on cold items", ok, f"Recall@{k} = {expected:.4f}: every cold item has popularity 0, "
                  "below every warm item." if ok else f"{cold_recall} is not MostPop's cold Recall@{k}.")


# -- 04 classic baselines --------------------------------------------------------------------
class _EASE:
    """EASE^R in closed form (Steck 2019), written here independently of the library."""

    def __init__(self, train: Interactions, lam: float) -> None:
        x = train.to_csr().astype(np.float64)
        p = np.linalg.inv((x.T @ x).toarray() + lam * np.eye(train.n_items))
        self.b = -p / np.diag(p)[None, :]
        np.fill_diagonal(self.b, 0.0)
        self.x, self.n_items_ = x, train.n_items

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.x[users] @ self.b)


def check_ease_lambda(valid_recall: Any, best_lam: Any, train: Interactions, valid: Interactions,
                      k: int) -> bool | None:
    """04 · 1: validation Recall@k per ``lam`` (train masked) and the ``lam`` that maximises it."""
    if not attempted("tune EASE's lambda", valid_recall, best_lam):
        return None
    if not isinstance(valid_recall, dict) or not valid_recall:
        return report("tune EASE's lambda", False, "valid_recall must be a dict {lam: validation Recall}.")
    expected = {lam: recall(_EASE(train, lam), valid, train, k) for lam in valid_recall}
    bad = [lam for lam in expected if not np.isclose(float(valid_recall[lam]), expected[lam], atol=5e-3)]
    if bad:
        return report("tune EASE's lambda", False, f"validation Recall@{k} for lam={bad[0]} should be "
                      f"{expected[bad[0]]:.4f} (evaluate on valid, mask train), not {valid_recall[bad[0]]}.")
    best = max(expected, key=expected.get)
    return report("tune EASE's lambda", best_lam == best, f"lam={best} is best on validation "
                  f"(Recall@{k} {expected[best]:.4f})." if best_lam == best else f"best_lam={best_lam} is not "
                  "the lam with the highest validation Recall.")


def check_cold_capable(answer: Any, models: dict, train: Interactions, n_users: int = 50) -> bool | None:
    """04 · 3: the names of the models that can rank an item without training interactions
    above another such item (their scores on those items differ)."""
    if not attempted("which models handle cold items", answer):
        return None
    cold = np.flatnonzero(np.bincount(train.items, minlength=train.n_items) == 0)
    users = np.flatnonzero(np.bincount(train.users, minlength=train.n_users) > 0)[:n_users]
    expected = set()
    for name, model in models.items():
        s = np.asarray(model.score(users))[:, cold]
        if name != "Random" and len(cold) > 1 and np.ptp(s, axis=1).max() > 1e-9:
            expected.add(name)
    ok = set(answer) == expected
    why = "their cold-item scores are all equal: no interaction, no signal" if not expected else \
        f"only {sorted(expected)} score cold items differently"
    return report("which models handle cold items", ok, (f"{sorted(expected) or 'none'}: {why}."
                  if ok else f"{sorted(answer)} is not it; look at model.score() on items that have "
                  "no training interaction (Random aside: its order carries no information)."))
