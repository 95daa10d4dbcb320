"""Hidden checks: training_turn, one turn of the game.

Run in the notebook's order: D compiled and pre-trained (its own step first traced with
``trainable = True``), then the student's own combined model (the kit's where the student's
does not compute D(G(z))), then two turns. A probe records every train_on_batch call of the
combined model and of D in the notebook's process: which model, its inputs and targets,
whose weights the call changed and what it returned.
"""
import math

import numpy as np
import pytest

PROBES = "ganlab_kit.grading.probes"


def _combined_model(nb, generator, discriminator, tools):
    """The student's combined model when it computes D(G(z)) of the given networks, else the kit's."""
    z = tools.noise(4, seed=5)
    try:
        combined = nb.build_combined_model(generator, discriminator, learning_rate=1e-3)
        expected = np.asarray(discriminator.predict_on_batch(np.asarray(generator.predict_on_batch(z))))
        if np.allclose(np.asarray(combined.predict_on_batch(z)), expected, atol=1e-5):
            return combined
    except Exception:  # a broken combined model costs points in its own part, not here
        pass
    return nb.new("ganlab_kit.keras_gan.failure:build_combined_model", generator, discriminator,
                  learning_rate=1e-3)


@pytest.fixture(scope="module")
def turns(nb, real_digits, tools):
    """Two turns of the student's training_turn, in the notebook's flow; the recorded calls of each
    and what it returned."""
    generator, discriminator = tools.make_networks(nb)
    fake = np.asarray(generator.predict_on_batch(tools.noise(tools.batch, seed=3)))
    discriminator.trainable = True                       # the notebook's pre-training: one D step
    tools.train_on_batch(nb, discriminator, np.concatenate([real_digits[-tools.batch:], fake]),
                         np.concatenate([np.ones((tools.batch, 1)), np.zeros((tools.batch, 1))]).astype(np.float32))
    combined = _combined_model(nb, generator, discriminator, tools)
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
                            "calls": list(recorder.calls)[seen:]})
    finally:
        recorder.remove()
    return results


def _calls(turn, model):
    return [call for call in turn["calls"] if call["model"] == model]


@pytest.mark.points(1)
def test_one_step_each(turns):
    """Does a turn train G once through the combined model and D once on its batch, in either order
    (the seed's, G first, or the textbook's, D first)?"""
    for turn in turns:
        order = [call["model"] for call in turn["calls"]]
        assert "combined" in order and "discriminator" in order, (
            f"a turn should call combined.train_on_batch and discriminator.train_on_batch; the calls "
            f"seen were {order or 'none'}.")
        steps_of_d = order.count("discriminator")
        assert order.count("combined") == 1 and steps_of_d <= 2 and order in (
                ["combined"] + ["discriminator"] * steps_of_d, ["discriminator"] * steps_of_d + ["combined"]), (
            f"the train_on_batch calls of a turn were {order}: one step of G through the combined "
            "model and one step of D (one train_on_batch on the real images and the fakes together), "
            "G first as in the seed or D first; not more.")


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
            "right before combined.train_on_batch (Keras 3 reads the flag when it first traces the "
            "combined model's train step).")


@pytest.mark.points(1)
def test_discriminator_learns_on_its_step(turns):
    """Does D's own step change D (and not G), turn after turn?"""
    for index, turn in enumerate(turns, 1):
        calls = _calls(turn, "discriminator")
        if not any(call["changed"]["discriminator"] for call in calls):
            frozen = [len(call["inputs"]) for call in calls if not call["trainable"]["discriminator"]]
            cause = (f" discriminator.trainable was False when D's train_on_batch ran on {frozen[0]} images; "
                     "D's own step was traced trainable in pre-training on 2 x batch_size images, but Keras 3 "
                     "traces D's train step again for every batch size it has not seen (and after a "
                     "compile), reading the flag then: that step trains nothing." if frozen else "")
            raise AssertionError(
                f"in turn {index}, D's train_on_batch did not change D.{cause} Set "
                "discriminator.trainable = True right before D's train_on_batch, and do not compile D again.")
        assert not any(call["changed"]["generator"] for call in calls), "D's step changed G."


@pytest.mark.points(1)
def test_returns_losses_and_accuracy(turns):
    """Does training_turn return {"g_loss", "d_loss", "d_acc"} as numbers: G's loss from the combined
    model's train_on_batch, D's loss and accuracy from D's ([loss, accuracy], in that order)?"""
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
        answers = [call["result"] for call in _calls(turn, "discriminator") if len(call["result"]) >= 2]
        if answers:
            d_loss, d_acc = np.mean([answer[:2] for answer in answers], axis=0)
            close = lambda a, b: abs(a - b) <= 1e-4 * max(1.0, abs(b))  # noqa: E731
            assert not (close(values["d_loss"], d_acc) and close(values["d_acc"], d_loss)
                        and not close(d_loss, d_acc)), (
                f"d_loss and d_acc are swapped: D's train_on_batch returned [loss, accuracy] = "
                f"[{d_loss:.4f}, {d_acc:.4f}], you reported d_loss {values['d_loss']:.4f} and d_acc "
                f"{values['d_acc']:.4f}. Unpack it as d_loss, d_acc = discriminator.train_on_batch(...).")
            assert close(values["d_loss"], d_loss) and close(values["d_acc"], d_acc), (
                f"D's train_on_batch returned [loss, accuracy] = [{d_loss:.4f}, {d_acc:.4f}], but the turn "
                f"reported d_loss {values['d_loss']:.4f} and d_acc {values['d_acc']:.4f}: report what D's "
                "train_on_batch returned.")
        (g_call,) = _calls(turn, "combined")
        if g_call["result"]:
            assert abs(values["g_loss"] - g_call["result"][0]) <= 1e-4 * max(1.0, abs(g_call["result"][0])), (
                f"the combined model's train_on_batch returned the loss {g_call['result'][0]:.4f}, but the "
                f"turn reported g_loss {values['g_loss']:.4f}: report G's loss from that call.")
