"""BM3-style self-supervised multimodal recommender, teaching size.

Zhou, Zhou, Liu, Zhang, Zhang, Miao, Miao. "Bootstrap Latent Representations for
Multi-modal Recommendation." WWW 2023. https://arxiv.org/abs/2207.05969

**Kept from BM3.** LightGCN propagation of user and item ID embeddings over the user-item
graph; one linear projection per modality into the same latent space; views made by
**dropout on the latent embeddings** (BM3's contrastive view generator, our augmentation
of the user-item signal, optionally with ``edge_dropout`` of the graph itself); two
self-supervised alignments: **user-item** (a user's view against the view of an item she
interacted with) and **ID-modality** (an item's ID view against each of its projected
modality features). ``ssl="bootstrap"`` uses BM3's negative-free objective: a shared linear
predictor on the online side, cosine loss to a stop-gradient dropout target
(:func:`~handson.models.losses.bootstrap_loss`), and the intra-modality term (features
against their own dropout view).

**Simplified or changed.** The model is trained with BPR (BM3 trains with the
self-supervised losses alone), and the self-supervised part is an auxiliary loss weighted
by ``ssl_weight``, so ``ssl_weight=0`` is exactly LightGCN and the ablation is one switch.
The default ``ssl="infonce"`` replaces the bootstrap with the contrastive InfoNCE loss
(in-batch negatives), where gradients reach both sides: the content pulls item ID
embeddings, including those of items never interacted with (they enter the loss as sampled
negatives), so they get content-based vectors. Scores are plain dot products of the
propagated embeddings (BM3 scores through the predictor). No masked-feature term for
InfoNCE. Missing content (all-zero rows) is left out of the ID-modality terms.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import Interactions
from .graph import (check_feature_dim, layer_mean, normalized_adjacency, pair_scores, prune_edges,
                    reduce_features, squared_norms)
from .losses import bootstrap_loss, bpr_loss, info_nce
from .modality import check_modalities, prepare
from .torch_base import TorchRecommender

__all__ = ["BM3", "BM3Module"]


class BM3Module(nn.Module):
    """ID embeddings with LightGCN propagation, modality projections and a predictor."""

    def __init__(self, n_users: int, n_items: int, factors: int, feats: dict[str, np.ndarray],
                 masks: dict[str, np.ndarray], adj: torch.Tensor, n_layers: int) -> None:
        super().__init__()
        self.n_users, self.n_layers, self.adj = n_users, n_layers, adj
        self.embedding = nn.Embedding(n_users + n_items, factors)
        nn.init.xavier_uniform_(self.embedding.weight)
        self.proj = nn.ModuleDict({m: nn.Linear(x.shape[1], factors) for m, x in feats.items()})
        self.predictor = nn.Linear(factors, factors)
        for m in feats:
            self.register_buffer(f"x_{m}", torch.from_numpy(feats[m]), persistent=False)
            self.register_buffer(f"mask_{m}", torch.from_numpy(masks[m]), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagated user ``(n_users, d)`` and item ``(n_items, d)`` embeddings over ``self.adj``."""
        final = layer_mean(self.adj, self.embedding.weight, self.n_layers)
        return final[:self.n_users], final[self.n_users:]

    def projected(self, name: str, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected features ``(B, d)`` of one modality and the availability mask ``(B,)``."""
        return self.proj[name](getattr(self, f"x_{name}")[items]), getattr(self, f"mask_{name}")[items]


class BM3(TorchRecommender):
    """Self-supervised multimodal model after BM3 (Zhou et al., WWW 2023); see the module docstring.

    ``modalities``: ``item_features`` keys. ``ssl``: "infonce" (contrastive) or "bootstrap"
    (BM3's negative-free loss). ``ssl_weight``: weight of the self-supervised loss (0 = LightGCN).
    ``temperature``: InfoNCE temperature. ``view_dropout``: dropout making the views.
    ``edge_dropout``: share of user-item edges dropped per epoch (degree-sensitive, as FREEDOM).
    ``ssl_batch``: (user, item) pairs and items per self-supervised term: the first pairs of
    each shuffled batch, and the positive and (first) negative items of its first
    ``ssl_batch / 2`` pairs (InfoNCE costs ``ssl_batch**2``).
    ``n_layers``: LightGCN layers; ``reg``: L2 on the batch's ID embeddings.
    ``feature_dim``: the projections learn from the top ``feature_dim`` singular directions
    of each modality (:func:`handson.models.graph.reduce_features`; None: all of them), much
    cheaper on a CPU for 1000+ dimensional features. ``batch_size`` and ``lr``: every batch
    propagates over the whole graph, so large batches (and a learning rate scaled up with
    them) make an epoch cheap. ``n_negatives``: negatives per positive in the BPR loss;
    with several of them and the stronger ``reg``, the large learning rate converges within
    the default ``epochs`` (early stopping keeps the best validated epoch).
    """

    min_batches = 8        # large batches, but at least 8 optimizer steps per epoch on small data

    def __init__(self, modalities: Sequence[str] = ("image", "text"), ssl: str = "infonce",
                 ssl_weight: float = 0.1, temperature: float = 0.2, view_dropout: float = 0.3,
                 edge_dropout: float = 0.0, ssl_batch: int = 512, n_layers: int = 2,
                 reg: float = 1e-3, feature_dim: int | None = 128, factors: int = 64,
                 lr: float = 3e-2, epochs: int = 40, batch_size: int = 8192, n_negatives: int = 4,
                 **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, epochs=epochs, batch_size=batch_size,
                         n_negatives=n_negatives, **kwargs)
        self.modalities = check_modalities(modalities, "BM3")
        self.ssl, self.ssl_weight, self.temperature = ssl, ssl_weight, temperature
        self.view_dropout, self.edge_dropout, self.ssl_batch = view_dropout, edge_dropout, ssl_batch
        self.n_layers, self.reg, self.feature_dim = n_layers, reg, feature_dim

    def _check_params(self) -> None:
        super()._check_params()
        check_feature_dim(self.feature_dim, "BM3")
        if self.ssl not in ("infonce", "bootstrap"):
            raise ValueError(f"ssl must be 'infonce' or 'bootstrap', got {self.ssl!r}.")
        if self.ssl_weight < 0 or self.temperature <= 0:
            raise ValueError(f"ssl_weight={self.ssl_weight} must be >= 0 and "
                             f"temperature={self.temperature} > 0.")
        for name in ("view_dropout", "edge_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must lie in [0, 1).")
        if not isinstance(self.n_layers, (int, np.integer)) or self.n_layers < 0:
            raise ValueError(f"n_layers must be a non-negative integer, got {self.n_layers!r}.")
        if not isinstance(self.ssl_batch, (int, np.integer)) or self.ssl_batch < 2:
            raise ValueError(f"ssl_batch must be an integer >= 2, got {self.ssl_batch!r}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        prepared = prepare(item_features, self.modalities, "BM3", masks=self.item_masks_)
        self._full_adj = normalized_adjacency(self.train_, device=self.device_)
        return BM3Module(train.n_users, train.n_items, self.factors,
                         {m: reduce_features(x, self.feature_dim) for m, (x, _) in prepared.items()},
                         {m: k for m, (_, k) in prepared.items()}, self._full_adj, int(self.n_layers))

    def _on_epoch_start(self, epoch: int) -> None:
        if self.edge_dropout > 0:
            kept = prune_edges(self.train_, self.edge_dropout, np.random.default_rng((self.seed, epoch)))
            self.module_.adj = normalized_adjacency(kept, self.device_)

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m, users, pos, neg = self.module_, batch["users"], batch["pos"], batch["neg"]
        user_emb, item_emb = m()
        loss = bpr_loss(*pair_scores(user_emb, item_emb, users, pos, neg)[:2])
        l2 = squared_norms(m.embedding.weight, users, pos + m.n_users, neg + m.n_users)
        loss = loss + self.reg * l2 / (2 * len(users))
        if self.ssl_weight > 0:
            b = self.ssl_batch
            first_neg = neg.reshape(len(neg), -1)[:b // 2, 0]               # at most b items
            items = torch.unique(torch.cat([pos[:b // 2], first_neg]))
            loss = loss + self.ssl_weight * self.ssl_loss(user_emb, item_emb, users[:b], pos[:b], items)
        return loss

    def ssl_loss(self, user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor,
                 pos: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The self-supervised loss from propagated embeddings ``(n_users, d)``, ``(n_items, d)``:
        user-item views of the (users, pos) pairs and ID-modality views of ``items`` (each (B,)
        long). A scalar, the mean of its terms."""
        m, p = self.module_, self.view_dropout

        def view(x: torch.Tensor) -> torch.Tensor:
            return F.dropout(x, p, training=m.training)

        if self.ssl == "infonce":
            terms = [info_nce(view(user_emb[users]), view(item_emb[pos]), self.temperature)]
            for name in self.modalities:
                feat, has = m.projected(name, items)
                if has.sum() >= 2:
                    terms.append(info_nce(view(item_emb[items][has]), feat[has], self.temperature))
            return torch.stack(terms).mean()
        pred = m.predictor               # BM3: online side -> predictor; target = dropout + stop-grad
        terms = [bootstrap_loss(pred(user_emb[users]), view(item_emb[pos])),
                 bootstrap_loss(pred(item_emb[pos]), view(user_emb[users]))]
        for name in self.modalities:
            feat, has = m.projected(name, items)
            if has.any():
                terms.append(bootstrap_loss(pred(feat[has]), view(item_emb[items][has])))
                terms.append(bootstrap_loss(pred(feat[has]), view(feat[has])))
        return torch.stack(terms).mean()

    def _before_scoring(self) -> None:
        m = self.module_
        m.adj = self._full_adj
        self._cache = m()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T
