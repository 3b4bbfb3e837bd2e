"""Checks for the exercises of notebooks 11 (beyond accuracy) and 12 (tuning and exploring).

Each check recomputes the answer independently (a Lorenz-curve Gini, a NumPy MMR, SciPy's
paired t-test, EASE in closed form, the model's own scores) or tests a property that a wrong
answer fails; results, models and explorers are inspected through their attributes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..datasets import Interactions
from ..evaluation import evaluate
from .core import attempted, ranked, recall, report, seen_matrix, unit_rows, values
from .data import _EASE

__all__ = ["check_data_gini", "check_text_mmr", "check_ttest", "check_tune_ease", "check_export_csv",
           "check_no_blockbusters"]


# -- 11 beyond accuracy ----------------------------------------------------------------------
def check_data_gini(data_gini: Any, train: Interactions, model_gini: Any = None) -> bool | None:
    """11 · 1: the Gini index of the training popularity (interactions per item), from the
    Lorenz curve ``G = (n + 1 - 2 sum_i L_i) / n`` with ``L_i`` the cumulative shares."""
    if not attempted("the data's own concentration", data_gini):
        return None
    c = np.sort(np.bincount(train.items, minlength=train.n_items).astype(np.float64))
    n = len(c)
    expected = float((n + 1 - 2 * (np.cumsum(c) / c.sum()).sum()) / n)
    ok = np.isclose(float(data_gini), expected, atol=1e-6)
    above = [] if model_gini is None else [m for m, g in dict(model_gini).items() if g > expected]
    return report("the data's own concentration", ok, f"Gini of the training popularity {expected:.3f}; "
                  f"models concentrating exposure more: {above or 'none'}." if ok else
                  f"{float(data_gini):.4f} is not the Gini of the training interactions per item.")


def _mmr_order(rel: np.ndarray, sim: np.ndarray, lam: float, k: int) -> np.ndarray:
    """The first ``k`` greedy MMR picks (indices into the candidates, which come in base order)."""
    lo, hi = rel.min(), rel.max()
    gain = lam * ((rel - lo) / (hi - lo) if hi > lo else np.zeros_like(rel))
    picks, closest = [0], sim[0].copy()
    for _ in range(1, min(k, len(rel))):
        obj = gain - (1 - lam) * closest
        obj[picks] = -np.inf
        pick = int(np.argmax(obj))                 # ties: the better base rank
        picks.append(pick)
        closest = np.maximum(closest, sim[pick])
    return np.array(picks)


class _MMRLists:
    """MMR re-ranking of ``base`` in the space ``x``, written here one user at a time: scores
    ``d, d-1, ...`` on the first ``d`` picks among the candidates (base's training items masked;
    ``d`` is ``k`` plus the candidates that ``seen`` masks), ``-inf`` elsewhere."""

    def __init__(self, base: Any, x: Any, lam: float, candidates: int, k: int, seen: Any) -> None:
        rows = values(x) * np.asarray(getattr(x, "mask", True), dtype=bool).reshape(-1, 1)
        self.unit, self.base, self.lam, self.c, self.k = unit_rows(rows), base, lam, candidates, k
        self.seen, self.n_items_ = seen_matrix(seen), len(rows)

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users)
        rel = np.array(self.base.score(users), dtype=np.float64)
        train = self.base.train_[users].toarray() > 0
        rel[train] = -np.inf
        out = np.full(rel.shape, -np.inf, dtype=np.float32)
        for row, r in enumerate(rel):
            cand = np.argsort(-r, kind="stable")[: min(self.c, int(np.isfinite(r).sum()))]
            u = self.unit[cand]
            # evaluate masks more than training (valid): re-rank k plus those of the candidates
            depth = self.k + int(np.isin(cand, self.seen[users[row]].indices).sum())
            order = cand[_mmr_order(r[cand], u @ u.T, self.lam, depth)]
            out[row, order] = np.arange(len(order), 0, -1)
        return out


def check_text_mmr(text_mmr: Any, base: Any, text: Any, image: Any, test: Interactions, seen: Any, k: int,
                   lam: float = 0.5, candidates: int = 100) -> bool | None:
    """11 · 2: the evaluation (Recall, ILD in both spaces) of ``base`` re-ranked by MMR in the
    text space at ``lam``, against an MMR written here."""
    if not attempted("diversity in text space", text_mmr):
        return None
    ref = evaluate(_MMRLists(base, text, lam, candidates, k, seen), test, seen=seen, k=k, metrics=["Recall", "ILD"],
                   item_features={"image": image, "text": text})
    keys = [f"Recall@{k}", f"ILD-text@{k}", f"ILD-image@{k}"]
    got = {key: text_mmr.get(key) if isinstance(text_mmr, dict) else None for key in keys}
    ok = all(got[key] is not None and np.isclose(float(got[key]), ref[key], atol=2e-3) for key in keys)
    detail = ", ".join(f"{key} {ref[key]:.4f}" for key in keys)
    return report("diversity in text space", ok, f"{detail}." if ok else f"expected {detail} from "
                  f"MMR(base, T, lam={lam}, candidates={candidates}) with metrics Recall and ILD in both spaces.")


def check_ttest(ttest_result: Any, a: Any, b: Any, metric: str) -> bool | None:
    """11 · 3: the paired t-test of ``a`` against ``b`` (per-user results) on ``metric``,
    recomputed with ``scipy.stats.ttest_rel``; the Wilcoxon p-value is printed next to it."""
    if not attempted("which test", ttest_result):
        return None
    frames = [r["per_user"][metric] if isinstance(r, dict) else r[metric] for r in (a, b)]
    both = pd.concat(frames, axis=1, join="inner").dropna().to_numpy(dtype=np.float64)
    x, y = both[:, 0], both[:, 1]
    same = bool(np.all(x == y))
    p = 1.0 if same else float(stats.ttest_rel(x, y).pvalue)
    p_w = 1.0 if same else float(stats.wilcoxon(x, y).pvalue)
    got = ttest_result.get("p_value") if isinstance(ttest_result, dict) else None
    ok = got is not None and np.isclose(float(got), p, rtol=1e-6, atol=1e-12) and \
        np.isclose(float(ttest_result.get("mean_diff", np.nan)), (x - y).mean())
    return report("which test", ok, f"paired t p = {p:.2g}, Wilcoxon p = {p_w:.2g} on {len(x):,} users."
                  if ok else f"expected the paired t-test's p = {p:.2g} (paired_test(..., test='ttest')).")


# -- 12 tuning and exploring -----------------------------------------------------------------
def check_tune_ease(ease_result: Any, train: Interactions, valid: Interactions, n_values: int = 4) -> bool | None:
    """12 · 1: a grid search over EASE's ``lam`` with ``n_values`` values: trial 0 the default,
    each trial's validation Recall recomputed with EASE in closed form, the best one chosen."""
    name = "tune EASE"
    if not attempted(name, ease_result):
        return None
    trials, metric = getattr(ease_result, "trials", None), str(getattr(ease_result, "metric", ""))
    if not isinstance(trials, pd.DataFrame) or "lam" not in trials or not metric.startswith("Recall@"):
        return report(name, False, "expected the result of tuning.search(EASE, train, valid, {'lam': [...]}).")
    lams = trials["lam"].astype(float).tolist()
    if lams[0] != float(ease_result.defaults.get("lam", np.nan)) or len(set(lams[1:])) != n_values:
        return report(name, False, f"expected trial 0 with the default lam and {n_values} other values "
                      f"(the default is not searched twice), got {lams}.")
    k = int(metric.split("@")[1])
    expected = [recall(_EASE(train, lam), valid, train, k) for lam in lams]
    best = int(np.argmax(trials[metric].astype(float)))      # ties: the earlier trial, as search does
    ok = np.allclose(trials[metric].astype(float), expected, atol=5e-3) and \
        float(ease_result.best_params.get("lam", np.nan)) == lams[best] == getattr(ease_result.model, "lam", None)
    default_best = expected[0] >= max(expected) - 1e-9
    return report(name, ok, f"lam={lams[best]:g} is best on validation ({metric} {expected[best]:.4f}); the default "
                  f"lam={lams[0]:g} {'is' if default_best else 'is not'} among the best." if ok else
                  f"validation {metric} per lam should be {np.round(expected, 4).tolist()} for {lams}.")


