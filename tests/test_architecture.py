"""The shape of the library (DESIGN.md section 1), checked on the source itself.

Reads every module of ``handson/`` with :mod:`ast` (nothing is imported) and checks:
no import cycle; lower layers import higher ones at most once; no module over 400 lines;
no function over 60 lines unless listed below with its reason; ``datasets.load`` reaches
its loaders without module-name strings; models take helpers from shared modules, not from
each other; docstrings and comments of the models carry no results of one run.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "handson"

#: layer of each module (by dotted name prefix, longest match wins); lower never imports higher
LAYERS = {
    "handson.utils": 0,
    "handson.datasets": 1,
    "handson.split": 2, "handson.metrics": 2, "handson.sampling": 2,
    "handson.beyond_accuracy": 2, "handson.significance": 2,
    "handson.evaluation": 3, "handson.protocols": 3, "handson.exercises": 3,
    "handson.features": 4,
    "handson.training": 5, "handson.checkpoints": 5, "handson.models": 5, "handson.recommendations": 5,
    "handson.tuning": 6, "handson.plotting": 6, "handson.explorer": 6,
    "handson.__main__": 7, "handson.assignments": 7, "handson.notebook_tools": 7,
}

#: functions allowed over 60 lines, with the reason
LONG_FUNCTIONS: dict[str, str] = {}

#: old module paths kept for one release as re-exporting shims (they import downward only)
SHIMS = {"handson.toyshop", "handson.movielens", "handson.amazon", "handson.amazon2023",
         "handson.realdata", "handson.download", "handson.evaluation_extra",
         "handson.models.controls", "handson.models.contrastive"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute handson module names an ``from ... import ...`` statement refers to."""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("handson"):
        return []
    names = [f"{target}.{a.name}" for a in node.names]
    return [n for n in names if n in MODULES] or [target]


def _imports(module: str, path: Path) -> set[str]:
    """handson modules imported anywhere in a module (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, path, node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("handson"))
    return {m for m in found if m in MODULES and m != module and m != "handson"}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _layer(module: str) -> int | None:
    match = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len, default=None)
    return None if match is None else LAYERS[match]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of size > 1 (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle_and_resolves_relative_imports():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    node = ast.parse("from ..metrics import top_k").body[0]
    assert _resolve("handson.models.base", ROOT / "models" / "base.py", node) == ["handson.metrics"]
    node = ast.parse("from . import losses").body[0]
    assert _resolve("handson.models", ROOT / "models" / "__init__.py", node) == ["handson.models.losses"] \
        or "handson.models.losses" not in MODULES


def test_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if m != "handson" and m not in SHIMS and _layer(m) is None]
    assert unplaced == [], f"give these modules a layer in LAYERS: {unplaced}"


def test_lower_layers_do_not_import_higher_ones():
    upward = [(m, t) for m, targets in GRAPH.items() for t in targets
              if m not in SHIMS and _layer(m) is not None and _layer(t) is not None
              and _layer(t) > _layer(m)]
    assert len(upward) <= 1, f"imports that run upward: {upward}"


def test_nothing_imports_the_deprecated_shims():
    users = [(m, t) for m, targets in GRAPH.items() for t in targets
             if t in SHIMS and m not in SHIMS and m != "handson"]
    assert users == []


def test_modules_stay_short():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_functions_stay_short_or_say_why():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                name = f"{module}.{node.name}"
                if n > 60 and name not in LONG_FUNCTIONS:
                    long.append((name, n))
    assert long == []


def test_datasets_is_a_package_and_load_uses_no_module_strings():
    assert (ROOT / "datasets" / "__init__.py").is_file()
    for path in (ROOT / "datasets").glob("*.py"):
        assert "importlib" not in path.read_text(), path.name


def test_no_model_imports_another_models_module():
    shared = {"handson.models", "handson.models.base", "handson.models.torch_base", "handson.models.losses",
              "handson.models.modality", "handson.models.graph", "handson.models.item_graph",
              "handson.models.io", "handson.models.spectral"}
    bad = [(m, t) for m, targets in GRAPH.items() if m.startswith("handson.models.") and m not in SHIMS
           for t in targets if t.startswith("handson.models.") and t not in shared | SHIMS]
    assert bad == []


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.py")) + [ROOT / "training.py"],
                         ids=lambda p: p.name)
def test_model_docstrings_and_comments_carry_no_run_results(path):
    """Numbers like 0.319 belong in benchmarks/ and the README table, not in the library."""
    text = path.read_text()
    tree = ast.parse(text)
    prose = [ast.get_docstring(n) or "" for n in ast.walk(tree)
             if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    prose += [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    found = [m for chunk in prose for m in re.findall(r"\b0\.\d{3}\b", chunk)]
    assert found == [], f"{path.name}: {found}"
