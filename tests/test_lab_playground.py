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


# Nothing lost under Validate: tests/test_browser_playground.py runs this release notebook with the reference
# answers in JupyterLab, presses nbgrader's Validate button (no course config) and compares
# every hand-in file byte for byte; a second, headless nbgrader validate run here would only
# repeat it at CI's expense.


# --------------------------------------------------------------------------- real-world bank (issue 21)
_RESHAPE_LINE = "    return math.prod(in_shape) == math.prod(out_shape)\n"


def _can_reshape(body):
    return [Edit("reshape_answer", _RESHAPE_LINE, body)]


def _units(value):
    return [Edit("reshape_constants", "GENERATOR_LAST_FC_UNITS = 784", f"GENERATOR_LAST_FC_UNITS = {value}")]


#: Correct answers in other common styles: every reshape check keeps its points.
RESHAPE_VALID = {
    "np_prod_bool_": _can_reshape("    import numpy as np\n    return np.prod(in_shape) == np.prod(out_shape)\n"),
    "reduce_mul": _can_reshape("    from functools import reduce\n    import operator\n"
                               "    return reduce(operator.mul, in_shape, 1) == reduce(operator.mul, out_shape, 1)\n"),
    "loop": _can_reshape("    size_in = size_out = 1\n    for size in in_shape:\n        size_in *= size\n"
                         "    for size in out_shape:\n        size_out *= size\n    return size_in == size_out\n"),
    # the "just try it" style of forum answers: let numpy / torch say whether the reshape works
    "numpy_try_reshape": _can_reshape("    import numpy as np\n    try:\n        np.empty(in_shape).reshape(out_shape)\n"
                                      "    except ValueError:\n        return False\n    return True\n"),
    "torch_try_view": _can_reshape("    import torch\n    try:\n        torch.empty(in_shape).view(*out_shape)\n"
                                   "    except RuntimeError:\n        return False\n    return True\n"),
    "units_np_prod": _units("np.prod([28, 28, 1])") + [Edit("reshape_constants", "# Replace each",
                                                            "import numpy as np\n# Replace each")],
    "units_product": _units("28 * 28 * 1"),
    "hints_from_function": [Edit("reshape_constants", "RESHAPE_600_TO_20_20_2 = False",
                                 "RESHAPE_600_TO_20_20_2 = can_reshape([600], [20, 20, 2])")],
}
#: Real bugs: each loses points in the reshape part.
RESHAPE_BUGS = {
    "whole_multiple": _can_reshape("    return math.prod(in_shape) % math.prod(out_shape) == 0\n"),
    "whole_multiple_either_way": _can_reshape(
        "    a, b = math.prod(in_shape), math.prod(out_shape)\n    return max(a, b) % min(a, b) == 0\n"),
    "enough_values": _can_reshape("    return math.prod(in_shape) >= math.prod(out_shape)\n"),
    "first_axis_only": _can_reshape("    return in_shape[0] == math.prod(out_shape)\n"),
    "sum_of_sizes": _can_reshape("    return sum(in_shape) == sum(out_shape)\n"),
    "number_of_axes": _can_reshape("    return len(in_shape) == len(out_shape)\n"),
    "units_first_layer": _units("256"),
    "units_as_shape": _units("[28, 28, 1]"),
    "hint_as_string": [Edit("reshape_constants", "RESHAPE_800_TO_20_10_4 = True", 'RESHAPE_800_TO_20_10_4 = "True"')],
}


