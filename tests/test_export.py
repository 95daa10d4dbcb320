"""The LMS export (``ganlab course export``) and the per-day late penalty, on a small gradebook
built with nbgrader's API (no notebook is run)."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest

nbgrader_api = pytest.importorskip("nbgrader.api")

# one xdist group: the module's gradebook (nbgrader's alembic, ~8 s on a busy machine) is made once
pytestmark = pytest.mark.xdist_group("export")

from ganlab_kit.grading.exchange import tools_on_path  # noqa: E402
from ganlab_kit.grading.export import (COLUMNS_PER_LAB, IDENTITY_COLUMNS, PercentPerDayLate,  # noqa: E402
                                       course_grades, write_lms_csv)

COURSE = "gan-course"
DUE = datetime(2026, 3, 1, 17, 0, 0)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course folder whose gradebook has two labs; ada hands in both (lab_b a day and a bit late, with a 2-point penalty), bo only
    lab_a with one written answer still ungraded, cy nothing."""
    tools_on_path()   # a new gradebook runs nbgrader's `alembic`
    root = tmp_path_factory.mktemp("course")
    with nbgrader_api.Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE) as gradebook:
        for lab, due in (("lab_b", DUE + timedelta(days=7)), ("lab_a", DUE)):
            gradebook.add_assignment(lab, duedate=due)
            gradebook.add_notebook(lab, lab)
            gradebook.add_grade_cell("checks", lab, lab, max_score=6, cell_type="code")
            gradebook.add_grade_cell("q1", lab, lab, max_score=2, cell_type="markdown")
            gradebook.add_grade_cell("q2", lab, lab, max_score=2, cell_type="markdown")
        gradebook.add_student("ada", first_name="Ada", last_name="Lovelace", email="ada@example.org")
        gradebook.add_student("bo")
        gradebook.add_student("cy")
        for lab, student, late in (("lab_a", "ada", timedelta(0)), ("lab_b", "ada", timedelta(days=1, hours=2)),
                                   ("lab_a", "bo", timedelta(0))):
            due = gradebook.find_assignment(lab).duedate
            gradebook.add_submission(lab, student, timestamp=due + late - timedelta(minutes=1 if not late else 0))
        scores = {("lab_a", "ada"): (5, 2, 1.5), ("lab_b", "ada"): (6, 1, 2), ("lab_a", "bo"): (3, 0.5, None)}
        for (lab, student), (auto, q1, q2) in scores.items():
            for name, value in (("checks", auto), ("q1", q1), ("q2", q2)):
                grade = gradebook.find_grade(name, lab, lab, student)
                if name == "checks":
                    grade.auto_score = value
                else:
                    grade.manual_score = value
        notebook = gradebook.find_submission_notebook("lab_b", "lab_b", "ada")
        notebook.late_submission_penalty = 2.0
        gradebook.db.commit()
    return root


def test_one_row_per_student_four_columns_per_lab(graded, tmp_path):
    """Does the CSV hold Canvas's identity columns, then auto/manual/penalty/total per lab (in
    due-date order), a row per student, and blanks for a lab not handed in?"""
    path = write_lms_csv(graded, COURSE, tmp_path / "grades.csv")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    assert header[:5] == list(IDENTITY_COLUMNS)
    assert header[5:] == [f"{lab} {column}" for lab in ("lab_a", "lab_b") for column in COLUMNS_PER_LAB]
    table = {row[3]: dict(zip(header, row)) for row in rows[1:]}
    assert sorted(table) == ["ada", "bo", "cy"]
    ada, bo, cy = table["ada"], table["bo"], table["cy"]
    assert ada["Student"] == "Lovelace, Ada" and bo["Student"] == "bo"
    assert [ada[f"lab_a {c}"] for c in COLUMNS_PER_LAB] == ["5", "3.5", "0", "8.5"]
    assert [ada[f"lab_b {c}"] for c in COLUMNS_PER_LAB] == ["6", "3", "2", "7"]
    assert [bo[f"lab_a {c}"] for c in COLUMNS_PER_LAB] == ["3", "0.5", "0", "3.5"]
    assert all(bo[f"lab_b {c}"] == "" for c in COLUMNS_PER_LAB)
    assert all(cy[f"{lab} {c}"] == "" for lab in ("lab_a", "lab_b") for c in COLUMNS_PER_LAB)


def test_pending_and_lateness_are_read_from_the_gradebook(graded):
    """Are ungraded written answers counted as pending, and the seconds late taken from the
    submission's timestamp against the due date?"""
    labs, rows = course_grades(graded, COURSE)
    grades = {row.student_id: row.labs for row in rows}
    assert labs == ["lab_a", "lab_b"]
    assert grades["bo"]["lab_a"].pending == 1 and grades["ada"]["lab_a"].pending == 0
    assert grades["ada"]["lab_b"].seconds_late == pytest.approx(26 * 3600)
    assert grades["ada"]["lab_a"].seconds_late == 0


def test_missing_gradebook_is_a_clear_error(tmp_path):
    """Is an error naming the gradebook and the fix raised when nothing was graded yet?"""
    with pytest.raises(FileNotFoundError, match="release and autograde a lab first"):
        write_lms_csv(tmp_path, COURSE)


@pytest.mark.parametrize("seconds, expected", [(0, 0.0), (60, 1.0), (86400, 1.0), (86401, 2.0),
                                                (20 * 86400, 10.0)])
def test_percent_per_day_late(seconds, expected):
    """Does each started day late cost 10 % of the score, never more than the score?"""
    plugin = PercentPerDayLate()
    assert plugin.late_submission_penalty("ada", 10.0, seconds) == expected
