"""Top-k ranking metrics in pure NumPy, over ranked top-k arrays.

Everything starts from one boolean matrix, ``hits`` of shape ``(n_users, K)``:
``hits[u, r]`` is True when the item a model ranked at position ``r`` (0-based, best
first) for user ``u`` is one of that user's relevant (test) items. ``n_relevant`` of shape
``(n_users,)`` counts each user's relevant items. Every metric below takes
``(hits, n_relevant, k)``, looks only at the first ``k`` columns, and returns one float per
user; averaging over users is left to the caller (:func:`handson.evaluation.evaluate`).

The ranking primitives that produce ``top`` live here too, so that models
(``Recommender.recommend``) and the evaluation share one implementation: :func:`mask_rows`
sets seen items to ``-inf`` and :func:`top_k` returns the best ``k`` items per row.

The definitions follow RecBole and Elliot (binary relevance). Libraries differ in details,
mostly in the normalisation of nDCG and MAP; the docstrings spell out which one is used.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["top_k", "mask_rows", "hits", "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k", "mrr_at_k",
           "map_at_k", "f1_at_k", "coverage", "METRICS"]


# -- ranking primitives --------------------------------------------------------------------
def mask_rows(scores: np.ndarray, matrix: sp.csr_matrix, users: np.ndarray) -> None:
    """Set ``scores[r, j] = -inf`` in place wherever ``matrix[users[r], j]`` is non-zero.

    ``scores`` is ``(len(users), n_items)``, ``matrix`` the ``(n_users, n_items)`` sparse
    matrix of pairs to hide (usually the training interactions), ``users`` the row of
    ``matrix`` that each row of ``scores`` belongs to. Masking before ranking keeps items a
    user already had out of the recommendations and out of the metrics.
    """
    sub = matrix[users]
    rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
    scores[rows, sub.indices] = -np.inf


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores per row, best first: ``(n_rows, k)`` int64.

    Ties go to the lower item index, so the result equals
    ``np.argsort(-scores, axis=1, kind="stable")[:, :k]`` without sorting whole rows.
    Large catalogs take a block-maximum shortcut (:func:`_top_k_blocks`); rows where it
    does not apply (small catalogs, many ties, mostly masked rows) use :func:`_top_k_partition`.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or not 1 <= int(k):
        raise ValueError(f"top_k needs a 2-D (n_rows, n_items) array and k >= 1, got shape "
                         f"{scores.shape} and k={k}.")
    k = min(int(k), scores.shape[1])
    top = _top_k_blocks(scores, k)
    return _top_k_partition(scores, k) if top is None else top


def _top_k_blocks(scores: np.ndarray, k: int) -> np.ndarray | None:
    """:func:`top_k` by block maxima, or None when the shortcut does not apply.

    Each row is split into ``4k`` strided blocks; the k-th largest block maximum is a lower
    bound of the k-th largest score, so only the few scores above it (on real scores, a few
    more than k per row) need sorting instead of a partition of the whole row. Candidates are gathered in ascending item order and sorted stably, so
    ties go to the lower index. Returns None for catalogs under ``8k`` items and when the
    bound is loose (fewer than k or more than 8k candidates in some row: ties, masked rows).
    """
    b, n = scores.shape
    m = 4 * k
    if n < 8 * k or np.isnan(scores).any():
        return None
    full = n // m * m
    block_max = scores[:, :full].reshape(b, -1, m).max(axis=1)                # (B, m)
    rest = scores[:, full:]                                                    # (B, n % m)
    block_max[:, :rest.shape[1]] = np.maximum(block_max[:, :rest.shape[1]], rest)
    bound = np.partition(block_max, m - k, axis=1)[:, m - k]                   # (B,)
    rows, cols = np.divmod(np.flatnonzero(scores >= bound[:, None]), n)      # cols ascending
    counts = np.bincount(rows, minlength=b)
    if counts.min() < k or counts.max() > 8 * k:
        return None
    pos = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    vals = np.full((b, counts.max()), -np.inf, dtype=scores.dtype)
    cand = np.zeros((b, counts.max()), dtype=np.int64)
    vals[rows, pos], cand[rows, pos] = scores[rows, cols], cols
    order = np.argsort(-vals, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand, order, axis=1)


def _top_k_partition(scores: np.ndarray, k: int) -> np.ndarray:
    """:func:`top_k` for any input, by ``np.partition`` (linear time per row).

    The k-th largest value of each row is found first; every score above it is kept, and of
    the scores equal to it the ones with the lowest indices fill the remaining places. The
    kept ``k`` items are then sorted stably by score. NaN scores (nothing to order by) take
    a full stable sort, in which NaN ranks last.
    """
    b, n = scores.shape
    if k >= n or np.isnan(scores).any():
        return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)
    kth = np.partition(scores, n - k, axis=1)[:, n - k]                        # (B,)
    keep = scores > kth[:, None]
    rows, cols = np.nonzero(scores == kth[:, None])                          # cols ascending
    need = k - keep.sum(axis=1)                                               # >= 1 per row
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)                # rank among ties
    take = rank < need[rows]
    keep[rows[take], cols[take]] = True
    cand = np.nonzero(keep)[1].reshape(b, k)                                  # k per row, ascending
    order = np.argsort(-np.take_along_axis(scores, cand, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cand, order, axis=1)


# -- metrics -------------------------------------------------------------------------------
def hits(top: np.ndarray, truth: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """Which recommended items are relevant: bool ``(len(users), K)``.

    ``top`` is ``(len(users), K)`` item indices, best first; ``truth`` is the
    ``(n_users_all, n_items)`` sparse matrix of relevant pairs (non-zero = relevant) and
    ``users`` the row of ``truth`` that each row of ``top`` belongs to.
    Vectorised: each relevant pair ``(r, j)`` becomes the key ``r * n_items + j``; the keys
    are sorted, so membership of every recommended pair is one ``searchsorted``.
    """
    top = np.asarray(top)
    users = np.asarray(users, dtype=np.int64)
    if top.ndim != 2 or top.shape[0] != len(users):
        raise ValueError(f"top must have shape (len(users)={len(users)}, K), got {top.shape}.")
    truth = sp.csr_matrix(truth)
    n_items = truth.shape[1]
    if top.size and (top.min() < 0 or top.max() >= n_items):
        raise ValueError(f"top holds item indices outside [0, n_items={n_items}).")
    sub = truth[users]
    sub.eliminate_zeros()
    rows = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(sub.indptr))
    keys = np.sort(rows * n_items + sub.indices)
    query = np.arange(len(users), dtype=np.int64)[:, None] * n_items + top
    pos = np.searchsorted(keys, query)
    return keys[np.minimum(pos, len(keys) - 1)] == query if len(keys) else np.zeros(top.shape, bool)


def _check(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the common arguments; returns ``hits[:, :k]`` (bool) and ``n_relevant`` (float)."""
    hits = np.asarray(hits, dtype=bool)
    if hits.ndim != 2:
        raise ValueError(f"hits must be a 2-D (n_users, K) boolean array, got shape {hits.shape}.")
    n_relevant = np.asarray(n_relevant)
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(f"n_relevant must have shape ({hits.shape[0]},), one count per row of hits; "
                         f"got {n_relevant.shape}.")
    if not 1 <= int(k) <= hits.shape[1]:
        raise ValueError(f"k={k} must lie in [1, {hits.shape[1]}] (the number of ranked columns); "
                         "rank more items or lower k.")
    if (n_relevant < 1).any():
        raise ValueError(f"{int((n_relevant < 1).sum())} user(s) have no relevant item; "
                         "metrics are undefined for them, drop them first (evaluate() skips them).")
    if (hits.sum(axis=1) > n_relevant).any():
        raise ValueError("some rows have more hits than relevant items: n_relevant is too small "
                         "or top contains an item twice.")
    return hits[:, :int(k)], n_relevant.astype(np.float64)


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Precision@k = (relevant items in the top k) / k."""
    h, _ = _check(hits, n_relevant, k)
    return h.sum(axis=1) / int(k)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Recall@k = (relevant items in the top k) / (number of relevant items).

    As in RecBole and Elliot the denominator is the full ``n_relevant`` (not
    ``min(n_relevant, k)``), so Recall@k < 1 whenever a user has more than k test items.
    """
    h, n_rel = _check(hits, n_relevant, k)
    return h.sum(axis=1) / n_rel


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """nDCG@k with binary relevance: DCG / IDCG.

    DCG@k = sum over ranks i = 1..k of hit_i / log2(i + 1); the ideal IDCG@k puts all relevant
    items first: sum over i = 1..min(n_relevant, k) of 1 / log2(i + 1). Values lie in [0, 1].
    """
    h, n_rel = _check(hits, n_relevant, k)
    discount = 1.0 / np.log2(np.arange(2, int(k) + 2))               # (k,)
    dcg = h @ discount
    idcg = np.cumsum(discount)[np.minimum(n_rel, int(k)).astype(np.int64) - 1]
    return dcg / idcg


