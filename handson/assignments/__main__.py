"""``python -m handson.assignments check | release OUT | grade AUTOGRADER.zip SUBMISSION...``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import grading
from .check import check, format_table, release


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m handson.assignments",
                                description="Graded assignments on otter-grader: check, release, grade.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="grade every solution (full marks) and student version (about 0)")
    c.add_argument("--root", type=Path, default=None, help="the assignments folder (default: the repository's)")
    c.add_argument("--only", nargs="*", default=None, help="assignment folder names to check")
    c.add_argument("--jobs", type=int, default=2, help="notebooks graded at once (default 2)")
    c.add_argument("--timeout", type=float, default=300, help="seconds one grading run may take")
    r = sub.add_parser("release", help="write student notebooks and autograders into OUT")
    r.add_argument("out", type=Path)
    r.add_argument("--root", type=Path, default=None)
    r.add_argument("--tests-url", default=None,
                   help="URL where OUT/<assignment>/student/tests/ will be published (for Colab)")
    g = sub.add_parser("grade", help="grade submitted notebooks with an autograder zip")
    g.add_argument("autograder", type=Path)
    g.add_argument("submissions", type=Path, nargs="+")
    g.add_argument("--out", type=Path, default=Path("graded"), help="results folder (default ./graded)")
    return p


def _grade(autograder: Path, submissions: list[Path], out: Path) -> int:
    print(f"{'submission':<40} {'score':>7} {'points':>7} {'seconds':>8}")
    for nb in submissions:
        res = grading.grade(nb, autograder, out / nb.stem)
        print(f"{nb.name:<40} {res.score:>7g} {res.possible:>7g} {res.seconds:>8.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "release":
        for name, a in release(args.out, args.root, args.tests_url).items():
            print(f"{name}: hand out {a.student}; grade with {a.autograder_zip}")
        return 0
    if args.command == "grade":
        return _grade(args.autograder, args.submissions, args.out)
    t0 = time.perf_counter()
    rows = check(args.root, args.only, jobs=args.jobs, timeout=args.timeout)
    print(format_table(rows))
    print(f"total wall time: {time.perf_counter() - t0:.1f} s")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
