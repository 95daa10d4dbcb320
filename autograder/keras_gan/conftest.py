"""Shared helpers of the Keras GAN lab's hidden checks.

The checks of one part build the other pieces with the kit's reference code
(``ganlab_kit.keras_gan.lab``) in the notebook's process, so a bug costs points only in
the part where it lives. Nothing here imports Keras or TensorFlow: models live in the
notebook's process and what comes back is plain data (arrays, numbers, dicts).
"""
from types import SimpleNamespace

import numpy as np
import pytest

from ganlab_kit.grading.remote import RemoteError
from ganlab_kit.keras_gan.first_step import eager  # shared with the failure-modes checks

PROBES = "ganlab_kit.grading.probes"
LAB = "ganlab_kit.keras_gan.lab"
FIRST_STEP = "ganlab_kit.keras_gan.first_step"
LATENT_DIM = 100
IMAGE_DIM = 784


def noise(batch_size, seed=0, scale=1.0):
    """Standard normal noise (batch_size, 100) float32, the same for every grading run."""
    return (scale * np.random.default_rng(seed).standard_normal((batch_size, LATENT_DIM))).astype(np.float32)


def keras_layers(nb, model):
    """Plain descriptions of a notebook model's layers (type, units, activation, ...)."""
    return nb.new(f"{PROBES}:keras_layers", model)


def weights_of(nb, model):
    """Copies of a notebook model's weights, in order (NumPy arrays)."""
    return nb.new(f"{PROBES}:keras_weights", model)


def changed(before, after):
    """Whether any weight differs between two lists of copies."""
    return any(old.shape != new.shape or not np.array_equal(old, new) for old, new in zip(before, after))


def is_keras(nb, value, class_name):
    """Whether a notebook object is a Keras ``class_name`` (by qualified type name; the
    check process never imports Keras)."""
    return any(name.startswith("keras.") and name.rsplit(".", 1)[-1] == class_name
               for name in nb.type_names(value))


def dense_stack(described):
    """The Dense layers of a layer description, in order, each with what follows it:
    ``[{"units": 300, "activations": ["leaky_relu:0.2"], "dropout": []}, ...]``.

    Activations may be the Dense layer's own (``activation="tanh"``) or separate layers
    (``LeakyReLU``, ``Activation("tanh")``), so that both styles of correct code count.
    """
    stack = []
    for layer in described:
        kind = layer["type"]
        if kind == "Dense":
            activation = layer.get("activation", "linear")
            stack.append({"units": layer.get("units"), "dropout": [],
                          "activations": [] if activation in (None, "linear") else [str(activation)]})
        elif not stack:
            continue
        elif kind == "LeakyReLU":
            stack[-1]["activations"].append(f"leaky_relu:{layer.get('negative_slope', 0.3)}")
        elif kind in ("Activation", "ReLU", "ELU", "Softmax"):
            stack[-1]["activations"].append(str(layer.get("activation", kind.lower())))
        elif kind == "Dropout":
            stack[-1]["dropout"].append(float(layer.get("rate", 0.0)))
        elif kind not in ("InputLayer", "Flatten", "Reshape"):
            stack[-1]["activations"].append(kind)
    return stack


def is_leaky_relu(activations):
    """One LeakyReLU-like activation (layer or ``activation="leaky_relu"``) with a slope in (0, 1)."""
    if len(activations) != 1:
        return False
    name = activations[0]
    if name == "leaky_relu":
        return True
    if name.startswith("leaky_relu:"):
        return 0.0 < float(name.split(":", 1)[1]) < 1.0
    return False


def train_on_batch(nb, model, x, y):
    """``model.train_on_batch(x, y)`` in the notebook, its first step traced once instead of twice
    (``ganlab_kit.keras_gan.first_step``: the same step on the same numbers, a second sooner)."""
    return nb.new(f"{FIRST_STEP}:train_on_batch", model, x, y)


def call_student(function, *args, what, **kwargs):
    """Call a notebook function; a Keras 2 spelling becomes feedback that names it."""
    try:
        return function(*args, **kwargs)
    except RemoteError as error:
        message = str(error)
        if "not recognized" in message and "'lr'" in message:
            raise AssertionError(
                f"{what} raised {message}. Keras 3 calls the learning rate `learning_rate=`; "
                "`lr=` is the Keras 2 name and is an error now.") from None
        raise


@pytest.fixture
def reference_generator(nb):
    """The kit's generator of this lab, 100 -> 300 -> 600 -> 1200 -> 784 (tanh)."""
    return nb.new(f"{LAB}:build_lab_generator")


@pytest.fixture
def steady_discriminator(nb):
    """The kit's discriminator of this lab without dropout (the same input gives the same D(x)), compiled."""
    return nb.new(f"{LAB}:build_lab_discriminator", dropout_rate=0.0)


@pytest.fixture
def reference_optimizers(nb):
    """Patches dis_optimizer and gan_optimizer with the kit's, so part 1 is graded on its own."""
    return {"dis_optimizer": nb.ref(f"{LAB}:lab_dis_optimizer"),
            "gan_optimizer": nb.ref(f"{LAB}:lab_gan_optimizer")}


@pytest.fixture(scope="session")
def kg():
    """The helpers above, for the check modules (which do not import this file)."""
    return SimpleNamespace(noise=noise, keras_layers=keras_layers, weights_of=weights_of, changed=changed,
                           is_keras=is_keras, dense_stack=dense_stack, is_leaky_relu=is_leaky_relu,
                           call_student=call_student, train_on_batch=train_on_batch, eager=eager, LAB=LAB, PROBES=PROBES, LATENT_DIM=LATENT_DIM,
                           IMAGE_DIM=IMAGE_DIM)