def check_export_csv(csv_path: Any, model: Any, ds: Any, seen: Any, n_users: int = 5, k: int = 10) -> bool | None:
    """12 · 2: a CSV with the top-``k`` of ``model`` (``seen`` masked) for ``n_users`` users, in
    raw ids, with titles; each user's items are the model's best unseen ones."""
    name = "export to CSV"
    if not attempted(name, csv_path):
        return None
    if not Path(csv_path).is_file():
        return report(name, False, f"{csv_path} is not a file; write it with recommendations.to_csv.")
    frame = pd.read_csv(csv_path, dtype={"user": str, "item": str})
    need = {"user", "item", "title"}
    if not need <= set(frame.columns) or frame["user"].nunique() != n_users or len(frame) != n_users * k:
        return report(name, False, f"expected {n_users} users x {k} rows with columns {sorted(need)}; got "
                      f"{len(frame)} rows, columns {list(frame.columns)}.")
    user_of = {str(u): i for i, u in enumerate(ds.user_ids)}
    item_of = {str(i): j for j, i in enumerate(ds.item_ids)}
    if not frame["user"].isin(user_of).all() or not frame["item"].isin(item_of).all():
        return report(name, False, "the user and item columns must hold raw ids of the data set.")
    users = np.array([user_of[u] for u in frame["user"].unique()])
    top = ranked(np.asarray(model.score(users)), users, seen, k)
    for u, row in zip(users, top):
        mine = {item_of[i] for i in frame.loc[frame["user"] == str(ds.user_ids[u]), "item"]}
        if mine != set(row.tolist()):
            return report(name, False, f"user {ds.user_ids[u]}: these are not the model's {k} best unseen items.")
    return report(name, True, f"{len(frame)} rows: the top-{k} of {n_users} users, with titles.")


