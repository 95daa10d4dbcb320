"""What every lab's end-to-end nbgrader test does, written once.

A lab's ``tests/test_grading_<lab>.py`` subclasses :class:`LabEndToEnd`, names its
assignment, its demo students and what their feedback must say, and adds the checks that
only it needs. The course is built and graded once per class (the ``graded`` fixture): the
release is generated, each student is handed in exactly as ``ganlab demo`` hands them in
(:func:`ganlab_kit.grading.demo.hand_in`), all are autograded in fresh sandboxed kernels,
feedback is written and the grades are exported. The module puts its tests in one xdist
group so the course is built once per run.
"""
import csv
import html
import json

import nbformat
import pytest

from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import check_catalogue, expected_points, hand_in
from ganlab_kit.grading.solutions import generate_solutions
from ganlab_kit.grading.submissions import load_submissions


def grade_course(root, assignment, students, workers=1):
    """Build a course for ``assignment`` under ``root``, hand in ``students`` (demo student
    names), autograde them, write feedback and export the grades; a dict of what the tests read."""
    repository = find_repository()
    course = Course.create(root / "course", repository, [assignment], course_id=f"ganlab-{assignment}-test")
    course.generate_assignment(assignment)
    known = {submission.name: submission for submission in load_submissions(repository.autograder / assignment)}
    submissions = [known[name] for name in students]
    files = hand_in(course, assignment, submissions)
    seconds = course.autograde(assignment, workers=workers)
    scores = {name: course.scores(assignment, name) for name in students}
    course.generate_feedback(assignment)
    csv_path = course.export_csv()
    cells = course.grade_cells(assignment)
    catalogue = check_catalogue(cells, repository)
    expected = {submission.name: expected_points(submission, cells, catalogue) for submission in submissions}
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds, "csv": csv_path,
            "cells": cells, "files": files, "root": root, "report": course.autograde_report,
            "submissions": known, "catalogue": catalogue}


