"""The Keras GAN lab end to end with nbgrader: release, validate, autograde, regrade, feedback.

One course with five students (the reference, the stub and three typical Keras mistakes),
built once; all tests share one xdist group. Every submission runs in a fresh kernel as it
would for an instructor, loading its generator.weights.h5 instead of training.
"""
import html
import shutil

import pytest

from ganlab_kit.grading import list_checks
from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import expected_points
from ganlab_kit.grading.notebook import read_notebook, student_copy
from ganlab_kit.grading.submissions import answers_of, load_submissions

pytestmark = [pytest.mark.keras, pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader_keras_gan")]

ASSIGNMENT = "keras_gan"
STUDENTS = ("reference", "stub", "keras2_freeze_once", "lr_keyword", "accuracy_wrong_axis")
GENERATOR_FILE = "generator.weights.h5"


def _reference_files(repository, destination):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_keras_gan_submissions_e2e",
                                                  repository.autograder / ASSIGNMENT / "submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_files(destination)


@pytest.fixture(scope="session")
def keras_graded(tmp_path_factory):
    """A course whose five demo students have been autograded (the regrade test grades two
    again; the in-process tests regrade five times), with feedback."""
    from ganlab_kit.keras_gan.lab_weights import REFERENCE_KERAS_GENERATOR

    if not REFERENCE_KERAS_GENERATOR.is_file():
        pytest.skip("the Keras lab's reference generator is not trained yet: run "
                    "autograder/keras_gan/calibrate_quality.py --seeds 0 --write-reference")
    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader_keras")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id="ganlab-keras-test")
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
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds, "cells": cells,
            "files": files, "root": root}


def test_source_validates(keras_graded):
    """Does `nbgrader validate` pass the source notebook (run beside the reference weights)?"""
    course = keras_graded["course"]
    folder = keras_graded["root"] / "validate-source"
    folder.mkdir()
    shutil.copy(course.source_notebook(ASSIGNMENT), folder)
    for name, path in keras_graded["files"].items():
        shutil.copy(path, folder / name)
    ok, report = course.validate(folder / f"{ASSIGNMENT}.ipynb")
    assert ok, report[-3000:]


def test_release_fails_every_test_cell(keras_graded):
    """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
    ok, report = keras_graded["course"].validate(keras_graded["course"].release_notebook(ASSIGNMENT), invert=True)
    assert ok and "does not pass any tests" in report, report[-3000:]


def test_reference_gets_every_autograded_point(keras_graded):
    """Does the reference solution earn every autograded point, part by part?"""
    auto = {cell.grade_id: cell.points for cell in keras_graded["cells"] if cell.autograded}
    scores = keras_graded["scores"]["reference"]
    assert {grade_id: scores[grade_id] for grade_id in auto} == auto


def test_stub_gets_nothing(keras_graded):
    """Does the untouched release notebook earn no point at all, written answers included?"""
    assert set(keras_graded["scores"]["stub"].values()) == {0.0}


@pytest.mark.parametrize("student", STUDENTS)
def test_points_match_the_expected_failures(keras_graded, student):
    """Does each student get exactly the points its mistakes should leave (partial credit per check)?"""
    scores = keras_graded["scores"][student]
    expected = keras_graded["expected"][student]
    assert {grade_id: scores[grade_id] for grade_id in expected} == expected


def test_regrading_gives_the_same_scores(keras_graded):
    """Does autograding the same submissions again give identical scores?"""
    course = keras_graded["course"]
    course.autograde(ASSIGNMENT, students=["reference", "keras2_freeze_once"])
    for name in ("reference", "keras2_freeze_once"):
        assert course.scores(ASSIGNMENT, name) == keras_graded["scores"][name]


def test_no_hidden_check_text_in_release_or_feedback(keras_graded):
    """Are the hidden checks absent from the release notebook and from every feedback page, and
    does the feedback name the concept (the Keras 3 trainable rule) without a traceback?"""
    course = keras_graded["course"]
    code_lines = set()
    for path in (find_repository().autograder / ASSIGNMENT).glob("*.py"):
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 30 and not line.startswith(('"', "'", "#", "f\"", "f'")) and "(" in line:
                code_lines.add(line)
    assert len(code_lines) > 50
    release = course.release_notebook(ASSIGNMENT).read_text()
    assert "BEGIN HIDDEN TESTS" not in release and "grade(" not in release
    texts = {"release": release}
    for student in STUDENTS:
        texts[student] = html.unescape(course.feedback_file(ASSIGNMENT, student).read_text())
    for name, text in texts.items():
        leaked = [line for line in code_lines if line in text]
        assert not leaked, (name, leaked[:3])
        assert "HIDDEN TESTS" not in text and 'grade("keras_gan' not in text, name
    assert "Keras 3" in texts["keras2_freeze_once"] and "freezes D" in texts["keras2_freeze_once"]
    assert "most recent call last" not in texts["keras2_freeze_once"]


def test_each_submission_grades_within_the_budget(keras_graded):
    """Does nbgrader spend at most a minute per submission (the goal is 30 s on 2 idle cores)?"""
    assert set(keras_graded["seconds"]) == set(STUDENTS)
    assert all(0 < seconds < 120 for seconds in keras_graded["seconds"].values()), keras_graded["seconds"]
