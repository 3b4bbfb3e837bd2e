"""Sparse item-item graphs from item features: the "modality graphs" of LATTICE and FREEDOM.

Two items are neighbours in a modality when their feature vectors point the same way
(cosine similarity). Keeping only the ``k`` nearest neighbours of every item gives a sparse
``(n_items, n_items)`` matrix; it is built block by block, so memory stays at
``block_size x n_items`` however large the catalog is.

Missing content: an all-zero feature row (what ``handson.features`` writes for an item
without image or text, ``missing="zero"``) has no direction. Such an item gets no
neighbours in that modality (an empty row) and is never anybody's neighbour; the other
modalities of a fused graph still connect it.

References: Zhang et al., "Mining Latent Structures for Multimedia Recommendation"
(LATTICE, ACM MM 2021); Zhou & Shen, "A Tale of Two Graphs: Freezing and Denoising Graph
Structures for Multimodal Recommendation" (FREEDOM, ACM MM 2023).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

__all__ = ["MAX_DENSE_ITEMS", "cosine_similarity", "knn_graph", "normalize_graph", "fuse_graphs",
           "modality_graph", "neighbours", "edge_overlap"]

MAX_DENSE_ITEMS = 10_000   # a dense float32 10k x 10k similarity matrix already takes 400 MB


def _as_features(x: np.ndarray, name: str = "features") -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n_items, d) array, got shape {x.shape}.")
    if not np.isfinite(x).all():
        rows = np.unique(np.nonzero(~np.isfinite(x))[0])
        raise ValueError(f"{name} has NaN/inf in {len(rows)} row(s), e.g. {rows[:5].tolist()}; "
                         "fill them (or extract with missing='zero') before building a graph.")
    return x


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length, and the boolean mask of rows that are not all zero."""
    norms = np.linalg.norm(x, axis=1)
    valid = norms > 0
    return x / np.where(valid, norms, 1.0)[:, None], valid


