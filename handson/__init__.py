"""handson: multimodal deep learning for recommendation, hands on.

Submodules are imported on first use, so ``import handson`` stays light and works without
torch: ``handson.datasets``, ``handson.toyshop``, ``handson.split``, ``handson.metrics``,
``handson.evaluation``, ``handson.models``, ``handson.training``, ``handson.features``,
``handson.plotting``, ``handson.download``, ``handson.utils``.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"datasets", "toyshop", "split", "metrics", "evaluation", "models", "training",
               "features", "plotting", "download", "utils"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in {"Dataset", "Interactions"}:
        return getattr(importlib.import_module(f"{__name__}.datasets"), name)
    raise AttributeError(f"module 'handson' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | {"Dataset", "Interactions"})
