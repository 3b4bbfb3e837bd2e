"""Beyond-accuracy metrics in pure NumPy: popularity bias, exposure concentration and diversity.

Everything here reads the top-k lists themselves, ``top`` of shape ``(n_users, k)`` (item
indices, best first), not the hits. Two kinds of metrics:

- **catalog-level** (one number for all lists together): :func:`gini_index` and
  :func:`exposure_entropy` of the item *exposure* ``c_i``, the number of lists item ``i``
  appears in (:func:`exposure`; items never shown count 0);
- **per-user** (one float per list; the caller averages over users): :func:`novelty`,
  :func:`average_popularity` (ARP), :func:`long_tail_share` (APLT) and
  :func:`intra_list_distance` (ILD, in the space of any item features: image, text, ...).

Popularity ``pop_i`` is the number of distinct users who have item ``i`` in a popularity
source (usually the training interactions, :func:`item_popularity`); the short head is the
smallest set of most popular items that together hold a given share of the interactions
(:func:`short_head`).

References: Abdollahpouri et al., "Managing popularity bias in recommender systems with
personalized re-ranking" (FLAIRS 2019: ARP, APLT); Zhou et al., "Solving the apparent
diversity-accuracy dilemma of recommender systems" (PNAS 2010: novelty as self-information);
Ziegler et al., "Improving recommendation lists through topic diversification" (WWW 2005:
intra-list similarity); Anelli et al., "Elliot" (SIGIR 2021) for Gini and Shannon entropy.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import scipy.sparse as sp

#: per-user metrics that need item popularity
POPULARITY_METRICS: tuple[str, ...] = ("Novelty", "ARP", "APLT")

__all__ = ["exposure", "gini_index", "exposure_entropy", "item_popularity", "short_head", "novelty",
           "average_popularity", "long_tail_share", "unit_rows", "intra_list_distance", "POPULARITY_METRICS",
           "ListMetrics"]


def _top(top: np.ndarray, n_items: int) -> np.ndarray:
    top = np.asarray(top)
    if top.ndim != 2:
        raise ValueError(f"top must be a 2-D (n_users, k) array of item indices, got shape {top.shape}.")
    if top.size and (top.min() < 0 or top.max() >= n_items):
        raise ValueError(f"top holds item indices outside [0, n_items={n_items}).")
    return top.astype(np.int64, copy=False)


def _pop(pop: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pop = np.asarray(pop, dtype=np.float64)
    if pop.ndim != 1:
        raise ValueError(f"pop must be 1-D (n_items,), got shape {pop.shape}.")
    return pop, _top(top, len(pop))


# -- exposure (catalog-level) --------------------------------------------------------------
def exposure(top: np.ndarray, n_items: int) -> np.ndarray:
    """``c_i``: in how many of the lists ``top`` ``(n_users, k)`` each item appears, int64 ``(n_items,)``."""
    return np.bincount(_top(top, n_items).ravel(), minlength=n_items)


def gini_index(counts: np.ndarray) -> float:
    """Gini index of the exposure ``counts`` ``(n_items,)`` (every item of the catalog, 0 for never shown).

    With the counts sorted ascending ``c_1 <= ... <= c_n``:
    ``G = sum_j (2j - n - 1) c_j / (n * sum_j c_j)``; 0 when every item is shown equally
    often, ``1 - 1/n`` when one item takes all the exposure. 0 when nothing is shown.
    (Elliot's ``Gini``; Castells et al., "Novelty and diversity metrics for recommender
    systems", Recommender Systems Handbook 2015.)
    """
    c = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(c), c.sum()
    if n == 0 or total == 0:
        return 0.0
    j = np.arange(1, n + 1)
    return float(((2 * j - n - 1) * c).sum() / (n * total))


def exposure_entropy(counts: np.ndarray) -> float:
    """Shannon entropy (natural log) of the exposure distribution ``p_i = c_i / sum c``:
    ``H = -sum_i p_i ln p_i`` over the items with ``c_i > 0``; ``ln(n_items)`` at most (even
    exposure), ``ln(k)`` when every list shows the same ``k`` items (Elliot's ``SEntropy``)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total == 0:
        return 0.0
    p = c[c > 0] / total
    return float(-(p * np.log(p)).sum())


# -- popularity ----------------------------------------------------------------------------
def item_popularity(matrix: sp.spmatrix) -> np.ndarray:
    """``pop_i``: the number of distinct users with a non-zero entry for item ``i`` in the
    ``(n_users, n_items)`` matrix (e.g. ``train.to_csr()``), int64 ``(n_items,)``."""
    m = sp.csr_matrix(matrix, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    return np.bincount(m.indices, minlength=m.shape[1]).astype(np.int64)


def short_head(pop: np.ndarray, share: float = 0.2) -> np.ndarray:
    """The short head, bool ``(n_items,)``: the smallest set of most popular items that together
    hold at least ``share`` of all interactions ``sum_i pop_i`` (items sorted by decreasing
    ``pop_i``, ties to the lower item index). Every other item is in the long tail.
    (Abdollahpouri et al., FLAIRS 2019, with the 20% cut of the Pareto principle.)
    """
    pop = np.asarray(pop, dtype=np.float64)
    if not 0 < share <= 1:
        raise ValueError(f"share must lie in (0, 1], got {share}.")
    head = np.zeros(len(pop), dtype=bool)
    if pop.sum() == 0:
        return head
    order = np.lexsort((np.arange(len(pop)), -pop))             # most popular first, ties: lower index
    n_head = int(np.searchsorted(np.cumsum(pop[order]), share * pop.sum(), side="left")) + 1
    head[order[:n_head]] = True
    return head


# -- per-user popularity bias --------------------------------------------------------------
def novelty(top: np.ndarray, pop: np.ndarray, n_users: int) -> np.ndarray:
    """Novelty per list, ``(n_lists,)``: the mean self-information of its items,
    ``mean_i -log2((pop_i + 1) / (n_users + 1))``, where ``n_users`` counts the users of the
    popularity source (Zhou et al., PNAS 2010; +1 smoothing so unseen items stay finite)."""
    pop, top = _pop(pop, top)
    if n_users < 0 or (pop > n_users).any():
        raise ValueError(f"n_users={n_users} must be at least the largest popularity {pop.max():.0f}.")
    info = -np.log2((pop + 1) / (n_users + 1))
    return info[top].mean(axis=1)


def average_popularity(top: np.ndarray, pop: np.ndarray) -> np.ndarray:
    """ARP per list, ``(n_lists,)``: ``mean_i pop_i`` over the list (Abdollahpouri et al., 2019)."""
    pop, top = _pop(pop, top)
    return pop[top].mean(axis=1)


def long_tail_share(top: np.ndarray, head: np.ndarray) -> np.ndarray:
    """APLT per list, ``(n_lists,)``: the share of the list's items that are in the long tail,
    i.e. not in ``head`` (bool ``(n_items,)``, :func:`short_head`) (Abdollahpouri et al., 2019)."""
    head = np.asarray(head, dtype=bool)
    top = _top(top, len(head))
    return (~head[top]).mean(axis=1)


# -- diversity in a feature space ----------------------------------------------------------
def unit_rows(item_features: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(X, valid)``: the rows of ``item_features`` scaled to unit L2 norm (float32
    ``(n_items, d)``) and which rows are usable (bool ``(n_items,)``): non-zero and, for a
    ``handson.features.Features``, available (its ``mask``). Unusable rows are set to zero."""
    X = np.array(item_features, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"item_features must be 2-D (n_items, d), got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("item_features has NaN/inf values; fill them or extract with missing='zero'.")
    norms = np.linalg.norm(X.astype(np.float64), axis=1)
    valid = norms > 0
    mask = getattr(item_features, "mask", None)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    X[valid] = (X[valid] / norms[valid, None]).astype(np.float32)
    X[~valid] = 0
    return X, valid


def intra_list_distance(top: np.ndarray, item_features: Any, chunk: int = 256) -> np.ndarray:
    """ILD per list, ``(n_lists,)``: the mean pairwise cosine distance ``1 - cos(x_i, x_j)``
    over the pairs ``i < j`` of the list whose feature rows are both usable (:func:`unit_rows`);
    NaN for a list with fewer than two usable items (leave it out of the mean over users).

    ``item_features`` is ``(n_items, d)`` (an array or a ``Features``) or the ``(X, valid)``
    pair of :func:`unit_rows`, computed once when many batches are scored. Lists are processed
    ``chunk`` at a time, in float64 (Ziegler et al., WWW 2005, with cosine distance as in
    Vargas & Castells, RecSys 2011).
    """
    X, valid = item_features if isinstance(item_features, tuple) else unit_rows(item_features)
    top = _top(top, len(X))
    k = top.shape[1]
    upper = np.triu(np.ones((k, k), dtype=bool), 1)                    # pairs i < j
    out = np.full(len(top), np.nan)
    for s in range(0, len(top), chunk):
        t = top[s:s + chunk]
        E = X[t].astype(np.float64)                                     # (B, k, d)
        ok = valid[t]                                                   # (B, k)
        pair = ok[:, :, None] & ok[:, None, :] & upper                  # (B, k, k)
        dist = 1.0 - E @ E.transpose(0, 2, 1)
        n_pairs = pair.sum(axis=(1, 2))
        total = np.where(pair, dist, 0.0).sum(axis=(1, 2))
        out[s:s + chunk] = np.where(n_pairs > 0, total / np.maximum(n_pairs, 1), np.nan)
    return out


class ListMetrics:
    """The beyond-accuracy metrics of one evaluation, prepared once and applied batch by batch.

    ``names`` are metric names (others than the per-user ones here are passed through by
    :meth:`keys`); ``source`` is the ``(n_users, n_items)`` popularity source (needed by
    Novelty, ARP, APLT): ``pop`` and the short head come from it; ``item_features`` (an array,
    a ``Features`` or a dict by modality, for ILD) become unit rows by modality label
    (``""`` for a single array, ``"-image"`` for ``{"image": V}``).
    """

    def __init__(self, names: list[str], source: sp.csr_matrix | None, item_features: Any,
                 n_items: int) -> None:
        self.pop = self.head = None
        if any(m in POPULARITY_METRICS for m in names):
            if source is None:
                raise ValueError(f"{[m for m in names if m in POPULARITY_METRICS]} need item popularity: "
                                 "pass seen=[train, ...] or popularity=train.")
            self.pop, self.n_pop_users = item_popularity(source), source.shape[0]
            self.head = short_head(self.pop)
        self.features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if "ILD" in names:
            parts = item_features if isinstance(item_features, Mapping) else {"": item_features}
            for name, f in parts.items():
                X, valid = unit_rows(f)
                if len(X) != n_items:
                    raise ValueError(f"item_features{f'[{name!r}]' if name else ''} has {len(X)} rows; "
                                     f"expected n_items={n_items}, one per item of the dataset.")
                self.features[f"-{name}" if name else ""] = (X, valid)

    def keys(self, m: str, kk: int) -> list[str]:
        """Result keys of metric ``m`` at ``kk``: one per modality for ILD."""
        return [f"ILD{label}@{kk}" for label in self.features] if m == "ILD" else [f"{m}@{kk}"]

    def per_user(self, m: str, top: np.ndarray) -> list[np.ndarray]:
        """Values of per-user metric ``m`` for the lists ``top`` ``(B, k)``, one array per key."""
        if m == "ILD":
            return [intra_list_distance(top, f) for f in self.features.values()]
        if m == "Novelty":
            return [novelty(top, self.pop, self.n_pop_users)]
        return [average_popularity(top, self.pop) if m == "ARP" else long_tail_share(top, self.head)]
