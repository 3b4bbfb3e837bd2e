"""EASE^R: embarrassingly shallow autoencoder (Steck, WWW 2019).

A closed form: with the item Gram matrix G = X^T X and P = (G + lambda I)^-1,

    B = I - P diagMat(1 / diag(P)),   i.e. B_ij = -P_ij / P_jj, diag(B) = 0
    score(u, .) = X_u B

One dense ``(n_items, n_items)`` inversion: fast up to a few tens of thousands of items.
"""
from __future__ import annotations

import numpy as np

from ..datasets import Interactions
from .base import Recommender

__all__ = ["EASE"]


class EASE(Recommender):
    """EASE^R with L2 strength ``lam`` (Steck, WWW 2019).

    ``lam``: the L2 penalty on the item-item weights ``B``; it keeps ``G + lam I`` invertible
    and pulls the weights of rarely co-occurring items towards 0 (small data sets want the
    lower end of the paper's range). ``max_items``: the largest catalog for which the dense
    ``(n_items, n_items)`` inversion is attempted. Defaults were chosen on validation data;
    see ``benchmarks/run_all.py`` and the README table.
    """

    def __init__(self, lam: float = 200.0, max_items: int = 30_000):
        self.lam = lam
        self.max_items = max_items

    def _check_params(self) -> None:
        if self.lam <= 0:
            raise ValueError(f"lam={self.lam} must be positive (it keeps G + lam*I invertible).")
        if self.max_items < 1:
            raise ValueError(f"EASE: max_items must be a positive integer, got {self.max_items!r}.")

    def _fit(self, train: Interactions, item_features: dict, valid: Interactions | None) -> None:
        n = self.n_items_
        if n > self.max_items:
            gib = n * n * 8 / 2**30
            raise ValueError(f"EASE needs a dense {n:,} x {n:,} matrix (~{gib:.1f} GiB in float64), "
                             f"over max_items={self.max_items:,}. Filter the catalog "
                             "(Dataset.kcore) or raise max_items if you have the memory.")
        X = self.train_
        G = (X.T @ X).toarray().astype(np.float64)
        G[np.diag_indices(n)] += self.lam
        P = np.linalg.inv(G)
        B = -P / np.diag(P)[None, :]
        B[np.diag_indices(n)] = 0.0
        self.weights_ = B.astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.train_[users] @ self.weights_)