def test_reshape_bank_bugs_caught_and_valid_kept(source, capsys):
    """Do the real-world-style answers of Problem 2 grade right both ways: every valid style
    (np.bool_, np.int64, try-reshape) keeps all reshape points, every bug (whole multiples
    included) loses some; and does the quick check already catch the can_reshape bugs?"""
    from lab_checks import namespace_with, quick_check_failures, quick_checks

    quick = quick_checks(source, ASSIGNMENT)["reshape_checks"]
    kept, caught, quick_caught, wrong = 0, 0, 0, []
    for name, edits in {**RESHAPE_VALID, **RESHAPE_BUGS}.items():
        namespace = namespace_with(source, edits)
        result = grade_all(ASSIGNMENT, namespace, ["reshape"])["reshape"]
        if name in RESHAPE_VALID:
            kept += not result.failed_checks
            if result.failed_checks:
                wrong.append((name, result.failed_checks))
            assert not quick_check_failures({"reshape_checks": quick}, dict(namespace)), name
        else:
            caught += bool(result.failed_checks)
            if not result.failed_checks:
                wrong.append((name, "kept full marks"))
            quick_caught += bool(quick_check_failures({"reshape_checks": quick}, dict(namespace)))
    with capsys.disabled():
        print(f"\nplayground reshape bank: bugs caught {caught}/{len(RESHAPE_BUGS)}, "
              f"valid kept {kept}/{len(RESHAPE_VALID)}; quick check catches {quick_caught}/{len(RESHAPE_BUGS)} bugs")
    assert not wrong, wrong


# --------------------------------------------------------------------------- quick checks (issue 26)
def _edit_record(index, change):
    def edit(folder):
        records = _records(folder)
        change(records[index])
        _write(folder, records)
    return edit


def _delete_png(index):
    def delete(folder):
        (folder / _records(folder)[index]["snapshot"]).unlink()
    return delete


def _set_scores(record, **values):
    record["scores"].update(values)


#: The lab's signature mistakes with the hand-in files, where the student is: a snapshot lost,
#: a log line edited by hand (examples, scores, settings), a note typed into the log, a picture
#: swapped for another.
LOG_MISTAKES = {
    **{f"deleted_png_{index + 1}": _delete_png(index) for index in range(6)},
    "examples_edited": _edit_record(4, lambda r: r.update(examples=30_000)),
    "examples_edited_slightly": _edit_record(1, lambda r: r.update(examples=r["examples"] + 64)),
    "counts_edited": _edit_record(1, lambda r: _set_scores(r, class_counts=[50] * 10, coverage=10,
                                                           covered_classes=list(range(10)))),
    "confident_rate_edited": _edit_record(1, lambda r: _set_scores(r, confident_rate=0.9)),
    "metrics_edited": _edit_record(3, lambda r: r["metrics"].update(d_loss=0.7)),
    "learning_rate_edited": _edit_record(3, lambda r: r.update(g_lr=5e-4)),
    "note_in_log": lambda folder: _garbage_line(folder),
    "picture_swapped": lambda folder: (folder / "playground_002.png").write_bytes(
        (folder / "playground_001.png").read_bytes()),
}


def test_log_quick_check_catches_the_signature_mistakes(source, reference_namespace, tmp_path, monkeypatch, capsys):
    """Does the log's quick check fail, with a message that says what to change, on each signature
    mistake with the hand-in files (a deleted PNG, an edited examples value, edited scores...), while
    the reference files pass? Prints the catch rate per part."""
    from lab_checks import quick_check_failures, quick_checks

    quick = quick_checks(source, ASSIGNMENT)
    log_cells = {grade_id: code for grade_id, code in quick.items() if "ExperimentLog" in code}
    rates, missed = {}, []
    for name, mistake in {"reference": None, **LOG_MISTAKES}.items():
        folder = tmp_path / name
        folder.mkdir()
        FILES.reference_files(folder)
        if mistake:
            mistake(folder)
        monkeypatch.chdir(folder)
        failed = quick_check_failures(log_cells, dict(reference_namespace))
        if mistake is None:
            assert not failed, failed
            continue
        message = str(failed.get("log_checks", ""))
        good = bool(message) and any(word in message for word in ("hand in", "put back", "remove it"))
        caught, total = rates.get("log", (0, 0))
        rates["log"] = (caught + good, total + 1)
        if not good:
            missed.append((name, message))
    with capsys.disabled():
        for part, (caught, total) in rates.items():
            print(f"\nplayground quick checks, part {part}: {caught}/{total} signature mistakes caught")
    assert not missed, missed


