"""The model protocol every recommender of the course follows (DESIGN.md section 3).

    model = SomeModel(factors=64, lr=1e-3, epochs=50, seed=42)           # hyper-parameters only
    model.fit(train, item_features={"image": V, "text": T}, valid=valid)  # returns self
    scores = model.score(users)         # (len(users), n_items) float32, higher = better
    top = model.recommend(users, k=20)  # (len(users), k) item indices, seen items excluded
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .. import recommendations
from ..datasets import Dataset, Interactions, check_same_catalog
from ..metrics import mask_rows, top_k  # noqa: F401 - re-exported: notebooks import them from here
from . import io
from .modality import available_rows

__all__ = ["Recommender", "check_param_types", "check_users", "check_item_features", "top_k"]


#: the largest absolute feature value accepted: squares of larger ones summed over many
#: rows overflow float32 (whose largest value is about 3.4e38)
MAX_FEATURE_ABS = 1e15


class Recommender:
    """Base class: subclasses implement ``_fit`` and ``_score``; ``recommend`` lives here.

    After ``fit`` every model has ``n_users_``, ``n_items_`` and ``train_`` (the CSR matrix
    of the training interactions, used to exclude seen items).
    """

    #: modalities the model needs in ``item_features`` (empty for collaborative models)
    modalities: tuple[str, ...] = ()

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def get_params(self) -> dict:
        """The constructor's hyper-parameters (public attributes not ending in ``_``)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")}

    # -- the protocol -------------------------------------------------------------------
    def fit(self, train: Interactions, item_features: Mapping[str, np.ndarray] | None = None,
            valid: Interactions | None = None) -> "Recommender":
        """Learn from ``train``; ``valid`` (when the model uses it) drives early stopping.

        Hyper-parameters are checked first, before any data work: their types against the
        constructor's annotations (:func:`check_param_types`), then their ranges
        (:meth:`_check_params`).
        ``item_masks_`` records, per modality of ``item_features``, which items have that
        content (see :func:`check_item_features`).
        """
        check_param_types(self)
        self._check_params()
        if not isinstance(train, Interactions):
            raise TypeError(f"fit expects handson.Interactions, got {type(train).__name__}.")
        if len(train) == 0:
            raise ValueError("Cannot fit on empty interactions: the training set has no pairs.")
        if valid is not None:
            if not isinstance(valid, Interactions):
                raise TypeError(f"valid must be handson.Interactions or None, got {type(valid).__name__}.")
            check_same_catalog(train, valid)
        self.n_users_, self.n_items_ = train.n_users, train.n_items
        self.train_ = train.to_csr()
        feats, self.item_masks_ = check_item_features(item_features, self.modalities, train.n_items,
                                                      model=type(self).__name__, with_masks=True)
        self._fit(train, feats, valid)
        return self

    def score(self, users: Sequence[int] | np.ndarray) -> np.ndarray:
        """Scores of every item for each user: float32 ``(len(users), n_items)``."""
        users = check_users(self, users)
        out = np.asarray(self._score(users), dtype=np.float32)
        if out.shape != (len(users), self.n_items_):
            raise RuntimeError(f"{type(self).__name__}._score returned shape {out.shape}, "
                               f"expected {(len(users), self.n_items_)}.")
        return out

    def recommend(self, users: Sequence[int] | np.ndarray, k: int = 20, exclude_seen: bool = True,
                  seen: Interactions | Iterable[Interactions] | None = None, *,
                  dataset: Dataset | None = None, ids: bool = True) -> np.ndarray | pd.DataFrame:
        """Top-``k`` item indices per user, ``(len(users), k)``, best first.

        Items the user interacted with in the training data are excluded (``exclude_seen``);
        ``seen`` adds further interaction sets to exclude (e.g. the validation set).

        For people rather than indices, pass the ``dataset``: the result is then a DataFrame
        with raw user and item ids, ranks, scores, titles and image paths (one row per user
        and rank, :func:`handson.recommendations.frame`), and ``users`` are raw ids of
        ``dataset.user_ids`` (``ids=False``: indices). Without ``dataset`` nothing changes.
        """
        if dataset is not None:
            return recommendations.frame(self, users, k, dataset, ids=ids, exclude_seen=exclude_seen, seen=seen)
        users = check_users(self, users)
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.n_items_:
            raise ValueError(f"k={k} must lie in [1, n_items={self.n_items_}].")
        scores = self.score(users)
        masks = [self.train_] if exclude_seen else []
        if seen is not None:
            for s in ([seen] if isinstance(seen, Interactions) else list(seen)):
                masks.append(s.to_csr() if isinstance(s, Interactions) else sp.csr_matrix(s))
        for m in masks:
            mask_rows(scores, m, users)
        return top_k(scores, k)

    # -- saving ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path``, weights only (no pickle; :mod:`handson.models.io`)."""
        return io.save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "Recommender":
        """The fitted model of a file written by :meth:`save` (call it on the saved class)."""
        return io.load_model(path, cls)

    # -- to implement -------------------------------------------------------------------
    def _check_params(self) -> None:
        """Raise a ValueError for a bad hyper-parameter; called first thing in :meth:`fit`.

        Subclasses extend it (calling ``super()._check_params()``) so that a wrong setting
        fails at once, not after the data work or the first epochs."""

    def _fit(self, train: Interactions, item_features: dict[str, np.ndarray],
             valid: Interactions | None) -> None:
        raise NotImplementedError

    def _score(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def check_param_types(model: Recommender) -> None:
    """Check every hyper-parameter against the annotation of its constructor argument (along
    the class hierarchy): ``bool`` must be True/False, ``int`` an integer, ``float`` a finite
    number (an integer is fine), ``... | None`` also None; a ``seed`` must be >= 0. A wrong
    one raises a ValueError that names the model, the parameter and the value."""
    annotations: dict[str, str] = {}
    for cls in reversed(type(model).__mro__):
        init = cls.__dict__.get("__init__")
        if init is not None:
            annotations.update({k: str(v) for k, v in getattr(init, "__annotations__", {}).items()})
    for name, value in model.get_params().items():
        ann = annotations.get(name, "")
        if "[" in ann or (value is None and "None" in ann):
            continue
        integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        number = (integer or isinstance(value, (float, np.floating))) and bool(np.isfinite(value))
        if ann == "bool":
            ok, what = isinstance(value, (bool, np.bool_)), "True or False"
        elif "float" in ann:
            ok, what = number, "a finite number"
        elif "int" in ann:
            ok, what = integer, "an integer"
        else:
            continue
        if name == "seed" and ok and value < 0:
            ok, what = False, "a non-negative integer"
        if not ok:
            raise ValueError(f"{type(model).__name__}: {name} must be {what}"
                             f"{' or None' if 'None' in ann else ''}, got {value!r}.")


def check_users(model: Recommender, users: Sequence[int] | np.ndarray) -> np.ndarray:
    """Validate user indices against a fitted model; returns an int64 array."""
    if not hasattr(model, "n_users_"):
        raise RuntimeError(f"{type(model).__name__} is not fitted yet: call .fit(train) first.")
    users = np.atleast_1d(np.asarray(users))
    if users.ndim != 1:
        raise ValueError(f"users must be a one-dimensional list of user indices, got shape {users.shape}.")
    if users.size and not np.issubdtype(users.dtype, np.integer):
        raise ValueError(f"users must be integer indices, got dtype {users.dtype}; for raw ids pass "
                         "the data set: recommend(users, k, dataset=ds), or map them with dataset.user_index().")
    users = users.astype(np.int64, copy=False)
    bad = users[(users < 0) | (users >= model.n_users_)]
    if bad.size:
        raise ValueError(f"Unknown user index {bad[:5].tolist()}: valid indices are 0..{model.n_users_ - 1}. "
                         "Map raw ids with dataset.user_index().")
    return users


def check_item_features(item_features: Mapping[str, np.ndarray] | None, required: Sequence[str],
                        n_items: int, model: str = "model", with_masks: bool = False
                        ) -> dict[str, np.ndarray] | tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Validate the ``item_features`` dict: required modalities present, ``(n_items, d)``, finite.

    Returns a dict of float32 arrays. Extra modalities are kept (models may use them).
    ``with_masks``: also return, per modality, the boolean availability mask ``(n_items,)``:
    a :class:`handson.features.Features` brings its own ``mask`` (True where the item had
    content, whatever its missing-content policy wrote in the other rows); for a plain array
    the convention is that an all-zero row means "no content" (what ``missing="zero"`` writes).
    """
    if item_features is not None and not isinstance(item_features, Mapping):
        raise ValueError(f"item_features must be a dict {{modality: (n_items, d) array}}, e.g. "
                         f"{{'image': V}}, got {type(item_features).__name__}.")
    feats = dict(item_features or {})
    missing = [m for m in required if m not in feats]
    if missing:
        raise ValueError(f"{model} needs item_features {list(required)}; missing {missing}. "
                         f"Pass e.g. item_features={{'{missing[0]}': V}} with V of shape (n_items, d); "
                         "see handson.features.")
    out: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for name, raw in feats.items():
        try:
            x = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"item_features[{name!r}] is not a numeric matrix ({exc}); pass an (n_items, d) "
                             "array of numbers.") from None
        if x.ndim != 2 or x.shape[0] != n_items:
            raise ValueError(f"item_features[{name!r}] has shape {x.shape}; expected (n_items={n_items}, d), "
                             "one row per item of the dataset's item index.")
        if not np.isfinite(x).all():
            rows = np.unique(np.nonzero(~np.isfinite(x))[0])
            raise ValueError(f"item_features[{name!r}] has NaN/inf in {len(rows)} row(s), e.g. {rows[:5].tolist()} "
                             "(values beyond float32's range, about 3.4e38, become inf); extract with a "
                             "missing-content policy ('zero' or 'mean'), fill them or rescale.")
        largest = float(np.abs(x).max(initial=0.0))
        if largest > MAX_FEATURE_ABS:
            raise ValueError(f"item_features[{name!r}] holds values up to {largest:.3g}: beyond {MAX_FEATURE_ABS:.0e} "
                             "the float32 arithmetic of the models (standardization, norms, dot products) "
                             f"overflows. Rescale the {name!r} features first, e.g. V / np.abs(V).max() or np.log1p(V).")
        out[name], masks[name] = x, _availability(raw, x, name)
    return (out, masks) if with_masks else out


def _availability(raw: object, x: np.ndarray, name: str) -> np.ndarray:
    """The ``mask`` of a Features-like object (``values`` + ``mask``), else the non-zero rows of ``x``."""
    mask = getattr(raw, "mask", None)
    if isinstance(raw, np.ndarray) or not hasattr(raw, "values") or not isinstance(mask, np.ndarray):
        return available_rows(x)        # a plain (or masked) array: all-zero rows have no content
    if mask.shape != (len(x),):
        raise ValueError(f"item_features[{name!r}].mask has shape {mask.shape}, expected ({len(x)},).")
    return mask.astype(bool)
