"""The CLIP content model of the Amazon-2023 study: recommend from content embeddings alone.

Each item is the mean of its (L2-normalised) image and text embeddings, which lie in one
joint space when they come from CLIP; a user is the mean of the items they interacted
with. Two rankers sit on top:

- ``CLIPContent``: a dot product between user and item embeddings, no training at all;
- ``CLIPContentMLP``: a small MLP on ``[u, i, u * i]`` trained with the BPR loss, the
  embeddings staying frozen.

Neither model has an ID embedding, so a new item is scored as well as an old one: the
model is cold-start ready by construction (and blind to popularity).

References: Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision" (CLIP), ICML 2021; Hou et al., "Bridging Language and Items for Retrieval and
Recommendation" (Amazon Reviews 2023), arXiv:2403.03952, 2024.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..datasets import Interactions
from .base import Recommender
from .graph import check_feature_dim, reduce_features
from .losses import bpr_loss
from .modality import check_modalities, prepare
from .torch_base import TorchRecommender

__all__ = ["CLIPContent", "CLIPContentMLP", "content_embeddings", "mean_user_embeddings"]


def content_embeddings(item_features: Mapping[str, np.ndarray], modalities: Sequence[str],
                       normalize: bool = True, masks: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Item embeddings ``(n_items, d)``: the mean of the chosen modalities' rows.

    Each modality row is L2-normalised first (``normalize``). An item without a modality's
    content (``masks``; by default an all-zero row, the ``missing="zero"`` policy of
    :mod:`handson.features`) leaves it out: the mean is taken over the modalities an item
    has, and an item with none stays all zero (it then scores 0 for every user).
    """
    prepared = prepare(item_features, modalities, "CLIPContent", how="l2" if normalize else None,
                       masks=masks, require_content=False)
    dims = {m: x.shape[1] for m, (x, _) in prepared.items()}
    if len(set(dims.values())) > 1:
        raise ValueError(f"Averaging modalities needs one joint space (one width d), got {dims}. "
                         "Use CLIP features (handson.features.clip_features) or a single modality, "
                         "e.g. modalities=('text',).")
    total = sum(x for x, _ in prepared.values())
    count = sum(mask.astype(np.float32) for _, mask in prepared.values())[:, None]
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def mean_user_embeddings(train_csr: sp.csr_matrix, item_emb: np.ndarray) -> np.ndarray:
    """User embeddings ``(n_users, d)``: the mean embedding of each user's training items.

    A user without training items gets the zero vector.
    """
    counts = np.asarray(train_csr.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.maximum(counts, 1.0)).astype(np.float32)
    return np.asarray(scale @ train_csr @ item_emb, dtype=np.float32)


class CLIPContent(Recommender):
    """Content-only recommender: ``score(u, i) = mean_{j in I_u} e_j . e_i``, no training.

    ``e_i`` is the mean of item ``i``'s L2-normalised embeddings over ``modalities``
    (``("image", "text")`` by default; ``("text",)`` is the text-only ablation). All
    modalities must share one width (CLIP image and text embeddings do).
    References: Radford et al. 2021 (CLIP); Hou et al. 2024 (Amazon Reviews 2023).
    """

    def __init__(self, modalities: Sequence[str] = ("image", "text"), normalize: bool = True):
        self.modalities = check_modalities(modalities, "CLIPContent")
        self.normalize = normalize

    def _fit(self, train: Interactions, item_features: dict[str, np.ndarray],
             valid: Interactions | None) -> None:
        self.item_embeddings_ = content_embeddings(item_features, self.modalities, self.normalize, self.item_masks_)
        self.user_embeddings_ = mean_user_embeddings(self.train_, self.item_embeddings_)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_embeddings_[users] @ self.item_embeddings_.T


