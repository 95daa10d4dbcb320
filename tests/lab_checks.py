"""What every lab's in-process check tests do, written once.

No nbgrader here: a lab's ``tests/test_lab_<lab>.py`` runs the notebook's answer cells in
this process (training cells left out) and the bridge runs the hidden checks on that
namespace. The module binds the fixtures of :func:`lab_fixtures` for its lab and subclasses
:class:`LabChecks` once, naming its demo students and test mutants; the tests only that
lab needs stay in its module, beside the class.
"""
import re
from pathlib import Path

import nbformat
import pytest

from ganlab_kit.grading import list_checks, run_checks
from ganlab_kit.grading.notebook import (find_cell, nbgrader_metadata, read_notebook,
                                         run_in_process, strip_hidden_tests)
from ganlab_kit.grading.submissions import ALL_CHECKS, load_submissions

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"


def source_notebook(assignment):
    """The path of a lab's source notebook (with the reference answers and hidden regions)."""
    return REPO / "assignments" / "source" / assignment / f"{assignment}.ipynb"


def submissions_of(assignment):
    """Demo student name -> Submission, from ``autograder/<assignment>/submissions.py``."""
    return {submission.name: submission for submission in load_submissions(AUTOGRADER / assignment)}


def load_module(path, name):
    """Import the Python file ``path`` as a module called ``name`` (not put in sys.modules)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grade_cells(notebook, assignment):
    """grade_id -> part graded by the cell's hidden grade("<assignment>/<part>", ...) line
    (None where an autograded code cell has no such line)."""
    cells = {}
    for cell in notebook.cells:
        meta = nbgrader_metadata(cell)
        if meta.get("grade") and cell.cell_type == "code":
            match = re.search(rf'grade\("{re.escape(assignment)}/(\w+)", globals\(\)\)', cell.source)
            cells[meta["grade_id"]] = match.group(1) if match else None
    return cells


def namespace_with(source, edits=(), at_test_cell=None):
    """The globals of the source notebook's answer cells run in process, with ``edits`` applied
    to the answers (the hidden regions of an edited cell left out); ``at_test_cell`` as in
    :func:`run_in_process`."""
    notebook = nbformat.from_dict(source)
    answers = {}
    for edit in edits:
        answers[edit.cell] = edit.apply(answers.get(edit.cell, strip_hidden_tests(
            find_cell(source, edit.cell).source)))
    for cell_id, text in answers.items():
        find_cell(notebook, cell_id).source = text
    return run_in_process(notebook, at_test_cell=at_test_cell)


def grade_in_order(assignment, source, edits, parts, directory=None):
    """part -> PartResult, each part graded where its grade cell stands, with the globals the
    cells above it made (as the autograder grades: a function that uses a name defined only
    further down fails there)."""
    part_of = grade_cells(source, assignment)
    results = {}

    def grade_here(cell, namespace):
        part = part_of.get(nbgrader_metadata(cell).get("grade_id"))
        if part in parts:
            results[part] = run_checks(f"{assignment}/{part}", namespace, directory, AUTOGRADER)

    namespace_with(source, edits, at_test_cell=grade_here)
    return results


def grade_all(assignment, namespace, parts, directory=None):
    """part -> PartResult of the lab's hidden checks on ``namespace``, with the handed-in files
    in ``directory`` (None: the working directory)."""
    return {part: run_checks(f"{assignment}/{part}", namespace, directory, AUTOGRADER) for part in parts}


def failures(results):
    """part -> the names of its failed checks, for the parts with a failed check."""
    return {part: set(result.failed_checks) for part, result in results.items() if result.failed_checks}


def copy_files(files, folder):
    """Hand in ``files`` ({file name: path}) into ``folder``; returns the folder."""
    for name, path in files.items():
        (folder / name).write_bytes(Path(path).read_bytes())
    return folder


def stub_namespace(source):
    """The globals of the unanswered stub (solutions cleared; a failing cell skipped, as nbgrader does)."""
    from nbgrader.preprocessors import ClearSolutions

    stub, _ = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    return run_in_process(stub, allow_errors=True)


def release_namespace(source):
    """The globals of the release version: solutions cleared and hidden tests removed."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    return run_in_process(release, allow_errors=True)


def answered_release(source):
    """The release notebook (solutions cleared, hidden tests removed) with the reference answers
    typed in, as a student hands it in."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    from ganlab_kit.grading.notebook import student_copy

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    return student_copy(release, source)


def files_under(folder, skip=(".ipynb",)):
    """relative path -> bytes of every file under ``folder`` (notebooks and checkpoints left out)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(Path(folder).rglob("*"))
            if path.is_file() and not path.name.endswith(skip) and ".ipynb_checkpoints" not in path.parts}


