"""The DCGAN lab end to end with nbgrader: release, validate, autograde, feedback, export.

One course with five students (the reference with the kit's trained generator files, the
stub, and three typical mistakes), built once in a session fixture; every test of this module
shares one xdist group. Every submission runs in a fresh kernel as it would for an instructor:
the training cells load the handed-in generator files instead of training.
"""
import csv
import html
import importlib.util
import shutil

import pytest

from ganlab_kit.grading import list_checks
from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import expected_points
from ganlab_kit.grading.notebook import read_notebook, student_copy
from ganlab_kit.grading.submissions import answers_of, load_submissions

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-dcgan")]

ASSIGNMENT = "dcgan"
STUDENTS = ("reference", "stub", "kernel3_everywhere", "generator_targets_swapped", "output_27x27")
SECONDS_PER_SUBMISSION = 30  # the lab's grading budget


def _reference_files(repository, destination):
    path = repository.autograder / ASSIGNMENT / "submissions.py"
    spec = importlib.util.spec_from_file_location("_dcgan_submissions_e2e", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_files(destination)


@pytest.fixture(scope="session")
def dcgan_graded(tmp_path_factory):
    """The DCGAN course with its demo students autograded, feedback written and grades exported."""
    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader-dcgan")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id="ganlab-dcgan-test")
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


def test_source_validates(dcgan_graded):
    """Does `nbgrader validate` pass the source notebook run beside the reference generator files?"""
    course = dcgan_graded["course"]
    folder = dcgan_graded["root"] / "validate-source"
    folder.mkdir()
    shutil.copy(course.source_notebook(ASSIGNMENT), folder)
    for name, path in dcgan_graded["files"].items():
        shutil.copy(path, folder / name)
    ok, report = course.validate(folder / f"{ASSIGNMENT}.ipynb")
    assert ok, report[-3000:]


def test_release_fails_every_test_cell(dcgan_graded):
    """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
    course = dcgan_graded["course"]
    ok, report = course.validate(course.release_notebook(ASSIGNMENT), invert=True)
    assert ok and "does not pass any tests" in report, report[-3000:]


def test_reference_gets_every_autograded_point(dcgan_graded):
    """Does the reference solution earn every autograded point, part by part?"""
    auto = {cell.grade_id: cell.points for cell in dcgan_graded["cells"] if cell.autograded}
    scores = dcgan_graded["scores"]["reference"]
    assert {grade_id: scores[grade_id] for grade_id in auto} == auto


def test_stub_gets_nothing(dcgan_graded):
    """Does the untouched release notebook earn no point at all, written answers included?"""
    assert set(dcgan_graded["scores"]["stub"].values()) == {0.0}


@pytest.mark.parametrize("student", STUDENTS)
def test_points_match_the_expected_failures(dcgan_graded, student):
    """Does each student get exactly the points its mistakes should leave (partial credit per check)?"""
    scores, expected = dcgan_graded["scores"][student], dcgan_graded["expected"][student]
    assert {grade_id: scores[grade_id] for grade_id in expected} == expected


def _check_code_lines(repository):
    """Distinctive code lines of the hidden checks (not docstrings or messages)."""
    lines = set()
    for path in (repository.autograder / ASSIGNMENT).glob("*.py"):
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 30 and not line.startswith(('"', "'", "#", 'f"', "f'")) and "(" in line:
                lines.add(line)
    return lines


def test_no_hidden_check_text_in_release_or_feedback(dcgan_graded):
    """Are the hidden checks absent from the release notebook and from every feedback page, while
    feedback still explains the mistake?"""
    course = dcgan_graded["course"]
    code_lines = _check_code_lines(find_repository())
    assert len(code_lines) > 50
    release = course.release_notebook(ASSIGNMENT).read_text()
    assert "BEGIN HIDDEN TESTS" not in release and "grade(" not in release
    texts = {"release": release}
    for student in STUDENTS:
        texts[student] = html.unescape(course.feedback_file(ASSIGNMENT, student).read_text())
    for name, text in texts.items():
        leaked = [line for line in code_lines if line in text]
        assert not leaked, (name, leaked[:3])
        assert "HIDDEN TESTS" not in text and 'grade("dcgan' not in text, name
    assert "paint a checkerboard" in texts["kernel3_everywhere"]
    assert "G always aims at the real label" in texts["generator_targets_swapped"]
    assert "doubles the side" in texts["output_27x27"]
    for student in ("reference", "generator_targets_swapped", "kernel3_everywhere"):
        assert "most recent call last" not in texts[student], student


def test_export_lists_every_student(dcgan_graded):
    """Does `nbgrader export` write a CSV row per student, the stub's score 0?"""
    with open(dcgan_graded["csv"], newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(STUDENTS)
    assert float(rows["stub"]["raw_score"]) == 0


def test_time_per_submission(dcgan_graded):
    """Is the time spent on each submission known? (The 30 s budget is a benchmark figure on
    idle cores, not a timed assertion: wall times on a shared machine are noise.)"""
    assert set(dcgan_graded["seconds"]) == set(STUDENTS)
    print({name: round(seconds, 1) for name, seconds in dcgan_graded["seconds"].items()})
    assert all(seconds > 0 for seconds in dcgan_graded["seconds"].values())
