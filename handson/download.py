"""Deprecated alias of :mod:`handson.datasets.download`, kept for one release."""
import warnings

from .datasets.download import *  # noqa: F401,F403
from .datasets.download import __all__  # noqa: F401
from .datasets.download import CONNECT_TIMEOUT, OFFLINE_ALTERNATIVE, READ_TIMEOUT, describe_folder, manual_hint  # noqa: F401

warnings.warn("handson.download moved to handson.datasets.download; import it from there "
              "(this alias will be removed in the next release).", DeprecationWarning,
              stacklevel=2)
