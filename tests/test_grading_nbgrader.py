"""End to end with nbgrader: release, validate, autograde, regrade, feedback, export.

One course with four honest students (the reference, the stub and two typical
mistakes) and, graded after them in the same gradebook, the bank of hostile and broken
submissions of ``tests/hostile_bank.py``; built once, graded with two workers; all
tests share one xdist group. Every submission runs in a fresh sandboxed kernel as it
would for an instructor.
"""
import csv
import html
import json
import shutil
import tempfile

import nbformat
import pytest

from hostile_bank import CASES, build_notebook

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
    seconds = course.autograde(ASSIGNMENT, workers=2)
    scores = {name: course.scores(ASSIGNMENT, name) for name in STUDENTS}
    honest_report = course.autograde_report

    # The hostile bank, graded after the honest students, in the same course and gradebook.
    with open(course.root / "nbgrader_config.py", "a") as handle:   # the looper costs one timeout
        handle.write("\nc.Execute.timeout = 90\n")
    hostile = {}
    for case in CASES:
        base = submissions[case.base]
        notebook = release if base.stub else student_copy(release, source, answers_of(base, source))
        notebook = build_notebook(case, notebook, str(repository.autograder))
        files = {}
        if case.generator is not None:
            files["generator.pt"] = root / f"{case.name}-generator.pt"
            case.generator(str(files["generator.pt"]))
        elif base.generator:
            files["generator.pt"] = generator
        folder = course.add_submission(ASSIGNMENT, case.name, notebook, files)
        if case.corrupt:
            (folder / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ this is not JSON')
        hostile[case.name] = case
    outside = tempfile.gettempdir()
    seconds.update(course.autograde(ASSIGNMENT, students=list(hostile), workers=2))
    hostile_report = course.autograde_report
    for name in hostile:
        scores[name] = course.scores(ASSIGNMENT, name)
    course.generate_feedback(ASSIGNMENT)
    csv_path = course.export_csv()
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    for name, case in hostile.items():
        if case.points == "zero":
            expected[name] = {cell.grade_id: 0.0 for cell in cells if cell.autograded}
            continue
        points = dict(expected_points(submissions[case.base], cells, catalogue))
        for cell in cells:
            if cell.autograded and cell.part.split("/", 1)[1] in case.also_fails:
                lost = case.also_fails[cell.part.split("/", 1)[1]]
                points[cell.grade_id] = round(points[cell.grade_id] - sum(
                    p for check, _, p in catalogue[cell.part] if check in lost
                    and not submissions[case.base].fails(cell.part.split("/", 1)[1], check)), 4)
        expected[name] = points
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds,
            "csv": csv_path, "cells": cells, "generator": generator, "root": root,
            "honest_after": {name: course.scores(ASSIGNMENT, name) for name in STUDENTS},
            "hostile": hostile, "honest_report": honest_report, "hostile_report": hostile_report,
            "outside": outside}


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
    assert set(STUDENTS) <= set(rows)
    assert float(rows["stub"]["raw_score"]) == 0


def test_time_per_submission_is_logged(graded):
    """Is the time nbgrader spent on each student known (for the benchmark and the demo table)?"""
    assert set(STUDENTS) <= set(graded["seconds"])
    assert all(graded["seconds"][student] > 0 for student in STUDENTS)


HOSTILE = [case.name for case in CASES]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_submission_gets_only_its_allowed_points(graded, name):
    """Does each hostile or broken submission get exactly the points its honest answers earn (no more)?"""
    scores, expected = graded["scores"][name], graded["expected"][name]
    assert {grade_id: scores.get(grade_id) or 0.0 for grade_id in expected} == expected


def test_honest_scores_survive_the_hostile_bank(graded):
    """Are the honest students' grades in the gradebook unchanged after the hostile bank was graded?"""
    assert graded["honest_after"] == {name: graded["scores"][name] for name in STUDENTS}


@pytest.mark.parametrize("name", [case.name for case in CASES if case.evidence or case.problems])
def test_hostile_behaviour_was_contained(graded, name):
    """Does the autograded notebook show each hostile attempt blocked, and name each crash?"""
    case = graded["hostile"][name]
    notebook = nbformat.read(graded["course"].autograded_notebook(ASSIGNMENT, name), as_version=4)
    text = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    for evidence in case.evidence:
        assert evidence in text, (evidence, text[:3000])
    problems = notebook.metadata.get("ganlab_grading", {}).get("problems", [])
    for problem in case.problems:
        assert any(problem in line for line in problems), problems


def test_nothing_written_outside_the_submission_copies(graded):
    """Did no hostile cell write outside its own copy (course folder, its parents, /tmp)?"""
    root = graded["course"].root
    assert not [path for path in root.parent.rglob("pwned.txt")]


def test_flood_and_deleted_cell(graded):
    """Is a 50 MB print cut to a small notebook and feedback, and a deleted quick-check cell restored?"""
    course = graded["course"]
    notebook_path = course.autograded_notebook(ASSIGNMENT, "noisy")
    assert notebook_path.stat().st_size < 3_000_000
    assert course.feedback_file(ASSIGNMENT, "noisy").stat().st_size < 3_000_000
    notebook = nbformat.read(notebook_path, as_version=4)
    ids = [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    assert "noise_checks" in ids
    assert "characters cut by the grader" in notebook_path.read_text()


def test_every_submission_has_a_status(graded):
    """Does the run end with a status per student: ok for the hostile ones, a named error for the corrupt file?"""
    statuses = graded["hostile_report"].statuses()
    assert statuses["corrupt"] == "error" and "notebook" in graded["hostile_report"].row("corrupt").note()
    assert all(statuses[name] in ("ok", "not isolated") for name in HOSTILE if name != "corrupt")
