"""handson: multimodal deep learning for recommendation, hands on.

Submodules are imported on first use, so ``import handson`` stays light and works without
torch. From the bottom layer up (a module imports only from layers below it):

- ``handson.utils``: seeding, device, cache folder, Colab detection, ``doctor()``;
- ``handson.datasets``: ``Interactions``, ``Dataset``, ``from_frames``, ``load`` and one
  module per source (toyshop, movielens, amazon, amazon2023), file helpers and downloads;
- ``handson.split``, ``handson.metrics`` (top-k, masking, hits, metrics),
  ``handson.beyond_accuracy`` (popularity bias, exposure, diversity), ``handson.significance``
  (paired tests, bootstrap and seed intervals), ``handson.sampling`` (the negative sampler);
- ``handson.evaluation`` (full-ranking evaluation, ``compare`` over seeds, ``paired_test``),
  ``handson.protocols`` (pairwise accuracy, sampled triples, control baselines),
  ``handson.exercises`` (the checks of the notebooks' exercises);
- ``handson.features`` (image, text and CLIP encoders, cached extraction),
  ``handson.training`` (the training loop), ``handson.models`` (every recommender, losses,
  ``io``: save and load), ``handson.recommendations`` (raw-id tables, JSON/CSV export);
- ``handson.tuning`` (validation-only search), ``handson.plotting``, ``handson.explorer``;
- ``handson.assignments``: ``python -m handson.assignments check | release | grade``.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"utils", "datasets", "split", "metrics", "beyond_accuracy", "significance", "sampling",
               "evaluation", "protocols", "features", "training", "models", "recommendations", "tuning",
               "plotting", "explorer", "exercises"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in {"Dataset", "Interactions"}:
        return getattr(importlib.import_module(f"{__name__}.datasets"), name)
    raise AttributeError(f"module 'handson' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | {"Dataset", "Interactions"})
