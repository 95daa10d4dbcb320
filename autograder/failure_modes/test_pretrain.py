"""Hidden checks: pretrain_discriminator, D trained alone before the game starts.

A probe records D's ``train_on_batch`` calls in the notebook's process (inputs, targets,
whose weights changed), so the feedback names what the pre-training did: how many
updates it took, on which targets, and what D's accuracy did.
"""
import numpy as np
import pytest

PROBES = "ganlab_kit.grading.probes"
STEPS = 30        # the first call's steps ...
MORE_STEPS = 7    # ... and the second's, on the same networks


def _is_real(inputs, real_images):
    flat_real = {row.tobytes() for row in np.asarray(real_images, np.float32).reshape(len(real_images), -1)}
    return np.array([row.tobytes() in flat_real for row in np.asarray(inputs, np.float32).reshape(len(inputs), -1)])


@pytest.fixture(scope="module")
def pretrained(nb, real_digits, tools):
    """Runs the student's pre-training twice (STEPS, then MORE_STEPS steps); D's accuracy on a fixed
    batch before and after the first call, measured here, G's weights before and after, what the
    function returned, and D's recorded train_on_batch calls of each call."""
    generator, discriminator = tools.make_networks(nb)
    real = real_digits[:32]
    fake = np.asarray(generator.predict_on_batch(tools.noise(32, seed=1)))
    generator_before = tools.weights(generator)
    discriminator_before = tools.weights(discriminator)
    accuracy_before = tools.accuracy(discriminator, real, fake)
    recorder = nb.new(f"{PROBES}:KerasTrainingRecorder", {"discriminator": discriminator},
                      {"generator": generator, "discriminator": discriminator})
    try:
        returned = nb.pretrain_discriminator(generator, discriminator, real_digits, STEPS, batch_size=32)
        first_calls = list(recorder.calls)
        accuracy_after = tools.accuracy(discriminator, real, fake)
        nb.pretrain_discriminator(generator, discriminator, real_digits, MORE_STEPS, batch_size=32, seed=1)
        second_calls = list(recorder.calls)[len(first_calls):]
    finally:
        recorder.remove()
    targets_right = True
    for call in first_calls:
        if call["targets"] is None:
            targets_right = False
            continue
        is_real = _is_real(call["inputs"], real_digits)
        targets = np.asarray(call["targets"]).reshape(-1)
        targets_right &= bool(targets.size == is_real.size and np.all(targets[is_real] > 0.5)
                              and np.all(targets[~is_real] < 0.5))
    return {"returned": returned, "before": accuracy_before, "after": accuracy_after,
            "updates": [len(first_calls), len(second_calls)], "targets_right": targets_right,
            "generator_changed": tools.changed(generator_before, tools.weights(generator)),
            "discriminator_changed": tools.changed(discriminator_before, tools.weights(discriminator))}


@pytest.mark.points(1)
def test_raises_accuracy(pretrained):
    """Does pre-training train D for `steps` updates on real digits (target 1) and fakes (target 0),
    raising D's accuracy on a fixed batch of real digits and fakes of the untrained G?"""
    assert pretrained["discriminator_changed"], (
        "pretrain_discriminator did not change D's weights: call discriminator.train_on_batch "
        "in the loop (with discriminator.trainable = True).")
    updates = pretrained["updates"]
    per_step = updates[0] / STEPS
    assert per_step in (1, 2) and updates[1] == per_step * MORE_STEPS, (
        f"pretrain_discriminator(..., steps={STEPS}) called discriminator.train_on_batch {updates[0]} "
        f"times, and with steps={MORE_STEPS} {updates[1]} times: loop `for _ in range(steps)` with one "
        "train_on_batch per step (on real images and fakes together), whatever `steps` is.")
    if pretrained["after"] < max(0.9, pretrained["before"] + 0.2):
        cause = ("D's targets were not 1 for the real images and 0 for the fakes: check the targets."
                 if not pretrained["targets_right"] else
                 "The updates and their targets were right: train on freshly drawn real images and "
                 "fakes of the generator you were given in every step.")
        raise AssertionError(
            f"after {updates[0]} pre-training updates D classifies {pretrained['after']:.0%} of a fixed "
            f"batch correctly (before: {pretrained['before']:.0%}); it should tell real digits from the "
            f"untrained generator's output almost perfectly. {cause}")


@pytest.mark.points(1)
def test_generator_untouched(pretrained):
    """Does pre-training leave the generator's weights alone (only D learns)?"""
    assert not pretrained["generator_changed"], (
        "pre-training changed the generator's weights: only D trains here. Make the fakes with "
        "generator.predict_on_batch (or generator(z)) and do not train the combined model.")


@pytest.mark.points(1)
def test_returns_accuracy_before_and_after(pretrained):
    """Does pretrain_discriminator return D's accuracy before and after, as two numbers in [0, 1]?"""
    returned = pretrained["returned"]
    assert isinstance(returned, (tuple, list)) and len(returned) == 2, (
        f"pretrain_discriminator should return (accuracy_before, accuracy_after), got {returned!r}.")
    before, after = (float(np.asarray(value)) for value in returned)
    assert 0.0 <= before <= 1.0 and 0.0 <= after <= 1.0, (
        f"accuracies are shares in [0, 1]; got {before} and {after}.")
    assert after > before and after >= 0.9, (
        f"the accuracy you report after pre-training ({after:.0%}) should be high and above the one "
        f"before ({before:.0%}); measure both on the same fixed batch.")