class _PairMLP(nn.Module):
    """``s(u, i) = w2 . relu(W1 [u, i, u * i] + b1) + b2`` over frozen content embeddings.

    ``items``: ``(n_items, d)``; ``user_sums`` ``(n_users, d)`` and ``user_counts``
    ``(n_users,)``: the sum and number of each user's training item embeddings.
    """

    def __init__(self, items: np.ndarray, user_sums: np.ndarray, user_counts: np.ndarray, hidden: int,
                 dropout: float) -> None:
        super().__init__()
        self.register_buffer("items", torch.from_numpy(items))
        self.register_buffer("user_sums", torch.from_numpy(user_sums))
        self.register_buffer("user_counts", torch.from_numpy(user_counts.astype(np.float32)))
        d = items.shape[1]
        self.first = nn.Linear(3 * d, hidden)
        self.rest = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def users(self, users: torch.Tensor, leave_out: torch.Tensor | None = None) -> torch.Tensor:
        """Mean embedding of each user's training items ``(B, d)``, without item ``leave_out``
        when given (during training, so that the positive is not part of its own user)."""
        total, count = self.user_sums[users], self.user_counts[users]
        if leave_out is not None:
            total, count = total - self.items[leave_out], count - 1
        return total / count.clamp(min=1)[:, None]

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Scores of aligned pairs: ``u`` ``(..., d)`` and ``v`` ``(..., d)`` -> ``(...)``."""
        return self.rest(self.first(torch.cat([u, v, u * v], dim=-1)))[..., 0]

    def score_all(self, u: torch.Tensor, chunk: int = 1 << 22) -> torch.Tensor:
        """Scores of every item for users ``u`` ``(B, d)`` -> ``(B, n_items)``, in item chunks
        so that no intermediate holds more than about ``chunk`` numbers.

        For one user the first layer is linear in the item: ``W_u u + b1 + W_i i + W_x (u * i)
        = [i, 1] @ M_u`` with ``M_u = [diag(u) W_x^T + W_i^T ; (W_u u + b1)^T]`` ``(d + 1, hidden)``.
        The users' ``M_u`` side by side make one matrix, so the first layer of every pair
        is one matrix product with the items, and no ``(users, items, d)`` product is formed."""
        d, hidden = u.shape[1], self.first.out_features
        W = self.first.weight                                  # (hidden, 3d): [W_u, W_i, W_x]
        per_user = u[:, :, None] * W[:, 2 * d:].T + W[:, d:2 * d].T               # (B, d, hidden)
        bias = (u @ W[:, :d].T + self.first.bias)[:, None]                       # (B, 1, hidden)
        M = torch.cat([per_user, bias], dim=1).permute(1, 0, 2).reshape(d + 1, -1)  # (d + 1, B * hidden)
        X = torch.cat([self.items, torch.ones_like(self.items[:, :1])], dim=1)  # (n_items, d + 1)
        step = max(1, chunk // M.shape[1])
        out = [self.rest((X[s:s + step] @ M).view(-1, len(u), hidden))[..., 0].T
               for s in range(0, len(X), step)]
        return torch.cat(out, dim=1)


class CLIPContentMLP(TorchRecommender):
    """The CLIP content model with a trained ranker: an MLP on ``[u, i, u * i]``, BPR loss.

    Item embeddings ``e_i`` and user embeddings (the mean of their training items) are as in
    :class:`CLIPContent` and stay frozen; only the MLP (``hidden`` units, ``dropout``) learns.
    While training, a positive pair's user embedding leaves that positive out, otherwise
    the MLP would learn to spot items that are part of the user's mean. ``feature_dim``: the
    MLP reads the top ``feature_dim`` singular directions of the item embeddings
    (:func:`handson.models.graph.reduce_features`, a rotation that keeps dot products of the
    leading directions; None: all of them): a training pair then costs ``feature_dim /
    d`` of one on the full embeddings. ``lr``: a large step learns in 10 epochs what
    ``lr=1e-3`` learns in 20; on a small catalog it also lets the MLP memorise per-item
    vectors, so that a random-feature control can catch up with real content (compare with
    :func:`handson.protocols.with_control`).
    References: Radford et al. 2021 (CLIP); Hou et al. 2024 (Amazon Reviews 2023).
    """

    score_batch_size = 256

    def __init__(self, modalities: Sequence[str] = ("image", "text"), normalize: bool = True,
                 hidden: int = 128, dropout: float = 0.0, feature_dim: int | None = 64,
                 lr: float = 5e-3, epochs: int = 10, **kwargs) -> None:
        super().__init__(lr=lr, epochs=epochs, **kwargs)
        self.modalities = check_modalities(modalities, "CLIPContentMLP")
        self.normalize, self.hidden, self.dropout, self.feature_dim = normalize, hidden, dropout, feature_dim

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.hidden, (int, np.integer)) or self.hidden < 1:
            raise ValueError(f"CLIPContentMLP: hidden must be a positive integer, got {self.hidden!r}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"CLIPContentMLP: dropout must lie in [0, 1), got {self.dropout!r}.")
        check_feature_dim(self.feature_dim, "CLIPContentMLP")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        items = content_embeddings(item_features, self.modalities, self.normalize, self.item_masks_)
        items = reduce_features(items, self.feature_dim)
        sums = np.asarray(self.train_ @ items, dtype=np.float32)
        counts = np.asarray(self.train_.sum(axis=1)).ravel()
        return _PairMLP(items, sums, counts, self.hidden, self.dropout)

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m, pos, neg = self.module_, batch["pos"], batch["neg"]
        u = m.users(batch["users"], leave_out=pos)
        s_pos = m(u, m.items[pos])
        v_neg = m.items[neg]                                   # (B, d) or (B, n_negatives, d)
        s_neg = m(u[:, None].expand_as(v_neg) if neg.dim() == 2 else u, v_neg)
        return bpr_loss(s_pos, s_neg)

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_.score_all(self.module_.users(users))
