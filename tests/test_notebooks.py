"""Every notebook opens on Colab the same way (handson.notebook_tools, notebooks/TEMPLATE.md).

Checks on the notebook files themselves (nothing is executed but the setup cell): one
identical setup cell from the template, a badge pointing at the notebook's own file in the
one repository of ``pyproject.toml``, ``sync`` idempotent, and a failed Colab install that
stops with a short message saying what to do.
"""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from handson import notebook_tools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO = notebook_tools.repository(ROOT)
SETUP = notebook_tools.setup_source(REPO)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_repository_is_read_from_pyproject():
    assert REPO.startswith("https://github.com/") and not REPO.endswith("/")
    assert f'"{REPO}"' in SETUP


def test_every_notebook_is_covered():
    names = {p.name for p in NOTEBOOKS}
    assert {"11_beyond_accuracy.ipynb", "12_tuning_and_exploring.ipynb", "session_90min.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_the_template(path):
    setup = next(c for c in _cells(path) if c["cell_type"] == "code")
    source = "".join(setup["source"])
    assert source == SETUP
    ast.parse(source)
    assert not setup.get("outputs")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_points_at_the_notebook_itself(path):
    title = "".join(_cells(path)[0]["source"])
    assert notebook_tools.badge(REPO, path.name) in title
    assert len(notebook_tools.BADGE.findall(title)) == 1


def test_template_md_shows_the_setup_cell():
    assert SETUP in (ROOT / "notebooks" / "TEMPLATE.md").read_text(encoding="utf-8")


def test_sync_is_idempotent(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    assert notebook_tools.sync(ROOT, write=False) == []       # the tree is synced
    assert notebook_tools.sync(tmp_path) == []                 # and syncing again changes nothing
    first = NOTEBOOKS[0].name
    text = (tmp_path / "notebooks" / first).read_text(encoding="utf-8")
    (tmp_path / "notebooks" / first).write_text(text.replace("handson-course/handson", "someone/fork"))
    assert notebook_tools.sync(tmp_path) == [tmp_path / "notebooks" / first]
    assert (tmp_path / "notebooks" / first).read_text(encoding="utf-8") == text


def test_check_command_reports_a_synced_tree(capsys):
    assert notebook_tools.main(["check"]) == 0, capsys.readouterr().out
    assert notebook_tools.main(["nonsense"]) == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_configuration_cell(path):
    assert notebook_tools.config_problems(json.loads(path.read_text(encoding="utf-8"))) == []


def test_config_check_names_what_is_missing():
    cell = {"cell_type": "code", "source": "\n".join(notebook_tools.CONFIG_LINES)}
    load = {"cell_type": "code", "source": "ds = datasets.load(DATASET, root=DATA_ROOT)\n"
                                             "ds = ds.subsample(max_items=1500, max_users=1000)"}
    assert notebook_tools.config_problems({"cells": [cell, load]}) == []
    old = dict(cell, source=cell["source"].replace('os.environ.get("HANDSON_DATASET") or ', ""))
    problems = notebook_tools.config_problems({"cells": [old]})
    assert "HANDSON_DATASET" in problems[0] and len(problems) == 3


@pytest.mark.parametrize("environ, comparable", [
    ({"HANDSON_QUICK": "1"}, True), ({"HANDSON_QUICK": "1", "HANDSON_DATASET": "toyshop"}, True),
    ({"HANDSON_QUICK": "1", "HANDSON_DATASET": "movielens-latest-small"}, False),
    ({"HANDSON_QUICK": "1", "HANDSON_DATASET": "amazon-office"}, False), ({}, False)])
def test_outputs_are_compared_on_quick_toyshop_only(environ, comparable):
    assert notebook_tools.outputs_comparable(environ) is comparable


def _tiny_notebook(folder: Path, stored: str, body: str = "print(1 + 1)") -> Path:
    import nbformat
    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\n" + body, execution_count=1,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text=stored)])
    path = folder / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))
    shutil.copy(ROOT / "conftest.py", folder)        # the harness under test
    return path


