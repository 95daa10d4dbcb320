"""The GAN Playground lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's code cells run in this process and the bridge runs
the checks on that namespace, next to the files each demo student hands in (the
reference experiment log and snapshots, or a mistake derived from them). Every check
must pass the reference and fail at least one known-wrong variant; each demo mistake
must fail exactly the checks it lists.
"""
import importlib.util
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from ganlab_kit.grading import list_checks, run_checks
from ganlab_kit.grading.notebook import (find_cell, nbgrader_metadata, read_notebook,
                                         run_in_process, strip_hidden_tests)
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, load_submissions

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
ASSIGNMENT = "playground"
SOURCE = REPO / "assignments" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SUBMISSIONS = {s.name: s for s in load_submissions(AUTOGRADER / ASSIGNMENT)}
LOG_NAME = "playground_log.jsonl"


def _submissions_module():
    path = AUTOGRADER / ASSIGNMENT / "submissions.py"
    spec = importlib.util.spec_from_file_location("_playground_submissions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILES = _submissions_module()


def _records(folder):
    return [json.loads(line) for line in (folder / LOG_NAME).read_text().splitlines() if line.strip()]


def _write(folder, records):
    (folder / LOG_NAME).write_text("".join(json.dumps(r) + "\n" for r in records))


def _garbage_line(folder):
    with open(folder / LOG_NAME, "a") as log:
        log.write("my notes: run 3 looked best\n")


def _drop_25000(folder):
    _write(folder, [r for r in _records(folder) if r["examples"] < 25_000])


def _auto_as_button(folder):
    records = _records(folder)
    for record in records:
        record["reason"] = "button"
    _write(folder, records)


def _fc_other_learning_rate(folder):
    # a fully connected run trained with other settings than every convolutional run:
    # the log and its pictures disagree, so the records stop counting
    records = _records(folder)
    for record in records:
        if len(record["generator"]["layers"]) == 5:
            record["g_lr"] = 5e-4
    _write(folder, records)


def _only_two_configurations(folder):
    records = _records(folder)
    keep = {records[0]["run"], next(r["run"] for r in records if r["d_lr"] > r["g_lr"])}
    _write(folder, [r for r in records if r["run"] in keep])


def _no_generator_faster_run(folder):
    _write(folder, [r for r in _records(folder) if not r["g_lr"] > r["d_lr"]])


#: Test-only wrong answers, so that every check is seen failing. (part, check) -> (notebook
#: edits, a change to the reference files).
MUTANTS = {
    ("reshape", "test_hint_answers"): ([Edit("reshape_constants", "RESHAPE_800_TO_20_10_4 = True",
                                             "RESHAPE_800_TO_20_10_4 = False")], None),
    ("reshape", "test_last_layer_units"): ([Edit("reshape_constants", "GENERATOR_LAST_FC_UNITS = 784",
                                                 "GENERATOR_LAST_FC_UNITS = 256")], None),
    ("reshape", "test_general_cases"): ([Edit("reshape_answer", "math.prod(in_shape) == math.prod(out_shape)",
                                              "in_shape[0] == math.prod(out_shape)")], None),
    ("log", "test_log_readable"): ([], _garbage_line),
    ("first_run", "test_convolutional_run_to_25000"): ([], _drop_25000),
    ("first_run", "test_automatic_snapshots"): ([], _auto_as_button),
    ("fc_vs_conv", "test_same_training_as_a_convolutional_run"): ([], _fc_other_learning_rate),
    ("configurations", "test_three_configurations"): ([], _only_two_configurations),
    ("configurations", "test_generator_learns_faster"): ([], _no_generator_faster_run),
}


@pytest.fixture(scope="module")
def source():
    return read_notebook(SOURCE)


def grade_cells(notebook):
    """grade_id -> part graded by the cell's hidden grade(...) line."""
    cells = {}
    for cell in notebook.cells:
        meta = nbgrader_metadata(cell)
        if meta.get("grade") and cell.cell_type == "code":
            match = re.search(r'grade\("playground/(\w+)", globals\(\)\)', cell.source)
            cells[meta["grade_id"]] = match.group(1) if match else None
    return cells


@pytest.fixture(scope="module")
def parts(source):
    return list(grade_cells(source).values())


@pytest.fixture(scope="module")
def catalogue(parts):
    return {part: list_checks(f"{ASSIGNMENT}/{part}", AUTOGRADER) for part in parts}


def namespace_with(source, edits=()):
    notebook = nbformat.from_dict(source)
    answers = {}
    for edit in edits:
        answers[edit.cell] = edit.apply(answers.get(edit.cell, strip_hidden_tests(
            find_cell(source, edit.cell).source)))
    for cell_id, text in answers.items():
        find_cell(notebook, cell_id).source = text
    return run_in_process(notebook)


@pytest.fixture(scope="module")
def reference_namespace(source):
    return namespace_with(source)


def grade_all(namespace, parts, directory):
    return {part: run_checks(f"{ASSIGNMENT}/{part}", namespace, directory, AUTOGRADER) for part in parts}


def failures(results):
    return {part: set(result.failed_checks) for part, result in results.items() if result.failed_checks}


def test_every_grade_cell_runs_one_known_part(source, parts):
    """Does every autograded cell end in exactly one grade("playground/<part>", globals()) line
    inside its hidden region, with a check module for that part?"""
    for grade_id, part in grade_cells(source).items():
        cell = find_cell(source, grade_id)
        hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*)\n### END HIDDEN TESTS", cell.source, re.S)
        assert hidden and hidden.group(1).strip().count("\n") == 0, grade_id
        assert part is not None and (AUTOGRADER / ASSIGNMENT / f"test_{part}.py").is_file(), grade_id
    modules = {path.stem[len("test_"):] for path in (AUTOGRADER / ASSIGNMENT).glob("test_*.py")}
    assert modules == set(parts), "every check module is used by one grade cell"


