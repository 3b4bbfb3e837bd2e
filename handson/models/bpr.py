"""BPR-MF: matrix factorization trained with the Bayesian personalized ranking loss.

Rendle, Freudenthaler, Gantner, Schmidt-Thieme. "BPR: Bayesian Personalized Ranking from
Implicit Feedback." UAI 2009. https://arxiv.org/abs/1205.2618
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..datasets import Interactions
from .losses import bpr_loss
from .spectral import add_svd_start, check_init
from .torch_base import TorchRecommender

__all__ = ["BPR", "MFModule"]


class MFModule(nn.Module):
    """User and item embeddings ``(n_users, factors)``, ``(n_items, factors)`` and an optional item bias."""

    def __init__(self, n_users: int, n_items: int, factors: int, item_bias: bool = True,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        nn.init.normal_(self.user.weight, std=init_std)
        nn.init.normal_(self.item.weight, std=init_std)
        self.bias = nn.Parameter(torch.zeros(n_items)) if item_bias else None

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scores of (user, item) pairs: users (B,), items (B,) or (B, n) -> scores shaped like
        items, plus the looked-up user (B, f) and item (..., f) embeddings (for the L2 penalty)."""
        u, v = self.user(users), self.item(items)
        s = (u.unsqueeze(1) * v).sum(-1) if items.dim() == 2 else (u * v).sum(-1)
        return (s + self.bias[items] if self.bias is not None else s), u, v

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for users (B,): one matrix product -> (B, n_items)."""
        s = self.user(users) @ self.item.weight.T
        return s + self.bias if self.bias is not None else s


class BPR(TorchRecommender):
    """Matrix factorization with the BPR loss (Rendle et al., UAI 2009).

    ``score(u, i) = p_u . q_i + b_i``: a user vector ``p_u`` and an item vector ``q_i`` of
    ``factors`` numbers each, plus an item bias ``b_i`` (how much everyone likes the item).
    Implicit feedback has no negatives, so training samples them: for each training pair
    (u, i) it draws items j the user did not interact with and pushes ``score(u, i)`` above
    ``score(u, j)`` with the loss ``-log sigmoid(score(u, i) - score(u, j))``
    (:func:`handson.models.losses.bpr_loss`), a smooth version of "rank i above j".

    ``factors``: length of the vectors (capacity). ``reg``: L2 penalty on the vectors of each
    batch (users, positives, negatives), the Gaussian prior of the paper: it keeps rarely
    seen users and items from growing large, overconfident vectors. ``item_bias``: learn
    ``b_i``; ``reg_bias`` penalises it the same way (None: the weight of ``reg``; 0:
    unpenalised); a penalised bias keeps popularity from absorbing the signal the vectors
    should learn. ``init``: where training starts. "svd" (default): the truncated SVD of the
    training matrix with its noise directions shrunk away (:func:`handson.models.spectral.svd_factors`,
    PureSVD's ranking), plus normal noise of ``init_std``; BPR then refines a good ranking with
    small steps, in a few epochs. "normal": small random vectors (``init_std``), the paper's
    start, which needs larger steps (e.g. ``lr=5e-3, lr_decay=0.98``) and one to two hundred
    epochs. ``n_negatives``: negatives per positive, the loss averaged over them; more ranking
    signal per step for a higher cost per epoch (one negative per positive is the paper's
    sampler and the cheapest epoch). ``lr`` and ``lr_decay``: the Adam step of epoch ``e`` is
    ``lr * lr_decay ** (e - 1)``, so the end of training refines instead of bouncing around.
    Validation every ``eval_every`` epochs and ``patience`` validations without improvement
    end training; the best validated weights are kept.

    Defaults were chosen on validation data (per-user splits of toyshop, MovieLens and a
    1,700-item MovieLens subsample) for training in seconds at or above the accuracy of
    Cornac's validation-tuned BPR (``benchmarks/run_all.py`` times both). Small, dense data
    sets may prefer a stronger ``reg`` (``benchmarks/compare_cornac.py`` tunes it).
    """

    min_batches = 8        # large batches, but at least 8 optimizer steps per epoch on small data

    def __init__(self, factors: int = 64, reg: float = 5e-3, item_bias: bool = True,
                 reg_bias: float | None = None, init: str = "svd", init_std: float = 1e-3, lr: float = 1e-3,
                 lr_decay: float = 0.95, epochs: int = 100, n_negatives: int = 1, batch_size: int = 4096,
                 eval_every: int = 2, patience: int = 3, **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, lr_decay=lr_decay, epochs=epochs, n_negatives=n_negatives,
                         batch_size=batch_size, eval_every=eval_every, patience=patience, **kwargs)
        self.reg, self.item_bias, self.reg_bias = reg, item_bias, reg_bias
        self.init, self.init_std = init, init_std

    def _check_params(self) -> None:
        super()._check_params()
        if not self.reg >= 0:
            raise ValueError(f"BPR: reg must be >= 0, got {self.reg!r}.")
        if self.reg_bias is not None and not self.reg_bias >= 0:
            raise ValueError(f"BPR: reg_bias must be None (same as reg) or >= 0, got {self.reg_bias!r}.")
        check_init(self.init, "BPR")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        module = MFModule(train.n_users, train.n_items, self.factors, self.item_bias, self.init_std)
        if self.init == "svd":               # PureSVD's factors plus the small normal noise drawn above
            add_svd_start(module.user.weight, module.item.weight, self.train_, self.factors, self.seed)
        return module

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        items = torch.cat([batch["pos"].unsqueeze(-1), batch["neg"].reshape(len(batch["pos"]), -1)], dim=1)
        scores, u, v = self.module_.score_pairs(batch["users"], items)   # (B, 1 + n_neg)
        loss = bpr_loss(scores[:, 0], scores[:, 1:]) + self.reg * (u.pow(2).sum() + v.pow(2).sum()) / len(u)
        bias = self.module_.bias
        reg_bias = self.reg if self.reg_bias is None else self.reg_bias
        if bias is not None and reg_bias:
            loss = loss + reg_bias * bias[items].pow(2).sum() / len(u)
        return loss

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_.score_all(users)
