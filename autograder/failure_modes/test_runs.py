"""Hidden checks: the three saved runs really show what they were set up to show.

Read from the files the notebook saved next to itself (``<run>_history.json`` and
``<run>_samples.npy``, with json and numpy.load(allow_pickle=False)); nothing is
retrained. The verdicts come from the kit's reference detectors with their
documented thresholds; the samples are classified here with the kit's PyTorch
classifier.
"""
import math

import numpy as np
import pytest

from ganlab_kit.keras_gan.failure import (COLLAPSE_MAX_CLASSES, RUN_NAMES, classes_covered,
                                          discriminator_overpowers, run_files)
from ganlab_kit.scoring import classify  # at the top: the checker imports it while the notebook runs


def _load(nb, name):
    history_path, samples_path = run_files(name, nb.path("."))
    assert history_path.is_file() and samples_path.is_file(), (
        f"{history_path.name} and {samples_path.name} are missing: run the {name} run's cell (it saves "
        "both next to the notebook) and hand them in with the notebook.")
    import json

    try:
        run = json.loads(history_path.read_text())
        samples = np.load(samples_path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise AssertionError(f"{history_path.name} or {samples_path.name} does not load "
                             f"({type(error).__name__}); run the cell again to save them.") from None
    accuracy = np.asarray(run.get("d_acc", []), dtype=np.float64)
    assert accuracy.ndim == 1 and accuracy.size >= 100 and np.all(np.isfinite(accuracy)), (
        f"{history_path.name} should hold D's accuracy for every turn (at least 100 turns).")
    assert samples.ndim == 5 and samples.shape[2:] == (28, 28, 1) and samples.shape[1] >= 64, (
        f"{samples_path.name} should hold sample snapshots (snapshots, samples, 28, 28, 1); got "
        f"{samples.shape}.")
    assert np.all(np.isfinite(samples)) and np.abs(samples).max() <= 1.0 + 1e-3, (
        f"{samples_path.name} holds values outside [-1, 1].")
    return run, samples.astype(np.float32)


def _digits_covered(samples):
    labels, _ = classify(samples[-1])
    return classes_covered(labels), np.bincount(labels, minlength=10)


@pytest.mark.points(1)
def test_run_files(nb):
    """Are the three runs saved (history JSON and sample snapshots) and readable?"""
    for name in RUN_NAMES:
        _load(nb, name)


@pytest.mark.points(1)
def test_healthy_run_is_healthy(nb):
    """Does the healthy run show neither failure: D not overpowering, the last samples covering
    more than three digits?"""
    run, samples = _load(nb, "healthy")
    accuracy = float(np.mean(run["d_acc"][-100:]))
    assert not discriminator_overpowers(run), (
        f"in your healthy run D was right on {accuracy:.0%} of its batches over the last 100 turns: "
        "that is D overpowering G. Use the healthy settings the notebook gives.")
    covered, counts = _digits_covered(samples)
    assert covered > COLLAPSE_MAX_CLASSES, (
        f"the healthy run's last samples show only {covered} digits with at least 5% of the samples "
        f"(counts per digit: {counts.tolist()}): train it with the notebook's healthy settings.")


def _knobs(run):
    """The settings of a saved run that differ from the healthy preset, as ``name=value`` text."""
    from ganlab_kit.keras_gan.failure import PRESETS, RunConfig

    try:
        config = RunConfig.from_dict(run.get("config") or {})
    except (TypeError, ValueError):
        return "settings that could not be read"
    healthy = PRESETS["healthy"]
    changed = [f"{name}={getattr(config, name)!r}" for name in healthy.__dataclass_fields__
               if getattr(config, name) != getattr(healthy, name)]
    return ", ".join(changed) if changed else "the healthy settings, unchanged"


@pytest.mark.points(1)
def test_overpowered_run_overpowers(nb):
    """Does the overpowered run show D's accuracy pinned near 100% at the end?"""
    run, _ = _load(nb, "overpowered")
    accuracy = float(np.mean(run["d_acc"][-100:]))
    assert discriminator_overpowers(run), (
        f"in your overpowered run ({_knobs(run)}) D was right on {accuracy:.0%} of its batches over the "
        "last 100 turns; a discriminator that overpowers G stays at 95% or more. On this seed these "
        "settings left G able to keep up: make G simpler (generator_hidden=()) and/or pre-train D "
        "for longer.")


@pytest.mark.points(1)
def test_collapsed_run_collapses(nb):
    """Does the collapsed run end with samples covering at most three digits?"""
    run, samples = _load(nb, "collapsed")
    covered, counts = _digits_covered(samples)
    accuracy = float(np.mean(run["d_acc"][-100:]))
    knobs = _knobs(run)
    if knobs == "the healthy settings, unchanged":
        advice = "change at least one knob of the notebook's list."
    else:
        advice = ("on this seed that setting did not make G repeat itself" +
                  (": D kept learning and stayed right on about "
                   f"{accuracy:.0%} of its batches, so it punished any image G repeated" if accuracy >= 0.55 else "") +
                  ". Not every knob of the list collapses on every seed (the notebook gives what each did "
                  "on seed 0): make it stronger, or combine it with freeze_discriminator_at.")
    assert covered <= COLLAPSE_MAX_CLASSES, (
        f"your collapse run ({knobs}) ended with samples that still show {covered} digits with at least 5% "
        f"of the samples (counts per digit: {counts.tolist()}); {advice}")
