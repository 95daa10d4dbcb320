"""Goodfellow's Algorithm 1 with ``train_on_batch``, done right in Keras 3.

The classic Keras 2 recipe compiles the discriminator, sets
``discriminator.trainable = False`` once, then compiles the combined model
D(G(z)). Keras 2 fixed the trainable weights at ``compile``. Keras 3 reads
``trainable`` later, when it traces a model's train function (the first
``train_on_batch`` call, and again whenever a new batch shape forces a
retrace), so the once-frozen discriminator stays frozen in its own train
function as well: D never learns, and Keras only warns
"The model does not have any trainable weights".

What works in Keras 3, and what this module does: set the flag right before
each call, ``discriminator.trainable = True`` before D's ``train_on_batch`` and
``False`` before the combined model's, and rebuild a train function that was
traced under the wrong flag. :class:`~ganlab_kit.keras_gan.GAN` avoids the
question altogether: it applies each optimizer to one network's weights.
"""
from __future__ import annotations

import time
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

from ..config import TrainConfig
from ._backend import require_tensorflow_backend

keras = require_tensorflow_backend()

__all__ = ["build_combined", "compile_discriminator", "discriminator_step", "generator_step",
           "train_step_algorithm1", "AlgorithmOneTrainer"]

LossLike = Union[str, "keras.losses.Loss"]


def _adam(learning_rate: float) -> "keras.optimizers.Optimizer":
    betas = TrainConfig().betas
    return keras.optimizers.Adam(learning_rate, beta_1=betas[0], beta_2=betas[1])


def _set_trainable_for_training(model: "keras.Model", frozen_part: "keras.Model",
                                trainable: bool) -> None:
    """Set ``frozen_part.trainable`` before ``model.train_on_batch`` and make it count.

    Keras 3 reads the flag when it traces ``model``'s train function, so a function
    traced under another flag (for instance by the Keras 2 recipe) is rebuilt.
    """
    frozen_part.trainable = trainable
    traced_under = getattr(model, "_ganlab_traced_trainable", None)
    if model.train_function is not None and traced_under is not trainable:
        model.make_train_function(force=True)
    model._ganlab_traced_trainable = trainable


def _loss_value(result) -> float:
    """The loss out of ``train_on_batch``'s answer (a scalar, or a list led by the loss)."""
    if isinstance(result, (list, tuple)):
        result = result[0]
    return float(result)


def compile_discriminator(discriminator: "keras.Model",
                          optimizer: Optional["keras.optimizers.Optimizer"] = None,
                          loss: LossLike = "binary_crossentropy") -> "keras.Model":
    """Compile D for ``train_on_batch`` with every weight trainable; returns D."""
    discriminator.trainable = True
    discriminator.compile(optimizer=optimizer or _adam(TrainConfig().d_lr), loss=loss)
    return discriminator


def build_combined(generator: "keras.Model", discriminator: "keras.Model",
                   optimizer: Optional["keras.optimizers.Optimizer"] = None,
                   loss: LossLike = "binary_crossentropy",
                   name: str = "combined") -> "keras.Model":
    """D(G(z)) as one compiled model, noise ``(B, latent_dim)`` -> ``(B, 1)``, that trains G.

    Train it with :func:`generator_step`, which freezes D for the call.
    """
    noise = keras.Input(shape=tuple(generator.input_shape[1:]), name="noise")  # (B, latent_dim)
    combined = keras.Model(noise, discriminator(generator(noise)), name=name)  # (B, 1)
    was_trainable = discriminator.trainable
    discriminator.trainable = False
    combined.compile(optimizer=optimizer or _adam(TrainConfig().g_lr), loss=loss)
    discriminator.trainable = was_trainable
    return combined


def discriminator_step(discriminator: "keras.Model", real_images: np.ndarray,
                       fake_images: np.ndarray) -> float:
    """One D update on real ``(B, H, W, C)`` (target 1) and fake images (target 0).

    Maximises log D(x) + log(1 - D(G(z))). Returns the loss on the same scale as the
    PyTorch track: mean cross-entropy on the real images plus that on the fakes.
    """
    real_images = np.asarray(real_images, dtype=np.float32)
    fake_images = np.asarray(fake_images, dtype=np.float32)
    if len(real_images) != len(fake_images):
        raise ValueError(f"{len(real_images)} real images but {len(fake_images)} fakes; "
                         "draw one noise vector per real image")
    images = np.concatenate([real_images, fake_images])                  # (2B, H, W, C)
    targets = np.concatenate([np.ones((len(real_images), 1), np.float32),
                              np.zeros((len(fake_images), 1), np.float32)])  # (2B, 1)
    was_trainable = discriminator.trainable
    try:
        _set_trainable_for_training(discriminator, discriminator, True)
        loss = _loss_value(discriminator.train_on_batch(images, targets))
    finally:
        discriminator.trainable = was_trainable
    return 2.0 * loss  # mean over 2B = (real mean + fake mean) / 2


