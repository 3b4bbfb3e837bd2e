"""Deprecated alias of :mod:`handson.datasets.amazon`, kept for one release."""
import warnings

from .datasets.amazon import *  # noqa: F401,F403
from .datasets.amazon import __all__  # noqa: F401

warnings.warn("handson.amazon moved to handson.datasets.amazon; import it from there "
              "(this alias will be removed in the next release).", DeprecationWarning,
              stacklevel=2)
