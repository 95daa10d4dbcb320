"""Demo students of the GAN Playground lab: the reference, the stub and typical mistakes.

Besides the notebook, a Playground submission hands in its experiment log and snapshots.
The reference student's come from ``reference_log/`` (short real runs, written by
``make_reference_log.py``); :func:`submission_files` derives each mistake's files from
them, so a mistake in the log costs points only in the parts that read that record.
``generator="reference"`` marks the students who hand in the reference files unchanged
(:func:`reference_files`); the others' files come from :func:`submission_files` only.
"""
import json
import shutil
from pathlib import Path

from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, Submission

REFERENCE_LOG = Path(__file__).resolve().parent / "reference_log"
LOG_NAME = "playground_log.jsonl"

SUBMISSIONS = [
    Submission(
        name="reference",
        description="the reference solution, with a real experiment log and its snapshots",
    ),
    Submission(
        name="stub",
        description="the release notebook handed in untouched, without a log",
        stub=True,
        generator=None,
        expected_failures=ALL_CHECKS,
    ),
    Submission(
        name="ndim_reshape",
        description="can_reshape compares the number of axes instead of the number of values",
        edits=(Edit("reshape_answer", "math.prod(in_shape) == math.prod(out_shape)",
                    "len(in_shape) == len(out_shape)"),),
        expected_failures={"reshape": frozenset({"test_hint_cases", "test_general_cases"})},
    ),
    Submission(
        name="no_discriminator_faster_run",
        description="the log lacks the run with D's learning rate above G's",
        generator=None,
        expected_failures={"configurations": frozenset({"test_discriminator_learns_faster",
                                                        "test_same_models_both_ways"})},
    ),
    Submission(
        name="no_fully_connected_run",
        description="the log lacks the fully connected run",
        generator=None,
        expected_failures={"fc_vs_conv": frozenset({"test_fully_connected_run",
                                                    "test_same_training_as_a_convolutional_run"})},
    ),
    Submission(
        name="lost_snapshot",
        description="one snapshot PNG (the fully connected run's Snapshot at 5,000 examples) not handed in",
        generator=None,
        expected_failures={"log": frozenset({"test_snapshots_present"})},
    ),
    Submission(
        name="edited_log",
        description="the log edited by hand: the D-faster run claims 30,000 examples instead of 10,048",
        generator=None,
        expected_failures={"log": frozenset({"test_log_matches_snapshots"}),
                           "configurations": frozenset({"test_discriminator_learns_faster",
                                                        "test_same_models_both_ways"})},
    ),
]


def _records():
    return [json.loads(line) for line in (REFERENCE_LOG / LOG_NAME).read_text().splitlines() if line.strip()]


def _d_faster_run(records):
    return next(r["run"] for r in records if r["d_lr"] > r["g_lr"])


def _fully_connected_run(records):
    return next(r["run"] for r in records if len(r["generator"]["layers"]) == 5)


def reference_files(destination):
    """The reference student's log and snapshots, copied to ``destination``: {file name: path}."""
    return submission_files("reference", destination)


def submission_files(name, destination):
    """The files demo student ``name`` hands in besides the notebook: {file name: path}.

    Written under ``destination`` (a folder of its own per student)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    if name == "stub":
        return {}
    records = _records()
    if name == "no_discriminator_faster_run":
        run = _d_faster_run(records)
        records = [r for r in records if r["run"] != run]
    elif name == "no_fully_connected_run":
        run = _fully_connected_run(records)
        records = [r for r in records if r["run"] != run]
    elif name == "edited_log":
        run = _d_faster_run(records)
        for record in records:
            if record["run"] == run:
                record["examples"] = 30_000
    files = {}
    lost = None
    if name == "lost_snapshot":
        run = _fully_connected_run(records)
        lost = next(r["snapshot"] for r in records if r["run"] == run and r["reason"] == "button")
    for record in records:
        if record["snapshot"] != lost:
            target = destination / record["snapshot"]
            shutil.copyfile(REFERENCE_LOG / record["snapshot"], target)
            files[record["snapshot"]] = target
    log = destination / LOG_NAME
    log.write_text("".join(json.dumps(record) + "\n" for record in records))
    files[LOG_NAME] = log
    return files
