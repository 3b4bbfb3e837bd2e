"""Deprecated: moved to :mod:`handson.protocols`; this shim re-exports the names."""
from __future__ import annotations

import warnings

from .protocols import only_items, pairwise_accuracy, sample_test_triples

__all__ = ["pairwise_accuracy", "sample_test_triples", "only_items"]

warnings.warn("handson.evaluation_extra moved to handson.protocols; import pairwise_accuracy, "
              "sample_test_triples and only_items from there.", DeprecationWarning, stacklevel=2)
