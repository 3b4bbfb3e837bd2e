"""ContentProfile: the classic content-based recommender, a user profile in feature space.

Every item is described by its content features, one block per modality (image, text,
anything ``(n_items, d)``). Each block is standardised per column (the centre of the
catalog removed, so that what all items share does not make every pair look alike) and
each row scaled to unit length; the blocks are then weighted and concatenated, so that
the dot product of two items is the weighted mean of their per-modality cosine
similarities. A user's profile is the mean of the vectors of the items they interacted
with, and an item's score is its dot product with the profile. No training, no ID
parameter: a new item is scored exactly like an old one.

Modalities of different widths and from unrelated encoders (EfficientNet images and
MiniLM texts) combine without a joint space, unlike :class:`handson.models.CLIPContent`,
which averages the vectors themselves and needs one space.

Reference: Lops, de Gemmis, Semeraro, "Content-based Recommender Systems: State of the Art
and Trends", in Recommender Systems Handbook, Springer 2011 (profiles as the mean of the
items a user liked, cosine matching).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..datasets import Interactions
from .base import Recommender
from .modality import check_modalities, prepare, scale

__all__ = ["ContentProfile", "profile_vectors"]


def profile_vectors(item_features: Mapping[str, np.ndarray], modalities: Sequence[str],
                    weights: Sequence[float] | None = None,
                    masks: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Item vectors ``(n_items, sum of widths)``: per modality standardised, unit rows, times
    ``sqrt(weight / sum of weights)``, concatenated. An item without a modality has a zero block."""
    weights = np.ones(len(modalities)) if weights is None else np.asarray(weights, dtype=np.float64)
    prepared = prepare(item_features, modalities, "ContentProfile", how="standardize", masks=masks,
                       require_content=False)
    blocks = [scale(x, mask, "l2") * np.float32(np.sqrt(w / weights.sum()))
              for (x, mask), w in zip(prepared.values(), weights)]
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)


class ContentProfile(Recommender):
    """``score(u, i) = mean_{j in I_u} e_j . e_i`` over standardised, per-modality unit vectors.

    ``modalities``: the ``item_features`` to use (any widths). ``weights``: one non-negative
    weight per modality (None: equal), how much each modality's cosine counts.
    """

    def __init__(self, modalities: Sequence[str] = ("image", "text"),
                 weights: Sequence[float] | None = None) -> None:
        self.modalities = check_modalities(modalities, "ContentProfile")
        self.weights = None if weights is None else tuple(float(w) for w in weights)

    def _check_params(self) -> None:
        if self.weights is None:
            return
        w = np.asarray(self.weights, dtype=np.float64)
        if len(w) != len(self.modalities) or not np.all(w >= 0) or not w.sum() > 0:
            raise ValueError(f"ContentProfile: weights must give one non-negative number per modality "
                             f"{self.modalities}, not all zero, e.g. weights=(1.0, 2.0); got {self.weights!r}.")

    def _fit(self, train: Interactions, item_features: dict[str, np.ndarray],
             valid: Interactions | None) -> None:
        self.item_embeddings_ = profile_vectors(item_features, self.modalities, self.weights, self.item_masks_)
        counts = np.maximum(np.asarray(self.train_.sum(axis=1)).ravel(), 1.0)
        self.user_embeddings_ = np.asarray(self.train_ @ self.item_embeddings_, dtype=np.float32) \
            / counts[:, None].astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_embeddings_[users] @ self.item_embeddings_.T
