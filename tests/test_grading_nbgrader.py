"""End to end with nbgrader: release, validate, autograde, regrade, feedback, export.

One course with four students (the reference, the stub and two typical mistakes),
built once; all tests share one xdist group. Takes a minute or
two: every submission runs in a fresh kernel as it would for an instructor.
"""
import csv
import html
import shutil

import pytest

from ganlab_kit.grading import list_checks
from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import expected_points, reference_generator_file
from ganlab_kit.grading.notebook import read_notebook, student_copy
from ganlab_kit.grading.submissions import answers_of, load_submissions

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader")]

ASSIGNMENT = "pytorch_gan"
STUDENTS = ("reference", "stub", "no_zero_grad", "wrong_target_loss")


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """A course whose four demo students have been autograded, with feedback and a CSV export.

    Session-scoped: under xdist other modules' tests may run between this module's tests,
    and a module-scoped fixture would then be built again."""
    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id="ganlab-test")
    course.generate_assignment(ASSIGNMENT)
    source = read_notebook(course.source_notebook(ASSIGNMENT))
    release = read_notebook(course.release_notebook(ASSIGNMENT))
    generator = reference_generator_file(root / "generator.pt")
    submissions = {s.name: s for s in load_submissions(repository.autograder / ASSIGNMENT)}
    for name in STUDENTS:
        submission = submissions[name]
        notebook = release if submission.stub else student_copy(release, source, answers_of(submission, source))
        course.add_submission(ASSIGNMENT, name, notebook,
                              {"generator.pt": generator} if submission.generator else {})
    seconds = course.autograde(ASSIGNMENT)
    scores = {name: course.scores(ASSIGNMENT, name) for name in STUDENTS}
    course.generate_feedback(ASSIGNMENT)
    csv_path = course.export_csv()
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds,
            "csv": csv_path, "cells": cells, "generator": generator, "root": root}


def test_source_validates(graded):
    """Does `nbgrader validate` pass the source notebook (run beside the reference generator.pt)?"""
    course = graded["course"]
    folder = graded["root"] / "validate-source"
    folder.mkdir()
    shutil.copy(course.source_notebook(ASSIGNMENT), folder)
    shutil.copy(graded["generator"], folder / "generator.pt")
    ok, report = course.validate(folder / f"{ASSIGNMENT}.ipynb")
    assert ok, report[-3000:]


def test_release_fails_every_test_cell(graded):
    """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
    ok, report = graded["course"].validate(graded["course"].release_notebook(ASSIGNMENT), invert=True)
    assert ok and "does not pass any tests" in report, report[-3000:]


def test_reference_gets_every_autograded_point(graded):
    """Does the reference solution earn every autograded point, part by part?"""
    auto = {cell.grade_id: cell.points for cell in graded["cells"] if cell.autograded}
    scores = graded["scores"]["reference"]
    assert {grade_id: scores[grade_id] for grade_id in auto} == auto


def test_stub_gets_nothing(graded):
    """Does the untouched release notebook earn no point at all, written answers included?"""
    assert set(graded["scores"]["stub"].values()) == {0.0}


@pytest.mark.parametrize("student", STUDENTS)
def test_points_match_the_expected_failures(graded, student):
    """Does each student get exactly the points its mistakes should leave (partial credit per check)?"""
    scores = graded["scores"][student]
    assert {grade_id: scores[grade_id] for grade_id in graded["expected"][student]} == graded["expected"][student]


def test_regrading_gives_the_same_scores(graded):
    """Does autograding the same submissions again give identical scores?"""
    course = graded["course"]
    course.autograde(ASSIGNMENT, students=["no_zero_grad"])
    for name in ("reference", "no_zero_grad"):
        assert course.scores(ASSIGNMENT, name) == graded["scores"][name]


def _check_code_lines():
    """Distinctive code lines of the hidden checks (not docstrings or messages)."""
    lines = set()
    for path in (find_repository().autograder / ASSIGNMENT).glob("*.py"):
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 30 and not line.startswith(('"', "'", "#", "f\"", "f'")) and "(" in line:
                lines.add(line)
    return lines


def test_no_hidden_check_text_in_release_or_feedback(graded):
    """Are the hidden checks absent from the release notebook and from every feedback page?"""
    course = graded["course"]
    code_lines = _check_code_lines()
    assert len(code_lines) > 50
    release = course.release_notebook(ASSIGNMENT).read_text()
    assert "BEGIN HIDDEN TESTS" not in release and "grade(" not in release
    texts = {"release": release}
    for student in STUDENTS:
        texts[student] = html.unescape(course.feedback_file(ASSIGNMENT, student).read_text())
    for name, text in texts.items():
        leaked = [line for line in code_lines if line in text]
        assert not leaked, (name, leaked[:3])
        assert "HIDDEN TESTS" not in text and 'grade("pytorch_gan' not in text, name
    assert "generator_loss should fall as D(G(z)) rises" in texts["wrong_target_loss"]


def test_feedback_names_the_concept(graded):
    """Does feedback on a mistake explain the concept instead of showing a traceback?"""
    text = html.unescape(graded["course"].feedback_file(ASSIGNMENT, "no_zero_grad").read_text())
    assert "d_optimizer.zero_grad() before loss.backward()" in text
    assert "most recent call last" not in text


def test_export_lists_every_student(graded):
    """Does `nbgrader export` write a CSV row per student with the autograded score?"""
    with open(graded["csv"], newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(STUDENTS)
    assert float(rows["stub"]["raw_score"]) == 0


def test_time_per_submission_is_logged(graded):
    """Is the time nbgrader spent on each student known (for the benchmark and the demo table)?"""
    assert set(graded["seconds"]) == set(STUDENTS)
    assert all(0 < seconds < 300 for seconds in graded["seconds"].values())
