"""Reference generators and discriminators (PyTorch).

Models hold layers only; training lives in :mod:`ganlab_kit.torch_gan.trainer`.
The MLP pair keeps its layers in one ``nn.Sequential`` called ``net`` so that a
state dict saved from the kit loads into the lab notebook's solution and back.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..config import DiscriminatorConfig, GeneratorConfig

__all__ = [
    "MLPGenerator",
    "MLPDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "Reshape",
    "playground_fc",
    "playground_conv",
    "build_models",
    "sample_noise",
    "MODEL_KINDS",
]

MODEL_KINDS = ("mlp", "dcgan", "playground-fc", "playground-conv")


def sample_noise(batch_size: int, latent_dim: int = 100,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard normal noise ``(batch_size, latent_dim)``: the generator's input z."""
    return torch.randn(batch_size, latent_dim, generator=generator)


class Reshape(nn.Module):
    """The inverse of ``nn.Flatten``: ``(B, prod(shape)) -> (B, *shape)``.

    ``Reshape(1, 28, 28)`` and ``Reshape([1, 28, 28])`` mean the same. A reshape only
    rearranges values, so it needs ``prod(shape)`` inputs exactly: ``[800]`` fits
    ``[20, 10, 4]``, ``[600]`` does not fit ``[20, 20, 2]`` (800 values).
    """

    def __init__(self, *shape: Union[int, Sequence[int]]) -> None:
        super().__init__()
        if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
            shape = tuple(shape[0])
        if not shape or any(not isinstance(size, int) or size < 1 for size in shape):
            raise ValueError(f"Reshape needs positive whole sizes, got {shape}")
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = math.prod(x.shape[1:])
        if values != math.prod(self.shape):
            raise ValueError(
                f"cannot reshape {list(x.shape[1:])} ({values} values) into "
                f"{list(self.shape)} ({math.prod(self.shape)} values): a reshape keeps "
                "every value, so the layer before it must output exactly "
                f"{math.prod(self.shape)} values (add or resize a Linear layer)"
            )
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


OUTPUT_ACTIVATIONS = ("tanh", "sigmoid", None)


def _activation(name: Optional[str]) -> nn.Module:
    if name not in OUTPUT_ACTIVATIONS:
        raise ValueError(
            f"output_activation must be one of {OUTPUT_ACTIVATIONS} (None: raw outputs/logits), "
            f"got {name!r}"
        )
    return {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), None: nn.Identity()}[name]