def hidden_check_lines(repository, assignment):
    """Distinctive code lines of a lab's hidden checks (its conftest.py and test_*.py; not
    docstrings, comments or messages) that the lab's notebook does not show itself: a line
    such as ``rng = np.random.default_rng(seed)`` may be in the lab's own text too."""
    public = (repository.assignments / "source" / assignment / f"{assignment}.ipynb").read_text()
    folder = repository.autograder / assignment
    lines = set()
    for path in [folder / "conftest.py", *sorted(folder.glob("test_*.py"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if (len(line) >= 30 and not line.startswith(('"', "'", "#", 'f"', "f'")) and "(" in line
                    and json.dumps(line)[1:-1] not in public):
                lines.add(line)
    return lines


def feedback_texts(course, assignment, students):
    """The release notebook's text and each student's feedback page (HTML unescaped)."""
    texts = {"release": course.release_notebook(assignment).read_text()}
    for student in students:
        texts[student] = html.unescape(course.feedback_file(assignment, student).read_text())
    return texts


class LabEndToEnd:
    """The end-to-end checks every nbgrader lab must pass. Subclasses set:"""

    ASSIGNMENT = ""          # the lab (folder name under assignments/source/)
    STUDENTS = ()            # demo students to grade; must include "reference" and "stub"
    FEEDBACK = {}            # student -> phrases its feedback page must contain (names the concept)
    NO_TRACEBACK = ("reference",)  # students whose feedback must not show a Python traceback
    MIN_CHECK_LINES = 20     # the leak check looks for at least this many hidden-check lines
    WORKERS = 1              # submissions graded at once

    @pytest.fixture(scope="class")
    def graded(self, tmp_path_factory):
        return grade_course(tmp_path_factory.mktemp(f"nbgrader-{self.ASSIGNMENT}"), self.ASSIGNMENT,
                            self.STUDENTS, workers=self.WORKERS)

    @pytest.fixture(scope="class")
    def solution(self, graded):
        """The source notebook executed once by `ganlab solutions` (nbgrader generate_solution,
        beside the reference's files, seeded): the executed solution notebook's path."""
        path, = generate_solutions(graded["root"] / "solution", assignments=[self.ASSIGNMENT],
                                   log=lambda message: None)
        return path

    def test_source_validates(self, solution):
        """Does nbgrader's validator pass the source notebook, judged on its one execution by
        `ganlab solutions` (nbgrader's Validator without its own second run of every cell)?"""
        from nbgrader.preprocessors import CheckCellMetadata
        from nbgrader.validator import Validator

        validator = Validator()
        validator.preprocessors = [CheckCellMetadata]   # the cells ran once already: no Execute
        results = validator.validate(str(solution))
        assert results == {}, results
        # the same validator fails the run where a test cell had raised
        notebook = nbformat.read(solution, as_version=4)
        test_cell = next(cell for cell in notebook.cells if cell.cell_type == "code"
                         and cell.metadata.get("nbgrader", {}).get("grade")
                         and not cell.metadata["nbgrader"].get("solution"))
        test_cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
        broken = solution.parent / "broken" / solution.name
        broken.parent.mkdir()
        nbformat.write(notebook, broken)
        assert "failed" in validator.validate(str(broken))

    def test_release_fails_every_test_cell(self, graded):
        """Does `nbgrader validate --invert` find that no test cell of the unanswered release passes?"""
        course = graded["course"]
        ok, report = course.validate(course.release_notebook(self.ASSIGNMENT), invert=True)
        assert ok and "does not pass any tests" in report, report[-3000:]

    def test_reference_gets_every_autograded_point(self, graded):
        """Does the reference solution earn every autograded point, part by part?"""
        auto = {cell.grade_id: cell.points for cell in graded["cells"] if cell.autograded}
        assert auto
        scores = graded["scores"]["reference"]
        assert {grade_id: scores[grade_id] for grade_id in auto} == auto

    def test_stub_gets_nothing(self, graded):
        """Does the untouched release notebook earn no point, written answers included?"""
        scores = graded["scores"]["stub"]
        assert {scores[cell.grade_id] for cell in graded["cells"] if cell.autograded} == {0.0}
        assert all(scores.get(cell.grade_id) in (0.0, None) for cell in graded["cells"] if not cell.autograded)

    def test_points_match_the_expected_failures(self, graded):
        """Does each student get exactly the points its mistakes should leave (partial credit per check)?"""
        wrong = {}
        for student in self.STUDENTS:
            expected = graded["expected"][student]
            got = {grade_id: graded["scores"][student][grade_id] for grade_id in expected}
            if got != expected:
                wrong[student] = {grade_id: (got[grade_id], points) for grade_id, points in expected.items()
                                  if got[grade_id] != points}
        assert not wrong, f"student: {{cell: (got, expected)}} {wrong}"

    def test_no_hidden_check_text_in_release_or_feedback(self, graded):
        """Are the hidden checks absent from the release notebook and from every feedback page,
        while the feedback names each mistake's concept, without a traceback?"""
        course = graded["course"]
        lines = hidden_check_lines(course.repository, self.ASSIGNMENT)
        assert len(lines) >= self.MIN_CHECK_LINES
        texts = feedback_texts(course, self.ASSIGNMENT, self.STUDENTS)
        assert "BEGIN HIDDEN TESTS" not in texts["release"] and "grade(" not in texts["release"]
        for name, text in texts.items():
            leaked = [line for line in lines if line in text]
            assert not leaked, (name, leaked[:3])
            assert "HIDDEN TESTS" not in text and f'grade("{self.ASSIGNMENT}' not in text, name
        for student, phrases in self.FEEDBACK.items():
            for phrase in ([phrases] if isinstance(phrases, str) else phrases):
                assert phrase in texts[student], (student, phrase)
        for student in self.NO_TRACEBACK:
            assert "most recent call last" not in texts[student], student

    def test_export_lists_every_student(self, graded):
        """Does `nbgrader export` write a CSV row per student, the stub's score 0?"""
        with open(graded["csv"], newline="") as handle:
            rows = {row["student_id"]: row for row in csv.DictReader(handle)}
        assert set(self.STUDENTS) <= set(rows)
        assert float(rows["stub"]["raw_score"]) == 0

    def test_every_submission_is_graded_and_timed(self, graded):
        """Does every submission end with status ok and a recorded time? (Each lab's 30 s budget
        is measured by the benchmarks on idle cores, not asserted here: wall times on a shared
        machine are noise.)"""
        assert graded["report"].statuses() == {student: "ok" for student in self.STUDENTS}
        assert set(self.STUDENTS) <= set(graded["seconds"])
        seconds = {student: round(graded["seconds"][student], 1) for student in self.STUDENTS}
        assert all(value > 0 for value in seconds.values()), seconds
        print(seconds)

    def test_solution_is_reproducible(self, graded, solution):
        """Does `ganlab solutions` regenerate the committed executed solution byte for byte, with no
        error output and every autograded cell at full points?"""
        committed = graded["course"].repository.root / "solutions" / self.ASSIGNMENT / f"{self.ASSIGNMENT}.ipynb"
        assert committed.is_file(), f"run `ganlab solutions --assignment {self.ASSIGNMENT}` and commit it"
        notebook, again = nbformat.read(committed, as_version=4), nbformat.read(solution, as_version=4)
        differing = [cell.get("id") for cell, other in zip(notebook.cells, again.cells) if cell != other]
        assert not differing and len(notebook.cells) == len(again.cells)
        assert committed.read_bytes() == solution.read_bytes()
        errors = [cell.id for cell in notebook.cells if cell.cell_type == "code"
                  for output in cell.outputs if output.output_type == "error"]
        assert not errors
        scores = {cell.metadata["nbgrader"]["grade_id"]: float(output.data["text/plain"])
                  for cell in notebook.cells
                  if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
                  for output in cell.outputs if output.output_type == "execute_result"}
        assert scores == {cell.grade_id: cell.points for cell in graded["cells"] if cell.autograded}

class Regrades:
    """Mixed into a lab's :class:`LabEndToEnd` subclass whose grading is not already regraded in
    process (tests/test_lab_<lab>.py::test_grading_is_repeatable): ``REGRADE`` names students
    graded a second time in the same course (grading is seeded: the same points)."""

    REGRADE = ("reference",)

    def test_regrading_gives_the_same_scores(self, graded):
        """Does autograding submissions again give identical scores (grading is seeded)?"""
        course = graded["course"]
        course.autograde(self.ASSIGNMENT, students=list(self.REGRADE))
        for name in self.REGRADE:
            assert course.scores(self.ASSIGNMENT, name) == graded["scores"][name], name