def validate_without_course_config(notebook_path, timeout=600):
    """(passed, report) of `nbgrader validate` on ``notebook_path`` in its folder, with no course
    config anywhere and no GANLAB_/NBGRADER_/JUPYTER_ variable (what the Validate button runs on a
    student's machine)."""
    import os
    import subprocess
    import sys

    notebook_path = Path(notebook_path)
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("GANLAB_", "NBGRADER_", "JUPYTER_"))}
    environment["JUPYTER_CONFIG_DIR"] = str(notebook_path.parent.parent / "no-jupyter-config")
    result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", notebook_path.name],
                            cwd=notebook_path.parent, env=environment, capture_output=True, text=True,
                            timeout=timeout)
    report = result.stdout + result.stderr
    return "Success!" in report, report


def quick_checks(source, assignment):
    """grade_id -> the visible quick-check code of each grade cell (hidden region removed)."""
    return {grade_id: strip_hidden_tests(find_cell(source, grade_id).source)
            for grade_id in grade_cells(source, assignment)}


def quick_check_failures(quick, namespace):
    """grade_id -> the exception its visible quick check (``quick``: grade_id -> code) raises when
    run in ``namespace``, the checks run there in turn; only those that fail."""
    failed = {}
    for grade_id, code in quick.items():
        try:
            exec(compile(code, grade_id, "exec"), namespace)
        except Exception as error:  # an assertion or an error the student's code raised
            failed[grade_id] = error
    return failed


def parts_lost(submission, catalogue):
    """The parts of which a demo submission must fail every check."""
    return {part for part, checks in catalogue.items()
            if set(submission.expected_failures.get(part, ())) == {name for name, _, _ in checks}}


def lab_fixtures(assignment):
    """The module-scoped fixtures of a lab's test module, to be bound there under their names:
    ``source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)``."""

    @pytest.fixture(scope="module")
    def source():
        """The lab's source notebook."""
        return read_notebook(source_notebook(assignment))

    @pytest.fixture(scope="module")
    def parts(source):
        """The lab's parts, one per autograded cell, in notebook order."""
        return list(grade_cells(source, assignment).values())

    @pytest.fixture(scope="module")
    def catalogue(parts):
        """part -> its hidden checks, (name, question, points) each."""
        return {part: list_checks(f"{assignment}/{part}", AUTOGRADER) for part in parts}

    @pytest.fixture(scope="module")
    def reference_namespace(source):
        """The reference answers run in process (shared by the module's tests: do not change it)."""
        return namespace_with(source)

    return source, parts, catalogue, reference_namespace


