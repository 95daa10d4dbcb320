"""Dataclass configs: the one place where the kit's defaults live.

The numbers follow the labs the kit reproduces: a 100-dimensional latent vector,
Adam at 2e-4 with beta1 = 0.5, batches of 64, LeakyReLU slope 0.2.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

__all__ = [
    "GeneratorConfig",
    "DiscriminatorConfig",
    "TrainConfig",
    "GradingBudget",
    "LOSSES",
    "LAB_STEPS_ENV",
    "lab_step_cap",
]

#: Names accepted by ``TrainConfig.loss``.
LOSSES = ("minimax", "non_saturating", "least_squares")


@dataclass
class GeneratorConfig:
    """Shape of the MLP generator."""

    latent_dim: int = 100  # length of the noise vector z
    hidden: Tuple[int, ...] = (256, 512, 1024)  # units of each hidden Linear layer
    image_shape: Tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the produced images
    leaky_slope: float = 0.2  # negative slope of every LeakyReLU
    batch_norm: bool = False  # BatchNorm1d after each hidden Linear (a common trick)
    output_activation: str = "tanh"  # "tanh" (images in [-1, 1]) or "sigmoid" ([0, 1])


@dataclass
class DiscriminatorConfig:
    """Shape of the MLP discriminator."""

    hidden: Tuple[int, ...] = (1024, 512, 256)  # units of each hidden Linear layer
    image_shape: Tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the input images
    leaky_slope: float = 0.2  # negative slope of every LeakyReLU
    dropout: float = 0.3  # dropout after each hidden layer; 0 disables it
    output_activation: Optional[str] = "sigmoid"  # "sigmoid" gives D(x) in (0, 1); None gives logits


@dataclass
class TrainConfig:
    """Everything the trainer needs to know besides the two networks and the data."""

    steps: int = 3000  # generator updates to run
    batch_size: int = 64  # real images per discriminator step (and fakes per step)
    g_lr: float = 2e-4  # Adam learning rate of the generator
    d_lr: float = 2e-4  # Adam learning rate of the discriminator
    betas: Tuple[float, float] = (0.5, 0.999)  # Adam betas for both networks
    d_steps: int = 1  # k: discriminator updates per generator update (Goodfellow's Algorithm 1)
    loss: str = "non_saturating"  # one of LOSSES
    label_smoothing: float = 0.0  # real targets become 1 - label_smoothing (one-sided smoothing)
    label_noise: float = 0.0  # uniform noise of this width pushed into the targets, towards 0.5
    label_flip: float = 0.0  # probability of swapping a discriminator target real <-> fake
    seed: Optional[int] = 0  # seeds torch for weights, noise and batches; None leaves it alone
    snapshot_every: int = 100  # steps between fixed-noise sample snapshots; 0 disables them
    n_fixed: int = 64  # how many fixed noise vectors the snapshots use
    track_grad_norm: bool = True  # record the gradient norm of each network
    # a fit measures the gradient norms on step 1 and every this many steps, NaN in the
    # history in between: a diagnostic, one memory pass over both networks' gradients
    # (~4 % of the lab MLP's step) if taken every step; 1: every step
    grad_norm_every: int = 10

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        self.betas = tuple(self.betas)  # a list from JSON or a checkpoint works too
        for name in ("g_lr", "d_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive learning rate, got {getattr(self, name)}")
        for name in ("steps", "snapshot_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.grad_norm_every < 1:
            raise ValueError(f"grad_norm_every must be at least 1, got {self.grad_norm_every}")
        if self.n_fixed < 1:
            raise ValueError(f"n_fixed must be at least 1, got {self.n_fixed}")
        for name in ("label_smoothing", "label_noise", "label_flip"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {value}")
        if self.d_steps < 1 or self.batch_size < 1:
            raise ValueError("d_steps and batch_size must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GradingBudget:
    """How ``Trainer.fit`` behaves while nbgrader executes a notebook.

    nbgrader sets ``NBGRADER_EXECUTION`` during ``autograde`` and ``validate``.
    Then a fit first looks for the notebook's saved checkpoint and loads it instead
    of training; with no checkpoint it trains at most ``max_steps`` steps.
    """

    active: bool = False  # True while nbgrader executes the notebook
    max_steps: int = 200  # cap on training steps in that case (GANLAB_MAX_STEPS)
    # True while `ganlab solutions` executes a solution: no wall-clock cap, so the executed
    # solution is the same on a slow or busy machine
    solution: bool = False

    @classmethod
    def from_environment(cls) -> "GradingBudget":
        """Read ``NBGRADER_EXECUTION`` and ``GANLAB_MAX_STEPS`` (a whole number >= 0)."""
        flag = os.environ.get("NBGRADER_EXECUTION", "").strip().lower()
        active = flag not in ("", "0", "false", "no")
        raw = os.environ.get("GANLAB_MAX_STEPS", "").strip() or str(cls.max_steps)
        try:
            max_steps = int(raw)
        except ValueError:
            max_steps = -1
        if max_steps < 0:
            raise ValueError(
                f"GANLAB_MAX_STEPS must be a whole number of steps (0 or more), got {raw!r}. "
                "Fix: set it to e.g. GANLAB_MAX_STEPS=200, or unset it for the default "
                f"of {cls.max_steps}."
            )
        return cls(active=active, max_steps=max_steps, solution=flag == "solution")



#: Caps every training run of a lab: the fast path that runs a whole notebook as a student
#: would (CI, the browser tests), saving its files as usual. Not a grading setting.
LAB_STEPS_ENV = "GANLAB_LAB_STEPS"


def lab_step_cap() -> Optional[int]:
    """``GANLAB_LAB_STEPS`` as a whole number of steps, or None when it is unset."""
    raw = os.environ.get(LAB_STEPS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{LAB_STEPS_ENV} must be a whole number of steps, got {raw!r}. Fix: set "
                         f"it to e.g. {LAB_STEPS_ENV}=200, or unset it to train the full runs.")
    return int(raw)
