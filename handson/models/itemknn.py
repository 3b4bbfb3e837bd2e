"""Item-based k-nearest-neighbours on implicit feedback (Sarwar et al., WWW 2001;
Deshpande & Karypis, TOIS 2004), with cosine similarity and shrinkage.

    sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i|) * sqrt(|U_j|) + shrink)
    score(u, j) = sum over items i the user interacted with of sim(i, j)

Only the ``k`` most similar neighbours of every item are kept (a sparse matrix), which
removes noisy long-tail similarities and keeps scoring a sparse product.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..datasets import Interactions
from .base import Recommender

__all__ = ["ItemKNN", "topk_sparse_rows"]


class ItemKNN(Recommender):
    """Item-item cosine kNN: recommend what resembles, in who interacted with it, what the user had.

    ``k``: neighbours kept per item; fewer neighbours drop the noisy similarities of the long
    tail, more keep coverage. ``shrink``: added to the denominator of the cosine, so that a
    similarity resting on a handful of common users counts less than one resting on many.
    ``block_size``: items per block of the similarity computation (memory, not results).

    Defaults were chosen on validation data (toyshop and MovieLens); the results change
    little over a wide range of both. See ``benchmarks/run_all.py`` and the README table.
    """

    def __init__(self, k: int = 100, shrink: float = 10.0, block_size: int = 2048):
        self.k = k
        self.shrink = shrink
        self.block_size = block_size

    def _check_params(self) -> None:
        if self.k < 1:
            raise ValueError(f"k={self.k} neighbours must be at least 1.")
        if self.shrink < 0 or self.block_size < 1:
            raise ValueError(f"ItemKNN: shrink must be >= 0 and block_size >= 1, got shrink={self.shrink!r}, "
                             f"block_size={self.block_size!r}.")

    def _fit(self, train: Interactions, item_features: dict, valid: Interactions | None) -> None:
        X = self.train_
        XT = X.T.tocsr()
        norms = np.sqrt(np.asarray(X.sum(axis=0)).ravel()).astype(np.float32)
        blocks = []
        for start in range(0, self.n_items_, self.block_size):
            stop = min(start + self.block_size, self.n_items_)
            co = (XT[start:stop] @ X).toarray()          # (block, n_items) co-occurrence counts
            sim = co / (norms[start:stop, None] * norms[None, :] + self.shrink + 1e-12)
            sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
            blocks.append(topk_sparse_rows(sim.astype(np.float32), self.k))
        self.similarity_ = sp.vstack(blocks).tocsr()    # row i: the neighbours of item i

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.train_[users] @ self.similarity_).toarray()


def topk_sparse_rows(dense: np.ndarray, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest positive entries of every row of a dense block as CSR."""
    n, m = dense.shape
    k = min(k, m)
    cols = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(dense, cols, axis=1)
    rows = np.repeat(np.arange(n), k)
    keep = vals.ravel() > 0
    return sp.csr_matrix((vals.ravel()[keep], (rows[keep], cols.ravel()[keep])), shape=(n, m))
