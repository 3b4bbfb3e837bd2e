"""VBPR: matrix factorization plus a learned projection of the items' content features.

    score(u, i) = beta_i + gamma_u . gamma_i + theta_u . (E f_i) + beta' . f_i

``gamma`` are BPR-MF's ID factors and ``beta_i`` its item bias; ``f_i`` are the item's
content features (image, text, ... concatenated), ``E`` projects them to ``content_factors``
dimensions where ``theta_u`` holds the user's taste for content, and ``beta'`` is the
content bias (the paper's "visual bias": how much the look of an item pleases everyone).

He & McAuley, "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback",
AAAI 2016. https://arxiv.org/abs/1510.01784
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import Interactions
from ..training import bpr_loss
from .torch_base import TorchRecommender

__all__ = ["VBPR", "VBPRModule", "prepare_features"]


def prepare_features(item_features: dict[str, np.ndarray], modalities: Sequence[str],
                     normalize: str | None = "l2", dim: int | None = None) -> list[np.ndarray]:
    """The chosen modalities as float32 blocks ``(n_items, d_m)``, each scaled by ``normalize``.

    ``"l2"``: unit-norm rows, so no modality dominates by scale; ``"standard"``: zero mean
    and unit variance per column; ``None``: as given. All-zero rows (missing content under
    the ``missing="zero"`` policy of :mod:`handson.features`) stay exactly zero under every
    option, so the item gets no content score from that modality, only its ID part.
    ``dim``: keep only the top ``dim`` singular directions of each block (a truncated SVD,
    computed once, no centring so zero rows stay zero): ``E`` then learns from ``dim``
    instead of ``d_m`` inputs, much faster on a CPU for 1000+ dimensional features.
    """
    blocks = []
    for m in modalities:
        x = np.asarray(item_features[m], dtype=np.float32)
        present = np.abs(x).sum(1, keepdims=True) > 0
        if normalize == "l2":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        elif normalize == "standard":
            rows = x[present[:, 0]] if present.any() else x
            x = (x - rows.mean(0)) / np.maximum(rows.std(0), 1e-6) * present
        if dim is not None and dim < x.shape[1]:
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            basis = torch.svd_lowrank(t, q=dim, niter=2)[2]
            x = (t @ basis).numpy()
        blocks.append(x.astype(np.float32))
    return blocks


class VBPRModule(nn.Module):
    """ID factors, item biases, the content projection(s) ``E`` and the content bias ``beta'``.

    ``features``: blocks ``(n_items, d_m)``; ``per_modality``: one projection per block (the
    concatenation of their outputs meets ``theta_u``) instead of one over the concatenation.
    Each projection has ``content_factors + 1`` outputs: the extra one is ``beta' . f_i``
    (its share of it for a block), so ``E`` and ``beta'`` cost a single matrix product.
    ``known``: bool ``(n_items,)``, items seen in training; the ID parameters of the others
    are multiplied by 0, so they stay at their zero initial value and never add noise.
    """

    def __init__(self, n_users: int, features: list[np.ndarray], known: np.ndarray, factors: int,
                 content_factors: int, per_modality: bool, init_std: float = 0.1) -> None:
        super().__init__()
        n_items = len(known)
        self.register_buffer("features", torch.from_numpy(np.concatenate(features, axis=1)))
        self.register_buffer("known", torch.from_numpy(known.astype(np.float32)))
        self.widths = [x.shape[1] for x in features] if per_modality else [self.features.shape[1]]
        self.proj = nn.ModuleList(nn.Linear(d, content_factors + 1, bias=False) for d in self.widths)
        for p in self.proj:
            nn.init.zeros_(p.weight[-1])
        self.user_id = nn.Embedding(n_users, factors)
        self.user_content = nn.Embedding(n_users, content_factors * len(self.widths))
        nn.init.normal_(self.user_id.weight, std=init_std)
        nn.init.normal_(self.user_content.weight, std=init_std)
        self.item_id = nn.Embedding(n_items, factors)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.item_id.weight)
        nn.init.zeros_(self.item_bias.weight)

    def users(self, users: torch.Tensor) -> torch.Tensor:
        """``[gamma_u, theta_u]``: ``(B,)`` -> ``(B, factors + content width)``."""
        return torch.cat([self.user_id(users), self.user_content(users)], dim=1)

    def items(self, items: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``[gamma_i, E f_i]`` ``(n, factors + content width)`` and biases ``(n,)`` of the
        given items (all items when None): every feature row is projected once."""
        f = self.features if items is None else self.features.index_select(0, items)
        known = self.known if items is None else self.known.index_select(0, items)
        ids = self.item_id.weight if items is None else self.item_id(items)
        bias = self.item_bias.weight[:, 0] if items is None else self.item_bias(items)[:, 0]
        outs = [p(x) for p, x in zip(self.proj, f.split(self.widths, dim=1))]
        content_bias = sum(o[:, -1] for o in outs)
        vectors = torch.cat([ids * known[:, None], *(o[:, :-1] for o in outs)], dim=1)
        return vectors, bias * known + content_bias


