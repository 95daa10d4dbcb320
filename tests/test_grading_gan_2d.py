"""End to end with nbgrader for the 2-D GAN lab: release, validate, autograde, feedback.

One course with four students (the reference, the stub, a heat-map mistake and an arrow
mistake), built once; all tests share one xdist group. Every submission runs in a fresh
kernel as it would for an instructor.
"""
import html

import pytest

from ganlab_kit.grading import list_checks
from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import expected_points
from ganlab_kit.grading.notebook import read_notebook, student_copy
from ganlab_kit.grading.submissions import answers_of, load_submissions

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-gan-2d")]

ASSIGNMENT = "gan_2d"
STUDENTS = ("reference", "stub", "logit_heatmap", "flipped_sign")
#: The lab's budget for grading one submission (seconds).
SECONDS_PER_SUBMISSION = 30  # the budget benchmarks measure on idle cores


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """A course whose demo students have been autograded, with feedback (session-scoped, see
    tests/test_grading_nbgrader.py)."""
    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader-gan-2d")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id="ganlab-test")
    course.generate_assignment(ASSIGNMENT)
    source = read_notebook(course.source_notebook(ASSIGNMENT))
    release = read_notebook(course.release_notebook(ASSIGNMENT))
    submissions = {s.name: s for s in load_submissions(repository.autograder / ASSIGNMENT)}
    for name in STUDENTS:
        submission = submissions[name]
        notebook = release if submission.stub else student_copy(release, source, answers_of(submission, source))
        course.add_submission(ASSIGNMENT, name, notebook, {})
    seconds = course.autograde(ASSIGNMENT)
    scores = {name: course.scores(ASSIGNMENT, name) for name in STUDENTS}
    course.generate_feedback(ASSIGNMENT)
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds,
            "cells": cells, "root": root}


def test_source_validates(graded):
    """Does `nbgrader validate` pass the source notebook?"""
    ok, report = graded["course"].validate(graded["course"].source_notebook(ASSIGNMENT))
    assert ok, report[-3000:]


def test_release_fails_every_test_cell(graded):
    """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
    ok, report = graded["course"].validate(graded["course"].release_notebook(ASSIGNMENT), invert=True)
    assert ok and "does not pass any tests" in report, report[-3000:]


def test_reference_gets_every_autograded_point(graded):
    """Does the reference solution earn every autograded point (9), leaving the three written
    answers (6 points) for a person?"""
    auto = {cell.grade_id: cell.points for cell in graded["cells"] if cell.autograded}
    assert auto == {"heatmap_checks": 4, "gradients_checks": 5}
    scores = graded["scores"]["reference"]
    assert {grade_id: scores[grade_id] for grade_id in auto} == auto
    manual = {cell.grade_id for cell in graded["cells"] if not cell.autograded}
    assert manual == {"q1_answer", "q2_answer", "q3_answer"}


def test_stub_gets_nothing(graded):
    """Does the untouched release notebook earn no autograded point?"""
    scores = graded["scores"]["stub"]
    assert {scores[grade_id] for grade_id in graded["expected"]["stub"]} == {0.0}


@pytest.mark.parametrize("student", STUDENTS)
def test_points_match_the_expected_failures(graded, student):
    """Does each student get exactly the points its mistakes should leave?"""
    scores = graded["scores"][student]
    assert {grade_id: scores[grade_id] for grade_id in graded["expected"][student]} == graded["expected"][student]


def test_no_hidden_check_text_in_release_or_feedback(graded):
    """Are the hidden checks absent from the release notebook and from every feedback page, while
    the feedback names each mistake?"""
    course = graded["course"]
    lines = set()
    for path in (find_repository().autograder / ASSIGNMENT).glob("*.py"):
        if path.name == "submissions.py":
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 30 and not line.startswith(('"', "'", "#", "f\"", "f'")) and "(" in line:
                lines.add(line)
    assert len(lines) > 20
    texts = {"release": course.release_notebook(ASSIGNMENT).read_text()}
    assert "BEGIN HIDDEN TESTS" not in texts["release"] and "grade(" not in texts["release"]
    for student in STUDENTS:
        texts[student] = html.unescape(course.feedback_file(ASSIGNMENT, student).read_text())
    for name, text in texts.items():
        assert not [line for line in lines if line in text], name
        assert 'grade("gan_2d' not in text, name
    assert "apply torch.sigmoid" in texts["logit_heatmap"]
    assert "opposite sign" in texts["flipped_sign"]


def test_time_per_submission_is_recorded(graded):
    """Is the time spent on each submission known (the 30 s budget is measured by the benchmarks
    on idle cores, not asserted here: wall times on a shared machine are noise)?"""
    assert set(graded["seconds"]) == set(STUDENTS)
    assert all(seconds > 0 for seconds in graded["seconds"].values()), graded["seconds"]
