"""Deprecated: moved to :mod:`handson.protocols` (control baselines are an evaluation
protocol, not a model); this shim re-exports the names."""
from __future__ import annotations

import warnings

from ..protocols import CONTROLS, random_features, shuffled_features, with_control

__all__ = ["random_features", "shuffled_features", "with_control", "CONTROLS"]

warnings.warn("handson.models.controls moved to handson.protocols; import random_features, "
              "shuffled_features, with_control and CONTROLS from there.", DeprecationWarning, stacklevel=2)
