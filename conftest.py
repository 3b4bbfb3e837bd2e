"""Root pytest configuration: every test and every notebook runs offline and in QUICK mode.

The variables are set before nbval starts a kernel, so notebooks inherit them. Stored
notebook outputs are compared on QUICK toyshop runs only (pytest_collection_modifyitems).
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


def pytest_collection_modifyitems(session, config, items):
    """Off toyshop, nbval runs every notebook cell but compares no stored output.

    The stored outputs are those of a QUICK toyshop run (``python -m handson.notebook_tools
    execute``). nbval gives each notebook cell item an ``options`` dict whose ``check`` entry,
    read when the cell runs, decides whether its output is compared (``# NBVAL_CHECK_OUTPUT``
    sets it). When ``HANDSON_DATASET`` names another data set it is switched off; errors are
    reported whatever ``check`` says, so every cell must still run.
    """
    from handson.notebook_tools import outputs_comparable

    if outputs_comparable(os.environ):
        return
    for item in items:
        options = getattr(item, "options", None)
        if type(item).__name__ == "IPyNbCell" and options is not None:
            options["check"] = False
