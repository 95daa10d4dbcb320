"""Shared fixtures of the GAN Playground lab's hidden checks.

The experiment parts read the submitted log (``playground_log.jsonl``) and its snapshot
PNGs next to the notebook, with safe readers only (JSON, Pillow). A record counts for
the experiment checks only when its snapshot is there, unchanged (its SHA-256 matches),
carries the record's own run, index, examples, configuration fingerprint and digest, and the
500 samples drawn in it score what the record claims (re-scored here with the shipped
classifier); the ``log`` part reports the records that do not.
"""
import hashlib
import json
from pathlib import Path

import pytest

from ganlab_kit.torch_gan.layer_spec import preset
from ganlab_kit.widgets.playground_state import record_problem, samples_from_png

LOG_NAME = "playground_log.jsonl"
DIGIT_DATA = ("mnist-offline", "mnist")
MNIST_SHAPE = (28, 28, 1)
#: Examples each configuration of problems 4 and 5 must be trained for.
MIN_EXAMPLES = 10_000
#: Examples of the first convolutional run (problems 1 and 3) and its automatic snapshots.
FIRST_RUN_EXAMPLES = 25_000
AUTO_SNAPSHOTS = (10_000, 25_000)
REQUIRED_FIELDS = ("index", "run", "examples", "data", "batch_size", "generator", "discriminator",
                   "g_optimizer", "g_lr", "d_optimizer", "d_lr", "snapshot", "png_sha256")


def read_records(path):
    """(records, problems): the log's JSON objects in order, and what is wrong with its lines."""
    records, problems = [], []
    if not path.is_file():
        return records, [f"there is no {LOG_NAME} next to the notebook"]
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"line {number} of {LOG_NAME} is not JSON")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number} of {LOG_NAME} is not a record")
            continue
        missing = [name for name in REQUIRED_FIELDS if name not in record]
        if missing:
            problems.append(f"line {number} of {LOG_NAME} lacks {', '.join(missing)}")
            continue
        records.append(record)
    return records, problems


def snapshot_problem(record, directory):
    """Why the record's snapshot does not back it up, or None when it does: the picture is there,
    unchanged, carries the record's run, index, examples, configuration and digest, and the
    samples drawn in it score (with the shipped classifier) what the record says."""
    return record_problem(record, directory, rescore=True)


def configuration(record):
    """What makes two runs the same experiment, as a hashable key."""
    return json.dumps({key: record[key] for key in ("data", "batch_size", "generator", "discriminator",
                                                    "g_optimizer", "g_lr", "d_optimizer", "d_lr")},
                      sort_keys=True)


def models_and_training(record):
    """A configuration without the learning rates."""
    return json.dumps({key: record[key] for key in ("data", "batch_size", "generator", "discriminator",
                                                    "g_optimizer", "d_optimizer")}, sort_keys=True)


def is_preset(record, name):
    """Are the record's two models the named preset, layer for layer, on MNIST?"""
    return (record["data"] in DIGIT_DATA
            and record["generator"].get("layers") == preset(name, "generator", MNIST_SHAPE).to_dict()["layers"]
            and record["discriminator"].get("layers") == preset(name, "discriminator", MNIST_SHAPE).to_dict()["layers"])


class Log:
    """The submitted log: all records, the ones their snapshots back up, and per-run summaries.

    The checks reach the lab's rules through it (``log.MIN_EXAMPLES``, ``log.is_preset``...),
    so the check modules import nothing from this file."""

    MIN_EXAMPLES = MIN_EXAMPLES
    FIRST_RUN_EXAMPLES = FIRST_RUN_EXAMPLES
    AUTO_SNAPSHOTS = AUTO_SNAPSHOTS
    configuration = staticmethod(configuration)
    models_and_training = staticmethod(models_and_training)
    is_preset = staticmethod(is_preset)

    def __init__(self, directory):
        self.directory = Path(directory)
        self.records, self.line_problems = read_records(self.directory / LOG_NAME)
        self.problems = {record["index"]: snapshot_problem(record, self.directory) for record in self.records}
        self._same_samples_elsewhere()
        self.backed = [record for record in self.records if self.problems[record["index"]] is None]

    def _same_samples_elsewhere(self):
        """A picture whose drawn samples are those of another moment of training (another run or
        number of examples) was copied from that snapshot: neither record counts."""
        seen = {}
        for record in self.records:
            if self.problems[record["index"]] is not None:
                continue
            pixels = samples_from_png(self.directory / record["snapshot"])
            key = None if pixels is None else hashlib.sha256(pixels.tobytes()).hexdigest()
            other = seen.get(key)
            if other is not None and (other["run"], other["examples"]) != (record["run"], record["examples"]):
                for one in (record, other):
                    self.problems[one["index"]] = (
                        f"the samples drawn in {record['snapshot']} and {other['snapshot']} are the same "
                        "although their log lines are other moments of training: hand in the pictures "
                        "the Playground saved")
            seen.setdefault(key, record)

    def runs(self):
        """run -> its backed-up records, by examples."""
        runs = {}
        for record in self.backed:
            runs.setdefault(record["run"], []).append(record)
        return {run: sorted(records, key=lambda r: r["examples"]) for run, records in runs.items()}

    def last_records(self):
        """The backed-up record with the most examples of every run."""
        return [records[-1] for records in self.runs().values()]

    def trained(self, minimum=MIN_EXAMPLES):
        return [record for record in self.last_records() if record["examples"] >= minimum]


@pytest.fixture(scope="module")
def log(nb):
    """The submitted experiment log (files next to the notebook), read once per part: the checks
    only read it, and reading it decodes every snapshot PNG (about 30 ms each)."""
    return Log(nb.path(LOG_NAME).parent)
