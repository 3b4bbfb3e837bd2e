"""handson.assignments: the check command (solutions full marks, student versions about zero),
releases without solution code, the leak detector, the Colab release and the grade command.

The check grades every assignment twice with otter-grader (offline, no Docker); assignment 3
extracts toyshop's features once (the test session's feature cache keeps them).
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("otter")

from handson.assignments import check, find_assignments, grading, release  # noqa: E402
from handson.assignments.__main__ import main  # noqa: E402
from handson.assignments.check import STUDENT_MAX_SHARE, format_table  # noqa: E402


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    work = tmp_path_factory.mktemp("check")
    return check(workdir=work), work


def test_there_are_three_assignments_with_a_readme():
    found = find_assignments()
    assert len(found) >= 3
    for master in found.values():
        assert (master.parent / "README.md").exists()


def test_check_solutions_full_marks_students_near_zero(checked):
    rows, _ = checked
    print(format_table(rows))
    assert len(rows) >= 3
    for row in rows:
        assert row.points > 0
        assert row.solution_score == row.points, row.problems
        assert row.student_score <= STUDENT_MAX_SHARE * row.points, row.problems
        assert not row.leaked and row.ok, row.problems


def test_released_students_hold_no_solution_code(tmp_path):
    released = release(tmp_path / "out")
    assert set(released) == set(find_assignments())
    for name, out in released.items():
        master = find_assignments()[name]
        text = out.student.read_text()
        assert "BEGIN SOLUTION" not in text and "# SOLUTION" not in text
        assert "hidden: true" not in text
        secret = grading.solution_lines(master) | grading.hidden_test_lines(master)
        assert secret, f"{name}: found no solution lines to look for"
        assert grading.leaks(master, out.student) == []
        assert (tmp_path / "out" / name / "README.md").exists()
        assert out.autograder_zip.exists()
    with pytest.raises(FileExistsError):
        release(tmp_path / "out")


def test_leak_detector_finds_solutions_in_the_teacher_version(tmp_path):
    master = find_assignments()["01_evaluation"]
    out = grading.assign(master, tmp_path / "dist")
    assert grading.leaks(master, out.solution), "the solution notebook must count as leaking"
    assert grading.leaks(master, master), "the teacher notebook (with hidden tests) must count as leaking"


def test_release_for_colab_stores_tests_as_files(tmp_path):
    released = release(tmp_path / "out", tests_url="https://example.org/handout")
    out = released["01_evaluation"]
    assert sorted(p.name for p in (out.student.parent / "tests").glob("q*.py"))
    cells = json.loads(out.student.read_text())["cells"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    assert any('otter.Notebook(tests_url_prefix="https://example.org/handout/01_evaluation/")' in s for s in sources)
    master = find_assignments()["01_evaluation"]
    assert grading.leaks(master, out.student) == []
    public_tests = "\n".join(p.read_text() for p in (out.student.parent / "tests").glob("*.py"))
    assert not [line for line in grading.hidden_test_lines(master) if line in public_tests]


def test_grade_command_scores_submissions(checked, tmp_path, capsys):
    _, work = checked
    dist = work / "01_evaluation" / "dist"
    zip_path = next((dist / "autograder").glob("*.zip"))
    assert main(["grade", str(zip_path), str(dist / "autograder" / "evaluation.ipynb"),
                 "--out", str(tmp_path)]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("evaluation.ipynb")][0]
    assert line.split()[1:3] == ["10", "10"]
    assert json.loads((tmp_path / "evaluation" / "results.json").read_text())["tests"]


def test_unknown_assignment_and_missing_root(tmp_path):
    with pytest.raises(ValueError, match="Unknown assignment"):
        check(only=["nope"])
    with pytest.raises(FileNotFoundError):
        find_assignments(tmp_path / "missing")