def check_no_blockbusters(explorer: Any, train: Interactions, n_popular: int = 50,
                          label: str = "no blockbusters") -> bool | None:
    """12 · 3: the explorer shows, for each model, the model's best unseen items once the
    ``n_popular`` most popular training items are dropped (ties at the cut-off either way)."""
    name = "a re-ranker in the explorer"
    if not attempted(name, explorer):
        return None
    recs = getattr(explorer, "recommendations", None)
    if not isinstance(recs, pd.DataFrame) or not (recs.get("rerank") == label).all():
        return report(name, False, f"build the explorer with rerank={{{label!r}: ...}} and select(rerank={label!r}).")
    counts = np.bincount(train.items, minlength=train.n_items)
    cut = np.sort(counts)[::-1][n_popular - 1]             # the 50th largest count
    user = np.array([int(explorer.dataset.user_index(explorer.user))])
    mask = seen_matrix(list(explorer.seen) + [explorer.train])
    for model_name, frame in recs.groupby("model", sort=False):
        items = frame["item_index"].to_numpy()
        s = np.array(explorer.models[model_name].score(user), dtype=np.float64)[0]
        s[mask[user[0]].indices] = -np.inf
        skipped = np.setdiff1d(np.flatnonzero(s > s[items].min()), items)
        if len(items) != explorer.k or (counts[items] > cut).any() or (counts[skipped] < cut).any():
            return report(name, False, f"{model_name}: the list should be the model's {explorer.k} best unseen "
                          f"items outside the {n_popular} most popular of train.")
    return report(name, True, f"no list shows one of the {n_popular} most popular items "
                  f"(at least {cut} training interactions).")