def _top_k(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` largest entries of every row of ``sim``.

    ``torch.topk`` when torch is installed (the models need it anyway): about ten times
    faster than NumPy's ``argpartition``, which is most of the time of building a graph over
    a catalog of thousands of items. Ties between equal similarities may be broken
    differently by the two."""
    try:
        import torch
    except ImportError:                                     # the module itself stays torch-free
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        return top, np.take_along_axis(sim, top, axis=1)
    vals, top = torch.topk(torch.from_numpy(sim), k, dim=1, sorted=False)
    return top.numpy(), vals.numpy()


def cosine_similarity(features: np.ndarray, max_items: int = MAX_DENSE_ITEMS) -> np.ndarray:
    """The dense ``(n_items, n_items)`` cosine matrix, for small catalogs and teaching only.

    All-zero rows have similarity 0 with everything. Refuses more than ``max_items`` items:
    use :func:`knn_graph`, which never holds the full matrix.
    """
    x = _as_features(features)
    n = x.shape[0]
    if n > max_items:
        gib = n * n * 4 / 2**30
        raise ValueError(f"A dense {n:,} x {n:,} similarity matrix needs {gib:.1f} GiB (limit: "
                         f"max_items={max_items:,}). Use knn_graph(features, k=...) for a sparse "
                         "top-k graph, or raise max_items if you really have the memory.")
    unit, _ = _unit_rows(x)
    return unit @ unit.T


def knn_graph(features: np.ndarray, k: int = 10, block_size: int | None = None,
              weighted: bool = False, include_self: bool = False,
              verbose: bool = True) -> sp.csr_matrix:
    """Top-``k`` cosine neighbours of every item as a sparse ``(n_items, n_items)`` CSR matrix.

    Row ``i`` holds the ``k`` items most similar to item ``i`` (not symmetric). Entries are
    1 (``weighted=False``, as in FREEDOM) or the cosine similarity (``weighted=True``, as in
    LATTICE). Similarities are computed for ``block_size`` rows at a time.
    """
    x = _as_features(features)
    n = x.shape[0]
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer number of neighbours.")
    unit, valid = _unit_rows(x)
    n_candidates = int(valid.sum()) - (0 if include_self else 1)
    k = int(min(k, max(n_candidates, 0)))
    if k == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    if block_size is None:
        block_size = max(1, min(n, 2**24 // n))       # about 64 MB of similarities per block
    rows, cols, vals = [], [], []
    starts = range(0, n, block_size)
    for start in tqdm(starts, desc="kNN graph", disable=not verbose or len(starts) < 8, leave=False):
        stop = min(start + block_size, n)
        sim = unit[start:stop] @ unit.T                  # (block, n_items)
        sim[:, ~valid] = -np.inf                         # items without content are nobody's neighbour
        if not include_self:
            sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        top, top_vals = _top_k(sim, k)
        keep = valid[start:stop, None] & np.isfinite(top_vals)
        rows.append(np.broadcast_to(np.arange(start, stop)[:, None], top.shape)[keep])
        cols.append(top[keep])
        vals.append(top_vals[keep] if weighted else np.ones(int(keep.sum()), np.float32))
    graph = sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                           (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    graph.sort_indices()
    return graph


def normalize_graph(graph: sp.spmatrix, kind: str = "sym") -> sp.csr_matrix:
    """``"sym"``: D^-1/2 A D^-1/2 with D the row sums (LightGCN, FREEDOM); ``"row"``: D^-1 A.

    Rows (and columns) of degree 0 stay zero instead of dividing by zero.
    """
    a = sp.csr_matrix(graph, dtype=np.float32)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"An item graph must be square, got shape {a.shape}.")
    deg = np.asarray(a.sum(axis=1)).ravel()
    if kind == "sym":
        d = np.zeros_like(deg)
        np.power(deg, -0.5, out=d, where=deg > 0)
        return (sp.diags(d) @ a @ sp.diags(d)).tocsr().astype(np.float32)
    if kind == "row":
        d = np.zeros_like(deg)
        np.divide(1.0, deg, out=d, where=deg > 0)
        return (sp.diags(d) @ a).tocsr().astype(np.float32)
    raise ValueError(f"kind must be 'sym' or 'row', got {kind!r}.")


def fuse_graphs(graphs: Sequence[sp.spmatrix], weights: Sequence[float] | None = None) -> sp.csr_matrix:
    """Weighted sum of same-shape graphs; ``weights`` (default: equal) are rescaled to sum to 1."""
    if len(graphs) == 0:
        raise ValueError("fuse_graphs needs at least one graph.")
    shapes = {g.shape for g in graphs}
    if len(shapes) > 1:
        raise ValueError(f"Graphs to fuse differ in shape: {sorted(shapes)}; build them over one item index.")
    w = np.ones(len(graphs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(graphs),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(graphs)} non-negative numbers with a positive sum, "
                         f"got {weights!r}.")
    w = w / w.sum()
    out = sum(float(wi) * sp.csr_matrix(g, dtype=np.float32) for wi, g in zip(w, graphs))
    return sp.csr_matrix(out, dtype=np.float32)


def modality_graph(item_features: Mapping[str, np.ndarray], k: int = 10,
                   weights: Mapping[str, float] | None = None, weighted: bool = False,
                   verbose: bool = True) -> sp.csr_matrix:
    """FREEDOM's frozen item graph: a normalized kNN graph per modality, fused by ``weights``.

    ``item_features`` maps a modality name to an ``(n_items, d_m)`` array; ``weights`` maps
    modality names to non-negative weights (default: equal).
    """
    if not item_features:
        raise ValueError("modality_graph needs at least one modality, e.g. {'image': V, 'text': T}.")
    names = list(item_features)
    if weights is not None:
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"weights name modalities {unknown} that are not in item_features {names}.")
    sizes = {m: np.shape(item_features[m])[0] for m in names}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"Modalities disagree on n_items: {sizes}; every array needs one row per item.")
    graphs = [normalize_graph(knn_graph(_as_features(item_features[m], f"item_features[{m!r}]"), k,
                                        weighted=weighted, verbose=verbose)) for m in names]
    w = None if weights is None else [weights.get(m, 0.0) for m in names]
    return fuse_graphs(graphs, w)


def neighbours(graph: sp.spmatrix, item: int, n: int | None = None) -> np.ndarray:
    """The neighbours of ``item`` in a graph, strongest edge first (at most ``n``)."""
    g = sp.csr_matrix(graph)
    if not 0 <= int(item) < g.shape[0]:
        raise ValueError(f"item={item} is outside the graph's index 0..{g.shape[0] - 1}.")
    lo, hi = g.indptr[item], g.indptr[item + 1]
    idx, val = g.indices[lo:hi], g.data[lo:hi]
    order = np.lexsort((idx, -val))
    return idx[order][:n].astype(np.int64)


def edge_overlap(a: sp.spmatrix, b: sp.spmatrix) -> float:
    """Jaccard overlap of the edge sets of two graphs (1 = same neighbours, 0 = none shared)."""
    if a.shape != b.shape:
        raise ValueError(f"Graphs differ in shape: {a.shape} vs {b.shape}.")
    ea, eb = sp.csr_matrix(a) != 0, sp.csr_matrix(b) != 0
    inter = ea.multiply(eb).nnz
    union = ea.nnz + eb.nnz - inter
    return inter / union if union else 1.0
