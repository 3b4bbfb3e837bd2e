"""Autoencoders over user rows: the denoising Mult-DAE and the variational Mult-VAE.

A user is their row of the interaction matrix, ``x_u`` of shape (n_items,). The encoder
squeezes the (dropout-corrupted, L2-normalized) row into ``factors`` numbers, the decoder
spreads them back over every item, and a softmax over the catalog is trained to put its
mass on the items the user had (multinomial log-likelihood). Scoring a user is one forward
pass of their training row.

Liang, Krishnan, Hoffman, Jebara. "Variational Autoencoders for Collaborative Filtering."
WWW 2018. https://arxiv.org/abs/1802.05814
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import Interactions
from .losses import multinomial_nll
from .torch_base import TorchRecommender

__all__ = ["DAE", "MultVAE", "AEModule"]


class AEModule(nn.Module):
    """``n_items -> hidden -> factors (x2 when variational) -> hidden -> n_items`` with tanh.

    The input rows are sparse (a user has a few dozen items out of thousands), so the first
    layer is an :class:`torch.nn.EmbeddingBag`: the weighted sum of the columns of the user's
    items, which is the dense product ``W x_u`` without multiplying the zeros (and initialised
    like the :class:`torch.nn.Linear` it replaces)."""

    def __init__(self, n_items: int, hidden: int, factors: int, dropout: float, variational: bool) -> None:
        super().__init__()
        self.variational, self.factors, self.dropout = variational, factors, dropout
        self.inp = nn.EmbeddingBag(n_items, hidden, mode="sum")
        self.inp_bias = nn.Parameter(torch.empty(hidden))
        bound = 1.0 / n_items ** 0.5
        nn.init.uniform_(self.inp.weight, -bound, bound)
        nn.init.uniform_(self.inp_bias, -bound, bound)
        self.encoder = nn.Sequential(nn.Tanh(), nn.Linear(hidden, factors * (2 if variational else 1)))
        self.decoder = nn.Sequential(nn.Linear(factors, hidden), nn.Tanh(), nn.Linear(hidden, n_items))

    def forward(self, bag: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of L2-normalised sparse rows as ``(items, offsets, values)`` (CSR: every
        row's item indices and values, one after another, and where each row starts; see
        :meth:`DAE._bag`) -> logits (B, n_items) and the KL term per user (B,) (zeros for
        DAE). Dropout corrupts the non-zeros (the zeros it would drop are zero anyway)."""
        items, offsets, values = bag
        values = F.dropout(values, self.dropout, self.training)
        z = self.encoder(self.inp(items, offsets, per_sample_weights=values) + self.inp_bias)
        kl = torch.zeros(len(offsets), device=values.device)
        if not self.variational:
            return self.decoder(torch.tanh(z)), kl
        mu, logvar = z[:, :self.factors], z[:, self.factors:]
        kl = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decoder(z), kl


class DAE(TorchRecommender):
    """Mult-DAE (Liang et al., WWW 2018): a denoising autoencoder over user rows.

    ``dropout`` corrupts the input (the "denoising"), ``factors`` is the bottleneck size,
    ``hidden`` the width of the hidden layers; trained with the multinomial log-likelihood.
    ``batch_size`` counts users. Every step sees whole user rows and a softmax over the
    catalog, so a high ``lr`` converges in tens of epochs, and the validation curve is
    smooth enough for a short ``patience`` (2 validations, 10 epochs at ``eval_every=5``).
    ``threads`` defaults to None (torch's own setting, all physical cores): an epoch is a few
    wide matrix products over the catalog, which parallelise well, unlike the small per-batch
    operations for which the other models default to two threads.
    """

    variational = False

    def __init__(self, factors: int = 200, hidden: int = 600, dropout: float = 0.5,
                 lr: float = 4e-3, weight_decay: float = 0.0, epochs: int = 60,
                 batch_size: int = 128, patience: int = 2, threads: int | None = None, **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         batch_size=batch_size, patience=patience, threads=threads, **kwargs)
        self.hidden, self.dropout = hidden, dropout

    def _check_params(self) -> None:
        super()._check_params()
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        self._beta = 0.0
        return AEModule(train.n_items, self.hidden, self.factors, self.dropout, self.variational)

    def _bag(self, rows: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """CSR rows, L2-normalised, as ``(items, offsets, values)`` tensors on the device."""
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        values = rows.data / np.repeat(np.maximum(norms, 1e-12), np.diff(rows.indptr))
        return tuple(torch.from_numpy(np.asarray(a, dtype=dt)).to(self.device_) for a, dt in
                     ((rows.indices, np.int64), (rows.indptr[:-1], np.int64), (values, np.float32)))

    def _batches(self, train: Interactions, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        active = np.nonzero(np.diff(self.train_.indptr))[0]
        order = rng.permutation(active)
        for start in range(0, len(order), self.batch_size):
            users = order[start:start + self.batch_size]
            rows = self.train_[users]
            yield {"users": torch.from_numpy(users).to(self.device_), "bag": self._bag(rows),
                   "rows": torch.from_numpy(rows.toarray()).to(self.device_)}

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits, kl = self.module_(batch["bag"])
        return (multinomial_nll(logits, batch["rows"]) + self._beta * kl).mean()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_(self._bag(self.train_[users.cpu().numpy()]))[0]


class MultVAE(DAE):
    """Mult-VAE (Liang et al., WWW 2018): a variational autoencoder over user rows.

    The KL weight ``beta`` grows linearly from 0 to ``beta_max`` over the first
    ``anneal_epochs`` epochs (the paper's KL annealing with its cap of 0.2; 10 epochs suit the
    default lr, which converges in a few tens of epochs).
    """

    variational = True

    def __init__(self, factors: int = 200, hidden: int = 600, dropout: float = 0.5,
                 beta_max: float = 0.2, anneal_epochs: int = 10, **kwargs) -> None:
        super().__init__(factors=factors, hidden=hidden, dropout=dropout, **kwargs)
        self.beta_max, self.anneal_epochs = beta_max, anneal_epochs

    def _on_epoch_start(self, epoch: int) -> None:
        self._beta = self.beta_max * min(1.0, (epoch - 1) / max(1, self.anneal_epochs))
