"""Deprecated alias of :mod:`handson.datasets.toyshop`, kept for one release."""
import warnings

from .datasets.toyshop import *  # noqa: F401,F403
from .datasets.toyshop import __all__  # noqa: F401
from .datasets.toyshop import IMAGE_SIZE, SPAN, START_TIME  # noqa: F401

warnings.warn("handson.toyshop moved to handson.datasets.toyshop; import it from there "
              "(this alias will be removed in the next release).", DeprecationWarning,
              stacklevel=2)
