"""Reference recipes: settings that take the kit's GANs to good digits fast on a CPU.

A recipe is a :class:`~ganlab_kit.config.TrainConfig` plus a model builder and a few
extras the plain trainer does not do by itself (logit outputs, an exponential moving
average of the generator's weights). ``train_recipe("mlp")`` trains one from scratch
and returns the generator to sample from.

* ``naive-mlp``: the lab's MLP GAN exactly as the lab sets it up (the baseline);
* ``mlp``: the lab's generator exactly (its state_dict loads into a default
  :class:`MLPGenerator`) against a narrower discriminator (784 -> 512 -> 256 -> 1,
  dropout 0.5, logits), tuned: a faster generator, label smoothing, and an exponential
  moving average of the generator's weights (the averaged copy is what gets sampled).
  D costs three quarters of a step with the lab's 1024-512-256 layers; halving its
  width halves the step time and, measured here, needs no more steps to the bar;
* ``dcgan``: the kit's DCGAN (:class:`DCGANGenerator` / :class:`DCGANDiscriminator`)
  sized for a CPU: 8-dimensional noise, a narrow generator with one refining 3x3 layer,
  a narrower discriminator with a hidden dense layer; a fast generator against a slower
  discriminator, label smoothing, and the same weight average. The fastest recipe.

Every recipe can also augment what D sees (``Recipe.augment``, e.g.
:class:`DifferentiableAugment`: random shifts and cutout applied to real and fake
images alike, DiffAugment-style); the shipped recipes leave it off, because on the
4,000 offline digits it did not help: the tuned MLP collapsed to a few classes for
longer, and the default-sized DCGAN's plateau (inception score ~7, nine classes) stayed
where it was (resizing the networks, see ``dcgan``, is what lifted it).

"Good digits" is :data:`ganlab_kit.scoring.QUALITY_BAR`: inception score >= 8, all ten
classes covered, >= 80% of samples classified with confidence >= 0.9.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..config import TrainConfig
from ..data import ImageDataset, load_mnist
from .models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from .trainer import Callback, History, Trainer

__all__ = [
    "Recipe",
    "RecipeRun",
    "RECIPES",
    "REFERENCE_CHECKPOINTS",
    "train_recipe",
    "AveragedGenerator",
    "AugmentedDiscriminator",
    "DifferentiableAugment",
    "BarWatcher",
    "generator_for_state",
    "load_reference_generator",
    "save_generator_weights",
]

_ASSETS = Path(__file__).resolve().parent.parent / "assets"

#: Shipped generator weights (float16 state_dicts) of the tuned recipes.
REFERENCE_CHECKPOINTS = {
    "mlp": _ASSETS / "reference_mlp_generator.pt",
    "dcgan": _ASSETS / "reference_dcgan_generator.pt",
}


@dataclass(frozen=True)
class Recipe:
    """How to train one reference GAN."""

    name: str
    description: str
    config: TrainConfig                                   # steps, batch, learning rates, loss
    build: Callable[[], Tuple[nn.Module, nn.Module]]      # -> (generator, discriminator)
    from_logits: bool = False                             # D outputs logits, not probabilities
    average_decay: Optional[float] = None                 # EMA decay of G's weights; None: off
    average_start: int = 0                                # step at which the average starts
    data_split: str = "train"                             # offline digits used ("train" keeps
                                                          # the held-out digits for scoring)
    augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
                                                          # differentiable augmentation of
                                                          # every image D sees; None: off


def _lab_mlp() -> Tuple[nn.Module, nn.Module]:
    return MLPGenerator(), MLPDiscriminator()


#: The tuned MLP recipe's discriminator layers (the lab's are 1024, 512, 256).
MLP_RECIPE_D_HIDDEN = (512, 256)


def _mlp_tuned() -> Tuple[nn.Module, nn.Module]:
    # the lab's generator; D is half as wide (half the step time), its final Sigmoid moves
    # into the loss (numerically safer) and its dropout rises from 0.3 to 0.5, which slows
    # D down and keeps G from collapsing
    return MLPGenerator(), MLPDiscriminator(hidden=MLP_RECIPE_D_HIDDEN, dropout=0.5,
                                            output_activation=None)


#: The DCGAN recipe's sizes. The kit's default pair (width 64 both, no refining layer, no
#: hidden layer in D) plateaus below the bar here (inception score ~7.2, ~75 % confident):
#: G lacks the room to draw whole digits and D's linear head judges strokes, not shapes.
#: Its noise is 8-dimensional, not the labs' 100: handwritten digits vary along few
#: directions, and with fewer inputs to sort out G reached the bar in 1,000-1,750 steps
#: (six seeds, one thread each) instead of 2,750-4,300 with 100 (32: 1,750-4,000; 16:
#: 2,000-2,750). The samples lose no variety: Frechet distance to the held-out digits
#: (2,000 samples) 28-36 at the end of those runs, against 45.5 for the 100-d generator
#: at its own bar and 34 for the 16-d one; 4-d noise (1,250-1,500 steps) lost variety
#: (46-48).
DCGAN_G_WIDTH = 32
DCGAN_D_WIDTH = 16
DCGAN_D_HIDDEN = 256
DCGAN_LATENT_DIM = 8


def _dcgan() -> Tuple[nn.Module, nn.Module]:
    return (DCGANGenerator(latent_dim=DCGAN_LATENT_DIM, width=DCGAN_G_WIDTH, refine=True),
            DCGANDiscriminator(width=DCGAN_D_WIDTH, hidden=DCGAN_D_HIDDEN,
                               output_activation=None))


RECIPES: Dict[str, Recipe] = {
    "naive-mlp": Recipe(
        name="naive-mlp",
        description="the lab's MLP GAN as given: batch 64, Adam 2e-4 / beta1 0.5, sigmoid D",
        config=TrainConfig(steps=8000, batch_size=64, g_lr=2e-4, d_lr=2e-4,
                           snapshot_every=0, track_grad_norm=False),
        build=_lab_mlp,
        data_split="all",
    ),
    "mlp": Recipe(
        name="mlp",
        description="the lab's MLP generator against a 512-256 D (dropout 0.5, logits), tuned: "
                    "G Adam 4e-4 / D 2e-4, one-sided label smoothing 0.1, EMA (0.999) of G's "
                    "weights",
        config=TrainConfig(steps=12000, batch_size=64, g_lr=4e-4, d_lr=2e-4,
                           label_smoothing=0.1, snapshot_every=0, track_grad_norm=False),
        build=_mlp_tuned,
        from_logits=True,
        average_decay=0.999,
        average_start=1000,
    ),
    "dcgan": Recipe(
        name="dcgan",
        description=f"a small DCGAN: {DCGAN_LATENT_DIM}-d noise, G width {DCGAN_G_WIDTH} with a "
                    f"refining 3x3 layer, D width "
                    f"{DCGAN_D_WIDTH} with a {DCGAN_D_HIDDEN}-unit hidden layer and logits; "
                    "batch 64, G Adam 1e-3 / D 2e-4, one-sided label smoothing 0.1, EMA (0.995) "
                    "of G's weights",
        config=TrainConfig(steps=5000, batch_size=64, g_lr=1e-3, d_lr=2e-4, label_smoothing=0.1,
                           snapshot_every=0, track_grad_norm=False),
        build=_dcgan,
        from_logits=True,
        average_decay=0.995,
        average_start=500,
    ),
}


class DifferentiableAugment(nn.Module):
    """Random shifts and cutout of an image batch, differentiable in the pixels (DiffAugment).

    Zhao et al. (2020) apply the same kind of random transform to real *and* generated
    images before every discriminator call, in D's step and in G's step, so that D cannot
    memorise a small training set while G still gets gradients through the transform.

    ``images`` ``(B, C, H, W)`` in [-1, 1] -> the same shape: each image shifted by up to
    ``shift`` pixels per axis (the uncovered border filled with ``fill``, the background),
    then, if ``cutout`` > 0, a ``cutout`` x ``cutout`` square at a random place set to ``fill``.
    """

    def __init__(self, shift: int = 2, cutout: int = 0, fill: float = -1.0) -> None:
        super().__init__()
        if shift < 0 or cutout < 0:
            raise ValueError(f"shift and cutout must be >= 0 pixels, got {shift} and {cutout}")
        self.shift = shift
        self.cutout = cutout
        self.fill = fill

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}")
        batch, _, height, width = images.shape
        device = images.device
        if self.shift:
            s = self.shift
            padded = nn.functional.pad(images, (s, s, s, s), value=self.fill)  # (B, C, H+2s, W+2s)
            dy = torch.randint(0, 2 * s + 1, (batch, 1, 1), device=device)
            dx = torch.randint(0, 2 * s + 1, (batch, 1, 1), device=device)
            rows = (torch.arange(height, device=device).view(1, height, 1) + dy)  # (B, H, 1)
            cols = (torch.arange(width, device=device).view(1, 1, width) + dx)    # (B, 1, W)
            index = torch.arange(batch, device=device).view(batch, 1, 1)
            images = padded.permute(0, 2, 3, 1)[index, rows, cols].permute(0, 3, 1, 2)
        if self.cutout:
            c = self.cutout
            top = torch.randint(0, height - c + 1, (batch, 1, 1), device=device)
            left = torch.randint(0, width - c + 1, (batch, 1, 1), device=device)
            ys = torch.arange(height, device=device).view(1, height, 1)
            xs = torch.arange(width, device=device).view(1, 1, width)
            inside = ((ys >= top) & (ys < top + c) & (xs >= left) & (xs < left + c))  # (B, H, W)
            images = images.masked_fill(inside.unsqueeze(1), self.fill)
        return images

    def extra_repr(self) -> str:
        return f"shift={self.shift}, cutout={self.cutout}, fill={self.fill}"


class AugmentedDiscriminator(nn.Module):
    """``discriminator(augment(x))`` in training mode, plain ``discriminator(x)`` in eval mode.

    Wrapping D this way augments every batch D sees during training (real and fake, in D's
    step and in G's step) without any change to the :class:`Trainer`.
    """

    def __init__(self, discriminator: nn.Module,
                 augment: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.augment = augment

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.augment(images) if self.training else images)


class AveragedGenerator(Callback):
    """Keeps an exponential moving average of the generator's weights (Yazici et al., 2019).

    ``average`` is a copy of the generator whose parameters follow
    ``average = decay * average + (1 - decay) * current`` after every step from
    ``start`` on (before it, the copy tracks the generator exactly). Buffers such as
    BatchNorm running statistics are copied as they are.
    """

    def __init__(self, decay: float = 0.999, start: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.start = start
        self.average: Optional[nn.Module] = None

    def on_train_begin(self, trainer: Trainer) -> None:
        if self.average is None:
            self.average = copy.deepcopy(trainer.generator).eval()
            for parameter in self.average.parameters():
                parameter.requires_grad_(False)
        trainer.averaged_generator = self.average  # what samplers and scorers should use

    @torch.no_grad()
    def on_step_end(self, trainer: Trainer, record: Dict[str, float]) -> None:
        decay = self.decay if trainer.step > self.start else 0.0
        for averaged, current in zip(self.average.parameters(), trainer.generator.parameters()):
            averaged.lerp_(current, 1.0 - decay)
        for averaged, current in zip(self.average.buffers(), trainer.generator.buffers()):
            averaged.copy_(current)


class BarWatcher(Callback):
    """Scores the generator every ``check_every`` steps and stops training at the bar.

    Scoring time is kept out of ``train_seconds`` (wall clock) and ``train_cpu_seconds``
    (CPU time of all threads, which other programs on a shared machine do not inflate):
    both measure training only. Uses ``trainer.averaged_generator`` when a recipe keeps one. After ``time_limit``
    seconds of training without reaching the bar, it stops the run as well.
    """

    def __init__(self, check_every: int = 250, n: int = 1000, seed: int = 12345,
                 bar: Any = None, time_limit: Optional[float] = None,
                 stop_at_bar: bool = True, log: Optional[Callable[[str], None]] = None) -> None:
        from ..scoring import QUALITY_BAR

        self.check_every = check_every
        self.n = n
        self.seed = seed
        self.bar = bar or QUALITY_BAR
        self.time_limit = time_limit
        self.stop_at_bar = stop_at_bar
        self.log = log
        self.checks: list = []            # (step, train_seconds, SampleScores)
        self.reached_step: Optional[int] = None
        self.reached_seconds: Optional[float] = None
        self.reached_cpu_seconds: Optional[float] = None
        self._started = self._started_cpu = 0.0
        self._scoring = self._scoring_cpu = 0.0

    @property
    def train_seconds(self) -> float:
        """Seconds spent training so far, scoring excluded."""
        return time.perf_counter() - self._started - self._scoring

    @property
    def train_cpu_seconds(self) -> float:
        """CPU seconds (all threads) spent training so far, scoring excluded."""
        return time.process_time() - self._started_cpu - self._scoring_cpu

    def on_train_begin(self, trainer: Trainer) -> None:
        self._started, self._started_cpu = time.perf_counter(), time.process_time()
        self._scoring = self._scoring_cpu = 0.0

    def on_step_end(self, trainer: Trainer, record: Dict[str, float]) -> None:
        over_time = self.time_limit is not None and self.train_seconds > self.time_limit
        if trainer.step % self.check_every and not over_time:
            return
        from ..scoring import score_generator

        seconds, cpu_seconds = self.train_seconds, self.train_cpu_seconds
        began, began_cpu = time.perf_counter(), time.process_time()
        sampler = getattr(trainer, "averaged_generator", trainer.generator)
        scores = score_generator(sampler, n=self.n, seed=self.seed)
        self._scoring += time.perf_counter() - began
        self._scoring_cpu += time.process_time() - began_cpu
        self.checks.append((trainer.step, seconds, scores))
        met = scores.meets(self.bar)
        if self.log:
            self.log(f"    step {trainer.step:5d}  {seconds:6.1f} s ({cpu_seconds:6.1f} cpu-s)  IS {scores.inception_score:5.2f}"
                     f"  coverage {scores.coverage:2d}  confident {scores.confident_rate:4.0%}"
                     f"{'  <- bar' if met else ''}")
        if met and self.reached_step is None:
            self.reached_step, self.reached_seconds = trainer.step, seconds
            self.reached_cpu_seconds = cpu_seconds
            if self.stop_at_bar:
                trainer.stop()
        if over_time:
            trainer.stop()


@dataclass
class RecipeRun:
    """The outcome of :func:`train_recipe`."""

    recipe: Recipe
    trainer: Trainer
    generator: nn.Module   # the one to sample from: the weight average when the recipe keeps one
    seconds: float         # wall time of the training loop
    seed: int

    @property
    def history(self) -> History:
        return self.trainer.history


def train_recipe(name: str, steps: Optional[int] = None, seed: int = 0,
                 callbacks: Iterable[Callback] = (), data: Optional[ImageDataset] = None,
                 **overrides: Any) -> RecipeRun:
    """Train recipe ``name`` (a key of :data:`RECIPES`) from scratch.

    Args:
        steps: generator updates (default: the recipe's).
        seed: seeds weights, noise and batches.
        callbacks: extra :class:`Callback` objects; the weight average (if any) is
            available to them as ``trainer.averaged_generator``.
        data: images to train on (default: the offline digits of the recipe's split).
        overrides: TrainConfig fields to change, e.g. ``g_lr=5e-4``.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    recipe = RECIPES[name]
    config = replace(recipe.config, seed=seed, **overrides)
    torch.manual_seed(seed)  # the networks' initial weights
    generator, discriminator = recipe.build()
    if recipe.augment is not None:
        discriminator = AugmentedDiscriminator(discriminator, recipe.augment)
    data = data if data is not None else load_mnist(split=recipe.data_split)
    extra = []
    if recipe.average_decay is not None:
        extra.append(AveragedGenerator(recipe.average_decay, recipe.average_start))
    trainer = Trainer(generator, discriminator, data, config, from_logits=recipe.from_logits,
                      callbacks=extra + list(callbacks))
    started = time.perf_counter()
    trainer.fit(config.steps if steps is None else steps)
    seconds = time.perf_counter() - started
    sampler = getattr(trainer, "averaged_generator", generator)
    sampler.eval()
    return RecipeRun(recipe, trainer, sampler, seconds, seed)


# --------------------------------------------------------------------------- checkpoints

def save_generator_weights(generator: nn.Module, path: Union[str, Path],
                           half: bool = True) -> Path:
    """Save ``generator``'s bare state_dict (float16 floats if ``half``: half the size).

    The file loads back into a float32 model with ``load_state_dict`` or
    :func:`~ganlab_kit.torch_gan.load_generator`.
    """
    state = {key: (value.half() if half and value.is_floating_point() else value).clone()
             for key, value in generator.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def generator_for_state(state: Dict[str, torch.Tensor], kind: str = "auto") -> nn.Module:
    """An untrained generator whose shape fits ``state`` (a generator state_dict).

    ``kind`` is ``"mlp"``, ``"dcgan"`` or ``"auto"`` (decided from the parameter names).
    Layer sizes (hidden widths, DCGAN width, latent size) are read from the tensors.
    """
    if isinstance(state, dict) and "generator" in state:
        state = state["generator"]
    keys = list(state)
    if kind == "auto":
        if any(k.startswith("project.") for k in keys):
            kind = "dcgan"
        elif any(k.startswith("net.") for k in keys):
            kind = "mlp"
        else:
            raise ValueError(
                "cannot tell the generator's architecture from its parameter names "
                f"({keys[:4]}...); pass --model mlp or --model dcgan")
    if kind == "dcgan":
        if "upsample.0.weight" not in state:
            raise ValueError("this state_dict is not a DCGANGenerator's (no upsample.0.weight)")
        width = state["upsample.0.weight"].shape[1]
        refine = "upsample.6.weight" in state  # a refining 3x3 convolution shifts the last layer
        channels = state["upsample.6.weight" if refine else "upsample.3.weight"].shape[1]
        latent_dim = state["project.0.weight"].shape[1]
        side = int(round((state["project.0.weight"].shape[0] / (2 * width)) ** 0.5)) * 4
        return DCGANGenerator(latent_dim, (channels, side, side), width, refine=refine)
    if kind == "mlp":
        weights = [state[k] for k in keys if k.startswith("net.") and k.endswith(".weight")
                   and state[k].ndim == 2]
        if not weights:
            raise ValueError("this state_dict is not an MLPGenerator's (no net.*.weight)")
        hidden = tuple(w.shape[0] for w in weights[:-1])
        batch_norm = any(k.endswith("running_mean") for k in keys)
        latent_dim = weights[0].shape[1]
        return MLPGenerator(latent_dim=latent_dim, hidden=hidden, batch_norm=batch_norm)
    raise ValueError(f"model must be 'mlp', 'dcgan' or 'auto', got {kind!r}")


def load_reference_generator(name: str = "mlp") -> nn.Module:
    """The shipped generator trained with recipe ``name`` (float32, eval mode)."""
    if name not in REFERENCE_CHECKPOINTS:
        raise ValueError(f"no reference checkpoint for {name!r}; choose one of "
                         f"{sorted(REFERENCE_CHECKPOINTS)}")
    path = REFERENCE_CHECKPOINTS[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; rebuild it with `python benchmarks/bench_time_to_bar.py "
            f"--write-references` or reinstall ganlab-kit")
    state = torch.load(path, map_location="cpu", weights_only=True)
    generator = generator_for_state(state, name)
    generator.load_state_dict(state)
    return generator.eval()