class VBPR(TorchRecommender):
    """Visual BPR (He & McAuley, AAAI 2016) over any set of modalities.

    ``modalities``: the ``item_features`` keys to use, concatenated into ``f_i``;
    ``projection``: ``"concat"`` (one ``E`` over the concatenation, as in the paper) or
    ``"per_modality"`` (one ``E_m`` per modality, each with ``content_factors`` outputs);
    ``normalize``: how each modality is scaled first, ``feature_dim``: optional truncated
    SVD of each modality to that many dimensions, for speed (see :func:`prepare_features`);
    ``reg``: L2 penalty on the batch's user and item parameters, as in BPR;
    ``reg_content``: L2 penalty on the projection ``E`` (and ``beta'``), the paper's lambda_E.
    Items absent from ``train`` are scored through their features alone.

    Defaults (``factors=64``, ``content_factors=32``, ``reg=0.005``, ``reg_content=5e-5``,
    ``feature_dim=128``) were chosen on validation Recall@20 (per-user 70/10/20 split, seed
    42), the best mean over toyshop (0.302) and MovieLens latest-small with poster + title
    features (0.184). Decaying every parameter (Adam ``weight_decay``) helped toyshop but
    cost MovieLens a fifth of its Recall (its 9,724 item vectors shrink at every step); the
    128-dimensional SVD of each modality scored as well as the raw 1664 columns and makes
    an epoch 2-3x cheaper there; ``feature_dim=None`` keeps the raw features, as the paper.
    """

    def __init__(self, modalities: Sequence[str] = ("image", "text"), factors: int = 64,
                 content_factors: int = 32, projection: str = "concat", normalize: str | None = "l2",
                 feature_dim: int | None = 128, reg: float = 0.005, reg_content: float = 5e-5,
                 lr: float = 5e-3, epochs: int = 100, **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, epochs=epochs, **kwargs)
        self.reg_content = reg_content
        self.modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
        self.content_factors, self.projection = content_factors, projection
        self.normalize, self.feature_dim, self.reg = normalize, feature_dim, reg

    def _check_params(self) -> None:
        super()._check_params()
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"VBPR: modalities must name one or more distinct item_features keys, "
                             f"got {self.modalities}; e.g. ('image', 'text') or ('image',).")
        if not isinstance(self.content_factors, (int, np.integer)) or self.content_factors < 1:
            raise ValueError(f"VBPR: content_factors must be a positive integer, got {self.content_factors!r}.")
        if self.projection not in ("concat", "per_modality"):
            raise ValueError(f"VBPR: projection must be 'concat' or 'per_modality', got {self.projection!r}.")
        if self.normalize not in ("l2", "standard", None):
            raise ValueError(f"VBPR: normalize must be 'l2', 'standard' or None, got {self.normalize!r}.")
        if self.feature_dim is not None and (not isinstance(self.feature_dim, (int, np.integer))
                                             or self.feature_dim < 1):
            raise ValueError(f"VBPR: feature_dim must be None or a positive integer, got {self.feature_dim!r}.")
        if not self.reg >= 0:
            raise ValueError(f"VBPR: reg must be >= 0, got {self.reg!r}.")
        if not self.reg_content >= 0:
            raise ValueError(f"VBPR: reg_content must be >= 0, got {self.reg_content!r}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        blocks = prepare_features(item_features, self.modalities, self.normalize, self.feature_dim)
        self.known_items_ = train.item_counts() > 0
        return VBPRModule(train.n_users, blocks, self.known_items_, self.factors, self.content_factors,
                          self.projection == "per_modality")

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        m, users, pos, neg = self.module_, batch["users"], batch["pos"], batch["neg"]
        items = torch.cat([pos, neg.reshape(-1)])
        if len(items) >= len(m.known):   # the batch touches most items: project them all
            (vectors, bias), idx = m.items(), items
        else:                            # project each distinct item of the batch once
            uniq, idx = torch.unique(items, return_inverse=True)
            vectors, bias = m.items(uniq)
        u = m.users(users)
        # each item's [vector, bias] row; F.embedding's backward sums rows in a fixed order
        rows = F.embedding(idx, torch.cat([vectors, bias[:, None]], dim=1))
        vp, vn = rows[:len(pos)], rows[len(pos):].view(*neg.shape, -1)
        un = u.unsqueeze(1) if neg.dim() == 2 else u
        sp = (u * vp[:, :-1]).sum(-1) + vp[:, -1]
        sn = (un * vn[..., :-1]).sum(-1) + vn[..., -1]
        k = self.factors
        l2 = u.pow(2).sum() + vp[:, :k].pow(2).sum() + vn[..., :k].pow(2).sum()
        l2_content = sum(p.weight.pow(2).sum() for p in m.proj)
        return bpr_loss(sp, sn) + self.reg * l2 / len(users) + self.reg_content * l2_content

    def _before_scoring(self) -> None:
        self._item_vectors_, self._item_bias_ = self.module_.items()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_.users(users) @ self._item_vectors_.T + self._item_bias_
