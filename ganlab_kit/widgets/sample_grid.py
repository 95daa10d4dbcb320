"""Real and generated images side by side, each labelled with D's verdict.

As in the GAN Playground, every image carries D's probability that it is real,
coloured green where D is right (a real image above 0.5, a generated one at or
below 0.5) and red where D is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import drawing
from ._models import as_array, forward, is_torch_module, latent_dim_of, to_layout
from ._seeded import SeededPicture

__all__ = ["SampleVerdicts", "discriminator_verdicts", "SampleGrid"]


@dataclass
class SampleVerdicts:
    """Images and D's P(real) for each: what :class:`SampleGrid` draws."""

    real_images: np.ndarray  # (N, C, H, W) or (N, H, W, C), in the generator's range
    real_probabilities: np.ndarray  # (N,) D(x) in [0, 1]
    fake_images: np.ndarray  # (M, ...) generated, same layout
    fake_probabilities: np.ndarray  # (M,) D(G(z)) in [0, 1]

    def __post_init__(self) -> None:
        self.real_probabilities = np.asarray(self.real_probabilities, dtype=np.float64).reshape(-1)
        self.fake_probabilities = np.asarray(self.fake_probabilities, dtype=np.float64).reshape(-1)
        for name, images, probabilities in (
                ("real", self.real_images, self.real_probabilities),
                ("generated", self.fake_images, self.fake_probabilities)):
            if len(images) != len(probabilities):
                raise ValueError(f"{len(images)} {name} images but {len(probabilities)} "
                                 "probabilities; give one D output per image")
            if np.any((probabilities < 0) | (probabilities > 1)):
                raise ValueError(f"D's outputs for the {name} images are not probabilities in "
                                 "[0, 1]; if D ends without a sigmoid, pass from_logits=True")

    @property
    def real_correct(self) -> np.ndarray:
        """``(N,)`` bool: D calls the real image real (P(real) > 0.5)."""
        return self.real_probabilities > 0.5

    @property
    def fake_correct(self) -> np.ndarray:
        """``(M,)`` bool: D calls the generated image fake (P(real) <= 0.5)."""
        return self.fake_probabilities <= 0.5

    @property
    def accuracy(self) -> float:
        """Share of all shown images D classifies correctly, in [0, 1]."""
        right = self.real_correct.sum() + self.fake_correct.sum()
        return float(right / (len(self.real_correct) + len(self.fake_correct)))


def discriminator_verdicts(generator: Any, discriminator: Any, real_images: Any, n: int = 8,
                           seed: Optional[int] = 0, latent_dim: Optional[int] = None,
                           from_logits: bool = False) -> SampleVerdicts:
    """Sample ``n`` real images and ``n`` generated ones and ask D about each.

    Works with PyTorch modules (images ``(N, C, H, W)``) and Keras models (``(N, H, W, C)``);
    ``real_images`` may be an ImageDataset, a tensor or an array in either layout.
    """
    rng = np.random.default_rng(seed)
    real = as_array(real_images)
    if len(real) < n:
        raise ValueError(f"asked for {n} real images but only {len(real)} were given")
    channels_last = not is_torch_module(discriminator)
    real = to_layout(real[rng.choice(len(real), n, replace=False)], channels_last)
    noise = rng.standard_normal((n, latent_dim_of(generator, latent_dim))).astype(np.float32)
    fake = to_layout(forward(generator, noise), channels_last)
    outputs = []
    for batch in (real, fake):
        output = forward(discriminator, batch)
        if output.size != len(batch):
            raise ValueError(f"D returned shape {output.shape} for {len(batch)} images; "
                             "SampleGrid needs one output per image, shape (N, 1)")
        outputs.append(output.reshape(len(batch)).astype(np.float64))
    if from_logits:
        outputs = [1.0 / (1.0 + np.exp(-output)) for output in outputs]
    return SampleVerdicts(real, outputs[0], fake, outputs[1])


class SampleGrid(SeededPicture):
    """Widget: real | generated images, each labelled with D's P(real), green right / red wrong.

    Build it from models (``SampleGrid(generator, discriminator, data)``) or from
    precomputed ``verdicts``. ``resample()`` (the "New samples" button) draws new
    noise and new real images; set ``seed.value`` for a particular draw.
    """

    button_label = "New samples"
    css_class = "ganlab-sample-grid"

    def __init__(self, generator: Any = None, discriminator: Any = None, real_images: Any = None,
                 *, n: int = 8, seed: int = 0, columns: int = 4, latent_dim: Optional[int] = None,
                 from_logits: bool = False, verdicts: Optional[SampleVerdicts] = None) -> None:
        if verdicts is None and (generator is None or discriminator is None or real_images is None):
            raise ValueError("give a generator, a discriminator and real images, or verdicts=")
        self.generator, self.discriminator, self.real_images = generator, discriminator, real_images
        self.n, self.columns, self.latent_dim, self.from_logits = n, columns, latent_dim, from_logits
        self.seed_value = seed
        self.verdicts = verdicts if verdicts is not None else self._compute(seed)
        self._widgets = None

    def _compute(self, seed: Optional[int]) -> SampleVerdicts:
        return discriminator_verdicts(self.generator, self.discriminator, self.real_images,
                                      self.n, seed, self.latent_dim, self.from_logits)

    def resample(self, seed: Optional[int] = None) -> SampleVerdicts:
        """New images (from ``seed``, default: the next seed) and D's verdicts on them."""
        if self.generator is None:
            raise ValueError("this grid was built from fixed verdicts; there is nothing to resample")
        self.seed_value = self.seed_value + 1 if seed is None else int(seed)
        self.verdicts = self._compute(self.seed_value)
        self._redraw()
        return self.verdicts

    def to_png(self) -> bytes:
        verdicts = self.verdicts
        return drawing.png_bytes(drawing.draw_labelled_grid(
            verdicts.real_images, verdicts.real_probabilities, verdicts.fake_images,
            verdicts.fake_probabilities, columns=self.columns))

    @property
    def new_samples_button(self):
        """The "New samples" button."""
        return self._build()["button"]