def generator_step(combined: "keras.Model", discriminator: "keras.Model",
                   noise: np.ndarray) -> float:
    """One G update through the combined model, D frozen; returns -mean log D(G(z)).

    Non-saturating: maximises log D(G(z)) by training D(G(z)) towards the target 1.
    """
    noise = np.asarray(noise, dtype=np.float32)
    targets = np.ones((len(noise), 1), np.float32)
    was_trainable = discriminator.trainable
    try:
        _set_trainable_for_training(combined, discriminator, False)
        loss = _loss_value(combined.train_on_batch(noise, targets))
    finally:
        discriminator.trainable = was_trainable
    return loss


def train_step_algorithm1(generator: "keras.Model", discriminator: "keras.Model",
                          combined: "keras.Model", real_batch: np.ndarray,
                          noise: Optional[np.ndarray] = None,
                          rng: Optional[np.random.Generator] = None) -> Dict[str, float]:
    """One step of Algorithm 1: a D update, then a G update on the same noise.

    Args:
        real_batch: real images ``(B, H, W, C)`` in [-1, 1].
        noise: z ``(B, latent_dim)``; drawn from ``rng`` (standard normal) when omitted.

    Returns ``{"d_loss": ..., "g_loss": ...}`` (PyTorch-track scales).
    """
    real_batch = np.asarray(real_batch, dtype=np.float32)
    if noise is None:
        rng = rng if rng is not None else np.random.default_rng()
        noise = rng.standard_normal((len(real_batch), generator.input_shape[-1]), dtype=np.float32)
    fake = generator.predict_on_batch(noise)                              # (B, H, W, C)
    d_loss = discriminator_step(discriminator, real_batch, fake)
    g_loss = generator_step(combined, discriminator, noise)
    return {"d_loss": d_loss, "g_loss": g_loss}


class AlgorithmOneTrainer:
    """Algorithm 1 with two compiled models and ``train_on_batch``: the Keras 2 lab style.

    Compiles the discriminator and a combined D(G(z)) model (each with its own Adam
    from ``TrainConfig`` unless given). ``train_step`` runs one step; ``fit`` runs
    several and drives Keras callbacks (``SampleSnapshot``, ``KerasHistoryBridge``).
    """

    def __init__(self, generator: "keras.Model", discriminator: "keras.Model",
                 d_optimizer: Optional["keras.optimizers.Optimizer"] = None,
                 g_optimizer: Optional["keras.optimizers.Optimizer"] = None,
                 loss: LossLike = "binary_crossentropy", seed: Optional[int] = 0) -> None:
        self.generator = generator
        self.discriminator = compile_discriminator(discriminator, d_optimizer, loss)
        self.combined = build_combined(generator, discriminator, g_optimizer, loss)
        self.latent_dim = int(generator.input_shape[-1])
        self.rng = np.random.default_rng(seed)
        self.step = 0

    def train_step(self, real_batch: np.ndarray) -> Dict[str, float]:
        """One D update and one G update on real images ``(B, H, W, C)``."""
        record = train_step_algorithm1(self.generator, self.discriminator, self.combined,
                                       real_batch, rng=self.rng)
        self.step += 1
        return record

    def fit(self, images: np.ndarray, steps: int, batch_size: int = 64,
            callbacks: Iterable["keras.callbacks.Callback"] = ()) -> List[Dict[str, float]]:
        """Run ``steps`` steps on shuffled batches of ``images`` ``(N, H, W, C)``.

        Callbacks see the combined model as ``self.model`` (its first sub-model is
        the generator) and, per step, logs with ``d_loss`` and ``g_loss``.
        """
        images = np.asarray(images, dtype=np.float32)
        if not 1 <= batch_size <= len(images):
            raise ValueError(f"batch_size must be between 1 and {len(images)}, got {batch_size}")
        callback_list = keras.callbacks.CallbackList(list(callbacks), model=self.combined)
        self.combined.stop_training = False
        records: List[Dict[str, float]] = []
        order = self.rng.permutation(len(images))
        position = 0
        callback_list.on_train_begin()
        for index in range(int(steps)):
            if position + batch_size > len(images):
                order, position = self.rng.permutation(len(images)), 0
            batch = images[order[position:position + batch_size]]
            position += batch_size
            callback_list.on_train_batch_begin(index)
            started = time.perf_counter()
            record = self.train_step(batch)
            record["examples_per_sec"] = batch_size / max(time.perf_counter() - started, 1e-9)
            records.append(record)
            callback_list.on_train_batch_end(index, dict(record))
            if self.combined.stop_training:
                break
        callback_list.on_train_end()
        return records