def _nbval(path: Path, **env) -> subprocess.CompletedProcess:
    import os
    environ = {k: v for k, v in os.environ.items() if k not in ("HANDSON_DATASET", "HANDSON_DATA_ROOT")}
    environ.update(env, PYTHONPATH=str(ROOT), HANDSON_QUICK="1")
    return subprocess.run([sys.executable, "-m", "pytest", str(path), "-p", "no:cacheprovider",
                           "-o", "addopts=", "--nbval-lax", "--nbval-current-env", "-q"],
                          cwd=path.parent, env=environ, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("dataset, stored, body, passes", [
    ("toyshop", "3\n", "print(1 + 1)", False),                 # a wrong stored output fails on toyshop
    ("toyshop", "2\n", "print(1 + 1)", True),
    ("movielens-latest-small", "3\n", "print(1 + 1)", True),   # not compared on another data set
    ("movielens-latest-small", "2\n", "raise ValueError('boom')", False)])   # errors still fail
def test_marked_cells_compare_on_toyshop_only(tmp_path, dataset, stored, body, passes):
    run = _nbval(_tiny_notebook(tmp_path, stored, body), HANDSON_DATASET=dataset)
    assert (run.returncode == 0) is passes, run.stdout[-3000:] + run.stderr[-2000:]
    if not passes:
        assert ("Cell outputs differ" if "print" in body else "boom") in run.stdout


def _run_setup_on_fake_colab(monkeypatch, returncode):
    calls = []

    def fake_run(cmd, *args, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, returncode)

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setenv("HANDSON_REPO", "https://github.com/someone/fork")
    exec(compile(SETUP, "setup_cell", "exec"), {})
    return calls


def test_failed_colab_install_stops_with_advice(monkeypatch):
    with pytest.raises(SystemExit) as stop:
        _run_setup_on_fake_colab(monkeypatch, returncode=1)
    message = str(stop.value)
    assert "Could not install handson from https://github.com/someone/fork" in message
    assert "HANDSON_REPO" in message and "unzip" in message and "requirements.txt" in message
    assert len(message.splitlines()) < 10


def test_colab_install_uses_the_repository(monkeypatch, capsys):
    calls = _run_setup_on_fake_colab(monkeypatch, returncode=0)
    assert calls and calls[0][-1] == "handson[features,data] @ git+https://github.com/someone/fork"
    assert "handson " in capsys.readouterr().out


def test_outside_colab_nothing_is_installed(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("installed outside Colab"))
    exec(compile(SETUP, "setup_cell", "exec"), {})
    assert "device:" in capsys.readouterr().out


def test_run_command_sets_the_data_set(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, env, cwd: calls.append((cmd, env))
                        or subprocess.CompletedProcess(cmd, 3))
    monkeypatch.setenv("HANDSON_DATA_ROOT", "/somewhere/else")
    rc = notebook_tools.main(["run", "--dataset", "movielens-latest-small", "--root", str(tmp_path),
                              "00_welcome_and_setup", "-x"])
    cmd, env = calls[0]
    assert rc == 3                                             # pytest's exit status is passed on
    assert env["HANDSON_DATASET"] == "movielens-latest-small" and env["HANDSON_QUICK"] == "1"
    assert env["HANDSON_DATA_ROOT"] == str(tmp_path.resolve())
    assert [Path(c).name for c in cmd if c.endswith(".ipynb")] == ["00_welcome_and_setup.ipynb"]
    assert "-x" in cmd and "--nbval-lax" in cmd
    notebook_tools.main(["run", "--dataset", "toyshop"])
    cmd, env = calls[1]
    assert "HANDSON_DATA_ROOT" not in env and sum(c.endswith(".ipynb") for c in cmd) == len(NOTEBOOKS)
    with pytest.raises(SystemExit, match="unknown notebook"):
        notebook_tools.main(["run", "--dataset", "toyshop", "99_nothing"])
