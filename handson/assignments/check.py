"""The check behind ``python -m handson.assignments check``, and the release of student versions.

For every assignment: ``otter assign`` into a temporary folder, then ``otter run`` on the
teacher's solution (must score full marks) and on the unmodified student version (must score
zero or near it, without crashing the grader), and a search of the student version for
solution and hidden-test lines (there must be none).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import grading

__all__ = ["CheckRow", "find_assignments", "check", "release", "format_table", "DEFAULT_ROOT"]

#: the repository's ``assignments/`` folder (next to the ``handson`` package)
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "assignments"

#: a student version may score at most this share of the points
STUDENT_MAX_SHARE = 0.1


@dataclass
class CheckRow:
    """One assignment's line in the check table."""

    assignment: str
    points: float
    solution_score: float
    student_score: float
    seconds: float
    leaked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_assignments(root: Path | str | None = None) -> dict[str, Path]:
    """``{folder name: teacher notebook}`` for every ``root/*/`` holding one ``.ipynb``."""
    root = Path(root) if root is not None else DEFAULT_ROOT
    if not root.is_dir():
        raise FileNotFoundError(f"No assignments folder at {root}; pass root= (the repository's assignments/).")
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        notebooks = [p for p in folder.glob("*.ipynb") if not p.name.startswith(".")]
        if len(notebooks) != 1:
            raise ValueError(f"{folder} must hold exactly one teacher notebook, found {len(notebooks)}.")
        found[folder.name] = notebooks[0]
    if not found:
        raise FileNotFoundError(f"{root} holds no assignment folders.")
    return found


def _check_one(name: str, master: Path, work: Path, timeout: float, pool: ThreadPoolExecutor) -> CheckRow:
    """Assign, grade both versions, look for leaks; ``seconds`` counts the assign and the two
    grading runs (not the time spent waiting for a free grader)."""
    t0 = time.perf_counter()
    out = grading.assign(master, work / name / "dist")
    assign_s = time.perf_counter() - t0
    runs = {who: pool.submit(grading.grade, nb, out.autograder_zip, work / name / who, timeout)
            for who, nb in (("solution", out.solution), ("student", out.student))}
    solution, student = (runs[w].result() for w in ("solution", "student"))
    row = CheckRow(name, solution.possible, solution.score, student.score,
                   assign_s + solution.seconds + student.seconds, leaked=grading.leaks(master, out.student))
    if solution.score < solution.possible:
        lost = {q: s for q, s in solution.questions.items() if s[0] < s[1]}
        row.problems.append(f"the solution scores {solution.score:g}/{solution.possible:g} (lost: {lost})")
    if student.score > STUDENT_MAX_SHARE * student.possible:
        row.problems.append(f"the unmodified student version scores {student.score:g}/{student.possible:g}")
    if student.possible != solution.possible:
        row.problems.append(f"student and solution grading disagree on the points "
                            f"({student.possible:g} vs {solution.possible:g})")
    if row.leaked:
        row.problems.append(f"the student version contains {len(row.leaked)} solution/hidden-test line(s), "
                            f"e.g. {row.leaked[0]!r}")
    return row


def check(root: Path | str | None = None, only: list[str] | None = None, jobs: int = 2,
          timeout: float = 300, workdir: Path | str | None = None) -> list[CheckRow]:
    """Generate, grade and inspect every assignment (or those named in ``only``); one row each.

    ``jobs`` notebooks are graded at once (each in its own kernel); ``timeout`` caps one
    grading run in seconds. Work happens in a temporary folder (``workdir`` keeps it).
    """
    found = find_assignments(root)
    unknown = sorted(set(only or []) - set(found))
    if unknown:
        raise ValueError(f"Unknown assignment(s) {unknown}; choose from {sorted(found)}.")
    names = [n for n in found if not only or n in only]
    tmp = None if workdir is not None else tempfile.mkdtemp(prefix="handson-assignments-")
    work = Path(workdir) if workdir is not None else Path(tmp)
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as graders, \
                ThreadPoolExecutor(max_workers=len(names)) as outer:
            rows = [outer.submit(_check_one, n, found[n], work, timeout, graders) for n in names]
            return [r.result() for r in rows]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def format_table(rows: list[CheckRow]) -> str:
    """The check table as text: assignment, points, solution score, student score, seconds."""
    head = f"{'assignment':<22} {'points':>6} {'solution':>9} {'student':>8} {'seconds':>8}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        status = "ok" if r.ok else "FAIL: " + "; ".join(r.problems)
        lines.append(f"{r.assignment:<22} {r.points:>6g} {r.solution_score:>9g} {r.student_score:>8g} "
                     f"{r.seconds:>8.1f}  {status}")
    return "\n".join(lines)


def release(out: Path | str, root: Path | str | None = None,
            tests_url: str | None = None) -> dict[str, grading.Assigned]:
    """Write every assignment's student notebook and autograder into ``out/<assignment>/``.

    ``out/<a>/student/`` is what students get, ``out/<a>/autograder/`` (the zip holds the
    hidden tests) stays with the teacher. ``tests_url``: make the student versions run on
    Colab, with the public tests as files that the teacher publishes at
    ``tests_url/<assignment>/`` (the content of ``out/<a>/student/tests/``).
    """
    out = Path(out)
    released = {}
    for name, master in find_assignments(root).items():
        dest = out / name
        if dest.exists():
            raise FileExistsError(f"{dest} exists; choose an empty OUT folder (nothing is overwritten).")
        with tempfile.TemporaryDirectory() as tmp:
            source = master if tests_url is None else grading.with_colab_config(
                master, Path(tmp), f"{tests_url.rstrip('/')}/{name}")
            released[name] = grading.assign(source, dest)
        readme = master.parent / "README.md"
        if readme.exists():
            shutil.copy(readme, dest / "README.md")
    return released
