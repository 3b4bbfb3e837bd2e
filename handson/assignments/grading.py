"""Otter-grader behind the assignments: generate student versions, grade notebooks, find leaks.

    from handson.assignments import grading
    out = grading.assign(master, dest)        # otter assign: student/ and autograder/ under dest
    result = grading.grade(out.solution, out.autograder_zip, workdir)
    result.score, result.possible, result.seconds
    grading.leaks(master, out.student)        # solution or hidden-test lines found in the student version

Every step runs the ``otter`` command line in a subprocess (``python -m otter``), offline and
without Docker: ``otter assign`` splits a teacher notebook into a student and an autograder
version, ``otter run`` executes a notebook in a fresh kernel and runs every test, public and
hidden, against it. Reference: https://otter-grader.readthedocs.io (Otter Assign, Otter Run).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Assigned", "Graded", "assign", "grade", "solution_lines", "hidden_test_lines", "leaks",
           "with_colab_config"]

SOLUTION_BEGIN, SOLUTION_END = "# BEGIN SOLUTION", "# END SOLUTION"


@dataclass
class Assigned:
    """The output of ``otter assign`` for one teacher notebook."""

    student: Path          # the notebook to hand out
    solution: Path         # the teacher's notebook with solutions, tests stripped
    autograder_zip: Path   # tests (public and hidden) and configuration for ``otter run``


@dataclass
class Graded:
    """One notebook graded by ``otter run``: points per question and in total."""

    score: float
    possible: float
    seconds: float
    questions: dict[str, tuple[float, float]]
    log: str = ""


def _otter(*args: str, timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "otter", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"`{' '.join(cmd)}` ran past {timeout:.0f} s and was stopped.") from e


def assign(master: Path, dest: Path, timeout: float = 120) -> Assigned:
    """Run ``otter assign`` on ``master`` into ``dest`` (created), without running the tests
    (:func:`grade` does that) and without PDFs; returns the paths of what it wrote."""
    master, dest = Path(master).resolve(), Path(dest).resolve()
    proc = _otter("assign", "--no-run-tests", "--no-pdfs", str(master), str(dest), timeout=timeout)
    zips = sorted((dest / "autograder").glob("*.zip"))
    if proc.returncode != 0 or not zips:
        raise RuntimeError(f"otter assign failed on {master.name}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return Assigned(dest / "student" / master.name, dest / "autograder" / master.name, zips[-1])


def grade(notebook: Path, autograder_zip: Path, workdir: Path, timeout: float = 300) -> Graded:
    """Grade ``notebook`` with ``otter run`` (fresh kernel, every test, results in ``workdir``).

    A notebook whose cells raise still gets a result (failing tests score 0); only a grader
    that produces no results (or runs past ``timeout`` seconds) raises RuntimeError.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = _otter("run", "--no-logo", "-a", str(Path(autograder_zip).resolve()), "-o", str(workdir.resolve()),
                  str(Path(notebook).resolve()), timeout=timeout, cwd=workdir)
    seconds = time.perf_counter() - t0
    results = workdir / "results.json"
    if not results.exists():
        raise RuntimeError(f"otter run wrote no results for {notebook}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    tests = json.loads(results.read_text())["tests"]
    questions = {t["name"]: (float(t["score"]), float(t["max_score"]))
                 for t in tests if t.get("max_score") is not None}
    return Graded(score=sum(s for s, _ in questions.values()), possible=sum(p for _, p in questions.values()),
                  seconds=seconds, questions=questions, log=proc.stdout[-4000:])


def _code_cells(notebook: Path) -> list[str]:
    cells = json.loads(Path(notebook).read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


def solution_lines(master: Path) -> set[str]:
    """The stripped code lines that only the teacher's notebook may hold: lines between
    ``# BEGIN SOLUTION`` and ``# END SOLUTION`` and lines ending in ``# SOLUTION``."""
    lines: set[str] = set()
    for source in _code_cells(master):
        inside = False
        for line in source.splitlines():
            text = line.strip()
            if text == SOLUTION_BEGIN:
                inside = True
            elif text == SOLUTION_END:
                inside = False
            elif inside or text.endswith("# SOLUTION"):
                lines.add(re.sub(r"\s*# SOLUTION$", "", text))
    return {line for line in lines if len(line) >= 12}


def hidden_test_lines(master: Path) -> set[str]:
    """The stripped code lines of the hidden tests (``hidden: true`` in the test config)."""
    lines: set[str] = set()
    for source in _code_cells(master):
        if "# BEGIN TEST CONFIG" in source and re.search(r"^hidden:\s*true", source, flags=re.M):
            body = source.split("# END TEST CONFIG", 1)[-1]
            lines.update(line.strip() for line in body.splitlines())
    return {line for line in lines if len(line) >= 20}


def _public_lines(master: Path) -> set[str]:
    """The stripped code lines that students may see: everything outside solution markers
    and hidden tests (given code, prompts, public tests)."""
    lines: set[str] = set()
    for source in _code_cells(master):
        if "# BEGIN TEST CONFIG" in source and re.search(r"^hidden:\s*true", source, flags=re.M):
            continue
        inside = False
        for line in source.splitlines():
            text = line.strip()
            inside = (inside or text == SOLUTION_BEGIN) and text != SOLUTION_END
            if not inside and not text.endswith("# SOLUTION"):
                lines.add(text)
    return lines


def leaks(master: Path, student: Path) -> list[str]:
    """Solution and hidden-test lines of ``master`` that appear in the student notebook
    (anywhere in its file, metadata included) and nowhere in the public part of ``master``;
    an empty list when the student version is clean."""
    student_lines = {line.strip() for line in _all_strings(json.loads(Path(student).read_text()))}
    secret = (solution_lines(master) | hidden_test_lines(master)) - _public_lines(master)
    return sorted(secret & student_lines)


def _all_strings(node) -> list[str]:
    """Every line of every string in a JSON tree (cells, outputs, otter's test metadata)."""
    if isinstance(node, str):
        return node.splitlines()
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, list):
        return [line for item in node for line in _all_strings(item)]
    return []


def with_colab_config(master: Path, dest_dir: Path, tests_url: str) -> Path:
    """A copy of ``master`` in ``dest_dir`` whose student version runs on Colab: otter stores
    the public tests as files (``student/tests/``), and ``grader.check`` downloads them from
    ``tests_url``, where the teacher publishes that folder (the notebook's own setup cell
    installs otter-grader on Colab)."""
    nb = json.loads(Path(master).read_text())
    config = nb["cells"][0]
    source = "".join(config["source"]) if isinstance(config["source"], list) else config["source"]
    if not source.startswith("# ASSIGNMENT CONFIG"):
        raise ValueError(f"{master} must start with a raw '# ASSIGNMENT CONFIG' cell.")
    extra = f"runs_on: colab\ntests:\n  files: true\n  url_prefix: {tests_url.rstrip('/')}/\n"
    config["source"] = source.rstrip("\n") + "\n" + extra
    init = re.compile(r'otter\.Notebook\("[^"]*"\)')
    for cell in nb["cells"][1:]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = init.sub(f'otter.Notebook(tests_url_prefix="{tests_url.rstrip("/")}/")', text)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = Path(dest_dir) / Path(master).name
    out.write_text(json.dumps(nb, indent=1))
    return out
