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

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import Interactions
from .graph import check_feature_dim, reduce_features
from .losses import bpr_loss
from .modality import check_modalities, prepare
from .spectral import add_svd_start, check_init
from .torch_base import TorchRecommender

__all__ = ["VBPR", "VBPRModule", "prepare_features"]


def prepare_features(item_features: Mapping[str, np.ndarray], modalities: Sequence[str],
                     normalize: str | None = "l2", dim: int | None = None, joint: bool = False,
                     masks: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """The chosen modalities as float32 blocks ``(n_items, d_m)``, each scaled by ``normalize``.

    ``"l2"``: unit-norm rows, so no modality dominates by scale; ``"standard"``: zero mean
    and unit variance per column; ``None``: as given (:func:`handson.models.modality.prepare`
    does the scaling). Items without the content (``masks``, default: the all-zero rows) get
    an exactly zero row under every option, so the item gets no content score from that
    modality, only its ID part. ``joint``: concatenate the scaled blocks into one. ``dim``:
    keep only the top ``dim`` singular directions of each block (a truncated SVD, computed
    once, no centring so zero rows stay zero): ``E`` then learns from ``dim`` instead of
    ``d_m`` inputs, much faster on a CPU for 1000+ dimensional features.
    """
    how = "standardize" if normalize == "standard" else normalize
    prepared = prepare(item_features, modalities, "VBPR", how=how, masks=masks, require_content=False)
    blocks = [x for x, _ in prepared.values()]
    if joint:
        blocks = [np.concatenate(blocks, axis=1)]
    return [reduce_features(x, dim) for x in blocks]


class VBPRModule(nn.Module):
    """VBPR's parameters in two embedding tables and the content projection(s).

    ``user``: ``(n_users, factors + content width)``, each row ``[gamma_u, theta_u]``;
    ``item``: ``(n_items, factors + 1)``, each row ``[gamma_i, beta_i]`` (one table per side:
    one lookup and one gradient per batch instead of two). ``features``: blocks
    ``(n_items, d_m)`` (one block, or one per modality with ``per_modality``); each block has
    a projection with ``content_factors + 1`` outputs, ``[E_m; beta'_m]``: the extra row is
    the content bias ``beta' . f_i``, so ``E`` and ``beta'`` are one weight matrix.
    ``known``: bool ``(n_items,)``, items seen in training; the ID parameters of the others
    are multiplied by 0, so they stay at their zero initial value and never add noise.
    """

    def __init__(self, n_users: int, features: list[np.ndarray], known: np.ndarray, factors: int,
                 content_factors: int, init_std: float = 1e-3) -> None:
        super().__init__()
        n_items = len(known)
        self.factors, self.content_factors = factors, content_factors
        self.register_buffer("features", torch.from_numpy(np.concatenate(features, axis=1)))
        self.register_buffer("known", torch.from_numpy(known.astype(np.float32)))
        self.widths = [x.shape[1] for x in features]
        self.content_width = content_factors * len(self.widths)
        self.proj = nn.ModuleList(nn.Linear(d, content_factors + 1, bias=False) for d in self.widths)
        for p in self.proj:
            nn.init.zeros_(p.weight[-1])
        self.user = nn.Embedding(n_users, factors + self.content_width)
        nn.init.normal_(self.user.weight, std=init_std)
        self.item = nn.Embedding(n_items, factors + 1)
        nn.init.zeros_(self.item.weight)

    def user_weights(self, theta: torch.Tensor) -> torch.Tensor:
        """``E^T theta_u + beta'`` for each row of ``theta`` ``(n, content width)``: the user's
        weight on every feature column, ``(n, d)``, so that ``theta_u . E f_i + beta' . f_i``
        is this row dotted with ``f_i``."""
        parts = theta.split(self.content_factors, dim=1)
        return torch.cat([torch.addmm(p.weight[-1], t, p.weight[:-1]) for p, t in zip(self.proj, parts)], dim=1)

    def items(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every item's ``[gamma_i, E f_i]`` ``(n_items, factors + content width)`` and score
        bias ``beta_i + beta' . f_i`` ``(n_items,)``: each feature row projected once."""
        ids = self.item.weight * self.known[:, None]
        outs = [p(x) for p, x in zip(self.proj, self.features.split(self.widths, dim=1))]
        vectors = torch.cat([ids[:, :self.factors], *(o[:, :-1] for o in outs)], dim=1)
        return vectors, ids[:, self.factors] + sum(o[:, -1] for o in outs)


def _content_start(module: VBPRModule, users: np.ndarray, items: np.ndarray) -> None:
    """Start the content part from the SVD start ``users`` ``(n_users, k)``, ``items`` ``(n_items, k)``.

    ``E`` becomes the ridge regression of the items' first ``c`` SVD factors on their features,
    fitted on the items seen in training (the content-to-factor map of van den Oord, Dieleman,
    Schrauwen, "Deep content-based music recommendation", NeurIPS 2013), and every ``theta_u`` the
    user's first ``c`` SVD factors (added to its small random start); ``c`` is ``content_factors``
    or ``k`` if smaller. The ID rows of seen items keep the residual ``gamma_i - E f_i``, so the
    model starts at PureSVD's scores on seen items, and a new item starts at the SVD factors its
    features predict instead of at a random content score. The ridge, a tenth of the mean
    diagonal of ``F^T F``, keeps the solve well-posed for collinear features; the start barely
    depends on its exact value.
    """
    known = module.known.cpu().numpy() > 0
    if not known.any():
        return
    c = min(module.content_factors, users.shape[1])
    feats = module.features.cpu().double().numpy()
    seen = feats[known]
    gram = seen.T @ seen
    ridge = 0.1 * max(np.trace(gram) / len(gram), 1e-12)
    W = np.linalg.solve(gram + ridge * np.eye(len(gram)), seen.T @ items[known, :c])      # (d, c)
    with torch.no_grad():
        user, item = module.user.weight, module.item.weight
        for b, (proj, rows) in enumerate(zip(module.proj, np.split(W, np.cumsum(module.widths)[:-1]))):
            proj.weight[:c] = torch.from_numpy(rows.T).to(proj.weight)                       # E_b
            start = module.factors + b * module.content_factors
            user[:, start:start + c] += torch.from_numpy(users[:, :c]).to(user)            # theta_u
        item[:, :c] -= torch.from_numpy(feats @ W).to(item) * module.known[:, None]


class VBPR(TorchRecommender):
    """Visual BPR (He & McAuley, AAAI 2016) over any set of modalities.

    BPR-MF learns an item only from its interactions, so an item bought by few people gets a
    poor vector and a new item none at all. VBPR adds a content part to every score: the
    item's features ``f_i`` (image, text, ... concatenated) are projected by a learned ``E``
    into a small space where each user has a taste vector ``theta_u``, plus a content bias
    ``beta' . f_i`` (how much the look of an item pleases everyone). Items absent from
    ``train`` are scored through their features alone. Trained with the BPR loss.

    ``modalities``: the ``item_features`` keys to use. ``content_factors``: size of the
    content space (``theta_u`` and the rows of ``E``). ``projection``: ``"concat"`` (one
    ``E`` over the concatenation, as in the paper) or ``"per_modality"`` (one ``E_m`` per
    modality, each with ``content_factors`` outputs). ``normalize``: how each modality is
    scaled first, ``"l2"`` (unit rows, so no modality dominates by scale), ``"standard"``
    or None (see :func:`prepare_features`). ``feature_dim``: keep the top singular
    directions of the features (a truncated SVD, computed once) for speed: the projection
    then learns from ``feature_dim`` inputs instead of thousands, and the leading directions
    carry most of what the content says; None keeps the raw features, as the paper does.
    ``reg``: L2 penalty on the batch's user rows and item factors (not the item bias).
    ``reg_content``: L2 penalty on ``E`` and ``beta'``, the paper's lambda_E; it must stay
    small, since ``E`` is shared by every item. ``init``: "svd" (default) starts from the
    denoised truncated SVD of the training matrix (:mod:`handson.models.spectral`), as
    :class:`handson.models.BPR` does, the content part included: ``E`` maps an item's features
    to the SVD factors they predict (a ridge regression fitted on the items seen in training)
    and ``theta_u`` starts at the user's SVD factors, while the ID rows hold what the content
    does not predict. The start scores seen items as PureSVD does and new items through their
    content; training then refines both parts. "normal" starts from small random user rows
    and zero item rows, as the paper does, and needs several times the epochs (e.g.
    ``lr=2e-3, batch_size=2048, eval_every=5``). With the SVD start the warm validation score
    is high at once and dips while the two parts adjust to each other, so the steps stay large
    (``lr``) and the ``patience`` long enough (five validations, ten epochs) to see past that
    dip; with BPR's small, decaying steps and a short patience, training ends in the dip, close
    to the start. ``init_std``: standard deviation of the normal initial user rows
    (item ID rows start at 0, or at the SVD). ``id_dropout``: share of the sampled items whose
    ID part (``gamma_i``, ``beta_i``) is left out of a training triple, so that the item
    is scored as a new item is, through its content alone. Without it the ID part explains
    the training data and the content part only learns what the IDs leave over, a supporting
    role; an item never seen in training is then ranked by a content score that was never
    trained to stand alone (DropoutNet, Volkovs et al., NeurIPS 2017, trains cold-start
    models this way). It is off by default: on MovieLens it raised the cold-item Recall but
    cost more warm-item Recall than the validation allows. Adam's ``weight_decay`` (inherited) decays
    every parameter at every step, which shrinks the many item vectors of a large catalog;
    the per-batch ``reg`` penalties are the better regularizer here.

    Defaults were chosen on validation data (per-user 70/10/20 splits of toyshop and of
    MovieLens with poster and title features); see ``benchmarks/`` and the README table.
    """

    min_batches = 8        # large batches, but at least 8 optimizer steps per epoch on small data

    def __init__(self, modalities: Sequence[str] = ("image", "text"), factors: int = 64,
                 content_factors: int = 32, projection: str = "concat", normalize: str | None = "l2",
                 feature_dim: int | None = 128, reg: float = 5e-3, reg_content: float = 5e-5,
                 init: str = "svd", init_std: float = 1e-3, id_dropout: float = 0.0, lr: float = 4e-3,
                 epochs: int = 100, batch_size: int = 4096, eval_every: int = 2, patience: int = 5,
                 **kwargs) -> None:
        super().__init__(factors=factors, lr=lr, epochs=epochs, batch_size=batch_size, eval_every=eval_every,
                         patience=patience, **kwargs)
        self.init = init
        self.reg_content, self.id_dropout = reg_content, id_dropout
        self.modalities = check_modalities(modalities, "VBPR")
        self.content_factors, self.projection = content_factors, projection
        self.normalize, self.feature_dim, self.reg = normalize, feature_dim, reg
        self.init_std = init_std

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.content_factors, (int, np.integer)) or self.content_factors < 1:
            raise ValueError(f"VBPR: content_factors must be a positive integer, got {self.content_factors!r}.")
        if self.projection not in ("concat", "per_modality"):
            raise ValueError(f"VBPR: projection must be 'concat' or 'per_modality', got {self.projection!r}.")
        if self.normalize not in ("l2", "standard", None):
            raise ValueError(f"VBPR: normalize must be 'l2', 'standard' or None, got {self.normalize!r}.")
        check_feature_dim(self.feature_dim, "VBPR")
        if not self.reg >= 0:
            raise ValueError(f"VBPR: reg must be >= 0, got {self.reg!r}.")
        if not self.reg_content >= 0:
            raise ValueError(f"VBPR: reg_content must be >= 0, got {self.reg_content!r}.")
        check_init(self.init, "VBPR")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(f"VBPR: id_dropout must lie in [0, 1), got {self.id_dropout!r}.")

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        per_modality = self.projection == "per_modality"
        blocks = prepare_features(item_features, self.modalities, self.normalize, self.feature_dim,
                                  joint=not per_modality, masks=self.item_masks_)
        self.known_items_ = train.item_counts() > 0
        module = VBPRModule(train.n_users, blocks, self.known_items_, self.factors, self.content_factors,
                            self.init_std)
        if self.init == "svd":          # both parts start from BPR-MF's spectral start (models/spectral.py)
            users, items = add_svd_start(module.user.weight, module.item.weight, self.train_, self.factors,
                                         self.seed)
            _content_start(module, users, items)
            with torch.no_grad():       # items absent from train keep their zero ID rows (rounding aside)
                module.item.weight.mul_(module.known[:, None])
        return module

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """BPR on ``x_uij = x_ui - x_uj``, written as the paper does (He & McAuley, eq. 5):

            x_uij = gamma_u . (gamma_i - gamma_j) + beta_i - beta_j + (E^T theta_u + beta') . (f_i - f_j)

        The feature difference needs no gradient, and ``E^T theta_u + beta'`` is computed once
        per distinct user of the batch: no feature row is projected during training, and an
        epoch costs less than twice BPR-MF's (``benchmarks/run_all.py`` times both).
        """
        m, users, pos, neg = self.module_, batch["users"], batch["pos"], batch["neg"]
        B, k = len(users), self.factors
        neg = neg.reshape(B, -1)                                         # (B, n_neg)
        items = torch.cat([pos, neg.reshape(-1)])
        keep = m.known.index_select(0, items)                            # 0 for items absent from train
        if m.training and self.id_dropout > 0:                           # items trained as if new
            keep = keep * (torch.rand(len(items), device=keep.device) >= self.id_dropout)
        ids = m.item(items) * keep[:, None]                              # [gamma, beta], 0 if unknown
        f = m.features.index_select(0, items)
        d_ids = ids[:B, None] - ids[B:].view(B, neg.shape[1], -1)        # (B, n_neg, k + 1)
        d_f = f[:B, None] - f[B:].view(B, neg.shape[1], -1)              # (B, n_neg, d)
        uniq, inv = torch.unique(users, return_inverse=True)
        u = m.user(uniq)
        gamma, theta = u.split([k, m.content_width], dim=1)
        rows = F.embedding(inv, torch.cat([gamma, torch.ones_like(gamma[:, :1]), m.user_weights(theta)], 1))
        r_ids, r_f = rows[:, None].split([k + 1, f.shape[1]], dim=2)     # [gamma_u, 1], E^T theta_u + beta'
        x_uij = (r_ids * d_ids).sum(-1) + (r_f * d_f).sum(-1)
        # L2 per sample as in BPR-MF: every sampled user row and item vector (here not the bias)
        l2 = (torch.bincount(inv, minlength=len(uniq)) * u.pow(2).sum(1)).sum() + ids[:, :k].pow(2).sum()
        l2_content = sum(p.weight.pow(2).sum() for p in m.proj)
        return bpr_loss(x_uij, torch.zeros_like(x_uij)) + self.reg * l2 / B + self.reg_content * l2_content

    def _before_scoring(self) -> None:
        self._item_vectors_, self._item_bias_ = self.module_.items()

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        return self.module_.user(users) @ self._item_vectors_.T + self._item_bias_
