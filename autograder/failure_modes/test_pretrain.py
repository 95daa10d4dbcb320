"""Hidden checks: pretrain_discriminator, D trained alone before the game starts."""
import numpy as np
import pytest

STEPS = 30


@pytest.fixture(scope="module")
def pretrained(nb, real_digits, tools):
    """Runs the student's pre-training once; D's accuracy on a fixed batch before and after,
    measured here, G's weights before and after, and what the function returned."""
    generator, discriminator = tools.make_networks(nb)
    real = real_digits[:32]
    fake = np.asarray(generator.predict_on_batch(tools.noise(32, seed=1)))
    generator_before = tools.weights(generator)
    discriminator_before = tools.weights(discriminator)
    accuracy_before = tools.accuracy(discriminator, real, fake)
    returned = nb.pretrain_discriminator(generator, discriminator, real_digits, STEPS, batch_size=32)
    return {"returned": returned, "before": accuracy_before,
            "after": tools.accuracy(discriminator, real, fake),
            "generator_changed": tools.changed(generator_before, tools.weights(generator)),
            "discriminator_changed": tools.changed(discriminator_before, tools.weights(discriminator))}


@pytest.mark.points(1)
def test_raises_accuracy(pretrained):
    """Does pre-training raise D's accuracy on a fixed batch of real digits and fakes of the untrained G?"""
    assert pretrained["discriminator_changed"], (
        "pretrain_discriminator did not change D's weights: call discriminator.train_on_batch "
        "in the loop (with discriminator.trainable = True).")
    assert pretrained["after"] >= max(0.9, pretrained["before"] + 0.2), (
        f"after {STEPS} pre-training steps D classifies {pretrained['after']:.0%} of a fixed batch "
        f"correctly (before: {pretrained['before']:.0%}); it should tell real digits (target 1) "
        "from the untrained generator's output (target 0) almost perfectly. Check the targets.")


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
