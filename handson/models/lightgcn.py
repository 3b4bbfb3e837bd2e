"""LightGCN: collaborative filtering by linear propagation over the user-item graph.

He, Deng, Wang, Li, Zhang, Wang. "LightGCN: Simplifying and Powering Graph Convolution
Network for Recommendation." SIGIR 2020. https://arxiv.org/abs/2002.02126
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..datasets import Interactions
from .graph import layer_mean, normalized_adjacency, pair_scores, squared_norms
from .losses import bpr_loss
from .torch_base import TorchRecommender

__all__ = ["LightGCN", "LightGCNModule"]


class LightGCNModule(nn.Module):
    """Ego embeddings ``(n_users + n_items, factors)`` and the fixed normalized adjacency.

    ``forward()`` returns the final embeddings: the mean of the ``n_layers + 1`` layer
    outputs ``E_0, A E_0, A^2 E_0, ...`` (users first, then items), shape (N, factors).
    """

    def __init__(self, adj: torch.Tensor, n_users: int, factors: int, n_layers: int,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.n_users, self.n_layers = n_users, n_layers
        self.embedding = nn.Embedding(adj.shape[0], factors)
        nn.init.normal_(self.embedding.weight, std=init_std)
        self.register_buffer("adj", adj, persistent=False)   # not in state_dict: rebuilt from data

    def forward(self) -> torch.Tensor:
        return layer_mean(self.adj, self.embedding.weight, self.n_layers)

    def split(self, final: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Users ``(n_users, d)`` and items ``(n_items, d)`` of a stacked embedding table."""
        return final[:self.n_users], final[self.n_users:]


class LightGCN(TorchRecommender):
    """LightGCN (He et al., SIGIR 2020): collaborative filtering as smoothing over the graph.

    Users and items are the nodes of one graph, with an edge for every training interaction.
    Each node starts from an ID embedding (``E_0``); a layer replaces every embedding by the
    normalized average of its neighbours' (``E_{l+1} = A E_l``), without feature transforms
    or non-linearities, and the final embedding is the mean of the ``n_layers + 1`` layers.
    After one layer a user looks like the items she interacted with, after two like the users
    who share her items: the propagation spreads the collaborative signal that BPR-MF has to
    learn from single triples. ``score(u, i) = e_u . e_i`` with the final embeddings, trained
    with the BPR loss.

    ``n_layers``: propagation depth (``0`` is plain BPR-MF; deeper graphs over-smooth, every
    embedding drifting to the same average). ``reg``: L2 penalty on the ego (layer-0)
    embeddings of each batch, as in the paper. ``init_std``: standard deviation of the normal
    initial ego embeddings; a small start suits the large default learning rate (from
    ``init_std=0.1`` it settled at a lower validation recall on MovieLens). ``n_negatives``:
    negatives per positive, the BPR loss averaged over them: more ranking signal per step,
    for a modest cost because the propagation over the whole graph dominates a batch.
    ``batch_size`` and ``lr``: for the same reason an epoch costs about one propagation per
    batch, so large batches (with a learning rate scaled up with them) make training fast.
    ``epochs``: with these settings the validation curve has flattened by then; early
    stopping picks the best validated epoch.

    Defaults were chosen on validation data (per-user 70/10/20 splits of toyshop and
    MovieLens); see ``benchmarks/`` and the README table. Small, dense data sets may prefer a
    stronger ``reg``.
    """

    min_batches = 8        # large batches, but at least 8 optimizer steps per epoch on small data

    def __init__(self, factors: int = 64, n_layers: int = 2, reg: float = 1e-3, init_std: float = 0.01,
                 lr: float = 3e-2, epochs: int = 60, batch_size: int = 8192, n_negatives: int = 4,
                 **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, epochs=epochs, batch_size=batch_size,
                         n_negatives=n_negatives, **kwargs)
        self.n_layers, self.reg, self.init_std = n_layers, reg, init_std

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.n_layers, (int, np.integer)) or self.n_layers < 0:
            raise ValueError(f"n_layers must be a non-negative integer, got {self.n_layers!r}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        adj = normalized_adjacency(self.train_, device=self.device_)
        self._cache = None
        return LightGCNModule(adj, train.n_users, self.factors, int(self.n_layers), self.init_std)

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.module_
        users, pos, neg = batch["users"], batch["pos"] + m.n_users, batch["neg"] + m.n_users
        final = m()
        pos_s, neg_s, _ = pair_scores(final, final, users, pos, neg)
        l2 = squared_norms(m.embedding.weight, users, pos, neg) / 2      # on the ego embeddings
        return bpr_loss(pos_s, neg_s) + self.reg * l2 / len(users)

    def _before_scoring(self) -> None:
        self._cache = self.module_.split(self.module_())

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T
