"""Item feature preparation shared by every multimodal model (VBPR, FREEDOM, BM3, MMFusion,
CLIPContent): one check of the ``modalities`` argument, one scaling function, one mask.

Missing content: an item without an image or a text has no feature row of its own. A
:class:`handson.features.Features` says so in its ``mask`` (True where the item had content),
whatever its fill policy wrote in the row (zeros under ``missing="zero"``, the mean row
under ``missing="mean"``). For a plain array the convention is an **all-zero row**: that is
what ``missing="zero"`` writes. ``Recommender.fit`` records one availability mask per
modality in ``item_masks_`` (see :func:`handson.models.base.check_item_features`), and
:func:`prepare` uses it: a missing row becomes an exact zero row after scaling, so it adds
nothing through a linear projection or a dot product, and the mask travels along with the
prepared matrix, so the models never guess availability from the values again.

    prepared = prepare(item_features, ("image", "text"), "MyModel", masks=self.item_masks_)
    x, mask = prepared["image"]          # float32 (n_items, d), bool (n_items,)
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np

__all__ = ["check_modalities", "available_rows", "Prepared", "SCALINGS", "scale", "prepare"]

#: the scalings :func:`prepare` knows (None: the features as given)
SCALINGS = ("standardize", "l2", None)


def check_modalities(modalities: Sequence[str] | str, model: str,
                     allow_empty: bool = False) -> tuple[str, ...]:
    """The constructor's ``modalities`` as a tuple of distinct names; a clear error otherwise."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    mods = tuple(modalities)
    if not all(isinstance(m, str) and m for m in mods) or len(set(mods)) != len(mods):
        raise ValueError(f"{model}: modalities must be distinct names such as ('image', 'text'), "
                         f"got {modalities!r}.")
    if not mods and not allow_empty:
        raise ValueError(f"{model} needs at least one modality: modalities must name one or more "
                         "distinct item_features keys, e.g. modalities=('image', 'text').")
    return mods


def available_rows(x: np.ndarray) -> np.ndarray:
    """Boolean ``(n_items,)``: the row is not all zero (the plain-array convention for "has content")."""
    return np.any(np.asarray(x) != 0, axis=1)


class Prepared(NamedTuple):
    """One prepared modality: ``values`` float32 ``(n_items, d)`` (missing rows exactly 0) and
    ``mask`` bool ``(n_items,)`` (True where the item has this content)."""

    values: np.ndarray
    mask: np.ndarray


def scale(x: np.ndarray, mask: np.ndarray, how: str | None) -> np.ndarray:
    """``x`` ``(n_items, d)`` scaled by ``how``, float32; rows outside ``mask`` are 0.

    ``"standardize"``: zero mean and unit variance per column, the statistics taken over the
    available rows only (columns constant there become 0): every input dimension starts on
    the same footing for a learned projection. ``"l2"``: every row scaled to unit length, so
    no modality or item dominates a dot product by its scale. ``None``: as given.
    """
    if how not in SCALINGS:
        raise ValueError(f"how must be one of {SCALINGS}, got {how!r}.")
    x = np.where(mask[:, None], np.asarray(x, dtype=np.float32), np.float32(0.0))
    if how == "l2":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    elif how == "standardize" and mask.any():
        mu, sd = x[mask].mean(axis=0), x[mask].std(axis=0)
        x = np.where(sd > 1e-8, (x - mu) / np.where(sd > 1e-8, sd, 1.0), 0.0)
        x[~mask] = 0.0
    return np.ascontiguousarray(x, dtype=np.float32)


def prepare(item_features: Mapping[str, np.ndarray], modalities: Sequence[str], model: str,
            how: str | None = "standardize", masks: Mapping[str, np.ndarray] | None = None,
            require_content: bool = True) -> dict[str, Prepared]:
    """Per modality: the features scaled by ``how`` (see :func:`scale`) and their mask.

    ``masks``: modality -> availability (what ``Recommender.fit`` stored in ``item_masks_``);
    a modality without one falls back on the non-zero rows. ``require_content``: a modality
    absent for *every* item raises a ValueError (it cannot inform the model).
    """
    out = {}
    for m in modalities:
        x = np.asarray(item_features[m], dtype=np.float32)
        mask = available_rows(x) if masks is None or m not in masks else np.asarray(masks[m], dtype=bool)
        if require_content and not mask.any():
            raise ValueError(f"{model}: item_features[{m!r}] is all zero, so no item has this modality; "
                             f"drop {m!r} from modalities= or extract the features again.")
        out[m] = Prepared(scale(x, mask, how), mask)
    return out

