"""The GAN Playground lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's code cells run in this process and the bridge runs
the checks on that namespace, next to the files each demo student hands in (the
reference experiment log and snapshots, or a mistake derived from them). Every check
must pass the reference and fail at least one known-wrong variant; each demo mistake
must fail exactly the checks it lists.
"""
import json

import pytest

from ganlab_kit.grading.notebook import nbgrader_metadata, strip_hidden_tests
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, load_submission_module
from lab_checks import AUTOGRADER, LabChecks, grade_all, lab_fixtures, submissions_of

ASSIGNMENT = "playground"
SUBMISSIONS = submissions_of(ASSIGNMENT)
source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)
LOG_NAME = "playground_log.jsonl"
FILES = load_submission_module(AUTOGRADER / ASSIGNMENT)


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


class TestPlaygroundChecks(LabChecks):
    """The checks every lab's hidden checks must pass (tests/lab_checks.py), for this lab."""

    ASSIGNMENT, SUBMISSIONS, MUTANTS = ASSIGNMENT, SUBMISSIONS, MUTANTS

    @pytest.fixture
    def hand_in(self):
        """Each demo student hands in its own experiment log and snapshots (none for the stub)."""
        def hand_in(name, folder):
            FILES.submission_files(name, folder)
            return folder
        return hand_in

    @classmethod
    def demo_mistakes(cls):
        """Every demo student but the reference and those that fail every check: mistakes in the
        code and mistakes in the handed-in log alike."""
        return sorted(name for name, submission in cls.SUBMISSIONS.items()
                      if submission.expected_failures != ALL_CHECKS and name != "reference")


def test_grading_is_deterministic(reference_namespace, parts, tmp_path):
    """Do two gradings of the same files give the same results, check for check?"""
    FILES.submission_files("edited_log", tmp_path)
    first = grade_all(ASSIGNMENT, reference_namespace, parts, tmp_path)
    second = grade_all(ASSIGNMENT, reference_namespace, parts, tmp_path)
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