class LabChecks:
    """The tests every lab's hidden checks must pass: every check passes the reference
    solution and fails at least one known-wrong variant; each demo mistake fails exactly the
    checks it lists; the unanswered release earns nothing. Subclasses set:"""

    ASSIGNMENT = ""        # the lab: its folder under autograder/ and assignments/source/
    SUBMISSIONS = {}       # demo student name -> Submission (see submissions_of)
    #: (part, check) -> notebook edits: a test-only wrong answer that check must fail; or
    #: (edits, change) where change(folder) spoils the reference's handed-in files (None: it
    #: does not); a lab with such mutants grades every mutant beside the reference's files
    MUTANTS = {}
    PARTS = None           # the lab's parts, where the lab pins them
    CAUGHT_ELSEWHERE = ()  # parts whose checks the lab's own tests see failing (quality, runs)
    STUB_FEEDBACK = ("NotImplementedError",)  # what some feedback of the unanswered release says

    @pytest.fixture
    def hand_in(self):
        """``hand_in(name, folder)``: the folder to grade demo student ``name`` in, after putting
        the files it hands in beside the notebook into ``folder`` (here none: None, the lab's
        checks read no files)."""
        return lambda name, folder: None

    @classmethod
    def demo_mistakes(cls):
        """The demo students graded by test_demo_mistake_fails_exactly_its_checks: those whose
        notebook edits fail some checks (not every check)."""
        return sorted(name for name, submission in cls.SUBMISSIONS.items()
                      if submission.edits and submission.expected_failures != ALL_CHECKS)

    def demo_parts(self, submission, parts):
        """The parts a demo mistake is graded on (here all)."""
        return parts

    def pytest_generate_tests(self, metafunc):
        """One test per demo mistake and per test mutant, named after it."""
        if metafunc.function.__name__ == "test_demo_mistake_fails_exactly_its_checks":
            metafunc.parametrize("name", self.demo_mistakes())
        elif metafunc.function.__name__ == "test_wrong_answer_fails_its_check":
            metafunc.parametrize("part, check", sorted(self.MUTANTS))

    def test_every_grade_cell_runs_one_known_part(self, source, parts):
        """Does every autograded cell end in exactly one grade("<lab>/<part>", globals()) line inside
        its hidden region, with a check module for that part, and is every check module used?"""
        checks = AUTOGRADER / self.ASSIGNMENT
        for grade_id, part in grade_cells(source, self.ASSIGNMENT).items():
            cell = find_cell(source, grade_id)
            hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*)\n### END HIDDEN TESTS", cell.source, re.S)
            assert hidden and hidden.group(1).strip().count("\n") == 0, grade_id
            assert part is not None and (checks / f"test_{part}.py").is_file(), grade_id
        modules = {path.stem[len("test_"):] for path in checks.glob("test_*.py")}
        assert modules == set(parts), "every check module is used by one grade cell"
        if self.PARTS is not None:
            assert set(parts) == set(self.PARTS)

    def test_cell_points_match_check_points(self, source, catalogue):
        """Are a grade cell's points the sum of its checks' points (nbgrader rejects a higher score)?"""
        for grade_id, part in grade_cells(source, self.ASSIGNMENT).items():
            points = nbgrader_metadata(find_cell(source, grade_id))["points"]
            assert points == sum(check[2] for check in catalogue[part]), grade_id

    def test_reference_earns_every_point(self, source, parts, hand_in, tmp_path):
        """Does the reference solution, with the files the reference student hands in, pass every
        hidden check, each part graded where its grade cell stands?"""
        results = grade_in_order(self.ASSIGNMENT, source, (), parts, hand_in("reference", tmp_path))
        assert set(results) == set(parts)
        failed = {part: [(check.name, check.feedback) for check in result.checks if not check.passed]
                  for part, result in results.items() if result.failed_checks}
        assert not failed

    def test_demo_mistake_fails_exactly_its_checks(self, name, source, parts, hand_in, tmp_path):
        """Does each demo mistake, graded part by part where its grade cell stands (as under
        nbgrader), fail exactly the checks it lists, and none in other parts, each with feedback
        and no traceback?"""
        submission = self.SUBMISSIONS[name]
        parts = self.demo_parts(submission, parts)
        results = grade_in_order(self.ASSIGNMENT, source, submission.edits, parts, hand_in(name, tmp_path))
        assert set(results) == set(parts)
        assert failures(results) == {part: set(checks) for part, checks in submission.expected_failures.items()}
        for result in results.values():
            for check in result.checks:
                assert check.passed or (check.feedback and "Traceback" not in check.feedback), check.name

    def test_wrong_answer_fails_its_check(self, part, check, source, reference_namespace, hand_in, tmp_path):
        """Does this known-wrong answer (or spoilt file) fail the check written to catch it, with
        feedback and no traceback?"""
        mutant = self.MUTANTS[part, check]
        edits, change = mutant if isinstance(mutant, tuple) else (mutant, None)
        namespace = namespace_with(source, edits) if edits else reference_namespace
        folder = None
        if isinstance(mutant, tuple):
            folder = hand_in("reference", tmp_path)
            if change is not None:
                change(folder)
        result = run_checks(f"{self.ASSIGNMENT}/{part}", namespace, folder, AUTOGRADER)
        assert check in result.failed_checks
        feedback = next(c.feedback for c in result.checks if c.name == check)
        assert feedback and "Traceback" not in feedback

    def test_every_check_has_a_failing_variant(self, catalogue):
        """Is every hidden check seen failing on at least one wrong answer (demo mistake, test
        mutant, or the lab's own tests of CAUGHT_ELSEWHERE)?"""
        caught = set(self.MUTANTS)
        for submission in self.SUBMISSIONS.values():
            if isinstance(submission.expected_failures, dict):
                caught |= {(part, check) for part, checks in submission.expected_failures.items()
                           for check in checks}
        caught |= {(part, name) for part in self.CAUGHT_ELSEWHERE for name, _, _ in catalogue[part]}
        every = {(part, name) for part, checks in catalogue.items() for name, _, _ in checks}
        assert every - caught == set()

    def test_stub_fails_every_check(self, source, parts, tmp_path):
        """Does the release version (solutions replaced by NotImplementedError, no files handed in)
        earn nothing, and say why?"""
        results = grade_all(self.ASSIGNMENT, release_namespace(source), parts, tmp_path)
        assert {part: result.score for part, result in results.items()} == {part: 0 for part in parts}
        messages = [check.feedback for result in results.values() for check in result.checks]
        for phrase in self.STUB_FEEDBACK:
            assert any(phrase in message for message in messages), phrase


def quick_check_catch_rate(source, assignment, bugs, skip=()):
    """part -> (caught, total, missed names): how many of ``bugs`` ({name: (part, edits)}) the visible
    quick check of their part already fails on, with a message (``skip``: grade ids left out)."""
    quick = quick_checks(source, assignment)
    cell_of = {part: grade_id for grade_id, part in grade_cells(source, assignment).items()}
    rates = {}
    for name, (part, edits) in sorted(bugs.items()):
        grade_id = cell_of[part]
        if grade_id in skip:
            continue
        failed = quick_check_failures({grade_id: quick[grade_id]}, namespace_with(source, edits))
        caught, total, missed = rates.get(part, (0, 0, []))
        message = str(failed.get(grade_id, ""))
        rates[part] = (caught + bool(failed and message), total + 1, missed + ([] if failed and message else [name]))
    return rates


def print_catch_rate(title, rates):
    """Print ``rates`` (from quick_check_catch_rate), one line per part."""
    print(f"\n{title}")
    for part, (caught, total, missed) in sorted(rates.items()):
        print(f"  {part:<22}{caught:2d} / {total:2d}" + (f"   missed: {', '.join(missed)}" if missed else ""))
