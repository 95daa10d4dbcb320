"""Hidden checks: create_generator (layers read from the model, outputs from a forward pass)."""
import numpy as np
import pytest


def _generator(nb, kg):
    generator = nb.create_generator()
    assert kg.is_keras(nb, generator, "Model") or kg.is_keras(nb, generator, "Sequential"), (
        "create_generator() should return a Keras model (keras.Sequential).")
    return kg.eager(generator)   # a fresh model: its predict step runs without a trace


@pytest.mark.points(1)
def test_layer_widths(nb, kg):
    """Does the generator read 100-value noise and have Dense layers of 300, 600, 1200 and 784 units?"""
    generator = _generator(nb, kg)
    shape = tuple(generator.input_shape)
    assert shape[-1:] == (kg.LATENT_DIM,), (
        f"the generator's input has shape {shape}; it reads noise vectors of {kg.LATENT_DIM} values: "
        "keras.Input(shape=(LATENT_DIM,)).")
    units = [layer["units"] for layer in kg.dense_stack(kg.keras_layers(nb, generator))]
    assert units == [300, 600, 1200, kg.IMAGE_DIM], (
        f"the generator's Dense layers have {units} units; the table asks for [300, 600, 1200, 784]: "
        "widening towards the 784 pixels of an image.")


@pytest.mark.points(1)
def test_hidden_activations(nb, kg):
    """Is each hidden Dense layer followed by a LeakyReLU?"""
    stack = kg.dense_stack(kg.keras_layers(nb, _generator(nb, kg)))
    assert len(stack) >= 2, "the generator should have hidden Dense layers and an output Dense layer."
    for index, layer in enumerate(stack[:-1], 1):
        assert kg.is_leaky_relu(layer["activations"]), (
            f"hidden Dense layer {index} ({layer['units']} units) is followed by {layer['activations'] or 'nothing'}; "
            "follow each hidden layer with layers.LeakyReLU(negative_slope=0.2). A LeakyReLU keeps a small "
            "gradient for negative inputs, so the generator keeps learning where a ReLU would be silent.")


@pytest.mark.points(1)
def test_output_shape(nb, kg):
    """Does the generator turn noise (B, 100) into images (B, 784) for several batch sizes?"""
    generator = _generator(nb, kg)
    for batch_size in (1, 5, 64):
        images = np.asarray(generator.predict_on_batch(kg.noise(batch_size, seed=batch_size)))
        assert images.shape == (batch_size, kg.IMAGE_DIM), (
            f"noise of shape ({batch_size}, 100) gave images of shape {images.shape}; expected "
            f"({batch_size}, 784): one flat 28 x 28 image per noise vector.")


@pytest.mark.points(1)
def test_output_range(nb, kg):
    """Do the generated pixels lie in [-1, 1], the range of the real images (tanh output)?"""
    generator = _generator(nb, kg)
    images = np.asarray(generator.predict_on_batch(kg.noise(64, seed=1, scale=10.0)))
    assert np.isfinite(images).all() and images.min() >= -1.0 and images.max() <= 1.0, (
        f"generated pixels range from {images.min():.3g} to {images.max():.3g}; the real images lie in "
        "[-1, 1]. End the generator with Dense(784, activation=\"tanh\").")
    assert images.min() < 0.0 < images.max(), (
        "all generated pixels have the same sign; the real images use the whole range [-1, 1] "
        "(a tanh output, not sigmoid or relu).")
