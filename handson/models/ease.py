"""EASE^R (Steck, WWW 2019) and CEASE, EASE with item content (Jeunen et al., 2020).

A closed form: with the item Gram matrix G = X^T X and P = (G + lambda I)^-1,

    B = I - P diagMat(1 / diag(P)),   i.e. B_ij = -P_ij / P_jj, diag(B) = 0
    score(u, .) = X_u B

One dense ``(n_items, n_items)`` inversion (a Cholesky factorisation, since G + lambda I is
symmetric positive definite): fast up to a few tens of thousands of items.

CEASE adds the items' content as extra rows of X (Jeunen, Van Balen, Goethals, "Closed-Form
Models for Collaborative Filtering with Side-Information", RecSys 2020 late-breaking results):
each feature dimension is a pseudo-user who "interacted" with every item by the value of that
feature. Stacking ``[X; a F^T]`` only changes the Gram matrix, ``G = X^T X + a^2 F F^T``: two
items count as co-occurring when users share them *and* when their images or texts look alike.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.linalg

from ..datasets import Interactions
from .base import Recommender
from .modality import check_modalities, prepare

__all__ = ["EASE", "CEASE", "ease_weights"]


def ease_weights(G: np.ndarray, lam: float) -> np.ndarray:
    """EASE's item-item weights from a Gram matrix ``G`` (float64, overwritten) and ``lam``:
    ``B = -P / diag(P)`` with ``P = (G + lam I)^-1`` and a zero diagonal, float32."""
    G[np.diag_indices_from(G)] += lam
    factor, info = scipy.linalg.lapack.dpotrf(G, lower=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"G + lam*I is not positive definite (LAPACK info {info}); raise lam.")
    P, info = scipy.linalg.lapack.dpotri(factor, lower=0, overwrite_c=1)
    P = np.triu(P) + np.triu(P, 1).T                  # dpotri fills the upper triangle only
    B = P / -np.diag(P)[None, :]
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


def _check_size(model: str, n: int, max_items: int) -> None:
    if n > max_items:
        gib = n * n * 8 / 2**30
        raise ValueError(f"{model} needs a dense {n:,} x {n:,} matrix (~{gib:.1f} GiB in float64), "
                         f"over max_items={max_items:,}. Filter the catalog "
                         "(Dataset.kcore) or raise max_items if you have the memory.")


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
            raise ValueError(f"{type(self).__name__}: max_items must be a positive integer, got {self.max_items!r}.")

    def _gram(self, item_features: dict) -> np.ndarray:
        X = self.train_
        return (X.T @ X).toarray().astype(np.float64)

    def _fit(self, train: Interactions, item_features: dict, valid: Interactions | None) -> None:
        _check_size(type(self).__name__, self.n_items_, self.max_items)
        self.weights_ = ease_weights(self._gram(item_features), self.lam)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.train_[users] @ self.weights_)


class CEASE(EASE):
    """EASE on interactions plus item content (collective EASE, Jeunen et al., 2020).

    Each modality of ``modalities`` (e.g. image and text embeddings) is L2-normalised per
    item, so ``F F^T`` holds the cosine similarities of the items' contents, and enters the
    Gram matrix with the weight that makes its trace ``content_weight`` times that of
    ``X^T X`` (the number of training interactions): the weight means the same on any data
    set and any embedding width. ``content_weight=0`` is EASE. Items without a modality (an
    all-zero row, or masked in a :class:`handson.features.Features`) add nothing for it, and
    items with no training interactions still get weights through their content, so CEASE
    also ranks cold items. ``lam`` and ``max_items`` as in :class:`EASE`. The default weight
    was chosen on validation data; ``benchmarks/run_all.py`` reports it.
    """

    def __init__(self, modalities: Sequence[str] = ("image", "text"), content_weight: float = 0.5,
                 lam: float = 200.0, max_items: int = 30_000):
        super().__init__(lam=lam, max_items=max_items)
        self.modalities = check_modalities(modalities, "CEASE")
        self.content_weight = content_weight

    def _check_params(self) -> None:
        super()._check_params()
        if not self.content_weight >= 0:
            raise ValueError(f"CEASE: content_weight must be >= 0 (0 is plain EASE), got {self.content_weight!r}.")

    def _gram(self, item_features: dict) -> np.ndarray:
        G = super()._gram(item_features)
        if not self.content_weight:
            return G
        prepared = prepare(item_features, self.modalities, "CEASE", how="l2", masks=self.item_masks_)
        content = np.zeros_like(G)
        for x, _ in prepared.values():
            x = x.astype(np.float64)
            content += x @ x.T
        G += (self.content_weight * max(np.trace(G), 1.0) / max(np.trace(content), 1.0)) * content
        return G
