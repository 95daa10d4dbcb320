"""Hidden checks: training_turn, one turn of the game in the seed lab's order.

Run with the kit's combined model, so only the turn itself is graded here. A probe
records every train_on_batch call of the combined model and of D in the notebook's
process: which model, its inputs and targets, and whose weights the call changed.
"""
import math

import numpy as np
import pytest

PROBES = "ganlab_kit.grading.probes"


@pytest.fixture(scope="module")
def turns(nb, real_digits, tools):
    """Two turns of the student's training_turn; the recorded calls of each and what it returned."""
    generator, discriminator = tools.make_networks(nb)
    combined = nb.new("ganlab_kit.keras_gan.failure:build_combined_model", generator, discriminator,
                      learning_rate=1e-3)
    recorder = nb.new(f"{PROBES}:KerasTrainingRecorder",
                      {"combined": combined, "discriminator": discriminator},
                      {"generator": generator, "discriminator": discriminator})
    results = []
    try:
        for index in range(2):
            real = real_digits[index * tools.batch:(index + 1) * tools.batch]
            z = tools.noise(tools.batch, seed=10 + index)
            seen = len(recorder.calls)
            returned = nb.training_turn(generator, discriminator, combined, real, z)
            results.append({"real": real, "noise": z, "returned": returned,
                            "calls": recorder.calls[seen:]})
    finally:
        recorder.remove()
    return results


def _calls(turn, model):
    return [call for call in turn["calls"] if call["model"] == model]


@pytest.mark.points(1)
def test_generator_step_first(turns):
    """Does a turn train G through the combined model first, then D (the seed's order)?"""
    for turn in turns:
        order = [call["model"] for call in turn["calls"]]
        assert "combined" in order and "discriminator" in order, (
            f"a turn should call combined.train_on_batch and discriminator.train_on_batch; the calls "
            f"seen were {order or 'none'}.")
        assert order[0] == "combined" and order[-1] == "discriminator" and order.count("combined") == 1, (
            f"the order of train_on_batch calls in a turn was {order}: first G through the combined "
            "model, then D.")


@pytest.mark.points(1)
def test_label_vectors(turns, tools):
    """Does G train on target 1 for every noise vector, and D on target 1 for each real image and
    0 for as many fakes?"""
    for turn in turns:
        (g_call,) = _calls(turn, "combined")
        assert g_call["targets"] is not None and np.asarray(g_call["targets"]).size == tools.batch, (
            "the combined model should get one target per noise vector.")
        assert np.all(np.asarray(g_call["targets"]) == 1), (
            "the combined model's targets should all be 1 ('real'): G learns to make D call its fakes "
            "real. With target 0 it would learn to look fake.")
        assert g_call["inputs"].shape == turn["noise"].shape and np.array_equal(g_call["inputs"], turn["noise"]), (
            "train the combined model on the noise the turn was given.")
        inputs = np.concatenate([call["inputs"] for call in _calls(turn, "discriminator")])
        targets = np.concatenate([np.asarray(call["targets"]).reshape(-1) for call in _calls(turn, "discriminator")])
        flat_real = turn["real"].reshape(len(turn["real"]), -1)
        is_real = np.array([any(np.array_equal(row, real) for real in flat_real)
                            for row in inputs.reshape(len(inputs), -1)])
        assert is_real.sum() == tools.batch and (~is_real).sum() == tools.batch, (
            f"D should train on the {tools.batch} real images of the turn and on as many fakes; it "
            f"saw {int(is_real.sum())} real and {int((~is_real).sum())} other images.")
        assert np.all(targets[is_real] == 1) and np.all(targets[~is_real] == 0), (
            "D's targets should be 1 for the real images and 0 for the fakes.")


@pytest.mark.points(1)
def test_discriminator_frozen_in_generator_step(turns):
    """Does G's step through the combined model change G but leave D's weights as they were?"""
    for turn in turns:
        (g_call,) = _calls(turn, "combined")
        assert g_call["changed"]["generator"], "G's step through the combined model did not change G."
        assert not g_call["changed"]["discriminator"], (
            "G's step through the combined model also changed D: set discriminator.trainable = False "
            "right before combined.train_on_batch (Keras 3 reads the flag when it traces the call).")


@pytest.mark.points(1)
def test_discriminator_learns_on_its_step(turns):
    """Does D's own step change D (and not G), turn after turn?"""
    for index, turn in enumerate(turns, 1):
        calls = _calls(turn, "discriminator")
        assert any(call["changed"]["discriminator"] for call in calls), (
            f"in turn {index}, D's train_on_batch did not change D: set discriminator.trainable = True "
            "right before it. If the flag is False when Keras first traces D's train step, D never "
            "learns (the Keras 2 recipe's trap).")
        assert not any(call["changed"]["generator"] for call in calls), "D's step changed G."


@pytest.mark.points(1)
def test_returns_losses_and_accuracy(turns):
    """Does training_turn return {"g_loss", "d_loss", "d_acc"} as numbers, d_acc in [0, 1]?"""
    for turn in turns:
        returned = turn["returned"]
        assert isinstance(returned, dict) and {"g_loss", "d_loss", "d_acc"} <= set(returned), (
            f"training_turn should return a dict with g_loss, d_loss and d_acc; got {returned!r}.")
        values = {key: float(np.ravel(np.asarray(returned[key], dtype=np.float64))[0])
                  for key in ("g_loss", "d_loss", "d_acc")}
        assert all(math.isfinite(value) for value in values.values()), f"non-finite values: {values}"
        assert 0.0 <= values["d_acc"] <= 1.0, (
            f"d_acc is D's accuracy, a share in [0, 1]; got {values['d_acc']}. Compile D with "
            "metrics=['accuracy'] and read it from train_on_batch's answer.")
