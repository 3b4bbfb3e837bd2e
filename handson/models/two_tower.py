"""Two neural ways of combining a user and an item embedding (the two PoliMi variants).

* :class:`TwoTowerMLP`, variant 1: the two embeddings are concatenated and an MLP outputs
  the score (the MLP branch of Neural Collaborative Filtering, He et al., WWW 2017). The
  network learns *how* to combine user and item, at the price of scoring every pair.
* :class:`TwoTowerDot`, variant 2: each side has its own deep tower and the score is the
  dot product of the tower outputs (Yi et al., "Sampling-Bias-Corrected Neural Modeling
  for Large Corpus Item Recommendations", RecSys 2019; Covington et al., RecSys 2016).
  Item vectors can be precomputed: scoring all items is one matrix product.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..datasets import Interactions
from .losses import bce_loss, bpr_loss, in_batch_softmax_loss
from .spectral import add_svd_start, check_init
from .torch_base import TorchRecommender

__all__ = ["TwoTowerMLP", "TwoTowerDot", "mlp"]


def mlp(sizes: Sequence[int], dropout: float = 0.0, last_activation: bool = False) -> nn.Sequential:
    """Linear layers of the given ``sizes`` with ReLU (and dropout) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers += [nn.ReLU(), nn.Dropout(dropout)] if dropout else [nn.ReLU()]
    return nn.Sequential(*layers)


class _ConcatMLP(nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int, hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, factors), nn.Embedding(n_items, factors)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)
        self.first = nn.Linear(2 * factors, hidden[0])
        self.rest = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), mlp([*hidden, 1], dropout))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users (B,), items (B,) or (B, n) -> scores of the same shape as items."""
        u = self.user(users)
        if items.dim() == 2:
            u = u.unsqueeze(1).expand(-1, items.shape[1], -1)
        return self.rest(self.first(torch.cat([u, self.item(items)], dim=-1))).squeeze(-1)

    def score_all(self, users: torch.Tensor, chunk_items: int) -> torch.Tensor:
        """(B, n_items): the first layer splits into a user part and an item part (computed once)."""
        f = self.user.weight.shape[1]
        hu = self.user(users) @ self.first.weight[:, :f].T + self.first.bias         # (B, h)
        hi = self.item.weight @ self.first.weight[:, f:].T                           # (n_items, h)
        out = [self.rest(hu.unsqueeze(1) + hi[s:s + chunk_items].unsqueeze(0)).squeeze(-1)
               for s in range(0, len(hi), chunk_items)]
        return torch.cat(out, dim=1)


class TwoTowerMLP(TorchRecommender):
    """Variant 1: ``score(u, i) = MLP([p_u ; q_i])`` (NCF's MLP, He et al., WWW 2017).

    Trained with binary cross-entropy against ``n_negatives`` sampled negatives per positive;
    ``reg`` is an L2 penalty on the embeddings of each batch. ``lr`` and ``epochs``: Adam's
    larger step reaches in 15 epochs what a step of 1e-3 reaches in 40 on MovieLens; every
    validation scores all user x item pairs through the MLP, as costly as a few epochs.
    """

    score_batch_size = 64

    def __init__(self, factors: int = 32, hidden: Sequence[int] = (64, 32), dropout: float = 0.0,
                 reg: float = 1e-2, n_negatives: int = 4, lr: float = 3e-3, epochs: int = 15,
                 **kwargs) -> None:
        super().__init__(factors=factors, n_negatives=n_negatives, lr=lr, epochs=epochs, **kwargs)
        self.hidden, self.dropout, self.reg = tuple(hidden), dropout, reg

    def _check_params(self) -> None:
        super()._check_params()
        if not self.hidden:
            raise ValueError("hidden must name at least one layer width, e.g. hidden=(64, 32).")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        return _ConcatMLP(train.n_users, train.n_items, self.factors, self.hidden, self.dropout)

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m, users, pos, neg = self.module_, batch["users"], batch["pos"], batch["neg"]
        l2 = _l2(m, users, pos, neg)
        return bce_loss(m(users, pos), m(users, neg)) + self.reg * l2

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_.score_all(users, chunk_items=max(1, 2**22 // (len(users) * self.hidden[0])))


def _l2(m: nn.Module, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Squared norm of the batch's user and item embeddings, per user of the batch."""
    items = torch.cat([pos.unsqueeze(-1), neg.reshape(len(pos), -1)], dim=1)
    return (m.user(users).pow(2).sum() + m.item(items).pow(2).sum()) / len(users)


class _Towers(nn.Module):
    """Residual towers ``f(p) = p + MLP(p)`` whose MLP ends at zero: training starts at ``p . q``."""

    def __init__(self, n_users: int, n_items: int, factors: int, hidden: Sequence[int], dropout: float,
                 init_std: float) -> None:
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, factors), nn.Embedding(n_items, factors)
        nn.init.normal_(self.user.weight, std=init_std)
        nn.init.normal_(self.item.weight, std=init_std)
        self.user_tower = mlp([factors, *hidden, factors], dropout)
        self.item_tower = mlp([factors, *hidden, factors], dropout)
        for tower in (self.user_tower, self.item_tower):      # the identity at the start
            nn.init.zeros_(tower[-1].weight)
            nn.init.zeros_(tower[-1].bias)

    def users(self, users: torch.Tensor) -> torch.Tensor:
        p = self.user(users)
        return p + self.user_tower(p)

    def items(self, items: torch.Tensor | None = None) -> torch.Tensor:
        q = self.item.weight if items is None else self.item(items)
        return q + self.item_tower(q)


