"""End to end with nbgrader for the GAN Playground lab: release, validate, autograde, feedback.

One course with five students (the reference with its experiment log, the stub, a code
mistake and two log mistakes), built once; all tests share one xdist group. Every
submission runs in a fresh kernel as it would for an instructor.
"""
import html
import importlib.util
import shutil

import pytest

from ganlab_kit.grading import list_checks
from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import expected_points
from ganlab_kit.grading.notebook import read_notebook, student_copy
from ganlab_kit.grading.submissions import answers_of, load_submissions

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-playground")]

ASSIGNMENT = "playground"
STUDENTS = ("reference", "stub", "ndim_reshape", "edited_log", "lost_snapshot")


def _files_hook(repository):
    path = repository.autograder / ASSIGNMENT / "submissions.py"
    spec = importlib.util.spec_from_file_location("_playground_submissions_e2e", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.submission_files


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """A course whose demo students have been autograded, with feedback (session-scoped, see
    tests/test_grading_nbgrader.py)."""
    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader-playground")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id="ganlab-test")
    course.generate_assignment(ASSIGNMENT)
    source = read_notebook(course.source_notebook(ASSIGNMENT))
    release = read_notebook(course.release_notebook(ASSIGNMENT))
    submissions = {s.name: s for s in load_submissions(repository.autograder / ASSIGNMENT)}
    files_of = _files_hook(repository)
    for name in STUDENTS:
        submission = submissions[name]
        notebook = release if submission.stub else student_copy(release, source, answers_of(submission, source))
        course.add_submission(ASSIGNMENT, name, notebook, files_of(name, root / "files" / name))
    seconds = course.autograde(ASSIGNMENT)
    scores = {name: course.scores(ASSIGNMENT, name) for name in STUDENTS}
    course.generate_feedback(ASSIGNMENT)
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds,
            "cells": cells, "root": root, "files_of": files_of}


def test_source_validates(graded):
    """Does `nbgrader validate` pass the source notebook next to the reference log and snapshots?"""
    folder = graded["root"] / "validate-source"
    folder.mkdir()
    shutil.copy(graded["course"].source_notebook(ASSIGNMENT), folder)
    graded["files_of"]("reference", folder)
    ok, report = graded["course"].validate(folder / f"{ASSIGNMENT}.ipynb")
    assert ok, report[-3000:]


def test_release_fails_every_test_cell(graded):
    """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
    ok, report = graded["course"].validate(graded["course"].release_notebook(ASSIGNMENT), invert=True)
    assert ok and "does not pass any tests" in report, report[-3000:]


def test_reference_gets_every_autograded_point(graded):
    """Does the reference solution with its experiment log earn every autograded point?"""
    auto = {cell.grade_id: cell.points for cell in graded["cells"] if cell.autograded}
    scores = graded["scores"]["reference"]
    assert {grade_id: scores[grade_id] for grade_id in auto} == auto


def test_stub_gets_nothing(graded):
    """Does the untouched release notebook, handed in without a log, earn no point at all?"""
    assert set(graded["scores"]["stub"].values()) == {0.0}


@pytest.mark.parametrize("student", STUDENTS)
def test_points_match_the_expected_failures(graded, student):
    """Does each student get exactly the points its mistakes should leave?"""
    scores = graded["scores"][student]
    assert {grade_id: scores[grade_id] for grade_id in graded["expected"][student]} == graded["expected"][student]


def test_no_hidden_check_text_in_release_or_feedback(graded):
    """Are the hidden checks absent from the release notebook and from every feedback page?"""
    course = graded["course"]
    lines = set()
    for path in (find_repository().autograder / ASSIGNMENT).glob("test_*.py"):
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
        assert 'grade("playground' not in text, name
    assert "names other models or settings" in texts["edited_log"] or "says run" in texts["edited_log"]
    assert "is missing" in texts["lost_snapshot"]


def test_time_per_submission_is_logged(graded):
    """Is the time nbgrader spent on each student known (benchmarks/bench_playground.py
    compares it with the 30 s budget; a timed assertion would fail on a busy machine)?"""
    assert set(graded["seconds"]) == set(STUDENTS)
    assert all(0 < seconds < 300 for seconds in graded["seconds"].values()), graded["seconds"]


def test_solution_is_reproducible(tmp_path):
    """Does `ganlab solutions` regenerate the committed solution notebook byte for byte, with every
    grade cell at full points?"""
    import nbformat

    from ganlab_kit.grading.solutions import generate_solutions

    committed = find_repository().root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    fresh, = generate_solutions(tmp_path, assignments=[ASSIGNMENT], log=lambda message: None)
    assert committed.read_bytes() == fresh.read_bytes()
    notebook = nbformat.read(committed, as_version=4)
    assert not [cell.id for cell in notebook.cells if cell.cell_type == "code"
                for output in cell.outputs if output.output_type == "error"]
    scores = {cell.id: float(output.data["text/plain"]) for cell in notebook.cells
              if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
              for output in cell.outputs if output.output_type == "execute_result"}
    points = {cell.id: cell.metadata["nbgrader"]["points"] for cell in notebook.cells if cell.id in scores}
    assert scores == points and len(scores) == 5
