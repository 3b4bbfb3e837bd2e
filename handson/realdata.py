"""Deprecated alias of :mod:`handson.datasets.files`, kept for one release."""
import warnings

from .datasets.files import *  # noqa: F401,F403
from .datasets.files import __all__  # noqa: F401
from .datasets.files import join_text, require_columns  # noqa: F401

warnings.warn("handson.realdata moved to handson.datasets.files; import it from there "
              "(this alias will be removed in the next release).", DeprecationWarning,
              stacklevel=2)