def _merge_config(config, config_class, overrides: dict):
    """``config`` (or the defaults) with ``overrides`` applied; unknown names are an error."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {config_class.__name__} options {unknown}; "
                        f"the options are {sorted(known)}")
    return dataclasses.replace(config or config_class(), **overrides)


def _check_features(x: torch.Tensor, expected: int, what: str, fix: str) -> None:
    if x.ndim < 2 or math.prod(x.shape[1:]) != expected:
        raise ValueError(f"{what} expected a batch of {expected} values each, got shape "
                         f"{tuple(x.shape)}; {fix}")


class MLPGenerator(nn.Module):
    """z ``(B, latent_dim)`` -> images ``(B, C, H, W)``; 100 -> 256 -> 512 -> 1024 -> 784 by default."""

    def __init__(self, config: Optional[GeneratorConfig] = None, **overrides) -> None:
        super().__init__()
        config = _merge_config(config, GeneratorConfig, overrides)
        self.config = config
        self.latent_dim = config.latent_dim
        self.image_shape = tuple(config.image_shape)
        layers = []
        width = config.latent_dim
        for units in config.hidden:
            layers.append(nn.Linear(width, units))  # (B, units)
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.LeakyReLU(config.leaky_slope))
            width = units
        layers.append(nn.Linear(width, math.prod(self.image_shape)))  # (B, C*H*W)
        layers.append(_activation(config.output_activation))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_features(z, self.latent_dim, "the generator",
                        f"draw the noise with sample_noise(batch_size, {self.latent_dim})")
        return self.net(z.reshape(z.shape[0], -1)).view(z.shape[0], *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """images ``(B, C, H, W)`` -> D(x) ``(B, 1)``; 784 -> 1024 -> 512 -> 256 -> 1 by default."""

    def __init__(self, config: Optional[DiscriminatorConfig] = None, **overrides) -> None:
        super().__init__()
        config = _merge_config(config, DiscriminatorConfig, overrides)
        self.config = config
        self.image_shape = tuple(config.image_shape)
        layers = []
        width = math.prod(self.image_shape)
        for units in config.hidden:
            layers.append(nn.Linear(width, units))  # (B, units)
            layers.append(nn.LeakyReLU(config.leaky_slope))
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            width = units
        layers.append(nn.Linear(width, 1))  # (B, 1)
        layers.append(_activation(config.output_activation))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_features(x, math.prod(self.image_shape), "the discriminator",
                        f"pass images of shape (B, {', '.join(map(str, self.image_shape))})")
        return self.net(x.reshape(x.shape[0], -1))  # (B, 1)


def _check_square(image_shape: Sequence[int]) -> Tuple[int, int, int]:
    """``(C, H, W)`` with ``H == W`` a multiple of 4, as the two stride-2 layers need."""
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {tuple(image_shape)}")
    channels, height, width = image_shape
    if height != width or height % 4 or channels > height:
        raise ValueError(
            f"the DCGAN pair needs square (C, H, W) images with H a multiple of 4, channels "
            f"first, e.g. (1, 28, 28) or (3, 32, 32); got {tuple(image_shape)}"
        )
    return channels, height, width


class DCGANGenerator(nn.Module):
    """A CPU-sized DCGAN generator for 28x28x1 or 32x32x3 images.

    z ``(B, latent_dim)`` -> Linear -> ``(B, 2w, s, s)`` -> two stride-2 transposed
    convolutions -> ``(B, C, 4s, 4s)`` with ``s = 7`` (MNIST) or ``8`` (CIFAR-10).
    ``refine=True`` adds a 3x3 convolution (with BatchNorm and ReLU) at ``2s x 2s``
    between the two: more room to draw whole strokes, for about a quarter more compute in G.
    """

    def __init__(self, latent_dim: int = 100, image_shape: Tuple[int, int, int] = (1, 28, 28),
                 width: int = 64, refine: bool = False) -> None:
        super().__init__()
        channels, height, _ = _check_square(image_shape)
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.refine = refine
        seed = height // 4
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * seed * seed, bias=False),  # (B, 2w*s*s)
            Reshape(2 * width, seed, seed),                               # (B, 2w, s, s)
            nn.BatchNorm2d(2 * width),  # per channel: works for a batch of one image too
            nn.ReLU(),
        )
        layers = [
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),   # (B, w, 2s, 2s)
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        if refine:
            layers += [
                nn.Conv2d(width, width, 3, 1, 1, bias=False),            # (B, w, 2s, 2s)
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
        layers += [
            nn.ConvTranspose2d(width, channels, 4, 2, 1),                # (B, C, 4s, 4s)
            nn.Tanh(),
        ]
        self.upsample = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z))


class DCGANDiscriminator(nn.Module):
    """images ``(B, C, H, W)`` -> D(x) ``(B, 1)``: two stride-2 convolutions and a linear head.

    ``hidden=n`` puts a hidden Linear layer of ``n`` units (LeakyReLU) before the output,
    so that D judges the whole digit's shape, not only local strokes.
    """

    def __init__(self, image_shape: Tuple[int, int, int] = (1, 28, 28), width: int = 64,
                 leaky_slope: float = 0.2, output_activation: Optional[str] = "sigmoid",
                 hidden: int = 0) -> None:
        super().__init__()
        channels, height, _ = _check_square(image_shape)
        if hidden < 0:
            raise ValueError(f"hidden must be 0 (no hidden layer) or a number of units, got {hidden}")
        self.image_shape = tuple(image_shape)
        features = 2 * width * (height // 4) ** 2
        head = [nn.Linear(features, hidden), nn.LeakyReLU(leaky_slope)] if hidden else []
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),                 # (B, w, H/2, W/2)
            nn.LeakyReLU(leaky_slope),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),    # (B, 2w, H/4, W/4)
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(leaky_slope),
            nn.Flatten(),                                        # (B, 2w * H/4 * W/4)
            *head,                                               # (B, hidden) if hidden
            nn.Linear(hidden or features, 1),                    # (B, 1)
            _activation(output_activation),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def playground_fc(latent_dim: int = 100) -> Tuple[nn.Module, nn.Module]:
    """The GAN Playground's "fully connected" preset.

    Generator: [100] -> FC 256, ReLU -> FC 784, Tanh -> Reshape [1, 28, 28]. The
    second FC layer is what turns 256 values into the 784 a 28x28 image needs.
    Discriminator: Flatten [784] -> FC 128, ReLU -> FC 1, Sigmoid.
    """
    generator = nn.Sequential(
        nn.Linear(latent_dim, 256), nn.ReLU(),       # (B, 256)
        nn.Linear(256, 784), nn.Tanh(),              # (B, 784)
        Reshape(1, 28, 28),                          # (B, 1, 28, 28)
    )
    discriminator = nn.Sequential(
        nn.Flatten(),                                # (B, 784)
        nn.Linear(784, 128), nn.ReLU(),              # (B, 128)
        nn.Linear(128, 1), nn.Sigmoid(),             # (B, 1)
    )
    generator.latent_dim = latent_dim
    return generator, discriminator


def playground_conv(latent_dim: int = 100) -> Tuple[nn.Module, nn.Module]:
    """The GAN Playground's "convolutional" preset, sized for a CPU."""
    generator = nn.Sequential(
        nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(),                 # (B, 3136)
        Reshape(64, 7, 7),                                            # (B, 64, 7, 7)
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),               # (B, 32, 14, 14)
        nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh(),                # (B, 1, 28, 28)
    )
    discriminator = nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),                 # (B, 32, 14, 14)
        nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),                # (B, 64, 7, 7)
        nn.Flatten(),                                                 # (B, 3136)
        nn.Linear(64 * 7 * 7, 1), nn.Sigmoid(),                       # (B, 1)
    )
    generator.latent_dim = latent_dim
    return generator, discriminator


def build_models(kind: str = "mlp", latent_dim: int = 100,
                 image_shape: Sequence[int] = (1, 28, 28)) -> Tuple[nn.Module, nn.Module]:
    """A (generator, discriminator) pair by name: one of :data:`MODEL_KINDS`."""
    image_shape = tuple(image_shape)
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")
    if kind == "mlp":
        return (MLPGenerator(latent_dim=latent_dim, image_shape=image_shape),
                MLPDiscriminator(image_shape=image_shape))
    if kind == "dcgan":
        return (DCGANGenerator(latent_dim, image_shape),
                DCGANDiscriminator(image_shape))
    if image_shape != (1, 28, 28):
        raise ValueError(f"the {kind} preset is built for (1, 28, 28) images")
    if kind == "playground-fc":
        return playground_fc(latent_dim)
    if kind == "playground-conv":
        return playground_conv(latent_dim)
    raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")
