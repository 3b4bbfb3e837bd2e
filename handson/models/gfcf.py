"""GF-CF: graph filtering for collaborative filtering (Shen et al., CIKM 2021,
"How Powerful is Graph Convolution for Recommendation?").

With the normalised rating matrix R~ = D_U^-1/2 R D_I^-1/2 the score of user u is

    s_u = r_u (R~^T R~)  +  alpha * r_u D_I^-1/2 V_K V_K^T D_I^1/2

a linear low-pass filter (the normalised item-item graph) plus an *ideal* low-pass filter
built from the top-K right singular vectors V_K of R~. No training, no dense item-item
matrix: scoring is two sparse products and two thin dense ones.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from ..datasets import Interactions
from .base import Recommender

__all__ = ["GFCF"]


class GFCF(Recommender):
    """GF-CF with ``factors`` singular vectors and ideal-filter weight ``alpha``.

    The paper's alpha=0.3 is kept; ``factors=64`` suits catalogs of a few hundred to ten
    thousand items (256 in the paper for catalogs of 40k items); it is clipped to what the
    matrix rank allows.
    """

    def __init__(self, factors: int = 64, alpha: float = 0.3, seed: int = 42):
        self.factors = factors
        self.alpha = alpha
        self.seed = seed

    def _check_params(self) -> None:
        if self.factors < 1 or self.alpha < 0:
            raise ValueError(f"GFCF: factors must be >= 1 and alpha >= 0, got factors={self.factors!r}, "
                             f"alpha={self.alpha!r}.")

    def _fit(self, train: Interactions, item_features: dict, valid: Interactions | None) -> None:
        R = self.train_
        du = np.asarray(R.sum(axis=1)).ravel()
        di = np.asarray(R.sum(axis=0)).ravel()
        du_is = np.where(du > 0, 1.0 / np.sqrt(np.maximum(du, 1e-12)), 0.0)
        self.di_is_ = np.where(di > 0, 1.0 / np.sqrt(np.maximum(di, 1e-12)), 0.0).astype(np.float32)
        self.di_s_ = np.sqrt(di).astype(np.float32)
        self.norm_ = (sp.diags(du_is) @ R @ sp.diags(self.di_is_)).tocsr().astype(np.float32)
        k = int(min(self.factors, min(R.shape) - 1))
        if k < 1:
            raise ValueError("GFCF needs at least two users and two items.")
        v0 = np.random.default_rng(self.seed).random(min(R.shape))
        _, _, vt = svds(self.norm_.astype(np.float64), k=k, v0=v0)
        self.vt_ = vt.astype(np.float32)                 # (k, n_items)

    def _score(self, users: np.ndarray) -> np.ndarray:
        r = self.train_[users]
        linear = ((r @ self.norm_.T) @ self.norm_).toarray()
        low = (r.multiply(self.di_is_[None, :]).tocsr() @ self.vt_.T) @ self.vt_
        return linear + self.alpha * low * self.di_s_[None, :]
