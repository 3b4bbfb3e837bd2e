"""Item feature preparation shared by the multimodal models (FREEDOM, BM3, MMFusion).

Convention for missing content: ``handson.features`` writes an **all-zero row** for an item
without an image or a text (``missing="zero"``). The models read such a row as "this item
lacks this modality" (an availability mask), never as a real feature vector.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["check_modalities", "available_rows", "standardize"]


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
        raise ValueError(f"{model} needs at least one modality, e.g. modalities=('image', 'text').")
    return mods


def available_rows(x: np.ndarray) -> np.ndarray:
    """Boolean ``(n_items,)``: the row is not all zero (the item has this modality)."""
    return np.any(np.asarray(x) != 0, axis=1)


def standardize(item_features: Mapping[str, np.ndarray], modalities: Sequence[str],
                model: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per modality: column-standardized float32 features ``(n_items, d)`` and the mask ``(n_items,)``.

    Means and standard deviations come from the available rows only; missing rows stay 0,
    so they add nothing through a linear projection. A modality absent for *every* item
    raises a ValueError (it cannot inform the model).
    """
    out = {}
    for m in modalities:
        x = np.asarray(item_features[m], dtype=np.float32)
        mask = available_rows(x)
        if not mask.any():
            raise ValueError(f"{model}: item_features[{m!r}] is all zero, so no item has this modality; "
                             f"drop {m!r} from modalities= or extract the features again.")
        mu = x[mask].mean(axis=0)
        sd = x[mask].std(axis=0)
        z = np.where(sd > 1e-8, (x - mu) / np.where(sd > 1e-8, sd, 1.0), 0.0).astype(np.float32)
        z[~mask] = 0.0
        out[m] = (z, mask)
    return out