def test_cell_points_match_check_points(source, catalogue):
    """Are a grade cell's points the sum of its checks' points (nbgrader rejects a higher score)?"""
    for grade_id, part in grade_cells(source).items():
        points = nbgrader_metadata(find_cell(source, grade_id))["points"]
        assert points == sum(check[2] for check in catalogue[part]), grade_id


def test_reference_earns_every_point(reference_namespace, parts, tmp_path):
    """Does the reference solution with its real experiment log pass every hidden check?"""
    FILES.reference_files(tmp_path)
    results = grade_all(reference_namespace, parts, tmp_path)
    assert not failures(results), {part: [c.feedback for c in results[part].checks if not c.passed]
                                   for part in failures(results)}


@pytest.mark.parametrize("name", sorted(name for name, s in SUBMISSIONS.items()
                                        if s.expected_failures != ALL_CHECKS and name != "reference"))
def test_demo_mistake_fails_exactly_its_checks(name, source, reference_namespace, parts, tmp_path):
    """Does each demo mistake (in the code or in the handed-in log) fail exactly the checks it lists?"""
    submission = SUBMISSIONS[name]
    namespace = namespace_with(source, submission.edits) if submission.edits else reference_namespace
    FILES.submission_files(name, tmp_path)
    expected = {part: set(checks) for part, checks in submission.expected_failures.items()}
    assert failures(grade_all(namespace, parts, tmp_path)) == expected


@pytest.mark.parametrize("part, check", sorted(MUTANTS))
def test_wrong_answer_fails_its_check(part, check, source, reference_namespace, tmp_path):
    """Does this known-wrong answer or log fail the check written to catch it, with plain feedback?"""
    edits, change = MUTANTS[part, check]
    namespace = namespace_with(source, edits) if edits else reference_namespace
    FILES.reference_files(tmp_path)
    if change is not None:
        change(tmp_path)
    result = run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER)
    assert check in result.failed_checks
    feedback = next(c.feedback for c in result.checks if c.name == check)
    assert feedback and "Traceback" not in feedback


def test_every_check_has_a_failing_variant(catalogue):
    """Is every hidden check seen failing on at least one wrong answer (demo mistake or test mutant)?"""
    caught = set(MUTANTS)
    for submission in SUBMISSIONS.values():
        if isinstance(submission.expected_failures, dict):
            caught |= {(part, check) for part, checks in submission.expected_failures.items()
                       for check in checks}
    every = {(part, name) for part, checks in catalogue.items() for name, _, _ in checks}
    assert every - caught == set()


def test_stub_fails_every_check(source, parts, tmp_path):
    """Does the release version (solutions replaced by NotImplementedError, no log) earn nothing?"""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    namespace = run_in_process(release, allow_errors=True)
    results = grade_all(namespace, parts, tmp_path)
    assert all(result.score == 0 for result in results.values()), {
        part: result.score for part, result in results.items()}


def test_grading_is_deterministic(reference_namespace, parts, tmp_path):
    """Do two gradings of the same files give the same results, check for check?"""
    FILES.submission_files("edited_log", tmp_path)
    first = grade_all(reference_namespace, parts, tmp_path)
    second = grade_all(reference_namespace, parts, tmp_path)
    assert {p: [(c.name, c.passed, c.feedback) for c in r.checks] for p, r in first.items()} == \
        {p: [(c.name, c.passed, c.feedback) for c in r.checks] for p, r in second.items()}


def _test_cells(source):
    return [cell for cell in source.cells if cell.cell_type == "code"
            and nbgrader_metadata(cell).get("grade") and not nbgrader_metadata(cell).get("solution")]


def test_quick_checks_pass_with_the_reference_files(source, reference_namespace, tmp_path, monkeypatch):
    """Do the visible quick checks pass for the reference answers next to the reference log?"""
    FILES.reference_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace = dict(reference_namespace)
    for cell in _test_cells(source):
        exec(compile(strip_hidden_tests(cell.source), nbgrader_metadata(cell)["grade_id"], "exec"), namespace)


def test_quick_checks_fail_without_a_log(source, reference_namespace, tmp_path, monkeypatch):
    """Does every experiment quick check fail, with its message, when no log was handed in?"""
    monkeypatch.chdir(tmp_path)
    for cell in _test_cells(source):
        if "ExperimentLog" not in cell.source:
            continue
        with pytest.raises(AssertionError):
            exec(compile(strip_hidden_tests(cell.source), "quick", "exec"), dict(reference_namespace))


def test_reference_log_is_small_and_complete():
    """Is the shipped reference log small (< 1.5 MB) with every snapshot it names?"""
    folder = FILES.REFERENCE_LOG
    records = _records(folder)
    assert records and all((folder / r["snapshot"]).is_file() for r in records)
    size = sum(path.stat().st_size for path in folder.iterdir())
    assert size < 1_500_000, size
