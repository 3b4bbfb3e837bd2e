"""Spectral starting points: a denoised truncated SVD of the interaction matrix as initial factors.

The rank-k truncated SVD of the binary user x item matrix ``X ~ P S Q^T`` (PureSVD,
Cremonesi, Koren, Turrin, "Performance of Recommender Algorithms on Top-N Recommendation
Tasks", RecSys 2010) is a good top-N recommender on its own. Splitting it as
``U = P sqrt(S)``, ``V = Q sqrt(S)`` gives embeddings whose dot products are that
approximation, so a factorisation model started there begins at PureSVD's ranking, and its
own loss only has to refine it: a few epochs instead of the hundreds a small random start needs.

The singular values are soft-thresholded first: ``s -> max(s - edge, 0)``, with ``edge`` the
largest singular value that the fluctuations of a random matrix of the same shape and density
reach, ``sqrt(p (1 - p)) (sqrt(n_users) + sqrt(n_items))`` (p: the share of non-zeros; the
Bai-Yin / Geman bound on the spectral norm of an i.i.d. zero-mean matrix; the mean itself is one
large direction, the overall popularity, and stays). Directions below it are
indistinguishable from the sampling noise of who happened to click what; keeping them at
full strength makes the start reproduce the training clicks (a sparse catalog with many
factors overfits badly), and shrinking the rest by the same amount keeps the strong, shared
directions dominant.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

__all__ = ["svd_factors", "noise_edge", "add_svd_start", "check_init", "INITS"]

#: the starts a factorisation model offers: the denoised SVD, or small random vectors only
INITS = ("svd", "normal")


def noise_edge(X: sp.spmatrix) -> float:
    """The expected largest singular value of the fluctuations of a random binary matrix with
    the shape and density of ``X`` (its mean removed): ``sqrt(p (1 - p)) (sqrt(n) + sqrt(m))``."""
    n, m = X.shape
    p = X.nnz / max(n * m, 1)
    return float(np.sqrt(p * (1 - p)) * (np.sqrt(n) + np.sqrt(m)))


def svd_factors(X: sp.spmatrix, k: int, seed: int = 0, shrink: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """User and item factors ``(n_users, k)``, ``(n_items, k)`` (float32), largest singular
    value first, with ``U V^T`` the rank-k truncated SVD of ``X``: its singular values
    soft-thresholded at :func:`noise_edge` when ``shrink``, as they are.

    Columns beyond the matrix rank (fewer than ``k + 1`` users or items) and directions shrunk
    to zero are zeros; the caller adds its own small random noise to break ties. Deterministic
    for a given ``seed`` (the ARPACK start vector).
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    U = np.zeros((X.shape[0], k), dtype=np.float32)
    V = np.zeros((X.shape[1], k), dtype=np.float32)
    rank = min(k, min(X.shape) - 1)
    if rank < 1 or X.nnz == 0:
        return U, V
    v0 = np.random.default_rng(seed).uniform(-1, 1, min(X.shape))
    P, S, Qt = svds(X, k=rank, v0=v0)
    order = np.argsort(-S)
    S = S[order] - (noise_edge(X) if shrink else 0.0)
    root = np.sqrt(np.maximum(S, 0.0))
    U[:, :rank] = P[:, order] * root
    V[:, :rank] = Qt[order].T * root
    return U, V


def add_svd_start(user: "torch.Tensor", item: "torch.Tensor", X: sp.spmatrix, k: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Add :func:`svd_factors` of ``X`` to the first ``k`` columns of the embedding tables
    ``user`` ``(n_users, >= k)`` and ``item`` ``(n_items, >= k)``, in place (no gradient):
    on top of a model's small random initial vectors, which keep breaking ties. Returns the
    factors that were added, for a model that starts more of its parameters from them."""
    import torch
    users, items = svd_factors(X, k, seed)
    with torch.no_grad():
        user[:, :k] += torch.from_numpy(users).to(user.device, user.dtype)
        item[:, :k] += torch.from_numpy(items).to(item.device, item.dtype)
    return users, items


def check_init(init: str, model: str) -> None:
    """A clear error for an ``init`` that is not one of :data:`INITS`."""
    if init not in INITS:
        raise ValueError(f"{model}: init must be 'svd' (start from the truncated SVD of the training "
                         f"matrix) or 'normal' (small random vectors), got {init!r}.")
