"""Control baselines: does a modality really help, or would any features do?

A multimodal model can beat its collaborative twin for reasons that have nothing to do
with the content: extra parameters, a different initialisation, a feature-norm bias.
Two controls separate "the content helps" from "the architecture helps":

- :func:`random_features`: features of the same shape and scale, but pure noise;
- :func:`shuffled_features`: the real feature rows, assigned to the wrong items.

If a model trained on real features is not clearly better than on both controls, the
modality carries no usable signal for that model. :func:`with_control` runs a model on
real, random and shuffled features and returns one comparison table.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..datasets import Interactions

__all__ = ["random_features", "shuffled_features", "with_control", "CONTROLS"]

Features = Mapping[str, np.ndarray] | np.ndarray


def _as_dict(item_features: Features) -> tuple[dict[str, np.ndarray], bool]:
    """``(dict of float32 2-D arrays, was_a_single_array)`` with a clear error for bad input."""
    single = not isinstance(item_features, Mapping)
    feats = {"features": item_features} if single else dict(item_features)
    if not feats:
        raise ValueError("item_features is empty; pass e.g. {'image': V, 'text': T}.")
    out = {}
    n_rows = set()
    for name, x in feats.items():
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"item_features[{name!r}] must be 2-D (n_items, d), got shape {x.shape}.")
        if not np.isfinite(x).all():
            raise ValueError(f"item_features[{name!r}] contains NaN/inf; fill or drop those rows first.")
        out[name] = x
        n_rows.add(x.shape[0])
    if len(n_rows) > 1:
        raise ValueError(f"Modalities disagree on the number of items: {sorted(n_rows)} rows; "
                         "every modality needs one row per item of the dataset's item index.")
    return out, single


def random_features(item_features: Features, seed: int = 0) -> Features:
    """Noise with the shape and scale of the real features (a dict or one ``(n_items, d)`` array).

    Each column is drawn from a normal distribution with that column's mean and standard
    deviation, and each row is then rescaled to the L2 norm of the real row, so norms (and
    norm-based biases) match. All-zero rows (items whose content was missing) stay zero:
    the control removes the content, not the knowledge of which items lack it.
    """
    feats, single = _as_dict(item_features)
    rng = np.random.default_rng(seed)
    out = {}
    for name, x in feats.items():
        noise = rng.normal(x.mean(0), x.std(0) + 1e-12, size=x.shape).astype(np.float32)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        noise *= norm / np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
        out[name] = noise
    return out["features"] if single else out


def shuffled_features(item_features: Features, seed: int = 0) -> Features:
    """The real feature rows, permuted across items (a dict or one ``(n_items, d)`` array).

    One permutation is shared by all modalities, so an item's image and text stay paired
    with each other but belong to another item: the feature distribution is exactly the
    real one, only the item-to-content link is broken.
    """
    feats, single = _as_dict(item_features)
    n = next(iter(feats.values())).shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    out = {name: x[perm] for name, x in feats.items()}
    return out["features"] if single else out


CONTROLS: dict[str, Callable[[Features, int], Features] | None] = {
    "real": None, "random": random_features, "shuffled": shuffled_features}


def with_control(model_factory: Callable[[], object], train: Interactions,
                 item_features: Mapping[str, np.ndarray],
                 test: Interactions, *, controls: Sequence[str] = ("real", "random", "shuffled"),
                 valid: Interactions | None = None, seen: Interactions | Sequence[Interactions] | None = None,
                 k: Sequence[int] = (10, 20), seed: int = 0,
                 models: dict | None = None) -> pd.DataFrame:
    """Fit a fresh model on real, random and shuffled features; one row of metrics per control.

    ``model_factory()`` must return an unfitted model (e.g. ``lambda: VBPR(epochs=20)``);
    ``item_features`` is the dict by modality you would pass to ``fit``. Metrics come from :func:`handson.evaluation.evaluate` on ``test``
    with the training items (and ``seen``) masked. Returns a DataFrame indexed by control
    name with the metric columns and ``fit_s``; pass a dict as ``models`` to get the fitted
    models back.
    """
    from ..evaluation import evaluate

    if not callable(model_factory):
        raise ValueError("model_factory must be a callable returning a fresh model, "
                         "e.g. lambda: VBPR(epochs=20); got "
                         f"{type(model_factory).__name__}.")
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown or not controls:
        raise ValueError(f"Unknown control(s) {unknown or list(controls)}; choose from {list(CONTROLS)}.")
    if not isinstance(item_features, Mapping):
        raise ValueError("with_control needs item_features as a dict by modality, "
                         "e.g. {'image': V, 'text': T}, as passed to model.fit.")
    _as_dict(item_features)
    masked = [train] + ([seen] if isinstance(seen, Interactions) else list(seen or []))
    rows = {}
    for name in controls:
        make = CONTROLS[name]
        feats = item_features if make is None else make(item_features, seed)
        model = model_factory()
        start = time.perf_counter()
        model.fit(train, item_features=feats, valid=valid)
        fit_s = time.perf_counter() - start
        rows[name] = {**evaluate(model, test, seen=masked, k=k), "fit_s": fit_s}
        if models is not None:
            models[name] = model
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "features"
    return table
