"""Keep every notebook's Colab badge and setup cell in line with one template.

The repository's URL is written in one place, ``[project.urls] Repository`` in
``pyproject.toml``. A notebook cannot read it on Colab (the setup cell runs before the
library is installed), so ``sync`` writes it into each notebook: the badge points at the
notebook's own file in that repository, and the setup cell (identical everywhere) holds it
as the default of ``HANDSON_REPO``::

    python -m handson.notebook_tools sync    # rewrite badges and setup cells
    python -m handson.notebook_tools check   # list notebooks that are out of date (exit 1)
    python -m handson.notebook_tools execute [NAME ...]   # store the outputs of a QUICK run
    python -m handson.notebook_tools run --dataset NAME [--root FOLDER] [NAME ...]   # test on a data set

``execute`` runs notebooks in QUICK mode (toyshop, packaged encoders, offline) and stores
their outputs, so a student can read them on GitHub; figures are downscaled and re-encoded
with a 256-colour palette to keep the repository small. The setup cell's output (versions
of the machine that ran it) is not stored.

``check`` also lists notebooks without the configuration cell (:data:`CONFIG_LINES`) that
lets the tests run every notebook on any data set. ``run`` runs notebooks under nbval on a
named data set (``HANDSON_DATASET``/``HANDSON_DATA_ROOT``): every cell must run without error;
stored outputs are compared on toyshop only (the root ``conftest.py``). ``--dataset
office-fixture`` builds the offline Office-like folder of ``datasets.ducho.office_fixture``.

Run from a checkout of the repository (the tool edits ``notebooks/*.ipynb`` there).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the setup cell of every notebook; ``{repository}`` is filled in by :func:`setup_source`
SETUP_TEMPLATE = '''\
# Setup: on Colab, install the course library; everywhere, show versions and the device.
import os, sys, subprocess
REPOSITORY = os.environ.get("HANDSON_REPO", "{repository}")
if "google.colab" in sys.modules:
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                                f"handson[features,data] @ git+{{REPOSITORY}}"])
    if installed.returncode != 0:   # no network, a private fork, a wrong URL: say what to do, stop
        raise SystemExit(
            f"Could not install handson from {{REPOSITORY}}. Either\\n"
            "- point at your fork: os.environ['HANDSON_REPO'] = 'https://github.com/<you>/handson', rerun this cell;\\n"
            "- or upload the repository zip (Code > Download ZIP) to /content and run\\n"
            "      !unzip -q /content/handson-main.zip -d /content\\n"
            "      !pip install -q '/content/handson-main[features,data]'\\n"
            "- or, in a clone of the repository: !pip install -q -r requirements.txt -e .")
import handson
from handson.utils import get_device
print(f"handson {{handson.__version__}} · Python {{sys.version.split()[0]}} · device: {{get_device()}}")'''

#: the configuration cell's lines every notebook shares (code only; comments may differ)
CONFIG_LINES = (
    'QUICK = os.environ.get("HANDSON_QUICK") == "1"',
    'DATASET = os.environ.get("HANDSON_DATASET") or ("toyshop" if QUICK else "amazon-office")',
    'DATA_ROOT = os.environ.get("HANDSON_DATA_ROOT") or None',
)
#: how the data set is loaded, and reduced in QUICK mode (the same limits everywhere: one cache)
LOAD_CALLS = ("datasets.load(DATASET, root=DATA_ROOT)", "subsample(max_items=1500, max_users=1000)")

BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
                   r"\(https://colab\.research\.google\.com/github/[^)]*\)")


def repository(root: Path = ROOT) -> str:
    """The repository URL from ``[project.urls] Repository`` of ``pyproject.toml``."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")   # tomllib needs Python 3.11
    urls = text.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^Repository\s*=\s*"([^"]+)"', urls, re.M).group(1).rstrip("/")


def setup_source(repo: str) -> str:
    """The setup cell's source for a repository URL."""
    return SETUP_TEMPLATE.format(repository=repo)


def badge(repo: str, notebook: str, branch: str = "main") -> str:
    """The markdown of the "Open in Colab" badge of ``notebooks/<notebook>``."""
    path = repo.removeprefix("https://github.com/")
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook})")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def synced(nb: dict, name: str, repo: str) -> dict:
    """A copy of a notebook with its badge (first cell) and setup cell (first code cell) rewritten."""
    nb = json.loads(json.dumps(nb))
    title = nb["cells"][0]
    text = "".join(title["source"])
    if not BADGE.search(text):
        raise ValueError(f"{name}: the first cell has no Open-in-Colab badge")
    title["source"] = _lines(BADGE.sub(lambda _: badge(repo, name), text))
    setup = next(c for c in nb["cells"] if c["cell_type"] == "code")
    if not "".join(setup["source"]).startswith("# Setup:"):
        raise ValueError(f"{name}: the first code cell is not the setup cell")
    setup["source"] = _lines(setup_source(repo))
    return nb


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def sync(root: Path = ROOT, write: bool = True) -> list[Path]:
    """Rewrite the badge and setup cell of every ``notebooks/*.ipynb``; the files that changed."""
    repo, changed = repository(root), []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        old = path.read_text(encoding="utf-8")
        new = _dump(synced(json.loads(old), path.name, repo))
        if new != old:
            changed.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    return changed


def _code_lines(source: str) -> set[str]:
    return {line.split("#", 1)[0].strip() for line in source.splitlines()}


