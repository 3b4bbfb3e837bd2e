"""Deprecated: the self-supervised losses live in :mod:`handson.models.losses`.

``from handson.models.contrastive import info_nce, bootstrap_loss`` keeps working with a
DeprecationWarning; import them from ``handson.models.losses`` instead.
"""
from __future__ import annotations

import warnings

from .losses import bootstrap_loss, info_nce

__all__ = ["info_nce", "bootstrap_loss"]

warnings.warn("handson.models.contrastive is deprecated; import info_nce and bootstrap_loss "
              "from handson.models.losses.", DeprecationWarning, stacklevel=2)
