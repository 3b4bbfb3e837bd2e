"""MMFusion: ID embeddings + projected item features, fused, scored by an MLP.

The fusion framework of PixelRec (Cheng et al., "An Image Dataset for Benchmarking
Recommender Systems with Raw Pixels", SDM 2024) and of the "ID vs. modality" studies
(Yuan et al., "Where to Go Next for Recommender Systems? ID- vs. Modality-based
Recommender Models Revisited", SIGIR 2023): every item is a set of tokens in one
``factors``-dimensional space (its ID embedding and one projection per modality), fused into
one item vector, then an MLP scores the (user, item) pair. Fusion options:

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
        u = self.user(users)
        s = self.mlp(torch.cat([u, items_vec, u * items_vec], dim=-1)).squeeze(-1)
        return s + (u * items_vec).sum(-1) if self.dot else s

    def score_all(self, users: torch.Tensor, items_vec: torch.Tensor) -> torch.Tensor:
        """The same MLP for every user x item: items_vec (n, d) shared or (B, n, d) -> (B, n).

        The first layer on ``[u, i, u * i]`` splits into ``W_u u + W_i i + W_p (u * i)``, so the
        user and item parts are computed once each, not once per pair (3x fewer operations)."""
        first, d = self.mlp[0], items_vec.shape[-1]
        w_u, w_i, w_p = first.weight[:, :d], first.weight[:, d:2 * d], first.weight[:, 2 * d:]
        u = self.user(users)
        h = (u @ w_u.T + first.bias).unsqueeze(1) + items_vec @ w_i.T          # (B, n, h)
        if items_vec.dim() == 2:
            h = h + ((u.unsqueeze(1) * w_p.unsqueeze(0)) @ items_vec.T).transpose(1, 2)
        else:
            h = h + (u.unsqueeze(1) * items_vec) @ w_p.T
        s = self.mlp[1:](h).squeeze(-1)
        if self.dot:
            s = s + (u @ items_vec.T if items_vec.dim() == 2 else torch.einsum("bd,bnd->bn", u, items_vec))
        return s


class MMFusion(TorchRecommender):
    """ID + multimodal fusion recommender with an MLP scorer (PixelRec-style, Cheng et al. 2024).

    ``modalities``: names in ``item_features`` to use (any ``(n_items, d)`` arrays: image, text,
    numeric columns such as a standardized price). ``fusion``: "concat" | "gate" | "attention".
    ``loss``: "bpr" (default) | "bce" | "softmax". "bpr" and "bce": sampled negatives,
    ``batch_size`` pairs per batch. "softmax": the multinomial likelihood of a user's
    training items under a softmax over the whole catalog (as in Mult-VAE, Liang et al.,
    WWW 2018), ``user_batch`` users per batch: every item is a negative in every step, so
    it needs few epochs, but every user x item pair of an epoch passes the MLP, which costs
    about n_items / (training items per user) times a BPR epoch; not with "attention",
    which fuses per (user, item) pair. ``dot``: add the dot product
    ``u . v`` of the user vector and the fused item vector to the MLP's score (the GMF path
    of NeuMF, He et al., WWW 2017): a matrix factorisation is then the starting point and
    the MLP learns what it misses. ``hidden``: MLP layer widths; ``dropout`` inside the MLP.
    ``align_weight``: weight of the image-text InfoNCE alignment loss (0 = off), at
    ``temperature``. Modality features are standardized per column (:func:`handson.models.modality.prepare`).
    """

    #: users per scoring chunk are chosen so that chunk x n_items pairs stay small in memory
    max_pairs: int = 100_000

    def __init__(self, modalities: Sequence[str] = ("image", "text"), fusion: str = "concat",
                 loss: str = "bpr", hidden: Sequence[int] = (64,), dropout: float = 0.1,
                 dot: bool = False, user_batch: int = 128,
                 align_weight: float = 0.0, temperature: float = 0.2,
                 align: Sequence[str] = ("image", "text"),
                 lr: float = 3e-3, epochs: int = 40, **kwargs) -> None:
        super().__init__(lr=lr, epochs=epochs, **kwargs)
        self.modalities = check_modalities(modalities, "MMFusion", allow_empty=True)
        self.fusion, self.loss, self.hidden, self.dropout = fusion, loss, tuple(hidden), dropout
        self.dot, self.user_batch = dot, user_batch
        self.align_weight, self.temperature, self.align = align_weight, temperature, tuple(align)

    def _check_params(self) -> None:
        super()._check_params()
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}.")
        if self.loss not in ("bpr", "bce", "softmax"):
            raise ValueError(f"loss must be 'bpr', 'bce' or 'softmax', got {self.loss!r}.")
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

    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> nn.Module:
        prepared = prepare(item_features, self.modalities, "MMFusion", masks=self.item_masks_)
        feats = {m: x for m, (x, _) in prepared.items()}
        warm = train.item_counts() > 0               # items never trained have no ID token
        masks = np.stack([warm] + [mk for _, mk in prepared.values()], axis=1)
        return FusionModule(train.n_users, train.n_items, feats, masks, self.factors, self.fusion,
                            self.hidden, self.dropout, self.dot)

    def _batches(self, train: Interactions, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """"softmax": batches of ``user_batch`` users with training items; otherwise sampled pairs."""
        if self.loss != "softmax":
            yield from super()._batches(train, rng)
            return
        order = rng.permutation(np.flatnonzero(np.diff(self.train_.indptr)))
        for start in range(0, len(order), self.user_batch):
            yield {"users": torch.from_numpy(order[start:start + self.user_batch]).to(self.device_)}

    def _softmax_loss(self, users: torch.Tensor) -> torch.Tensor:
        """Multinomial negative log-likelihood of the users' training rows, mean over users."""
        m = self.module_
        toks, mask = m.tokens(torch.arange(self.n_items_, device=self.device_))
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
        if self.loss == "softmax":
            loss = self._softmax_loss(batch["users"])
            pos = torch.from_numpy(self.train_[batch["users"].cpu().numpy()].indices.astype(np.int64))
            pos = pos.to(self.device_)
        else:
            users, pos, neg = batch["users"], batch["pos"], batch["neg"]
            both = self._pair_scores(users, torch.cat([pos[:, None], neg.reshape(len(pos), -1)], dim=1))
            s_pos, s_neg = both[:, 0], both[:, 1:].reshape(neg.shape)
            loss = bpr_loss(s_pos, s_neg) if self.loss == "bpr" else bce_loss(s_pos, s_neg)
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
        all_items = torch.arange(self.n_items_, device=self.device_)
        self._tokens_ = m.tokens(all_items)
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
