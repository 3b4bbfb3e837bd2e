"""Graded assignments: teacher notebooks in ``assignments/``, student versions made by otter-grader.

    python -m handson.assignments check          # every solution full marks, every student version ~0
    python -m handson.assignments release OUT    # student notebooks + autograder zips for a class
    python -m handson.assignments grade AUTOGRADER.zip SUBMISSION.ipynb ...

Each assignment is a folder ``assignments/NN_name/`` with one teacher notebook in the
otter-grader assign format (solutions between ``# BEGIN SOLUTION`` / ``# END SOLUTION``,
public and hidden tests per question) and a README for the teacher. This package sits at the
top of the library: it drives the ``otter`` command line and imports nothing else of handson.
"""
from __future__ import annotations

from .check import CheckRow, check, find_assignments, release

__all__ = ["CheckRow", "check", "find_assignments", "release"]
