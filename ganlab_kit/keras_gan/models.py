"""Reference MLP generator and discriminator as Keras 3 builders (channels-last images).

The builders return plain ``keras.Sequential`` models: no training logic, the same
layer widths as :class:`ganlab_kit.torch_gan.MLPGenerator` / ``MLPDiscriminator``.
Images are ``(B, 28, 28, 1)`` in [-1, 1], as ``load_mnist().numpy(channels_last=True)``
gives them.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np

from ._backend import require_tensorflow_backend

keras = require_tensorflow_backend()
layers = keras.layers

__all__ = ["build_generator", "build_discriminator", "sample_noise", "IMAGE_SHAPE"]

#: ``(H, W, C)`` of one MNIST image, channels last.
IMAGE_SHAPE: Tuple[int, int, int] = (28, 28, 1)

_GENERATOR_OUTPUTS = ("tanh", "sigmoid")
_DISCRIMINATOR_OUTPUTS = ("sigmoid", None)


def _check_widths(hidden: Sequence[int], name: str) -> Tuple[int, ...]:
    widths = tuple(int(units) for units in hidden)
    if not widths or any(units < 1 for units in widths):
        raise ValueError(f"{name} must be a non-empty sequence of positive layer widths, "
                         f"got {tuple(hidden)!r}; e.g. {name}=(256, 512, 1024)")
    return widths


def _check_image_shape(image_shape: Sequence[int]) -> Tuple[int, int, int]:
    shape = tuple(int(size) for size in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {tuple(image_shape)!r}")
    if shape[0] in (1, 3) and shape[-1] not in (1, 3):
        raise ValueError(f"image_shape {shape} looks channels-first; the Keras track is "
                         f"channels-last: use {shape[1:] + shape[:1]}")
    return shape  # type: ignore[return-value]


def sample_noise(batch_size: int, latent_dim: int = 100,
                 seed: Optional[int] = None) -> np.ndarray:
    """Standard normal noise ``(batch_size, latent_dim)`` float32: the generator's input z."""
    return np.random.default_rng(seed).standard_normal((batch_size, latent_dim), dtype=np.float32)


def build_generator(latent_dim: int = 100, hidden: Sequence[int] = (256, 512, 1024),
                    leaky_slope: float = 0.2, image_shape: Sequence[int] = IMAGE_SHAPE,
                    output_activation: str = "tanh", name: str = "generator") -> "keras.Sequential":
    """z ``(B, latent_dim)`` -> images ``(B, H, W, C)`` in [-1, 1] (tanh) or [0, 1] (sigmoid).

    Dense layers 100 -> 256 -> 512 -> 1024 -> 784 with LeakyReLU(``leaky_slope``)
    between them, then a reshape to ``image_shape``.
    """
    if int(latent_dim) < 1:
        raise ValueError(f"latent_dim must be at least 1, got {latent_dim}")
    if output_activation not in _GENERATOR_OUTPUTS:
        raise ValueError(f"output_activation must be one of {_GENERATOR_OUTPUTS}, "
                         f"got {output_activation!r}")
    widths = _check_widths(hidden, "hidden")
    shape = _check_image_shape(image_shape)
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=(int(latent_dim),)))                      # (B, latent_dim)
    for units in widths:
        model.add(layers.Dense(units))                                    # (B, units)
        model.add(layers.LeakyReLU(negative_slope=leaky_slope))
    model.add(layers.Dense(math.prod(shape), activation=output_activation))  # (B, H*W*C)
    model.add(layers.Reshape(shape))                                      # (B, H, W, C)
    return model


def build_discriminator(hidden: Sequence[int] = (1024, 512, 256), dropout: float = 0.3,
                        leaky_slope: float = 0.2, image_shape: Sequence[int] = IMAGE_SHAPE,
                        output_activation: Optional[str] = "sigmoid",
                        name: str = "discriminator") -> "keras.Sequential":
    """Images ``(B, H, W, C)`` in [-1, 1] -> D(x) ``(B, 1)``.

    With ``output_activation="sigmoid"`` D(x) is the probability that x is real,
    in (0, 1); with ``None`` it is a logit. Dense layers 784 -> 1024 -> 512 -> 256 -> 1,
    each hidden one followed by LeakyReLU(``leaky_slope``) and Dropout(``dropout``).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if output_activation not in _DISCRIMINATOR_OUTPUTS:
        raise ValueError(f"output_activation must be one of {_DISCRIMINATOR_OUTPUTS}, "
                         f"got {output_activation!r}")
    widths = _check_widths(hidden, "hidden")
    shape = _check_image_shape(image_shape)
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=shape))                                   # (B, H, W, C)
    model.add(layers.Flatten())                                           # (B, H*W*C)
    for units in widths:
        model.add(layers.Dense(units))                                    # (B, units)
        model.add(layers.LeakyReLU(negative_slope=leaky_slope))
        if dropout:
            model.add(layers.Dropout(dropout))
    model.add(layers.Dense(1, activation=output_activation))              # (B, 1)
    return model