def hit_rate_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """HR@k (hit ratio) = 1 when at least one relevant item is in the top k, else 0."""
    h, _ = _check(hits, n_relevant, k)
    return h.any(axis=1).astype(np.float64)


def mrr_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """MRR@k = 1 / (rank of the first relevant item, 1-based), 0 when none is in the top k."""
    h, _ = _check(hits, n_relevant, k)
    first = h.argmax(axis=1)
    return np.where(h.any(axis=1), 1.0 / (first + 1), 0.0)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """MAP@k (average precision): sum over ranks i <= k with a hit of Precision@i, divided by
    ``min(n_relevant, k)`` (RecBole, Elliot), so a perfect top k scores 1."""
    h, n_rel = _check(hits, n_relevant, k)
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, int(k) + 1)     # (n_users, k)
    return (prec_at_i * h).sum(axis=1) / np.minimum(n_rel, int(k))


def f1_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """F1@k = 2 P R / (P + R) per user from Precision@k and Recall@k; 0 when both are 0."""
    p, r = precision_at_k(hits, n_relevant, k), recall_at_k(hits, n_relevant, k)
    denom = p + r
    return np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)


def coverage(top: np.ndarray, n_items: int) -> float:
    """Catalog coverage = (distinct items recommended to anyone) / n_items; ``top`` is
    ``(n_users, k)`` item indices (pass ``top[:, :k]`` for Coverage@k)."""
    top = np.asarray(top)
    if n_items < 1:
        raise ValueError(f"n_items must be positive, got {n_items}.")
    if top.size and (top.min() < 0 or top.max() >= n_items):
        raise ValueError(f"top holds item indices outside [0, n_items={n_items}).")
    return float(np.unique(top).size / n_items)


#: per-user metrics by the name used in result keys ("Recall@20")
METRICS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "Precision": precision_at_k,
    "Recall": recall_at_k,
    "nDCG": ndcg_at_k,
    "HR": hit_rate_at_k,
    "MRR": mrr_at_k,
    "MAP": map_at_k,
    "F1": f1_at_k,
}
