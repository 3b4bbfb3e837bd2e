"""MMFusion: ID embeddings + projected item features, fused, scored by a learned scorer.

The fusion framework of PixelRec (Cheng et al., "An Image Dataset for Benchmarking
Recommender Systems with Raw Pixels", SDM 2024) and of the "ID vs. modality" studies
(Yuan et al., "Where to Go Next for Recommender Systems? ID- vs. Modality-based
Recommender Models Revisited", SIGIR 2023): every item is a set of tokens in one
``factors``-dimensional space (its ID embedding and one projection per modality), fused into
one item vector, then a scorer on ``[u, v, u * v]`` (a linear layer, or an MLP with
``hidden``), plus the dot product ``u . v``, scores the (user, item) pair. Fusion options:

* ``"concat"``: a linear layer over the concatenated tokens (fixed mixing, item-agnostic);
* ``"gate"``: softmax weights over the tokens computed from the item's own tokens;
* ``"attention"``: the user embedding queries the item's tokens (per user-item weights,
  so users who care about colour can look at the image and others at the text).

A missing modality (all-zero feature row) is a masked token: zero in "concat", excluded
from the softmax in "gate" and "attention". ``align_weight > 0`` adds a CLIP-style InfoNCE
loss (Radford et al., ICML 2021) that aligns the image and text projections of the batch's
items. Items without training interactions have no ID token (masked like a missing
modality: an untrained ID vector would only add noise), so their content alone scores them.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..datasets import Interactions
from .graph import check_feature_dim, reduce_features
from .losses import bce_loss, bpr_loss, info_nce, multinomial_nll
from .modality import check_modalities, prepare
from .torch_base import TorchRecommender

__all__ = ["MMFusion", "FusionModule", "FUSIONS"]

FUSIONS = ("concat", "gate", "attention")


class FusionModule(nn.Module):
    """Tokens ``(n_items, T, factors)`` (ID + one per modality), a fusion layer and an MLP scorer.

    ``masks`` ``(n_items, T)``: which tokens exist (the ID token only for items seen in training)."""

    def __init__(self, n_users: int, n_items: int, feats: dict[str, np.ndarray], masks: np.ndarray,
                 factors: int, fusion: str, hidden: Sequence[int], dropout: float, dot: bool = False) -> None:
        super().__init__()
        self.fusion, self.names, self.dot = fusion, list(feats), dot
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)
        for m, x in feats.items():
            self.register_buffer(f"x_{m}", torch.from_numpy(x))
        self.register_buffer("mask", torch.from_numpy(masks))            # (n_items, T) bool
        self.proj = nn.ModuleDict({m: nn.Linear(x.shape[1], factors) for m, x in feats.items()})
        t = 1 + len(feats)
        if fusion == "concat":
            self.mix = nn.Linear(t * factors, factors)
        elif fusion == "gate":
            self.gate = nn.Linear(t * factors, t)
        else:
            self.query, self.key = nn.Linear(factors, factors), nn.Linear(factors, factors)
        layers, width = [], 3 * factors
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))
        self.user_dropout = nn.Dropout(dropout)

    def scorer_user(self, users: torch.Tensor) -> torch.Tensor:
        """The user vectors the scorer sees: (B,) -> (B, factors), with dropout while training
        (a user must be recognisable from part of the vector, which keeps the vectors of
        users with few interactions from fitting them exactly)."""
        return self.user_dropout(self.user(users))

    def projection(self, name: str, items: torch.Tensor) -> torch.Tensor:
        """Projected features of one modality: items (B,) -> (B, factors)."""
        return self.proj[name](getattr(self, f"x_{name}")[items])

    def tokens(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Items (B,) -> tokens (B, T, factors) with missing ones zeroed, and the mask (B, T).

        Each distinct item is projected once (a batch repeats popular items many times)."""
        uniq, inverse = torch.unique(items, return_inverse=True)
        toks = torch.stack([self.item(uniq)] + [self.projection(m, uniq) for m in self.names], dim=1)
        mask = self.mask[uniq]
        return (toks * mask.unsqueeze(-1))[inverse], mask[inverse]

    def all_tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`tokens` of every item in index order, without the gather: (n_items, T, factors), mask."""
        toks = torch.stack([self.item.weight] + [self.proj[m](getattr(self, f"x_{m}")) for m in self.names], dim=1)
        return toks * self.mask.unsqueeze(-1), self.mask

    def weights(self, toks: torch.Tensor, mask: torch.Tensor, users: torch.Tensor | None = None,
                paired: bool = True) -> torch.Tensor:
        """Softmax weights over tokens. "gate": (n, T) from the tokens alone. "attention": the
        user queries the keys, paired (users (P,), toks (P, T, d) -> (P, T)) or all against
        all (users (B,), toks (n, T, d) -> (B, n, T))."""
        if self.fusion == "gate":
            logits = self.gate(toks.flatten(-2))
        else:
            q, k = self.query(self.user(users)), self.key(toks)
            if paired:
                logits = (k * q.unsqueeze(1)).sum(-1)
            else:
                logits, mask = torch.einsum("bd,ntd->bnt", q, k), mask.unsqueeze(0)
            logits = logits / toks.shape[-1] ** 0.5
        # float32 and a finite fill: an item with no token at all gets zero weights, not NaN
        return logits.float().masked_fill(~mask, -1e9).softmax(-1) * mask

    def fuse(self, toks: torch.Tensor, mask: torch.Tensor, users: torch.Tensor | None = None,
             paired: bool = True) -> torch.Tensor:
        """Item vectors (n, factors); for "attention" all against all: (B, n, factors)."""
        if self.fusion == "concat":
            return self.mix(toks.flatten(-2))
        w = self.weights(toks, mask, users, paired)
        if w.dim() == 3:
            return torch.einsum("bnt,ntd->bnd", w, toks)
        return (w.unsqueeze(-1) * toks).sum(-2)

    def score(self, users: torch.Tensor, items_vec: torch.Tensor) -> torch.Tensor:
        """MLP scores of pairs (plus ``u . v`` with ``dot``): users (B,), item vectors (B, d) -> (B,)."""
        u = self.scorer_user(users)
        s = self.mlp(torch.cat([u, items_vec, u * items_vec], dim=-1)).squeeze(-1)
        return s + (u * items_vec).sum(-1) if self.dot else s

    def score_all(self, users: torch.Tensor, items_vec: torch.Tensor) -> torch.Tensor:
        """The same MLP for every user x item: items_vec (n, d) shared or (B, n, d) -> (B, n).

        The first layer on ``[u, i, u * i]`` splits into ``W_u u + W_i i + W_p (u * i)``, so the
        user and item parts are computed once each, not once per pair (3x fewer operations)."""
        first, d = self.mlp[0], items_vec.shape[-1]
        w_u, w_i, w_p = first.weight[:, :d], first.weight[:, d:2 * d], first.weight[:, 2 * d:]
        u = self.scorer_user(users)
        h = (u @ w_u.T + first.bias).unsqueeze(1) + items_vec @ w_i.T          # (B, n, h)
        if items_vec.dim() == 2:     # (B, h, d) @ (d, n): one matrix product for all pairs
            h = h + ((u.unsqueeze(1) * w_p.unsqueeze(0)) @ items_vec.T).transpose(1, 2)
        else:
            h = h + (u.unsqueeze(1) * items_vec) @ w_p.T
        s = self.mlp[1:](h).squeeze(-1)
        if self.dot:
            s = s + (u @ items_vec.T if items_vec.dim() == 2 else torch.einsum("bd,bnd->bn", u, items_vec))
        return s


class MMFusion(TorchRecommender):
    """ID + multimodal fusion recommender with a learned scorer (PixelRec-style, Cheng et al. 2024).

    ``modalities``: names in ``item_features`` to use (any ``(n_items, d)`` arrays: image, text,
    numeric columns such as a standardized price). ``feature_dim``: the projections learn from
    the top ``feature_dim`` singular directions of each (standardized) modality
    (:func:`handson.models.graph.reduce_features`, as in VBPR, FREEDOM and BM3; None: all
    columns): a projection then costs ``feature_dim / d`` of one on the raw rows and sees the
    directions that carry most of the content. ``fusion``: "concat" | "gate" | "attention".

    ``loss``: None (default) is "softmax" for "concat" and "gate" and "bpr" for "attention".
    "softmax": the multinomial likelihood of a user's training items under a softmax over the
    whole catalog (as in Mult-VAE, Liang et al., WWW 2018), ``user_batch`` users per batch:
    every item is a negative in every step, so it learns in a few epochs what a pairwise
    loss learns in a hundred; "attention" fuses per (user, item) pair, which makes a
    catalog-wide softmax too costly for it. "bpr" and "bce": sampled negatives,
    ``batch_size`` pairs per batch.

    The scorer sees ``[u, v, u * v]`` (user vector, fused item vector). ``hidden``: widths of
    MLP layers on it; ``()`` (default) makes it one linear layer, a generalised matrix
    factorisation, and with "softmax" every user x item pair of an epoch passes the
    scorer, so each hidden unit adds the cost of a dot product per pair. ``dot`` (default
    True): add ``u . v`` to the score (the GMF path of NeuMF, He et al., WWW 2017): a
    matrix factorisation is the starting point and the scorer learns what it misses. MLPs
    on ID embeddings learn a dot product slowly and lag it (Rendle et al., "Neural
    Collaborative Filtering vs. Matrix Factorization Revisited", RecSys 2020), hence these
    defaults; ``dot=False, hidden=(64,), loss="bpr"`` is the PixelRec-style MLP scorer.
    ``dropout``: on the scorer's user vector while training and inside the MLP (the
    regulariser that keeps free user vectors from over-fitting, like Mult-VAE's input
    dropout). ``lr`` decays by ``lr_decay`` per epoch: large steps first,
    refinement later. ``align_weight``: weight of the image-text InfoNCE alignment loss
    (0 = off), at ``temperature``. Modality features are standardized per column
    (:func:`handson.models.modality.prepare`).
    """

    #: users per scoring chunk are chosen so that chunk x n_items pairs stay small in memory
    max_pairs: int = 100_000

    def __init__(self, modalities: Sequence[str] = ("image", "text"), fusion: str = "concat",
                 loss: str | None = None, hidden: Sequence[int] = (), dropout: float = 0.3,
                 dot: bool = True, user_batch: int = 128,
                 align_weight: float = 0.0, temperature: float = 0.2,
                 align: Sequence[str] = ("image", "text"), feature_dim: int | None = 128,
                 lr: float = 1e-2, lr_decay: float = 0.95, epochs: int = 30, **kwargs) -> None:
        super().__init__(lr=lr, lr_decay=lr_decay, epochs=epochs, **kwargs)
        self.modalities = check_modalities(modalities, "MMFusion", allow_empty=True)
        self.fusion, self.loss, self.hidden, self.dropout = fusion, loss, tuple(hidden), dropout
        self.dot, self.user_batch = dot, user_batch
        self.align_weight, self.temperature, self.align = align_weight, temperature, tuple(align)
        self.feature_dim = feature_dim

    def _check_params(self) -> None:
        super()._check_params()
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"MMFusion: dropout must lie in [0, 1), got {self.dropout!r}.")
        if self.loss not in (None, "bpr", "bce", "softmax"):
            raise ValueError(f"loss must be None, 'bpr', 'bce' or 'softmax', got {self.loss!r}.")
        check_feature_dim(self.feature_dim, "MMFusion")
        if self.loss == "softmax" and self.fusion == "attention":
            raise ValueError("loss='softmax' scores every item for every user of a batch, too costly with "
                             "fusion='attention' (one fusion per user-item pair); use loss='bpr' or 'bce'.")
        if not isinstance(self.user_batch, (int, np.integer)) or self.user_batch < 1:
            raise ValueError(f"MMFusion: user_batch must be a positive integer, got {self.user_batch!r}.")
        if self.align_weight < 0 or self.temperature <= 0:
            raise ValueError(f"align_weight={self.align_weight} must be >= 0 and "
                             f"temperature={self.temperature} > 0.")
        if self.align_weight > 0 and (len(self.align) != 2 or not set(self.align) <= set(self.modalities)):
            raise ValueError(f"The alignment loss pairs two of the model's modalities {self.modalities}, "
                             f"got align={self.align}; pass e.g. modalities=('image', 'text').")

    def _loss_kind(self) -> str:
        """The loss trained with: ``loss``, or for None "bpr" with "attention", "softmax" otherwise."""
        if self.loss is not None:
            return self.loss
        return "bpr" if self.fusion == "attention" else "softmax"

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        prepared = prepare(item_features, self.modalities, "MMFusion", masks=self.item_masks_)
        feats = {m: reduce_features(x, self.feature_dim) for m, (x, _) in prepared.items()}
        warm = train.item_counts() > 0               # items never trained have no ID token
        masks = np.stack([warm] + [mk for _, mk in prepared.values()], axis=1)
        return FusionModule(train.n_users, train.n_items, feats, masks, self.factors, self.fusion,
                            self.hidden, self.dropout, self.dot)

    def _batches(self, train: Interactions, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """"softmax": batches of ``user_batch`` users with training items; otherwise sampled pairs."""
        if self._loss_kind() != "softmax":
            yield from super()._batches(train, rng)
            return
        order = rng.permutation(np.flatnonzero(np.diff(self.train_.indptr)))
        for start in range(0, len(order), self.user_batch):
            yield {"users": torch.from_numpy(order[start:start + self.user_batch]).to(self.device_)}

    def _softmax_loss(self, users: torch.Tensor) -> torch.Tensor:
        """Multinomial negative log-likelihood of the users' training rows, mean over users."""
        m = self.module_
        toks, mask = m.all_tokens()
        logits = m.score_all(users, m.fuse(toks, mask))                    # (B, n_items)
        rows = torch.from_numpy(self.train_[users.cpu().numpy()].toarray()).to(self.device_)
        return multinomial_nll(logits, rows).mean()

    def _pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of users (B,) with items (B,) or (B, n_neg) -> the shape of items."""
        m = self.module_
        u = users.repeat_interleave(items.numel() // users.numel())
        toks, mask = m.tokens(items.reshape(-1))
        return m.score(u, m.fuse(toks, mask, u, paired=True)).reshape(items.shape)

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self._loss_kind() == "softmax":
            loss = self._softmax_loss(batch["users"])
            pos = torch.from_numpy(self.train_[batch["users"].cpu().numpy()].indices.astype(np.int64))
            pos = pos.to(self.device_)
        else:
            users, pos, neg = batch["users"], batch["pos"], batch["neg"]
            both = self._pair_scores(users, torch.cat([pos[:, None], neg.reshape(len(pos), -1)], dim=1))
            s_pos, s_neg = both[:, 0], both[:, 1:].reshape(neg.shape)
            loss = bpr_loss(s_pos, s_neg) if self._loss_kind() == "bpr" else bce_loss(s_pos, s_neg)
        if self.align_weight > 0:
            loss = loss + self.align_weight * self._align_loss(pos)
        return loss

    def _align_loss(self, items: torch.Tensor) -> torch.Tensor:
        """InfoNCE between the two aligned projections of the batch's distinct items having both."""
        m, (a, b) = self.module_, self.align
        items = torch.unique(items)
        both = m.mask[items][:, [1 + m.names.index(a), 1 + m.names.index(b)]].all(1)
        items = items[both]
        if len(items) < 2:
            return torch.zeros((), device=items.device)
        return info_nce(m.projection(a, items), m.projection(b, items), self.temperature)

    def _before_scoring(self) -> None:
        m = self.module_
        self._tokens_ = m.all_tokens()
        self._items_vec_ = None if self.fusion == "attention" else m.fuse(*self._tokens_)

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        m = self.module_
        step = max(1, self.max_pairs // self.n_items_)
        out = []
        for start in range(0, len(users), step):
            u = users[start:start + step]
            vec = m.fuse(*self._tokens_, users=u, paired=False) if self.fusion == "attention" \
                else self._items_vec_                                           # (b, n, d) or (n, d)
            out.append(m.score_all(u, vec))
        return torch.cat(out)

    def modality_weights(self, users: np.ndarray | None = None) -> np.ndarray:
        """Mean fusion weight per token (ID first, then ``modalities``), shape ``(T,)``;
        per user for "attention" (``(len(users), T)``, averaged over items)."""
        if self.fusion == "concat":
            raise ValueError("fusion='concat' has no per-token weights; use 'gate' or 'attention'.")
        m = self.module_
        with torch.no_grad():
            m.eval()
            self._before_scoring()
            if self.fusion == "gate":
                return m.weights(*self._tokens_).mean(0).cpu().numpy()
            users = np.arange(self.n_users_) if users is None else np.asarray(users)
            u = torch.as_tensor(users, device=self.device_)
            return m.weights(*self._tokens_, u, paired=False).mean(1).cpu().numpy()
