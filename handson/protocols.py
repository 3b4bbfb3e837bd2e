"""Evaluation protocols besides full ranking: sampled pairwise accuracy, cold-start
candidate sets, and control baselines for multimodal features.

- :func:`pairwise_accuracy` (with :func:`sample_test_triples`): how often a model ranks a
  held-out positive above a random negative. The Amazon-2023 CLIP study reports it besides
  full-ranking metrics; it is the sampled estimate of the AUC (0.5 is chance, 1.0 is
  perfect), easy to read but flattering (a random negative is usually easy): always show a
  full-ranking metric too.
- :class:`only_items`: rank only a candidate set (e.g. the cold items) in
  :func:`handson.evaluation.evaluate`.
- :func:`random_features`, :func:`shuffled_features`, :func:`with_control`: does a modality
  really help, or would any features do? A multimodal model can beat its collaborative twin
  for reasons that have nothing to do with the content: extra parameters, a different
  initialisation, a feature-norm bias. Random features (same shape and scale, pure noise)
  and shuffled features (the real rows, assigned to the wrong items) separate "the content
  helps" from "the architecture helps": if a model trained on real features is not clearly
  better than on both controls, the modality carries no usable signal for that model.

Models are duck-typed (``score(users) -> (len(users), n_items)``, ``fit``): nothing here
imports model code.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .datasets import Interactions, check_same_catalog
from .evaluation import evaluate
from .sampling import sample_negatives
from .utils import check_seed

__all__ = ["pairwise_accuracy", "sample_test_triples", "only_items",
           "random_features", "shuffled_features", "with_control", "CONTROLS"]

Features = Mapping[str, np.ndarray] | np.ndarray


# -- pairwise accuracy ---------------------------------------------------------------------
def sample_test_triples(test: Interactions, train: Interactions | None = None, n_neg: int = 1,
                        seed: int = 0, max_rounds: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, pos, neg)`` triples: each test pair repeated ``n_neg`` times, arrays ``(n_test * n_neg,)``.

    Negatives are drawn uniformly from the catalog among items the user has in neither
    ``train`` nor ``test``, by the rejection sampler of :mod:`handson.sampling` (rejected
    draws are redrawn, all at once, for at most ``max_rounds`` rounds). Same ``seed``, same
    triples; triple ``t`` belongs to test pair ``t // n_neg``.
    """
    check_seed(seed)
    if isinstance(n_neg, bool) or not isinstance(n_neg, (int, np.integer)) or n_neg < 1:
        raise ValueError(f"n_neg={n_neg!r} must be an integer, at least 1 negative per positive.")
    if len(test) == 0:
        raise ValueError("test has no interactions: nothing to evaluate.")
    parts = [test] if train is None else [train, test]
    check_same_catalog(*parts)
    known = Interactions.concat(parts).to_csr()
    neg = sample_negatives(known, test.users, n_neg, np.random.default_rng(seed), max_rounds=max_rounds)
    return np.repeat(test.users, n_neg), np.repeat(test.items, n_neg), neg.ravel()


def pairwise_accuracy(model: Any, test: Interactions, train: Interactions | None = None, n_neg: int = 1,
                      seed: int = 0, batch_size: int = 1024) -> float:
    """Share of test triples ``(u, pos, neg)`` with ``score(u, pos) > score(u, neg)``; ties count 1/2.

    ``model`` is anything with ``score(users) -> (len(users), n_items)``; ``train`` holds
    the interactions excluded from the negatives (pass the training set). Users are scored
    in batches of ``batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be positive.")
    users, pos, neg = sample_test_triples(test, train, n_neg=n_neg, seed=seed)
    order = np.argsort(users, kind="stable")
    users, pos, neg = users[order], pos[order], neg[order]
    uniq = np.unique(users)
    wins = 0.0
    for start in range(0, len(uniq), batch_size):
        batch = uniq[start:start + batch_size]
        scores = np.asarray(model.score(batch), dtype=np.float64)
        if scores.shape != (len(batch), test.n_items):
            raise ValueError(f"model.score returned shape {scores.shape}, expected "
                             f"{(len(batch), test.n_items)}: was it fitted on this catalog?")
        lo = np.searchsorted(users, batch[0], side="left")
        hi = np.searchsorted(users, batch[-1], side="right")
        rows = np.searchsorted(batch, users[lo:hi])
        sp, sn = scores[rows, pos[lo:hi]], scores[rows, neg[lo:hi]]
        wins += float((sp > sn).sum() + 0.5 * (sp == sn).sum())
    return wins / len(users)



# -- candidate sets ------------------------------------------------------------------------
class only_items:
    """Wrap a model so that it ranks only ``items``: every other score becomes ``-inf``.

    For cold-start evaluation: ``evaluate(only_items(model, cold), split.test)`` ranks each
    user's held-out cold items among the cold items alone, where a model that knows
    nothing about them does no better than chance (Recall@k close to ``k / len(items)``).
    ``items``: indices, or a boolean mask of shape ``(n_items,)``.
    """

    def __init__(self, model: Any, items: np.ndarray) -> None:
        items = np.asarray(items)
        n_items = getattr(model, "n_items_", None)
        if items.dtype == bool:
            if n_items is not None and items.shape != (n_items,):
                raise ValueError(f"A boolean items mask must have shape (n_items={n_items},), got {items.shape}.")
            items = np.flatnonzero(items)
        if items.size == 0:
            raise ValueError("items is empty: pass the candidate item indices (e.g. the cold items).")
        if not np.issubdtype(items.dtype, np.integer) or items.min() < 0 or \
                (n_items is not None and items.max() >= n_items):
            raise ValueError(f"items must be item indices in [0, n_items={n_items}), got {items[:5].tolist()}...")
        self.model, self.items = model, np.unique(items)
        self.n_items_ = n_items

    def score(self, users: np.ndarray) -> np.ndarray:
        """The wrapped model's scores ``(len(users), n_items)`` with non-candidates at ``-inf``."""
        scores = np.asarray(self.model.score(users), dtype=np.float32)
        out = np.full_like(scores, -np.inf)
        out[:, self.items] = scores[:, self.items]
        return out


# -- control baselines for item features ---------------------------------------------------
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
    rng = np.random.default_rng(check_seed(seed))
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
    perm = np.random.default_rng(check_seed(seed)).permutation(n)
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
    ``item_features`` is the dict by modality you would pass to ``fit``. Metrics come from
    :func:`handson.evaluation.evaluate` on ``test`` with the training items (and ``seen``) masked. Returns a DataFrame indexed by control
    name with the metric columns and ``fit_s``; pass a dict as ``models`` to get the fitted
    models back.
    """
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