def config_problems(nb: dict) -> list[str]:
    """What a notebook lacks of the configuration cell and the data loading (empty: fine)."""
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    problems = []
    if not any(set(CONFIG_LINES) <= _code_lines(src) for src in cells):
        missing = [line for line in CONFIG_LINES if not any(line in _code_lines(s) for s in cells)]
        problems.append("no configuration cell with the lines " + "; ".join(missing or CONFIG_LINES))
    code = "\n".join(cells)
    problems += [f"no {call}" for call in LOAD_CALLS if call not in code]
    return problems


def _small_png(data: str, max_width: int) -> str:
    """A base64 PNG at most ``max_width`` pixels wide, palette-encoded (figures have few colours)."""
    import base64
    import io

    from PIL import Image
    img = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    if img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.LANCZOS)
    out = io.BytesIO()
    img.quantize(256).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def execute(names: list[str] | None = None, root: Path = ROOT, timeout: int = 900,
            max_width: int = 720) -> list[Path]:
    """Run ``notebooks/*.ipynb`` (or those named) in QUICK mode and store their outputs."""
    import os

    import nbformat
    from nbclient import NotebookClient
    os.environ.update(HANDSON_QUICK="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    os.environ.pop("MPLBACKEND", None)          # Agg would draw no figure into the notebook
    paths = sorted((root / "notebooks").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if p.name in names or p.stem in names]
    for path in paths:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        code = [c for c in nb.cells if c.cell_type == "code"]
        code[0].outputs, code[0].execution_count = [], None            # the setup cell
        for cell in code:
            for out in cell.outputs:
                if "image/png" in out.get("data", {}):
                    out["data"]["image/png"] = _small_png(out["data"]["image/png"], max_width)
        path.write_text(_dump(json.loads(nbformat.writes(nb))), encoding="utf-8")
        print(f"executed {path.relative_to(root)} ({path.stat().st_size / 1e6:.1f} MB)")
    return paths


def outputs_comparable(environ) -> bool:
    """Whether a notebook run can be compared with the stored outputs (a QUICK toyshop run).

    The stored outputs come from ``execute``: QUICK mode on toyshop. Any other data set (or
    full mode, whose default is Amazon Office) prints other statistics, so the test harness
    (the root ``conftest.py``) then runs the marked cells without comparing their output.
    """
    dataset = environ.get("HANDSON_DATASET") or ""
    return environ.get("HANDSON_QUICK") == "1" and dataset in ("", "toyshop")


def run(dataset: str, root: str | None = None, names: list[str] | None = None,
        pytest_args: tuple[str, ...] = ()) -> int:
    """Run notebooks (all, or those named) under nbval on ``dataset``; pytest's exit status.

    ``dataset`` is a name ``datasets.load`` accepts; ``office-fixture`` builds the offline
    Office-like folder (under ``root``, by default in the handson cache) and loads it as
    ``amazon-office``.
    """
    import os
    import subprocess
    if dataset == "office-fixture":
        from .datasets.ducho import office_fixture
        from .utils import cache_dir
        root = str(office_fixture(root or Path(cache_dir()) / "office-fixture"))
        dataset = "amazon-office"
    env = dict(os.environ, HANDSON_QUICK="1", HANDSON_DATASET=dataset)
    env.pop("HANDSON_DATA_ROOT", None)
    if root:
        env["HANDSON_DATA_ROOT"] = str(Path(root).resolve())
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if p.name in names or p.stem in names]
        if len(paths) < len(set(names)):
            raise SystemExit(f"unknown notebook among {names}; see notebooks/*.ipynb")
    cmd = [sys.executable, "-m", "pytest", *map(str, paths), "-p", "no:cacheprovider",
           "-o", "addopts=", "--nbval-lax", "-ra", "--durations=0", *pytest_args]
    print(f"HANDSON_DATASET={dataset} HANDSON_DATA_ROOT={env.get('HANDSON_DATA_ROOT', '')} "
          + " ".join(cmd[2:]), flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode


USAGE = ("usage: python -m handson.notebook_tools sync | check | execute [NAME ...]\n"
         "       python -m handson.notebook_tools run --dataset NAME [--root FOLDER] [NAME ...]")


def _run_main(args: list[str]) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m handson.notebook_tools run")
    parser.add_argument("--dataset", required=True,
                        help="toyshop, movielens-latest-small, amazon-office, office-fixture, ...")
    parser.add_argument("--root", help="a local copy of the data set (HANDSON_DATA_ROOT)")
    parser.add_argument("names", nargs="*", help="notebooks (default: all)")
    opts, rest = parser.parse_known_args(args)
    return run(opts.dataset, opts.root, opts.names, tuple(rest))


def check(root: Path = ROOT) -> list[str]:
    """Problems of the tree: out-of-date badges or setup cells, missing configuration cells."""
    problems = [f"out of date: {p.relative_to(root)}" for p in sync(root, write=False)]
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        problems += [f"{path.relative_to(root)}: {p}" for p in config_problems(nb)]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["execute"]:
        execute(args[1:] or None)
        return 0
    if args[:1] == ["run"]:
        return _run_main(args[1:])
    if args == ["check"]:
        problems = check()
        print("\n".join(problems) if problems else "notebooks are in line with the template")
        return 1 if problems else 0
    if args != ["sync"]:
        print(USAGE)
        return 2
    for path in sync():
        print("synced " + str(path.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
