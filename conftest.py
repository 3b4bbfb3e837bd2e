"""Root pytest configuration: every test and every notebook runs offline and in QUICK mode.

The variables are set before nbval starts a kernel, so notebooks inherit them.
"""
import os
import tempfile

os.environ.setdefault("HANDSON_QUICK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# one shared cache per test session unless the caller chose one (toyshop, features)
os.environ.setdefault("HANDSON_CACHE", os.path.join(tempfile.gettempdir(), "handson-test-cache"))
