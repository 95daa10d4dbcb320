"""``GAN(keras.Model)``: one ``train_step`` that updates D, then G, and reports metrics.

The step is the PyTorch trainer's step, written with a ``tf.GradientTape``::

    z <- noise;  fake = G(z)                       # G's forward pass is recorded once
    update D on x (target "real") and fake (target "fake", no gradient into G)
                                                   # maximise log D(x) + log(1 - D(G(z)))
    update G on D(fake), D just updated (target "real")
                                                   # non-saturating: maximise log D(G(z))

Each update differentiates with respect to one network's ``trainable_weights``
and applies its own optimizer, so the ``trainable`` flag never has to be
toggled here (compare :mod:`ganlab_kit.keras_gan.algorithm1`).

Metrics use the words of the PyTorch ``History``: ``d_loss``, ``g_loss``,
``d_acc_real``, ``d_acc_fake``, ``d_real``, ``d_fake``, ``d_grad_norm``,
``g_grad_norm``. Batch-level logs (what ``on_train_batch_end`` receives) hold the
values of that one step; epoch-level logs (``fit``'s ``History``) hold the mean
over the epoch, kept by the metric trackers.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import warnings

import numpy as np

from ..config import TrainConfig
from ._backend import require_tensorflow_backend

keras = require_tensorflow_backend()
import tensorflow as tf  # noqa: E402  (after the backend check)

__all__ = ["GAN", "GAN_METRICS", "image_dataset"]

# fit's default shuffle=True cannot apply to a tf.data.Dataset (image_dataset shuffles
# itself); Keras 3.15 warns about that on every fit call.
warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed, but will be ignored",
                        category=UserWarning)

#: Metrics ``GAN.train_step`` reports, in the order of ``ganlab_kit.torch_gan.trainer.METRICS``.
GAN_METRICS = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake",
               "d_grad_norm", "g_grad_norm")


def _default_adam(learning_rate: float) -> "keras.optimizers.Optimizer":
    defaults = TrainConfig()
    return keras.optimizers.Adam(learning_rate, beta_1=defaults.betas[0], beta_2=defaults.betas[1])


def _global_norm(gradients: Sequence) -> "tf.Tensor":
    return tf.linalg.global_norm([g for g in gradients if g is not None])


def image_dataset(images: np.ndarray, batch_size: int = 64, seed: Optional[int] = 0,
                  shuffle: bool = True) -> "tf.data.Dataset":
    """Batches of ``images`` ``(N, H, W, C)`` for ``GAN.fit``: ``(batch_size, H, W, C)``.

    Batches are reshuffled every epoch and the last partial batch is dropped, so
    every step has the same shape (no retracing).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got {images.shape}; use "
                         "load_mnist().numpy(channels_last=True)")
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be between 1 and the number of images "
                         f"({len(images)}), got {batch_size}")
    table = tf.constant(images)
    # shuffle indices, not images: cheap to refill every epoch, one gather per batch
    indices = tf.data.Dataset.range(len(images))
    if shuffle:
        indices = indices.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size, drop_remainder=True)
    return batches.map(lambda index: tf.gather(table, index)).prefetch(tf.data.AUTOTUNE)


