"""Non-personalised reference points: ``Random`` and ``MostPop``.

Every learned model of the course must beat ``Random``; a personalised model that does not
beat ``MostPop`` has learned nothing useful about individual users (Cremonesi et al., 2010,
"Performance of recommender algorithms on top-N recommendation tasks").
"""
from __future__ import annotations

import numpy as np

from ..datasets import Interactions
from .base import Recommender

__all__ = ["Random", "MostPop"]


class Random(Recommender):
    """Uniformly random scores; each user's scores depend only on ``seed`` and the user index."""

    def __init__(self, seed: int = 42):
        self.seed = seed

    def _fit(self, train: Interactions, item_features: dict, valid: Interactions | None) -> None:
        pass

    def _score(self, users: np.ndarray) -> np.ndarray:
        out = np.empty((len(users), self.n_items_), dtype=np.float32)
        for row, u in enumerate(users):
            out[row] = np.random.default_rng((self.seed, int(u))).random(self.n_items_, dtype=np.float32)
        return out


class MostPop(Recommender):
    """Score = number of training interactions of the item, the same list for everyone."""

    def _fit(self, train: Interactions, item_features: dict, valid: Interactions | None) -> None:
        self.popularity_ = train.item_counts().astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_)).copy()
