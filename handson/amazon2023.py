"""Deprecated alias of :mod:`handson.datasets.amazon2023`, kept for one release."""
import warnings

from .datasets.amazon2023 import *  # noqa: F401,F403
from .datasets.amazon2023 import __all__  # noqa: F401

warnings.warn("handson.amazon2023 moved to handson.datasets.amazon2023; import it from there "
              "(this alias will be removed in the next release).", DeprecationWarning,
              stacklevel=2)
