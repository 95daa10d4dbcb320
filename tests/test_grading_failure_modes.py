"""The failure-modes lab end to end with nbgrader: release, validate, autograde, regrade,
feedback, export.

One course with five students (the reference with the kit's reference runs, the stub, and
three typical mistakes), built once in a session fixture; every test of this module shares
one xdist group. Each submission runs in a fresh kernel as for an instructor: the run cells
load the handed-in histories and sample snapshots instead of training.
"""
import csv
import html
import importlib.util
import json
import shutil

import pytest

from ganlab_kit.grading import list_checks
from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import expected_points
from ganlab_kit.grading.notebook import read_notebook, student_copy
from ganlab_kit.grading.submissions import answers_of, load_submissions

pytestmark = [pytest.mark.keras, pytest.mark.grading, pytest.mark.slow,
              pytest.mark.xdist_group("nbgrader-failure-modes")]

ASSIGNMENT = "failure_modes"
STUDENTS = ("reference", "stub", "keras2_freeze", "distinct_pixels", "reversed_comparison")
SECONDS_PER_SUBMISSION = 30  # the lab's grading budget


def _reference_files(repository, destination):
    spec = importlib.util.spec_from_file_location("_failure_modes_submissions_e2e",
                                                  repository.autograder / ASSIGNMENT / "submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_files(destination)


@pytest.fixture(scope="session")
def failure_graded(tmp_path_factory):
    """The course with its demo students autograded, feedback written and grades exported."""
    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader-failure-modes")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id="ganlab-failure-modes-test")
    course.generate_assignment(ASSIGNMENT)
    source = read_notebook(course.source_notebook(ASSIGNMENT))
    release = read_notebook(course.release_notebook(ASSIGNMENT))
    files = _reference_files(repository, root / "reference")
    submissions = {s.name: s for s in load_submissions(repository.autograder / ASSIGNMENT)}
    for name in STUDENTS:
        submission = submissions[name]
        notebook = release if submission.stub else student_copy(release, source, answers_of(submission, source))
        course.add_submission(ASSIGNMENT, name, notebook, files if submission.generator else {})
    seconds = course.autograde(ASSIGNMENT)
    scores = {name: course.scores(ASSIGNMENT, name) for name in STUDENTS}
    course.generate_feedback(ASSIGNMENT)
    csv_path = course.export_csv()
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds,
            "csv": csv_path, "cells": cells, "files": files, "root": root}


def test_source_validates(failure_graded):
    """Does `nbgrader validate` pass the source notebook run beside the reference runs?"""
    course = failure_graded["course"]
    folder = failure_graded["root"] / "validate-source"
    folder.mkdir()
    shutil.copy(course.source_notebook(ASSIGNMENT), folder)
    for name, path in failure_graded["files"].items():
        shutil.copy(path, folder / name)
    ok, report = course.validate(folder / f"{ASSIGNMENT}.ipynb")
    assert ok, report[-3000:]


def test_release_fails_every_test_cell(failure_graded):
    """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
    course = failure_graded["course"]
    ok, report = course.validate(course.release_notebook(ASSIGNMENT), invert=True)
    assert ok and "does not pass any tests" in report, report[-3000:]


def test_reference_gets_every_autograded_point(failure_graded):
    """Does the reference solution earn every autograded point, part by part?"""
    auto = {cell.grade_id: cell.points for cell in failure_graded["cells"] if cell.autograded}
    scores = failure_graded["scores"]["reference"]
    assert {grade_id: scores[grade_id] for grade_id in auto} == auto


def test_stub_gets_nothing(failure_graded):
    """Does the untouched release notebook earn no point at all, written answers included?"""
    assert set(failure_graded["scores"]["stub"].values()) == {0.0}


@pytest.mark.parametrize("student", STUDENTS)
def test_points_match_the_expected_failures(failure_graded, student):
    """Does each student get exactly the points its mistakes should leave (partial credit per check)?"""
    scores, expected = failure_graded["scores"][student], failure_graded["expected"][student]
    assert {grade_id: scores[grade_id] for grade_id in expected} == expected


def test_regrading_gives_the_same_scores(failure_graded):
    """Does autograding a submission again give identical scores (grading is seeded)?"""
    course = failure_graded["course"]
    course.autograde(ASSIGNMENT, students=["keras2_freeze"])
    assert course.scores(ASSIGNMENT, "keras2_freeze") == failure_graded["scores"]["keras2_freeze"]


def _check_code_lines(repository):
    """Distinctive code lines of the hidden checks (not docstrings or messages) that the notebook
    does not show itself (a call such as discriminator.train_on_batch(images, targets) is in the
    lab's own text too)."""
    public = (repository.root / "assignments" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    lines = set()
    folder = repository.autograder / ASSIGNMENT
    for path in [folder / "conftest.py", *folder.glob("test_*.py")]:
        for line in path.read_text().splitlines():
            line = line.strip()
            if (len(line) >= 30 and not line.startswith(('"', "'", "#", 'f"', "f'")) and "(" in line
                    and json.dumps(line)[1:-1] not in public):
                lines.add(line)
    return lines


def test_no_hidden_check_text_in_release_or_feedback(failure_graded):
    """Are the hidden checks absent from the release notebook and every feedback page, while
    feedback still names the concept?"""
    course = failure_graded["course"]
    code_lines = _check_code_lines(find_repository())
    assert len(code_lines) > 40
    release = course.release_notebook(ASSIGNMENT).read_text()
    assert "BEGIN HIDDEN TESTS" not in release and "grade(" not in release
    texts = {"release": release}
    for student in STUDENTS:
        texts[student] = html.unescape(course.feedback_file(ASSIGNMENT, student).read_text())
    for name, text in texts.items():
        leaked = [line for line in code_lines if line in text]
        assert not leaked, (name, leaked[:3])
        assert "HIDDEN TESTS" not in text and f'grade("{ASSIGNMENT}' not in text, name
    assert "This is the Keras 2" in texts["keras2_freeze"]
    assert "count digits by their share" in texts["distinct_pixels"]
    assert "most recent call last" not in texts["keras2_freeze"]


def test_export_lists_every_student(failure_graded):
    """Does `nbgrader export` write a CSV row per student, the stub's score 0?"""
    with open(failure_graded["csv"], newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(STUDENTS)
    assert float(rows["stub"]["raw_score"]) == 0


def test_time_per_submission(failure_graded):
    """Is each submission graded within a few times the lab's 30 s budget even on a busy machine
    (the run cells load the saved runs instead of training)?"""
    assert set(failure_graded["seconds"]) == set(STUDENTS)
    assert all(0 < seconds < 4 * SECONDS_PER_SUBMISSION for seconds in failure_graded["seconds"].values())
