"""Hidden checks: create_discriminator (layers, dropout, outputs, compile settings).

dis_optimizer is replaced by the kit's for these checks, so a mistake there costs
points only in the optimizers part.
"""
import numpy as np
import pytest


def _discriminator(nb, kg, reference_optimizers, **kwargs):
    with nb.patched(**reference_optimizers):
        discriminator = kg.call_student(nb.create_discriminator, what="create_discriminator()", **kwargs)
    assert kg.is_keras(nb, discriminator, "Model") or kg.is_keras(nb, discriminator, "Sequential"), (
        "create_discriminator() should return a Keras model (keras.Sequential).")
    return kg.eager(discriminator)   # a fresh model: its predict step runs without a trace


def _images(batch_size, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.uniform(-1.0, 1.0, (batch_size, 784))).astype(np.float32)


@pytest.mark.points(1)
def test_layer_widths(nb, kg, reference_optimizers):
    """Does the discriminator read 784 pixels and have Dense layers of 1200, 600, 300 and 1 units,
    each hidden one followed by a LeakyReLU?"""
    discriminator = _discriminator(nb, kg, reference_optimizers)
    shape = tuple(discriminator.input_shape)
    assert shape[-1:] == (kg.IMAGE_DIM,), (
        f"the discriminator's input has shape {shape}; it reads flat images of 784 values.")
    stack = kg.dense_stack(kg.keras_layers(nb, discriminator))
    units = [layer["units"] for layer in stack]
    assert units == [1200, 600, 300, 1], (
        f"the discriminator's Dense layers have {units} units; the table asks for [1200, 600, 300, 1]: "
        "narrowing an image down to one probability.")
    for index, layer in enumerate(stack[:-1], 1):
        assert kg.is_leaky_relu(layer["activations"]), (
            f"hidden Dense layer {index} is followed by {layer['activations'] or 'nothing'}; use "
            "layers.LeakyReLU(negative_slope=0.2) after each hidden layer.")


@pytest.mark.points(1)
def test_dropout_placement(nb, kg, reference_optimizers):
    """Does a Dropout layer follow the first and the second hidden layer (and no other)?"""
    stack = kg.dense_stack(kg.keras_layers(nb, _discriminator(nb, kg, reference_optimizers)))
    rates = [layer["dropout"] for layer in stack]
    assert len(rates) == 4 and len(rates[0]) == 1 and len(rates[1]) == 1 and rates[0][0] > 0 and rates[1][0] > 0, (
        f"Dropout rates after each Dense layer: {rates}; put one Dropout(dropout_rate) after the "
        "LeakyReLU of the first and of the second hidden layer. Dropout keeps D from memorising the "
        "real images and from winning the game too early.")
    assert not rates[2] and not rates[3], (
        f"Dropout rates after each Dense layer: {rates}; the third hidden layer and the output have no Dropout.")


@pytest.mark.points(1)
def test_dropout_rate_argument(nb, kg, reference_optimizers):
    """Does dropout_rate set both Dropout rates, and does dropout_rate=0 give the same network
    without its Dropout layers (the ablation differs only in dropout)?"""
    default = kg.dense_stack(kg.keras_layers(nb, _discriminator(nb, kg, reference_optimizers)))
    changed = kg.dense_stack(kg.keras_layers(nb, _discriminator(nb, kg, reference_optimizers, dropout_rate=0.45)))
    rates = [rate for layer in changed for rate in layer["dropout"]]
    assert len(rates) == 2 and all(abs(rate - 0.45) < 1e-9 for rate in rates), (
        f"create_discriminator(dropout_rate=0.45) has Dropout rates {rates}; both Dropout layers "
        "should use dropout_rate.")
    ablation = kg.dense_stack(kg.keras_layers(nb, _discriminator(nb, kg, reference_optimizers, dropout_rate=0.0)))
    assert not [rate for layer in ablation for rate in layer["dropout"] if rate > 0], (
        "create_discriminator(dropout_rate=0) still has active Dropout layers; leave them out.")
    without = [(layer["units"], layer["activations"]) for layer in default]
    assert [(layer["units"], layer["activations"]) for layer in ablation] == without, (
        "with dropout_rate=0 the other layers changed too; the ablation must differ from the first "
        "network only in its dropout.")


@pytest.mark.points(1)
def test_output_probability(nb, kg, reference_optimizers):
    """Does D map images (B, 784) to probabilities (B, 1) in (0, 1) for several batch sizes?"""
    discriminator = _discriminator(nb, kg, reference_optimizers)
    for batch_size, scale in ((1, 1.0), (7, 1.0), (64, 30.0)):
        verdicts = np.asarray(discriminator.predict_on_batch(_images(batch_size, batch_size, scale)))
        assert verdicts.shape == (batch_size, 1), (
            f"images of shape ({batch_size}, 784) gave D(x) of shape {verdicts.shape}; expected "
            f"({batch_size}, 1): one probability per image.")
        assert np.isfinite(verdicts).all() and verdicts.min() >= 0.0 and verdicts.max() <= 1.0, (
            f"D(x) ranges from {verdicts.min():.3g} to {verdicts.max():.3g}; it is a probability: end "
            "with Dense(1, activation=\"sigmoid\"), which binary cross-entropy expects.")
        if batch_size > 1 and scale == 1.0:
            assert np.ptp(verdicts) > 0, (
                f"D(x) is {verdicts.ravel()[0]:.3g} for every one of {batch_size} different images: D's output "
                "does not depend on the image. A softmax over one unit is always 1; end with "
                "Dense(1, activation=\"sigmoid\").")


@pytest.mark.points(1)
def test_compiled(nb, kg, reference_optimizers):
    """Is D compiled with binary cross-entropy, accuracy as a metric, the optimizer it is given,
    and dis_optimizer() when given none?"""
    given = nb.new("ganlab_kit.keras_gan.lab:lab_gan_optimizer")  # recognisable: learning rate 0.001
    for optimizer, rate, how in ((given, 0.001, "the optimizer passed in"),
                                 (None, 0.0002, "dis_optimizer() when optimizer is None")):
        discriminator = _discriminator(nb, kg, reference_optimizers, optimizer=optimizer)
        config = discriminator.get_compile_config()
        assert isinstance(config, dict), "create_discriminator should compile the model (discriminator.compile(...))."
        loss = str(config.get("loss")).lower().replace("_", "")
        assert "binarycrossentropy" in loss, (
            f"D is compiled with loss {config.get('loss')!r}; use loss=\"binary_crossentropy\": D's "
            "output is a probability judged against the labels 1 (real) and 0 (fake).")
        metrics = str(config.get("metrics")).lower()
        assert "acc" in metrics, (
            "compile D with metrics=[\"accuracy\"], so that train_on_batch reports its accuracy.")
        optimizer_config = (config.get("optimizer") or {}).get("config", {})
        learning_rate = optimizer_config.get("learning_rate")
        assert isinstance(learning_rate, float) and abs(learning_rate - rate) < 1e-9, (
            f"D should be compiled with {how}; its optimizer has learning rate {learning_rate}.")
