"""Noise vectors drawn as images, above the samples the generator makes from them.

A 100-value noise vector z is drawn as a 10x10 grey square (mid grey is 0, white
+3, black -3); under it, G(z). The Keras lab asks students to show exactly this.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import drawing
from ._models import as_array, forward, latent_dim_of
from ._seeded import SeededPicture

__all__ = ["NoiseViewer", "standard_normal_noise"]


def standard_normal_noise(n: int, latent_dim: int, seed: Optional[int] = 0) -> np.ndarray:
    """``(n, latent_dim)`` float32 standard normal noise, reproducible from ``seed``."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim), dtype=np.float32)


class NoiseViewer(SeededPicture):
    """Widget: ``n`` noise vectors as images, each above the sample G makes from it.

    ``NoiseViewer(generator, n=10, seed=0)`` draws the noise itself (standard normal);
    ``NoiseViewer(generator, noise=z)`` uses yours; ``NoiseViewer(noise=z, images=x)``
    only draws. ``resample()`` (the "New noise" button) draws fresh noise; set
    ``seed.value`` for a particular draw.
    """

    button_label = "New noise"
    css_class = "ganlab-noise-viewer"

    def __init__(self, generator: Any = None, n: int = 10, *, seed: int = 0,
                 latent_dim: Optional[int] = None, noise: Any = None, images: Any = None,
                 columns: int = 5) -> None:
        if generator is None and (noise is None or images is None):
            raise ValueError("give a generator, or both noise= and images=")
        self.generator = generator
        self.columns = columns
        self.seed_value = seed
        if noise is None:
            noise = standard_normal_noise(n, latent_dim_of(generator, latent_dim), seed)
        self.noise = as_array(noise).copy()  # (n, latent_dim); a copy: resample() rewrites it in place
        if self.noise.ndim != 2:
            raise ValueError(f"noise must have shape (n, latent_dim), got {self.noise.shape}")
        # own, writable copies: resample() rewrites them in place
        self.images = np.array(as_array(images) if images is not None else forward(generator, self.noise))
        self._widgets: Optional[dict] = None

    def resample(self, seed: Optional[int] = None) -> np.ndarray:
        """Fresh noise (from ``seed``, default: the next seed) and G's samples; returns the noise."""
        if self.generator is None:
            raise ValueError("this viewer has no generator; there is nothing to resample")
        self.seed_value = self.seed_value + 1 if seed is None else int(seed)
        noise = standard_normal_noise(len(self.noise), self.noise.shape[1], self.seed_value)
        images = forward(self.generator, noise)
        # in place where the shapes allow: a notebook's `samples = viewer.images` keeps showing
        # what is on screen after "New noise"
        for name, new in (("noise", noise), ("images", images)):
            old = getattr(self, name)
            if old.shape == new.shape and old.flags.writeable:
                old[...] = new
            else:
                setattr(self, name, new)
        self._redraw()
        return self.noise

    def to_png(self) -> bytes:
        return drawing.png_bytes(drawing.draw_noise_and_samples(self.noise, self.images, self.columns))

    @property
    def new_noise_button(self):
        """The "New noise" button."""
        return self._build()["button"]