class TwoTowerDot(TorchRecommender):
    """Variant 2: ``score(u, i) = f(p_u) . g(q_i)`` with deep towers ``f``, ``g``.

    ``loss="softmax"`` (default): in-batch sampled softmax, every other positive item of the
    batch is a negative, with the log-popularity correction of Yi et al. (RecSys 2019);
    ``loss="bpr"``: one sampled negative per positive. ``reg`` is an L2 penalty on the tower
    outputs of the batch (on the embeddings alone it would be undone by the towers' weights).
    With the softmax a batch is ``batch_size`` training pairs and nothing else (no negative
    is sampled); its cost grows with ``batch_size`` squared, so the default batch is small.

    Each tower is residual, ``f(p) = p + MLP(p)``, and the MLP's last layer starts at zero: at
    the start the towers are the identity and the model is the matrix factorisation
    ``p_u . q_i``; the MLPs then learn what a dot product of the embeddings misses.
    ``init``: where the embeddings start. "svd" (default): the denoised truncated SVD of the
    training matrix, as in :class:`~handson.models.BPR` (PureSVD's ranking), plus normal noise
    of ``init_std``; the softmax then refines a good ranking with small steps (``lr``) and
    peaks within a few epochs, so validation runs every epoch and stops two epochs after the
    peak. "normal": small random vectors of ``init_std`` (try ``init_std=0.1, lr=3e-3``), which
    need tens of epochs.
    """

    def __init__(self, factors: int = 64, hidden: Sequence[int] = (128,), dropout: float = 0.0,
                 loss: str = "softmax", reg: float = 1e-2, init: str = "svd", init_std: float = 1e-3,
                 lr: float = 1e-3, epochs: int = 30, batch_size: int = 512, eval_every: int = 1,
                 patience: int = 2, **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, epochs=epochs, batch_size=batch_size, eval_every=eval_every,
                         patience=patience, **kwargs)
        self.hidden, self.dropout, self.loss, self.reg = tuple(hidden), dropout, loss, reg
        self.init, self.init_std = init, init_std

    def _check_params(self) -> None:
        super()._check_params()
        if self.loss not in ("softmax", "bpr"):
            raise ValueError(f"loss must be 'softmax' or 'bpr', got {self.loss!r}.")
        check_init(self.init, "TwoTowerDot")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        self._items = None
        counts = np.asarray(self.train_.sum(axis=0)).ravel() + 1.0
        self._log_q = torch.log(torch.as_tensor(counts / counts.sum(), dtype=torch.float32)).to(self.device_)
        coo = self.train_.tocoo()
        self._pairs = tuple(torch.from_numpy(a.astype(np.int64)).to(self.device_) for a in (coo.row, coo.col))
        module = _Towers(train.n_users, train.n_items, self.factors, self.hidden, self.dropout, self.init_std)
        if self.init == "svd":               # PureSVD's factors plus the small normal noise drawn above
            add_svd_start(module.user.weight, module.item.weight, self.train_, self.factors, self.seed)
        return module

    def _batches(self, train: Interactions, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """Softmax: every training pair once, in a random order (the in-batch positives are the
        negatives, none is sampled); BPR: the sampled triples of the base class."""
        if self.loss != "softmax":
            yield from super()._batches(train, rng)
            return
        order = torch.from_numpy(rng.permutation(len(self._pairs[0]))).to(self.device_)
        users, items = self._pairs[0][order], self._pairs[1][order]
        for start in range(0, len(order), self.batch_size):
            yield {"users": users[start:start + self.batch_size], "pos": items[start:start + self.batch_size]}

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.module_
        u, pos = m.users(batch["users"]), m.items(batch["pos"])
        l2 = (u.pow(2).sum() + pos.pow(2).sum()) / len(u)          # on the tower outputs
        if self.loss == "softmax":   # (B, B) logits: row r's positive is column r
            logits = u @ pos.T - self._log_q[batch["pos"]]
            same = batch["pos"].unsqueeze(0) == batch["pos"].unsqueeze(1)
            logits = logits.masked_fill(same & ~torch.eye(len(u), dtype=torch.bool, device=u.device), -1e4)
            return in_batch_softmax_loss(logits) + self.reg * l2
        neg = m.items(batch["neg"])
        neg_s = (u.unsqueeze(1) * neg).sum(-1) if neg.dim() == 3 else (u * neg).sum(-1)
        return bpr_loss((u * pos).sum(-1), neg_s) + self.reg * (l2 + neg.pow(2).sum() / len(u))

    def _before_scoring(self) -> None:
        self._items = self.module_.items()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_.users(users) @ self._items.T
