"""Hidden checks: build_combined_model, D(G(z)) as one compiled model that trains G."""
import numpy as np
import pytest


def _bce_to_one(scores):
    scores = np.clip(np.asarray(scores, np.float64).reshape(-1), 1e-7, 1 - 1e-7)
    return float(-np.log(scores).mean())


@pytest.mark.points(1)
def test_computes_d_of_g(nb, networks, tools):
    """Does the combined model turn noise (B, latent_dim) into D(G(z)), shape (B, 1)?"""
    generator, discriminator = map(tools.eager, networks)     # predictions only: no traces needed
    combined = tools.eager(nb.build_combined_model(generator, discriminator))
    z = tools.noise(6)
    scores = np.asarray(combined.predict_on_batch(z))
    expected = np.asarray(discriminator.predict_on_batch(np.asarray(generator.predict_on_batch(z))))
    assert scores.shape == (6, 1), f"combined(z) for 6 noise vectors should have shape (6, 1), got {scores.shape}."
    assert np.allclose(scores, expected, atol=1e-5), (
        "the combined model's output is not D(G(z)) of the generator and discriminator you were "
        "given: chain the same two models (keras.Model(z, discriminator(generator(z))) or "
        "keras.Sequential([generator, discriminator])).")


@pytest.mark.points(1)
def test_trains_generator_towards_real(nb, networks, tools):
    """Is the combined model compiled with binary cross-entropy and Adam at the learning rate it is
    given, so that training it with target 1 moves G (and, with D frozen, only G) by steps of that size?"""
    # D's flag is set False right before the combined model's only step and left so until after it:
    # a traced step (flag read when traced) and an eager one (read at the call) train the same
    # weights, so these steps run eagerly (a first trace each otherwise)
    generator, discriminator = networks
    combined = tools.eager(nb.build_combined_model(generator, discriminator))
    z = tools.noise(16, seed=2)
    expected = _bce_to_one(combined.predict_on_batch(z))
    generator_before, discriminator_before = tools.weights(generator), tools.weights(discriminator)
    discriminator.trainable = False
    loss = tools.train_on_batch(nb, combined, z, np.ones((16, 1), np.float32))
    discriminator.trainable = True
    loss = float(np.ravel(np.asarray(loss, dtype=np.float64))[0])
    assert abs(loss - expected) <= 1e-3 * max(1.0, expected), (
        f"training the combined model on target 1 reported a loss of {loss:.4f}, but the binary "
        f"cross-entropy of D(G(z)) against 1 is {expected:.4f}: compile it with "
        "loss='binary_crossentropy' (and an optimizer such as Adam).")
    assert tools.changed(generator_before, tools.weights(generator)), (
        "training the combined model did not change the generator: G's weights must be trainable.")
    assert not tools.changed(discriminator_before, tools.weights(discriminator)), (
        "with discriminator.trainable = False set before its train_on_batch, the combined model "
        "still changed D: do not compile or call it in a way that re-enables D.")
    # Adam's first step moves the weights whose gradient is not tiny by the learning rate itself
    # (m / sqrt(v) = +-1 after one step): the largest change of G's weights is the learning rate.
    for learning_rate in (1e-2, 3e-4):
        generator, discriminator = tools.make_networks(nb)
        combined = tools.eager(nb.build_combined_model(generator, discriminator, learning_rate=learning_rate,
                                                       beta_1=0.5))
        before = tools.weights(generator)
        discriminator.trainable = False
        tools.train_on_batch(nb, combined, z, np.ones((16, 1), np.float32))
        discriminator.trainable = True
        moved = max(float(np.abs(new - old).max()) for old, new in zip(before, tools.weights(generator)))
        assert 0.5 * learning_rate <= moved <= 1.5 * learning_rate, (
            f"build_combined_model(..., learning_rate={learning_rate:g}) moved G's weights by up to "
            f"{moved:.2g} in its first step; Adam's first step is the learning rate itself. Compile with "
            "keras.optimizers.Adam(learning_rate, beta_1=beta_1): optimizer='adam' ignores the learning "
            "rate you pass (it is always 0.001), and the runs' g_lr knob would do nothing.")


@pytest.mark.points(1)
def test_discriminator_still_learns_on_its_own(nb, networks, real_digits, tools):
    """In the notebook's order (D compiled and pre-trained with its own train_on_batch, then the
    combined model built), does D still learn on its own train_on_batch afterwards?"""
    generator, discriminator = networks
    fake = np.asarray(tools.eager(generator).predict_on_batch(tools.noise(16)))   # D's own steps stay traced
    images = np.concatenate([real_digits[:16], fake])
    targets = np.concatenate([np.ones((16, 1)), np.zeros((16, 1))]).astype(np.float32)
    discriminator.trainable = True
    tools.train_on_batch(nb, discriminator, images, targets)  # pre-training: D's step traced trainable
    nb.build_combined_model(generator, discriminator)
    before = tools.weights(discriminator)
    tools.train_on_batch(nb, discriminator, images, targets)
    assert tools.changed(before, tools.weights(discriminator)), (
        "after build_combined_model, D's own train_on_batch no longer changes D, although D had "
        "already trained (as in the notebook's pre-training). Something in build_combined_model "
        "rebuilt D's training with D frozen: compiling D again (discriminator.compile) while "
        "discriminator.trainable is False makes Keras 3 trace D's next train step frozen. Do not "
        "compile D here; compile only the combined model.")
