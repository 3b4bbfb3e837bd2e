"""FREEDOM: a frozen multimodal item-item graph plus a denoised user-item graph.

Zhou & Shen. "A Tale of Two Graphs: Freezing and Denoising Graph Structures for
Multimodal Recommendation." ACM MM 2023. https://arxiv.org/abs/2211.06924

Two graphs, two propagations, one sum:

1. **Item-item graph, frozen.** Per modality, the top-``knn_k`` cosine neighbours of every
   item (:func:`handson.models.item_graph.modality_graph`), symmetric-normalized and fused
   with ``weights``. Built once from the raw features (LATTICE learned it; FREEDOM showed
   freezing it is as good and much cheaper). Item ID embeddings are smoothed over it:
   ``h = S^L_ii E_item``.
2. **User-item graph, denoised.** Every epoch, ``dropout`` of the training edges are dropped:
   the kept ``1 - dropout`` are sampled with probability proportional to
   ``1 / sqrt(deg(u) deg(i))``, so edges between two popular nodes (the least informative)
   are the likeliest to go. LightGCN propagation over the
   kept edges gives ``(u, i)``; scoring uses the full graph.

``score(u, i) = u . (i + h_i)``. Loss: BPR on the scores plus ``feature_weight`` x BPR of
the user embedding against the projected features of the positive and negative items (one
linear projection per modality), which ties the content to the collaborative space.
An all-zero feature row (missing content) has no neighbours in that modality's graph.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..datasets import Interactions
from .graph import (check_feature_dim, layer_mean, normalized_adjacency, pair_scores, prune_edges,
                    reduce_features, sparse_mm, squared_norms, to_torch_sparse)
from .item_graph import modality_graph
from .losses import bpr_loss
from .modality import check_modalities, prepare
from .torch_base import TorchRecommender

__all__ = ["FREEDOM", "FREEDOMModule", "prune_edges"]   # prune_edges: from .graph, kept importable here


class FREEDOMModule(nn.Module):
    """ID embeddings, per-modality projections, the frozen item graph and the user-item graph."""

    def __init__(self, n_users: int, n_items: int, factors: int, feats: dict[str, np.ndarray],
                 item_adj: torch.Tensor, item_adj_t: torch.Tensor, adj: torch.Tensor,
                 n_layers: int, n_item_layers: int) -> None:
        super().__init__()
        self.n_users, self.n_layers, self.n_item_layers = n_users, n_layers, n_item_layers
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        self.proj = nn.ModuleDict({m: nn.Linear(x.shape[1], factors) for m, x in feats.items()})
        for m, x in feats.items():
            self.register_buffer(f"x_{m}", torch.from_numpy(x), persistent=False)
        self.register_buffer("item_adj", item_adj, persistent=False)
        self.register_buffer("item_adj_t", item_adj_t, persistent=False)
        self.adj = adj                                       # swapped for a pruned one every epoch

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user ``(n_users, d)`` and item ``(n_items, d)`` embeddings over ``self.adj``."""
        h = self.item.weight
        for _ in range(self.n_item_layers):
            h = sparse_mm(self.item_adj, h, self.item_adj_t)
        ego = torch.cat([self.user.weight, self.item.weight])
        final = layer_mean(self.adj, ego, self.n_layers)
        return final[:self.n_users], final[self.n_users:] + h

    def projected(self, name: str, items: torch.Tensor) -> torch.Tensor:
        """Projected features of one modality for items (any shape) -> (..., d)."""
        return self.proj[name](getattr(self, f"x_{name}")[items])


