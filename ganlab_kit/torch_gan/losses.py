"""GAN losses, with the common label tricks as options of one code path.

All functions take discriminator outputs ``D(x)`` as probabilities in (0, 1)
(``from_logits=False``, the labs' Sigmoid head) or as raw logits
(``from_logits=True``, numerically safer), shape ``(B, 1)`` or ``(B,)``.

The three objectives:

* ``minimax``        D: max log D(x) + log(1 - D(G(z)));  G: min log(1 - D(G(z)))
* ``non_saturating`` D: as minimax;                        G: max log D(G(z))
* ``least_squares``  D: min (D(x) - 1)^2 + D(G(z))^2;     G: min (D(G(z)) - 1)^2
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..config import LOSSES

__all__ = ["LabelTricks", "discriminator_loss", "generator_loss", "real_fake_targets"]


@dataclass
class LabelTricks:
    """How the discriminator's targets are bent (see soumith/ganhacks)."""

    smoothing: float = 0.0  # real target = 1 - smoothing (one-sided label smoothing)
    noise: float = 0.0      # targets move towards 0.5 by U(0, noise)
    flip: float = 0.0       # probability of swapping a real and a fake target


def real_fake_targets(batch_real: int, batch_fake: int, tricks: Optional[LabelTricks] = None,
                      generator: Optional[torch.Generator] = None):
    """Targets ``(real_targets, fake_targets)`` for one discriminator step, shape ``(B, 1)``."""
    tricks = tricks or LabelTricks()
    real = torch.full((batch_real, 1), 1.0 - tricks.smoothing)
    fake = torch.zeros(batch_fake, 1)
    if tricks.noise:
        real = real - tricks.noise * torch.rand(real.shape, generator=generator)
        fake = fake + tricks.noise * torch.rand(fake.shape, generator=generator)
    if tricks.flip:
        flip_real = torch.rand(real.shape, generator=generator) < tricks.flip
        flip_fake = torch.rand(fake.shape, generator=generator) < tricks.flip
        real = torch.where(flip_real, 1.0 - real, real)
        fake = torch.where(flip_fake, 1.0 - fake, fake)
    return real, fake


def _bce(output: torch.Tensor, target: torch.Tensor, from_logits: bool) -> torch.Tensor:
    target = target.reshape(output.shape).to(output)  # same dtype and device
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target)
    return F.binary_cross_entropy(output, target)


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor, loss: str = "non_saturating",
                       tricks: Optional[LabelTricks] = None, from_logits: bool = False,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Scalar loss of D on a real batch and a fake batch: mean over real + mean over fake."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    real_target, fake_target = real_fake_targets(len(d_real), len(d_fake), tricks, generator)
    if loss == "least_squares":
        real_out = torch.sigmoid(d_real) if from_logits else d_real
        fake_out = torch.sigmoid(d_fake) if from_logits else d_fake
        return (F.mse_loss(real_out, real_target.reshape(real_out.shape).to(real_out))
                + F.mse_loss(fake_out, fake_target.reshape(fake_out.shape).to(fake_out)))
    # minimax and non-saturating share the discriminator's cross-entropy objective
    return _bce(d_real, real_target, from_logits) + _bce(d_fake, fake_target, from_logits)


def generator_loss(d_fake: torch.Tensor, loss: str = "non_saturating",
                   from_logits: bool = False) -> torch.Tensor:
    """Scalar loss of G given D's outputs on its fakes; it falls as D(G(z)) rises."""
    if loss == "non_saturating":
        return _bce(d_fake, torch.ones_like(d_fake), from_logits)
    if loss == "minimax":
        # min log(1 - D(G(z))) == min -BCE(D(G(z)), 0): flat when D rejects every fake
        return -_bce(d_fake, torch.zeros_like(d_fake), from_logits)
    if loss == "least_squares":
        out = torch.sigmoid(d_fake) if from_logits else d_fake
        return F.mse_loss(out, torch.ones_like(out))
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
