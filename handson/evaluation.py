"""Full-ranking top-k evaluation with masking of seen items, and comparison tables.

    result = evaluate(model, test, seen=[train, valid], k=(10, 20))
    result["Recall@20"], result["nDCG@20"], result["users"], result["users_skipped"]

Every item of the catalog is ranked for every evaluated user (no sampled negatives). Items
in ``seen`` are set to ``-inf`` before ranking, so a model is never credited (or punished)
for items the user already had. Users in batches: ``scores = model.score(batch)``, mask,
top-K by :func:`handson.metrics.top_k`, one ``hits`` matrix at the largest k, every metric at every k
from it (:mod:`handson.metrics` holds the definitions).
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from . import metrics as M
from .datasets import Interactions, check_same_catalog

__all__ = ["evaluate", "compare", "ALL_METRICS"]

#: metric names accepted by ``metrics=`` (Coverage is catalog-level, the others per user)
ALL_METRICS: tuple[str, ...] = (*M.METRICS, "Coverage")


def _as_ks(k: int | Iterable[int], n_items: int) -> list[int]:
    ks = [k] if np.ndim(k) == 0 else list(k)
    if not ks:
        raise ValueError("k is empty; pass e.g. k=(10, 20).")
    out = []
    for v in ks:
        if isinstance(v, (bool, np.bool_)) or not float(v).is_integer():
            raise ValueError(f"k values must be integers, got {v!r}.")
        if not 1 <= int(v) <= n_items:
            raise ValueError(f"k={v} must lie in [1, n_items={n_items}]: the catalog has only "
                             f"{n_items} items. Lower k.")
        out.append(int(v))
    return sorted(set(out))


def _as_metrics(metrics: Sequence[str] | None) -> list[str]:
    if metrics is None:
        return list(ALL_METRICS)
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    lookup = {m.lower(): m for m in ALL_METRICS}
    bad = [m for m in names if str(m).split("@")[0].lower() not in lookup]
    if bad:
        raise ValueError(f"Unknown metric(s) {bad}; choose from {list(ALL_METRICS)} "
                         "(k is given separately, e.g. metrics=['Recall'], k=20).")
    return list(dict.fromkeys(lookup[str(m).split("@")[0].lower()] for m in names))


def _seen_matrix(seen: Interactions | Iterable[Interactions] | None,
                 test: Interactions) -> sp.csr_matrix | None:
    if seen is None:
        return None
    parts = [seen] if isinstance(seen, Interactions) else [s for s in seen if s is not None]
    for s in parts:
        if not isinstance(s, Interactions):
            raise ValueError(f"seen must be Interactions or a list of them, got {type(s).__name__}.")
    if not parts:
        return None
    check_same_catalog(test, *parts)
    return Interactions.concat(parts).to_csr()


def _check_model(model: Any, test: Interactions) -> None:
    """Reject a test set that is not Interactions and a model without ``score`` or fitted on
    another catalog (``model.n_items_``, when it has one, must equal ``test.n_items``)."""
    if not isinstance(test, Interactions):
        raise ValueError(f"test must be handson.Interactions (e.g. split.test), got {type(test).__name__}.")
    if not callable(getattr(model, "score", None)):
        raise ValueError(f"model must have a score(users) method, got {type(model).__name__}.")
    model_items = getattr(model, "n_items_", test.n_items)
    if model_items != test.n_items:
        raise ValueError(f"The model scores {model_items} items but test has n_items={test.n_items}: "
                         "fit and evaluate on splits of the same Dataset.")


def _eval_users(users: Sequence[int] | np.ndarray | None, n_relevant: np.ndarray) -> tuple[np.ndarray, int]:
    """``(users to evaluate, number skipped)``: sorted unique int64 indices (default: every
    user), without the users that have no test item (``n_relevant`` of shape ``(n_users,)``
    counts each user's test items); those are only counted, their metrics are undefined."""
    n_users = len(n_relevant)
    if users is None:
        users = np.arange(n_users, dtype=np.int64)
    else:
        users = np.atleast_1d(np.asarray(users))
        if users.size and not np.issubdtype(users.dtype, np.integer):
            raise ValueError(f"users must be integer indices, got dtype {users.dtype}.")
        users = np.unique(users.astype(np.int64))
        if users.size and (users[0] < 0 or users[-1] >= n_users):
            raise ValueError(f"users holds indices outside [0, n_users={n_users}).")
    skipped = int((n_relevant[users] == 0).sum())
    users = users[n_relevant[users] > 0]
    if len(users) == 0:
        raise ValueError("No user has a test item: nothing to evaluate. Check the split "
                         "(is test empty, or are users= all without test items?).")
    return users, skipped


def _ranked_batch(model: Any, batch: np.ndarray, n_items: int, mask: sp.csr_matrix | None,
                  k: int) -> np.ndarray:
    """The top-``k`` items ``(len(batch), k)`` of ``model.score(batch)`` once ``mask`` (the
    seen pairs, or None) is set to ``-inf``; a wrong shape or NaN scores raise."""
    scores = np.array(model.score(batch), dtype=np.float32)   # a private copy: masking writes
    _check_finite_scores(scores, model)
    if scores.shape != (len(batch), n_items):
        raise ValueError(f"model.score returned shape {scores.shape}, "
                         f"expected ({len(batch)}, {n_items}).")
    if mask is not None:
        M.mask_rows(scores, mask, batch)
    return M.top_k(scores, k)


class _Totals:
    """Running sums of the per-user metrics and the items recommended, over batches.

    ``sums["Recall@20"]`` adds up one value per evaluated user; ``covered[k]`` (bool,
    ``(n_items,)``) marks the items that appeared in a top-k list (for ``Coverage@k``).
    """

    def __init__(self, names: list[str], ks: list[int], n_items: int) -> None:
        self.names, self.ks = names, ks
        self.per_user = [m for m in names if m != "Coverage"]
        self.sums = {f"{m}@{kk}": 0.0 for m in self.per_user for kk in ks}
        self.covered = {kk: np.zeros(n_items, dtype=bool) for kk in ks}

    def add(self, top: np.ndarray, hits: np.ndarray, n_relevant: np.ndarray) -> None:
        """One batch: ``top`` and ``hits`` ``(B, max k)``, ``n_relevant`` ``(B,)``."""
        for kk in self.ks:
            for m in self.per_user:
                self.sums[f"{m}@{kk}"] += float(M.METRICS[m](hits, n_relevant, kk).sum())
            if "Coverage" in self.names:
                self.covered[kk][top[:, :kk].ravel()] = True

    def result(self, n_users: int) -> dict[str, float]:
        """Means over the ``n_users`` evaluated users (Coverage: share of the catalog), by k then metric."""
        out: dict[str, float] = {}
        for kk in self.ks:
            for m in self.names:
                key = f"{m}@{kk}"
                out[key] = float(self.covered[kk].mean()) if m == "Coverage" else self.sums[key] / n_users
        return out


def evaluate(model: Any, test: Interactions, seen: Interactions | Iterable[Interactions] | None = None,
             k: int | Iterable[int] = (10, 20), metrics: Sequence[str] | None = None,
             users: Sequence[int] | np.ndarray | None = None, batch_size: int = 1024,
             progress: bool | None = None) -> dict[str, float]:
    """Full-ranking evaluation of ``model`` on ``test``; returns ``{"Recall@20": ..., ...}``.

    ``model`` is anything with ``score(users) -> (len(users), n_items)`` (higher = better).
    ``seen`` (an Interactions or a list, usually ``[train, valid]``) is masked before ranking.
    ``users`` restricts the evaluation (default: every user of the catalog); users without a
    test item are skipped and counted in ``"users_skipped"``, ``"users"`` counts the rest.
    Values are means over evaluated users; ``Coverage@k`` is the share of the catalog that
    appears in at least one top-k list. A test pair that is also in ``seen`` is masked, so it
    can never be hit, but it still counts as relevant (disjoint splits never have one).
    ``progress`` shows a progress bar (default: when there are more than 50,000 users).
    """
    _check_model(model, test)
    ks, names = _as_ks(k, test.n_items), _as_metrics(metrics)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    truth, mask = test.to_csr(), _seen_matrix(seen, test)
    n_rel_all = np.diff(truth.indptr)
    users, skipped = _eval_users(users, n_rel_all)

    totals = _Totals(names, ks, test.n_items)
    show = len(users) > 50_000 if progress is None else progress
    for start in tqdm(range(0, len(users), int(batch_size)), desc="evaluate", unit="batch", disable=not show):
        batch = users[start:start + int(batch_size)]
        top = _ranked_batch(model, batch, test.n_items, mask, ks[-1])
        totals.add(top, M.hits(top, truth, batch), n_rel_all[batch])
    result = totals.result(len(users))
    result["users"], result["users_skipped"] = int(len(users)), skipped
    return result


def compare(models: Mapping[str, Any], test: Interactions,
            seen: Interactions | Iterable[Interactions] | None = None,
            k: int | Iterable[int] = (10, 20), metrics: Sequence[str] | None = None,
            users: Sequence[int] | np.ndarray | None = None, batch_size: int = 1024) -> pd.DataFrame:
    """Evaluate several fitted models on the same test set: one row per model, in the order
    given, one column per metric, plus ``fit_s`` when a model has ``fit_seconds_`` and
    ``eval_s`` (the evaluation's wall time). ``df.attrs`` holds users / users_skipped."""
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: fitted model}.")
    seen = list(seen) if seen is not None and not isinstance(seen, Interactions) else seen
    rows, counts = {}, {}
    for name, model in models.items():
        t0 = time.perf_counter()
        res = evaluate(model, test, seen=seen, k=k, metrics=metrics, users=users, batch_size=batch_size)
        counts = {"users": res.pop("users"), "users_skipped": res.pop("users_skipped")}
        fit_s = getattr(model, "fit_seconds_", None)
        rows[name] = {**res, **({"fit_s": float(fit_s)} if fit_s is not None else {}),
                      "eval_s": time.perf_counter() - t0}
    table = pd.DataFrame.from_dict(rows, orient="index")
    front = [c for c in table.columns if c not in ("fit_s", "eval_s")]
    table = table[front + [c for c in ("fit_s", "eval_s") if c in table.columns]]
    table.index.name = "model"
    table.attrs.update(counts)
    return table


def _check_finite_scores(scores: np.ndarray, model: Any) -> None:
    """A ValueError when ``scores`` hold NaN or +inf (the ranking would be arbitrary); -inf is
    allowed and means "never recommend" (what masking writes)."""
    bad = np.isnan(scores) | np.isposinf(scores)
    if bad.any():
        users = int(bad.any(axis=-1).sum()) if bad.ndim == 2 else 1
        raise ValueError(f"{type(model).__name__}.score returned {int(bad.sum())} NaN or +inf score(s) for "
                         f"{users} user(s); the model diverged (lower lr) or was not fitted properly. "
                         "Scores must be finite (-inf marks an item never to recommend).")