class GAN(keras.Model):
    """A generator and a discriminator trained together by ``fit``.

    Args:
        generator: z ``(B, latent_dim)`` -> images ``(B, H, W, C)`` in [-1, 1].
        discriminator: images -> D(x) ``(B, 1)``: probabilities, or logits when
            ``from_logits=True``.
        latent_dim: length of z; read from ``generator.input_shape`` when omitted.
        from_logits: whether the discriminator ends without a sigmoid.
        seed: seed of the noise drawn in ``train_step``.

    ``gan(z)`` returns ``generator(z)``; ``fit`` takes batches of real images only.
    """

    def __init__(self, generator: "keras.Model", discriminator: "keras.Model",
                 latent_dim: Optional[int] = None, from_logits: bool = False,
                 seed: Optional[int] = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if latent_dim is None:
            latent_dim = generator.input_shape[-1]
        if latent_dim is None or int(latent_dim) < 1:
            raise ValueError("cannot tell latent_dim from the generator; pass GAN(..., latent_dim=100)")
        fake_shape = tuple(generator.output_shape[1:])
        real_shape = tuple(discriminator.input_shape[1:])
        if fake_shape != real_shape:
            raise ValueError(f"the generator makes images of shape {fake_shape} but the "
                             f"discriminator expects {real_shape}; build both with the "
                             "same image_shape")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.from_logits = bool(from_logits)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in GAN_METRICS}

    def compile(self, d_optimizer: Optional["keras.optimizers.Optimizer"] = None,
                g_optimizer: Optional["keras.optimizers.Optimizer"] = None,
                loss_fn: Optional["keras.losses.Loss"] = None, **kwargs) -> None:
        """Set one optimizer per network and the loss ``loss_fn(targets, D outputs)``.

        Defaults: Adam(2e-4, beta_1=0.5) for each network (the kit's ``TrainConfig``)
        and binary cross-entropy, which makes the generator's loss non-saturating.
        """
        super().compile(**kwargs)
        defaults = TrainConfig()
        self.d_optimizer = d_optimizer or _default_adam(defaults.d_lr)
        self.g_optimizer = g_optimizer or _default_adam(defaults.g_lr)
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("d_optimizer and g_optimizer must be two optimizer objects; "
                             "one optimizer keeps state for one network")
        self.loss_fn = loss_fn or keras.losses.BinaryCrossentropy(from_logits=self.from_logits)
        self._check_trainable()

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, plus the grading budget under nbgrader (``GANLAB_MAX_STEPS``)."""
        from ..config import GradingBudget
        from .callbacks import GradingBudgetStop

        callbacks = list(callbacks or [])
        if GradingBudget.from_environment().active:
            callbacks.append(GradingBudgetStop())
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def _check_trainable(self) -> None:
        for name in ("generator", "discriminator"):
            if not getattr(self, name).trainable_weights:
                raise ValueError(
                    f"the {name} has no trainable weights ({name}.trainable is False), so "
                    f"train_step could not update it. Set {name}.trainable = True; in Keras 3 "
                    "the Keras 2 recipe of freezing the discriminator once before compiling a "
                    "combined model freezes it for good.")

    @property
    def metrics(self) -> list:
        """The metric trackers; ``fit`` resets them at the start of every epoch."""
        return list(self.trackers.values())

    def call(self, noise, training: bool = False):
        """Images ``(B, H, W, C)`` from noise ``(B, latent_dim)``."""
        return self.generator(noise, training=training)

    def _probability(self, output):
        return tf.sigmoid(output) if self.from_logits else output

    def train_step(self, data) -> Dict[str, "tf.Tensor"]:
        """One D update then one G update on a batch of real images ``(B, H, W, C)``."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        self._check_trainable()  # runs while tracing: a frozen network fails loudly
        batch_size = tf.shape(real)[0]
        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        real_targets = tf.ones((batch_size, 1))
        fake_targets = tf.zeros((batch_size, 1))

        with tf.GradientTape() as g_tape:
            fake = self.generator(noise, training=True)            # (B, H, W, C)
            with g_tape.stop_recording():
                # ---- D step: maximise log D(x) + log(1 - D(G(z)))
                both = tf.concat([real, tf.stop_gradient(fake)], axis=0)   # (2B, H, W, C)
                with tf.GradientTape() as d_tape:
                    d_out = self.discriminator(both, training=True)          # (2B, 1)
                    d_real_out, d_fake_out = d_out[:batch_size], d_out[batch_size:]
                    d_loss = (self.loss_fn(real_targets, d_real_out)
                              + self.loss_fn(fake_targets, d_fake_out))
                d_weights = self.discriminator.trainable_weights
                d_gradients = d_tape.gradient(d_loss, d_weights)
                self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))
            # ---- G step: maximise log D(G(z)), with D just updated
            g_out = self.discriminator(fake, training=True)         # (B, 1)
            g_loss = self.loss_fn(real_targets, g_out)
        g_weights = self.generator.trainable_weights
        g_gradients = g_tape.gradient(g_loss, g_weights)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))

        d_real = self._probability(d_real_out)
        d_fake = self._probability(d_fake_out)
        step = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_acc_real": tf.reduce_mean(tf.cast(d_real > 0.5, tf.float32)),
            "d_acc_fake": tf.reduce_mean(tf.cast(d_fake <= 0.5, tf.float32)),
            "d_real": tf.reduce_mean(d_real),
            "d_fake": tf.reduce_mean(d_fake),
            "d_grad_norm": _global_norm(d_gradients),
            "g_grad_norm": _global_norm(g_gradients),
        }
        for name, value in step.items():
            self.trackers[name].update_state(value)
        return step
