"""MMR: diversity re-ranking of any model's lists by maximal marginal relevance.

Carbonell & Goldstein, "The use of MMR, diversity-based reranking for reordering documents
and producing summaries", SIGIR 1998. The first ``candidates`` items of the base model are
re-ranked greedily: at each position the next item is

    argmax_i  lam * rel(u, i) - (1 - lam) * max_{j already chosen} cos(x_i, x_j)

with ``rel`` the base model's scores, min-max scaled to [0, 1] over the user's candidates
(so that ``lam`` means the same for every base model), and ``x`` the item features (image
or text) in which the list should be diverse. ``lam=1`` keeps the base ranking; ``lam=0``
ignores relevance after the first item.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..beyond_accuracy import unit_rows
from ..datasets import Interactions
from ..metrics import mask_rows, top_k
from .base import Recommender, check_users

__all__ = ["MMR"]

#: catalogs up to this size get the whole item-item similarity matrix (64 MiB at most)
FULL_SIMILARITY_ITEMS = 4096


class MMR(Recommender):
    """A wrapper whose lists are the ``base`` model's, re-ranked for diversity in ``item_features``.

    ``base``: a model (fitted or not; ``fit`` fits it, a fitted one needs no further ``fit``);
    ``item_features``: ``(n_items, d)`` array or a ``Features`` (image or text space; rows that
    are zero or unavailable count as similar to nothing), or the name of a modality (``"image"``)
    to take from the ``item_features`` given to ``fit`` (so the wrapper can be built before the
    features exist, e.g. in ``compare(..., seeds=...)``); ``lam`` in [0, 1]: weight of
    relevance against diversity; ``candidates``: how many of the base model's best (unseen)
    items are re-ranked.

    ``score`` returns float32 ``(len(users), n_items)`` *positional* scores, so that
    ``recommend`` and ``evaluation.evaluate`` work unchanged: the candidate at MMR position
    ``r`` (0-based) scores ``candidates - r`` (at least 1); every other unseen item keeps the
    base order below them, with its min-max scaled base score minus 1 (in [-1, 0]); items seen
    in training score ``-inf``, as ``recommend`` would mask them.
    """

    def __init__(self, base: Any, item_features: Any, lam: float = 0.5, candidates: int = 100):
        self.base, self.item_features = base, item_features
        self.lam, self.candidates = lam, candidates
        self._unit: tuple[np.ndarray, np.ndarray] | None = None
        self._sim: np.ndarray | None = None
        self._space: Any = None                                        # the features of fit, by name
        self._check_params()            # here already: a wrapped, fitted base needs no fit


    def save(self, path: Any) -> Any:
        """Not supported: an MMR holds another model and a feature matrix, not weights of its own.
        Save the base model and wrap it again after loading."""
        raise NotImplementedError(
            "MMR is a wrapper and has no file of its own: save the base model "
            "(mmr.base.save(path)) and wrap it again after loading: "
            "MMR(Model.load(path), item_features, lam=..., candidates=...).")

    @classmethod
    def load(cls, path: Any) -> "MMR":
        """Not supported: see :meth:`save`."""
        raise NotImplementedError("MMR has no file of its own: load the base model and wrap it again, "
                                  "MMR(Model.load(path), item_features, lam=...).")
    def _check_params(self) -> None:
        if not callable(getattr(self.base, "score", None)):
            raise ValueError(f"base must be a recommender with score(users), got {type(self.base).__name__}.")
        if isinstance(self.item_features, Mapping):
            raise ValueError("MMR re-ranks in one feature space: pass one modality, e.g. "
                             "item_features=feats['image'], not the whole dict.")
        if not 0 <= float(self.lam) <= 1:
            raise ValueError(f"lam must lie in [0, 1] (1 = base ranking, 0 = diversity only), got {self.lam}.")
        c = self.candidates
        if isinstance(c, bool) or not float(c).is_integer() or int(c) < 1:
            raise ValueError(f"candidates must be a positive integer, got {c!r}.")

    def __repr__(self) -> str:
        shape = "x".join(str(n) for n in np.shape(self.item_features))
        space = repr(self.item_features) if isinstance(self.item_features, str) else f"<{shape}>"
        return f"MMR({self.base!r}, item_features={space}, lam={self.lam}, candidates={self.candidates})"

    # the fitted state is the base model's
    n_users_ = property(lambda self: self.base.n_users_)
    n_items_ = property(lambda self: self.base.n_items_)
    train_ = property(lambda self: self.base.train_)

    def fit(self, train: Interactions, item_features: Mapping[str, np.ndarray] | None = None,
            valid: Interactions | None = None) -> "MMR":
        """Fit the base model (``item_features`` and ``valid`` go to it); returns self."""
        self._check_params()
        name = self.item_features
        if isinstance(name, str) and name not in (item_features or {}):
            raise ValueError(f"MMR(item_features={name!r}) re-ranks in the {name!r} features of fit: pass "
                             f"fit(train, item_features={{{name!r}: V, ...}}).")
        self.base.fit(train, item_features=item_features, valid=valid)
        self._space = item_features[name] if isinstance(name, str) else None
        self._unit = self._sim = None
        return self

    def recommend(self, users: Sequence[int] | np.ndarray, k: int = 20, exclude_seen: bool = True,
                  seen: Interactions | Iterable[Interactions] | None = None) -> np.ndarray:
        """Top-``k`` of the re-ranked lists; ``k`` may not exceed ``candidates``."""
        if k > int(self.candidates):
            raise ValueError(f"k={k} exceeds candidates={self.candidates}: only the first {self.candidates} "
                             "items are re-ranked. Raise candidates or lower k.")
        return super().recommend(users, k=k, exclude_seen=exclude_seen, seen=seen)

    def score(self, users: Sequence[int] | np.ndarray) -> np.ndarray:
        """Positional scores, float32 ``(len(users), n_items)`` (see the class docstring)."""
        users = check_users(self, users)
        X, _ = self._features()                                         # also sets self._sim
        rel = np.array(self.base.score(users), dtype=np.float32)
        if rel.shape != (len(users), self.n_items_):
            raise RuntimeError(f"base.score returned shape {rel.shape}, expected {(len(users), self.n_items_)}.")
        mask_rows(rel, self.train_, users)
        c = min(int(self.candidates), self.n_items_)
        cand = top_k(rel, c)                                            # (B, c), base order
        out = _scaled(rel) - 1.0                                        # (B, n_items) in [-1, 0]
        out[~np.isfinite(rel)] = -np.inf
        width = c if self._sim is not None else max(c, X.shape[1])
        step = max(1, 2 ** 22 // (c * width))                           # users per block: bounded memory
        for s in range(0, len(users), step):
            rank = self._rerank(np.take_along_axis(rel[s:s + step], cand[s:s + step], axis=1),
                                self._similarity(cand[s:s + step], X))
            rows = np.arange(len(rank))[:, None]
            block = out[s:s + step]
            block[rows, cand[s:s + step]] = np.where(np.isfinite(block[rows, cand[s:s + step]]),
                                                     (c - rank).astype(np.float32), -np.inf)
        return out

    def _features(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit feature rows and their usability; for catalogs up to ``FULL_SIMILARITY_ITEMS``
        items also the whole item-item cosine matrix ``_sim``, so re-ranking only gathers from it."""
        if self._unit is None:
            space = self.item_features
            if isinstance(space, str):
                if self._space is None:
                    raise RuntimeError(f"MMR(item_features={space!r}) takes its features from fit(...): call "
                                       "fit, or pass the (n_items, d) array itself to wrap a fitted model.")
                space = self._space
            X, valid = unit_rows(space)
            if len(X) != self.n_items_:
                raise ValueError(f"item_features has {len(X)} rows but the base model scores "
                                 f"{self.n_items_} items: pass one row per item of the dataset.")
            self._unit = (X, valid)
            self._sim = X @ X.T if len(X) <= FULL_SIMILARITY_ITEMS else None   # unusable rows: zero
        return self._unit

    def _similarity(self, cand: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Cosine similarities between each user's candidates, ``(B, c, c)``; 0 for unusable rows."""
        if self._sim is not None:
            return self._sim[cand[:, :, None], cand[:, None, :]]
        E = X[cand]                                                     # (B, c, d), unit rows
        return E @ E.transpose(0, 2, 1)

    def _rerank(self, rel: np.ndarray, sim: np.ndarray) -> np.ndarray:
        """MMR position of each candidate, int ``(B, c)``, from base scores ``rel`` ``(B, c)``
        (best first; ``-inf`` = seen, placed last) and their similarities ``sim`` ``(B, c, c)``."""
        b, c = rel.shape
        ok = np.isfinite(rel)
        lam = float(self.lam)
        gain = lam * np.where(ok, _scaled(rel), 0.0)                    # (B, c) in [0, lam]
        rank = np.zeros((b, c), dtype=np.int64)
        chosen = np.zeros((b, c), dtype=bool)
        chosen[:, 0] = True                                             # position 0: the base's best
        max_sim = sim[:, 0, :].copy()
        rows = np.arange(b)
        for r in range(1, c):
            obj = np.where(ok, gain - (1.0 - lam) * max_sim, -1e30)     # seen: after all others
            obj[chosen] = -np.inf
            pick = obj.argmax(axis=1)                                   # ties: better base rank
            rank[rows, pick], chosen[rows, pick] = r, True
            max_sim = np.maximum(max_sim, sim[rows, pick, :])
        return rank


def _scaled(scores: np.ndarray) -> np.ndarray:
    """Min-max scaling of each row's finite values to [0, 1] (a constant row gives 0); -inf stays."""
    finite = np.isfinite(scores)
    lo = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
    hi = np.where(finite, scores, -np.inf).max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    with np.errstate(invalid="ignore"):
        out = (scores - np.where(np.isfinite(lo), lo, 0.0)) / span
    return np.where(finite, out, -np.inf).astype(np.float32)
