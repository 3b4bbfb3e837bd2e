"""Deprecated alias of :mod:`handson.datasets.movielens`, kept for one release."""
import warnings

from .datasets.movielens import *  # noqa: F401,F403
from .datasets.movielens import __all__  # noqa: F401

warnings.warn("handson.movielens moved to handson.datasets.movielens; import it from there "
              "(this alias will be removed in the next release).", DeprecationWarning,
              stacklevel=2)
