"""Hidden checks: create_gan, the stacked model D(G(z)), and the Keras 3 `trainable` rule.

The checks give create_gan the kit's generator and discriminator (gan_optimizer replaced
by the kit's), then train as Algorithm 1 does: the flag set right before each
train_on_batch.
"""
import numpy as np
import pytest


def _stacked(nb, kg, reference_optimizers, discriminator, generator, **kwargs):
    with nb.patched(**reference_optimizers):
        return kg.call_student(nb.create_gan, discriminator, generator, what="create_gan()", **kwargs)


def _batch(kg, batch_size=16, seed=0):
    real = np.random.default_rng(seed).uniform(-1.0, 1.0, (batch_size, kg.IMAGE_DIM)).astype(np.float32)
    return real, np.ones((batch_size, 1), np.float32)


@pytest.mark.points(1)
def test_output_is_d_of_g(nb, kg, reference_optimizers, reference_generator, steady_discriminator):
    """Does the stacked model map noise (B, 100) to D(G(z)) (B, 1), using the two models it is given?"""
    gan = _stacked(nb, kg, reference_optimizers, steady_discriminator, reference_generator)
    for model in (gan, steady_discriminator, reference_generator):
        kg.eager(model)
    for batch_size in (1, 6, 32):
        z = kg.noise(batch_size, seed=batch_size)
        verdicts = np.asarray(gan.predict_on_batch(z))
        assert verdicts.shape == (batch_size, 1), (
            f"noise of shape ({batch_size}, 100) gave {verdicts.shape}; the stacked model outputs "
            f"D(G(z)), shape ({batch_size}, 1).")
        expected = np.asarray(steady_discriminator.predict_on_batch(reference_generator.predict_on_batch(z)))
        assert np.allclose(verdicts, expected, atol=1e-5), (
            "the stacked model's output is not discriminator(generator(noise)) of the two models passed "
            "in; build it from those very models (not new ones or copies), so that training it trains "
            "this generator against this discriminator.")


@pytest.mark.points(1)
def test_compiled(nb, kg, reference_optimizers, reference_generator, steady_discriminator):
    """Is the stacked model compiled with binary cross-entropy, accuracy, and gan_optimizer()?"""
    gan = _stacked(nb, kg, reference_optimizers, steady_discriminator, reference_generator)
    config = gan.get_compile_config()
    assert isinstance(config, dict), "create_gan should compile the stacked model (gan.compile(...))."
    assert "binarycrossentropy" in str(config.get("loss")).lower().replace("_", ""), (
        f"the stacked model is compiled with loss {config.get('loss')!r}; use \"binary_crossentropy\": "
        "with the label 1 it is the generator's loss -log D(G(z)).")
    assert "acc" in str(config.get("metrics")).lower(), 'compile the stacked model with metrics=["accuracy"].'
    learning_rate = ((config.get("optimizer") or {}).get("config") or {}).get("learning_rate")
    assert isinstance(learning_rate, float) and abs(learning_rate - 0.001) < 1e-9, (
        f"the stacked model's optimizer has learning rate {learning_rate}; compile it with gan_optimizer() "
        "(learning rate 0.001) when no optimizer is passed in.")


@pytest.mark.points(1)
def test_discriminator_still_learns(nb, kg, reference_optimizers, reference_generator, steady_discriminator):
    """After create_gan, does the discriminator's own train_on_batch still change its weights
    (the Keras 2 'freeze once' recipe stops D from learning in Keras 3)?"""
    _stacked(nb, kg, reference_optimizers, steady_discriminator, reference_generator)
    before = kg.weights_of(nb, steady_discriminator)
    kg.train_on_batch(nb, kg.eager(steady_discriminator), *_batch(kg))   # D's flag as create_gan left it
    assert kg.changed(before, kg.weights_of(nb, steady_discriminator)), (
        "after create_gan(discriminator, generator), discriminator.train_on_batch no longer changes D's "
        "weights: create_gan left D frozen. In Keras 3, `trainable` counts when a model's train function "
        "first runs, not at compile, so the Keras 2 recipe (discriminator.trainable = False once, before "
        "compiling the stacked model) freezes D for its own training too. Leave the flag alone in "
        "create_gan; the training loop sets it before each train_on_batch.")


@pytest.mark.points(1)
def test_stacked_step_trains_only_the_generator(nb, kg, reference_optimizers, reference_generator,
                                                steady_discriminator):
    """With D frozen (discriminator.trainable = False, as Algorithm 1 sets it), does the stacked
    model's train_on_batch change the generator's weights and not the discriminator's?"""
    gan = _stacked(nb, kg, reference_optimizers, steady_discriminator, reference_generator)
    d_before = kg.weights_of(nb, steady_discriminator)
    g_before = kg.weights_of(nb, reference_generator)
    steady_discriminator.trainable = False   # before the stacked model's first step: eager or traced alike
    kg.train_on_batch(nb, kg.eager(gan), kg.noise(16, seed=3), np.ones((16, 1), np.float32))
    steady_discriminator.trainable = True
    assert not kg.changed(d_before, kg.weights_of(nb, steady_discriminator)), (
        "training the stacked model changed the discriminator although it was frozen; the stacked model "
        "must train only the generator.")
    assert kg.changed(g_before, kg.weights_of(nb, reference_generator)), (
        "training the stacked model left the generator's weights unchanged; the stacked model is how "
        "the generator learns, so G must stay trainable inside it (freeze D, not G).")