class FREEDOM(TorchRecommender):
    """FREEDOM (Zhou & Shen, ACM MM 2023): frozen modality kNN item graph + degree-sensitive
    edge pruning of the user-item graph + LightGCN propagation; see the module docstring.

    ``modalities``: the ``item_features`` keys to use. ``knn_k``: neighbours per item and
    modality. ``weights``: modality -> weight of its graph (default equal; the paper used
    image 0.1, text 0.9 on Amazon). ``dropout``: share of user-item edges pruned per epoch.
    ``n_layers``: user-item propagation layers; ``n_item_layers``: item-graph layers.
    ``feature_weight``: weight of the modality BPR term; ``reg``: L2 on the batch's ID embeddings.
    ``feature_dim``: the projections learn from the top ``feature_dim`` singular directions
    of each modality (:func:`handson.models.graph.reduce_features`; None: all of them): on a
    CPU, projecting 1000+ dimensional features for every batch is most of an epoch. The item
    graph is always built from the full features. ``batch_size`` and ``lr``: every batch
    propagates over the whole graph, so large batches (and a learning rate scaled up with
    them) make an epoch cheap. ``n_negatives``: negatives per positive in both BPR terms;
    with several of them and the stronger ``reg``, the large learning rate converges within
    the default ``epochs`` (early stopping keeps the best validated epoch); more epochs still
    add a little on large catalogs, for proportionally more time.
    """

    min_batches = 8        # large batches, but at least 8 optimizer steps per epoch on small data

    def __init__(self, modalities: Sequence[str] = ("image", "text"), knn_k: int = 10,
                 weights: Mapping[str, float] | None = None, dropout: float = 0.5,
                 n_layers: int = 2, n_item_layers: int = 1, feature_weight: float = 1e-2,
                 reg: float = 1e-3, feature_dim: int | None = 128, factors: int = 64, lr: float = 3e-2,
                 epochs: int = 20, batch_size: int = 8192, n_negatives: int = 4, **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, epochs=epochs, batch_size=batch_size,
                         n_negatives=n_negatives, **kwargs)
        self.modalities = check_modalities(modalities, "FREEDOM")
        self.knn_k, self.weights, self.dropout = knn_k, None if weights is None else dict(weights), dropout
        self.n_layers, self.n_item_layers = n_layers, n_item_layers
        self.feature_weight, self.reg, self.feature_dim = feature_weight, reg, feature_dim

    def _check_params(self) -> None:
        super()._check_params()
        check_feature_dim(self.feature_dim, "FREEDOM")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} is the share of edges pruned; it must lie in [0, 1).")
        for name in ("n_layers", "n_item_layers"):
            if not isinstance(getattr(self, name), (int, np.integer)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {getattr(self, name)!r}.")
        if not isinstance(self.knn_k, (int, np.integer)) or self.knn_k < 1:
            raise ValueError(f"knn_k={self.knn_k!r} must be a positive integer number of neighbours.")
        unknown = sorted(set(self.weights or {}) - set(self.modalities))
        if unknown:
            raise ValueError(f"weights name modalities {unknown} that are not in item_features "
                             f"modalities {list(self.modalities)}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        prepared = prepare(item_features, self.modalities, "FREEDOM", masks=self.item_masks_)
        # the graph is built on the features as given, missing rows zeroed: they get no neighbours
        raw = prepare(item_features, self.modalities, "FREEDOM", how=None, masks=self.item_masks_)
        self.item_graph_ = modality_graph({m: x for m, (x, _) in raw.items()}, self.knn_k, self.weights,
                                          verbose=self.verbose)
        item_adj = to_torch_sparse(self.item_graph_, self.device_)
        item_adj_t = to_torch_sparse(self.item_graph_.T, self.device_)
        self._full_adj = normalized_adjacency(self.train_, device=self.device_)
        module = FREEDOMModule(train.n_users, train.n_items, self.factors,
                               {m: reduce_features(x, self.feature_dim) for m, (x, _) in prepared.items()},
                               item_adj, item_adj_t,
                               self._full_adj, int(self.n_layers), int(self.n_item_layers))
        with torch.no_grad():                   # no random ID vector for items never trained
            module.item.weight[torch.from_numpy(train.item_counts() == 0)] = 0.0
        return module

    def _on_epoch_start(self, epoch: int) -> None:
        rng = np.random.default_rng((self.seed, epoch))
        pruned = prune_edges(self.train_, self.dropout, rng)
        self.module_.adj = self._full_adj if self.dropout <= 0 else normalized_adjacency(pruned, self.device_)

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m, users, pos, neg = self.module_, batch["users"], batch["pos"], batch["neg"]
        user_emb, item_emb = m()
        pos_s, neg_s, u = pair_scores(user_emb, item_emb, users, pos, neg)
        loss = bpr_loss(pos_s, neg_s)
        u_neg = u.unsqueeze(1) if neg.dim() == 2 else u          # (B, 1, d) against (B, n_neg, d)
        # project each distinct item of the batch once, not once per (user, item) pair
        items, inverse = torch.unique(torch.cat([pos, neg.reshape(-1)]), return_inverse=True)
        for name in self.modalities:
            feat = m.projected(name, items).index_select(0, inverse)
            f_pos, f_neg = feat[:len(pos)], feat[len(pos):].reshape(*neg.shape, -1)
            loss = loss + self.feature_weight * bpr_loss((u * f_pos).sum(-1), (u_neg * f_neg).sum(-1))
        l2 = squared_norms(m.user.weight, users) + squared_norms(m.item.weight, pos, neg)
        return loss + self.reg * l2 / (2 * len(users))

    def _before_scoring(self) -> None:
        self.module_.adj = self._full_adj
        self._cache = self.module_()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T