# --------------------------------------------------------------------------- claims bound to evidence (issue 22)
def _forge_chunk(folder, index, pixels_from=None, **changes):
    """What a hostile student can do with the public code: change log entry ``index`` (``changes``),
    give its PNG (or the pixels of snapshot ``pixels_from``) a text chunk written with the kit's
    public key, fingerprint and digest for the changed line, and fix the line's SHA-256."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from ganlab_kit.widgets.playground_state import (PNG_KEY, configuration_fingerprint, png_sha256,
                                                     read_png_record, record_digest)

    records = _records(folder)
    record = records[index]
    for key, value in changes.items():
        if key == "scores":
            record["scores"].update(value)
        else:
            record[key] = value
    source = folder / (records[pixels_from]["snapshot"] if pixels_from is not None else record["snapshot"])
    summary = read_png_record(source)
    summary.update(index=record["index"], run=record["run"], examples=record["examples"],
                   configuration=configuration_fingerprint(record), record=record_digest(record))
    info = PngInfo()
    info.add_text(PNG_KEY, json.dumps(summary))
    with Image.open(source) as image:
        image.load()
        image.save(folder / "forged.png", format="PNG", pnginfo=info)
    (folder / "forged.png").replace(folder / record["snapshot"])
    record["png_sha256"] = png_sha256(folder / record["snapshot"])
    _write(folder, records)
    return record


@pytest.mark.parametrize("forgery", ["scores_edited", "all_ten_digits_claimed", "pixels_from_another_snapshot",
                                     "pixels_from_another_run"])
def test_claims_are_bound_to_their_pictures(reference_namespace, parts, tmp_path, forgery):
    """Does a log line whose claims its picture does not back up lose its problem's points with a
    feedback line, even when its PNG chunk was rewritten with the kit's public key, fingerprint and
    digest (edited scores re-derived from the samples drawn in the PNG; pixels copied from another
    snapshot)?"""
    FILES.reference_files(tmp_path)
    records = _records(tmp_path)
    d_faster = next(i for i, r in enumerate(records) if r["d_lr"] > r["g_lr"])
    first_run_25k = next(i for i, r in enumerate(records) if r["examples"] >= 25_000)
    if forgery == "scores_edited":
        _forge_chunk(tmp_path, first_run_25k, scores={"confident_rate": 0.95})
    elif forgery == "all_ten_digits_claimed":
        _forge_chunk(tmp_path, first_run_25k, scores={"class_counts": [50] * 10, "coverage": 10,
                                                      "covered_classes": list(range(10))})
    elif forgery == "pixels_from_another_snapshot":
        _forge_chunk(tmp_path, d_faster, pixels_from=d_faster + 1)
    else:
        _forge_chunk(tmp_path, d_faster, pixels_from=0)
    results = grade_all(ASSIGNMENT, reference_namespace, parts, tmp_path)
    log = results["log"]
    assert "test_log_matches_snapshots" in log.failed_checks, log.failed_checks
    feedback = " ".join(check.feedback or "" for check in log.checks if not check.passed)
    assert "scores" in feedback or "samples drawn" in feedback, feedback
    lost = {part for part, result in results.items() if result.failed_checks} - {"log"}
    # the forged line stops counting: run 1's 25,000 snapshot, or run 3 (the D-faster run)
    assert lost == {"scores_edited": {"first_run"}, "all_ten_digits_claimed": {"first_run"},
                    "pixels_from_another_snapshot": {"configurations"},
                    "pixels_from_another_run": {"configurations"}}[forgery], lost


def test_each_student_has_a_seed_of_their_own(monkeypatch, tmp_path):
    """Do two students (JupyterHub users) get different seeds, recorded in their logs, and does one
    student get the same seed each time?"""
    from ganlab_kit.widgets.playground_state import TrainingSettings, student_seed

    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    ada = student_seed()
    assert TrainingSettings().seed == ada == student_seed()
    monkeypatch.setenv("JUPYTERHUB_USER", "grace")
    assert TrainingSettings().seed != ada
    assert TrainingSettings(seed=7).seed == 7
