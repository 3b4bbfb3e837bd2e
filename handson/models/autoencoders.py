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
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import Interactions
from .losses import multinomial_nll
from .torch_base import TorchRecommender

__all__ = ["DAE", "MultVAE", "AEModule"]


class AEModule(nn.Module):
    """``n_items -> hidden -> factors (x2 when variational) -> hidden -> n_items`` with tanh."""

    def __init__(self, n_items: int, hidden: int, factors: int, dropout: float, variational: bool) -> None:
        super().__init__()
        self.variational, self.factors = variational, factors
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Sequential(nn.Linear(n_items, hidden), nn.Tanh(),
                                     nn.Linear(hidden, factors * (2 if variational else 1)))
        self.decoder = nn.Sequential(nn.Linear(factors, hidden), nn.Tanh(), nn.Linear(hidden, n_items))

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows (B, n_items) -> logits (B, n_items) and the KL term per user (B,) (zeros for DAE)."""
        z = self.encoder(self.drop(F.normalize(rows, dim=1)))
        kl = torch.zeros(len(rows), device=rows.device)
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
    """

    variational = False

    def __init__(self, factors: int = 200, hidden: int = 600, dropout: float = 0.5,
                 lr: float = 4e-3, weight_decay: float = 0.0, epochs: int = 60,
                 batch_size: int = 128, patience: int = 2, **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         batch_size=batch_size, patience=patience, **kwargs)
        self.hidden, self.dropout = hidden, dropout

    def _check_params(self) -> None:
        super()._check_params()
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        self._beta = 0.0
        return AEModule(train.n_items, self.hidden, self.factors, self.dropout, self.variational)

    def _rows(self, users: np.ndarray) -> torch.Tensor:
        """Dense training rows of ``users``: (B, n_items) float32 on the device."""
        return torch.from_numpy(self.train_[users].toarray()).to(self.device_)

    def _batches(self, train: Interactions, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        active = np.nonzero(np.diff(self.train_.indptr))[0]
        order = rng.permutation(active)
        for start in range(0, len(order), self.batch_size):
            users = order[start:start + self.batch_size]
            yield {"users": torch.from_numpy(users).to(self.device_), "rows": self._rows(users)}

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = batch["rows"]
        logits, kl = self.module_(rows)
        return (multinomial_nll(logits, rows) + self._beta * kl).mean()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_(self._rows(users.cpu().numpy()))[0]


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
