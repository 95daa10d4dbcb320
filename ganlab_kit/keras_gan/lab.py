"""Reference pieces of the Keras MLP GAN lab (``assignments/source/keras_gan``), Keras 3.

The lab follows a classic Keras 2 course project: an MLP generator 100 -> 300 -> 600 ->
1200 -> 784 (tanh), an MLP discriminator 784 -> 1200 -> 600 -> 300 -> 1 (sigmoid) with
dropout after its first two hidden layers, a stacked model D(G(z)) and Goodfellow's
Algorithm 1 with ``train_on_batch``. Images are flat ``(B, 784)`` vectors in [-1, 1].

The hidden checks build these in the notebook's process (``nb.new("ganlab_kit.keras_gan.lab:
build_lab_generator")``) so that every part is graded against the kit's answer for the
others. ``write_reference_generator`` writes the kit's trained generator the way a
student's notebook saves it (``generator.weights.h5``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

from ..config import GradingBudget
from .lab_weights import (LAB_HIDDEN, LAB_IMAGE_DIM, LAB_LATENT_DIM, LAB_LEAKY_SLOPE,
                          REFERENCE_KERAS_GENERATOR, read_dense_weights)

__all__ = ["LAB_DROPOUT_RATE", "LAB_BATCH_SIZE", "GENERATOR_FILE", "lab_steps", "autograder_running",
           "lab_dis_optimizer", "lab_gan_optimizer", "build_lab_generator",
           "build_lab_discriminator", "build_lab_gan", "write_reference_generator"]

LAB_DROPOUT_RATE = 0.3            # rate of each of the discriminator's two Dropout layers
LAB_BATCH_SIZE = 64               # real images (and as many fakes) per discriminator step
GENERATOR_FILE = "generator.weights.h5"  # what the lab's training cell saves and students hand in
FAST_STEPS_ENV = "GANLAB_LAB_STEPS"      # caps a lab's training runs (the fast path CI takes)

PathLike = Union[str, "os.PathLike[str]"]


def autograder_running() -> bool:
    """True while nbgrader executes the notebook (autograde, validate, the Validate button),
    with or without the course's config: then no cell may write over a file the student made."""
    return GradingBudget.from_environment().active


def _holds_something(path: PathLike) -> bool:
    path = Path(path)
    if path.is_dir():
        return any(item.is_file() for item in path.rglob("*"))
    return path.exists()


def lab_steps(steps: int, keep: Sequence[PathLike] = ()) -> int:
    """How many steps a training cell of a lab runs.

    ``steps`` normally; at most ``$GANLAB_LAB_STEPS`` when that is set (a quick run of the
    whole notebook); and while nbgrader executes the notebook, at most ``GANLAB_MAX_STEPS``
    (the grading budget; the shipped grading config sets it to 0) and **none** when any of
    ``keep`` (the run's files: its weights, its sample folder) is already there, so that
    ``nbgrader validate`` without the course config never trains over what the student made.
    """
    steps = int(steps)
    fast = os.environ.get(FAST_STEPS_ENV, "").strip()
    if fast:
        if not fast.isdigit():
            raise ValueError(f"{FAST_STEPS_ENV} must be a whole number of steps, got {fast!r}")
        steps = min(steps, int(fast))
    budget = GradingBudget.from_environment()
    if budget.active:
        steps = min(steps, budget.max_steps)
        if any(_holds_something(path) for path in keep):
            steps = 0
    return steps


def _keras():
    from ._backend import require_tensorflow_backend

    return require_tensorflow_backend()


def lab_dis_optimizer():
    """Adam for the discriminator: learning rate 0.0002, beta_1 0.5, beta_2 0.999."""
    return _keras().optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.999)


def lab_gan_optimizer():
    """Adam for the stacked model (trains G): learning rate 0.001, beta_1 0.5, beta_2 0.999.

    The original project kept beta_1 at 0.9; on Keras 3 with the lab's networks that
    momentum collapses the generator within about 100 steps (measured on batches of 16
    and 64), while beta_1 = 0.5 keeps the game balanced.
    """
    return _keras().optimizers.Adam(learning_rate=0.001, beta_1=0.5, beta_2=0.999)


def build_lab_generator(leaky_slope: float = LAB_LEAKY_SLOPE, output_activation: str = "tanh"):
    """Noise ``(B, 100)`` -> images ``(B, 784)``: Dense 300, 600, 1200 (LeakyReLU), Dense 784 (tanh)."""
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential(name="generator")
    model.add(keras.Input(shape=(LAB_LATENT_DIM,)))                          # (B, 100)
    for units in LAB_HIDDEN:
        model.add(layers.Dense(units))                                        # (B, units)
        model.add(layers.LeakyReLU(negative_slope=leaky_slope))
    model.add(layers.Dense(LAB_IMAGE_DIM, activation=output_activation))      # (B, 784)
    return model


def build_lab_discriminator(dropout_rate: float = LAB_DROPOUT_RATE, optimizer=None,
                            leaky_slope: float = LAB_LEAKY_SLOPE, compile: bool = True):
    """Images ``(B, 784)`` -> D(x) ``(B, 1)`` in (0, 1), compiled with binary cross-entropy.

    Dense 1200 (LeakyReLU, Dropout) -> Dense 600 (LeakyReLU, Dropout) -> Dense 300
    (LeakyReLU) -> Dense 1 (sigmoid); ``dropout_rate=0`` leaves the Dropout layers out.
    """
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential(name="discriminator")
    model.add(keras.Input(shape=(LAB_IMAGE_DIM,)))                            # (B, 784)
    for index, units in enumerate(reversed(LAB_HIDDEN)):
        model.add(layers.Dense(units))                                        # (B, units)
        model.add(layers.LeakyReLU(negative_slope=leaky_slope))
        if dropout_rate and index < 2:
            model.add(layers.Dropout(dropout_rate))
    model.add(layers.Dense(1, activation="sigmoid"))                          # (B, 1)
    if compile:
        model.compile(loss="binary_crossentropy",
                      optimizer=optimizer if optimizer is not None else lab_dis_optimizer(),
                      metrics=["accuracy"])
    return model


def build_lab_gan(discriminator, generator, optimizer=None):
    """The stacked model D(G(z)): noise ``(B, 100)`` -> ``(B, 1)``, compiled, D left trainable.

    Keras 3 reads ``discriminator.trainable`` when a model's train function is first run,
    not at ``compile``; Algorithm 1 sets it before each ``train_on_batch``.
    """
    keras = _keras()
    noise = keras.Input(shape=(LAB_LATENT_DIM,))
    gan = keras.Model(noise, discriminator(generator(noise)), name="gan")
    gan.compile(loss="binary_crossentropy",
                optimizer=optimizer if optimizer is not None else lab_gan_optimizer(),
                metrics=["accuracy"])
    return gan


def write_reference_generator(destination: PathLike, source: Optional[PathLike] = None) -> Path:
    """Save the kit's trained lab generator as a student's notebook does: Keras
    ``save_weights`` to ``destination`` (a ``.weights.h5`` file), float32."""
    source = Path(source) if source is not None else REFERENCE_KERAS_GENERATOR
    if not source.is_file():
        raise FileNotFoundError(
            f"the Keras lab's reference generator is missing ({source}); "
            "autograder/keras_gan/calibrate_quality.py --write-reference trains it")
    weights = read_dense_weights(source)
    generator = build_lab_generator()
    generator.set_weights([array for pair in weights for array in pair])
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    generator.save_weights(destination)
    return destination
