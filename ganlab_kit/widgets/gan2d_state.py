"""The numbers behind the 2-D GAN view (GAN Lab style), in plain Python: no widgets here.

A GAN on a 2-D toy distribution (:func:`ganlab_kit.data.toy_2d`) can be watched whole:

* the real points and the generated ones (G applied to fixed noise);
* D's decision as a heat map over the plane: D's probability that each point is real,
  ``heat[i, j] = P(real | (xs[j], ys[i]))`` (rows follow y, columns follow x);
* G's *manifold*: G applied to a grid over its 2-D noise space, a warped grid in the plane;
* for every fake point, the gradient of G's loss with respect to that point: the arrow
  ``-gradient`` is where G's next update pushes it.

:class:`GAN2DSession` owns the two small MLPs and the kit's
:class:`~ganlab_kit.torch_gan.Trainer` (its losses, its steps: Step D is
``trainer.discriminator_step()``, Step G ``trainer.generator_step()``, Step both and Play
``trainer.train_step()`` through ``trainer.fit``), and answers :meth:`GAN2DSession.view`,
a :class:`GAN2DView` of those numbers. Tests drive it without a notebook; the widget
(:mod:`ganlab_kit.widgets.gan2d`) only draws it.

The discriminator ends in a plain ``Linear`` layer: it returns *logits* (the trainer runs
with ``from_logits=True``); the heat map shows ``sigmoid(logit)``, a probability.
"""
from __future__ import annotations

import math
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..config import LOSSES
from ..data import TOY_DISTRIBUTIONS
from .state import DashboardState

__all__ = [
    "GAN2DSettings", "GAN2DSession", "GAN2DView", "LOSS_LABELS", "EXTENT",
    "toy_generator", "toy_discriminator", "plane_axes", "discriminator_heatmap",
    "fake_point_gradients", "manifold_grid", "noise_grid",
]

#: The plane the view shows: ``[EXTENT[0], EXTENT[1]]`` on both axes.
EXTENT: Tuple[float, float] = (-3.0, 3.0)
#: How the losses are named in the view.
LOSS_LABELS = {"minimax": "minimax", "non_saturating": "non-saturating",
               "least_squares": "least squares"}
#: Steps of a Play run (it runs until Pause).
FOREVER_STEPS = 10 ** 9

HeatmapFunction = Callable[[Any, Any, Any], Any]
GradientFunction = Callable[[Any, Any, str], Any]


@dataclass
class GAN2DSettings:
    """What the controls set. Defaults: a GAN that learns the ring in a few thousand steps."""

    dataset: str = "ring"          # one of TOY_DISTRIBUTIONS
    loss: str = "non_saturating"   # one of LOSSES, for both networks
    g_lr: float = 1e-3             # Adam learning rate of G
    d_lr: float = 1e-3             # Adam learning rate of D
    d_steps: int = 1               # k: D updates per G update (Step both, Play)
    batch_size: int = 128          # real points per D step, fakes per step
    hidden: Tuple[int, ...] = (64, 64)  # units of each hidden layer of both MLPs
    latent_dim: int = 2            # G's noise is 2-D, so its grid can be drawn
    samples: int = 4000            # points drawn from the toy distribution
    seed: int = 0                  # weights, noise, batches, the points on view

    def check(self) -> None:
        if self.dataset not in TOY_DISTRIBUTIONS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {TOY_DISTRIBUTIONS}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {LOSSES}")
        for name in ("g_lr", "d_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive learning rate, got {value!r}")
        if int(self.d_steps) < 1:
            raise ValueError(f"d_steps (k) must be at least 1, got {self.d_steps}")
        if self.latent_dim != 2:
            raise ValueError("the manifold view needs 2-D noise: latent_dim must be 2")


# --------------------------------------------------------------------------- models
def toy_generator(latent_dim: int = 2, hidden: Sequence[int] = (64, 64)):
    """G: noise ``(B, latent_dim)`` -> points ``(B, 2)``, an MLP with ReLUs (no output squashing)."""
    from torch import nn

    layers, width = [], latent_dim
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def toy_discriminator(hidden: Sequence[int] = (64, 64)):
    """D: points ``(B, 2)`` -> logits ``(B, 1)`` (``sigmoid`` of a logit is P(real)), LeakyReLU 0.2."""
    from torch import nn

    layers, width = [], 2
    for units in hidden:
        layers += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
        width = units
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- the views' numbers
def plane_axes(resolution: int, extent: Tuple[float, float] = EXTENT):
    """``(xs, ys)``: ``resolution`` evenly spaced values across ``extent`` each, float32 tensors."""
    import torch

    axis = torch.linspace(float(extent[0]), float(extent[1]), int(resolution))
    return axis.clone(), axis.clone()


def discriminator_heatmap(discriminator, xs, ys):
    """D's probability that each point of the grid is real: ``(len(ys), len(xs))`` in [0, 1].

    ``heat[i, j] = sigmoid(D((xs[j], ys[i])))``: row ``i`` is the horizontal line at height
    ``ys[i]``, column ``j`` the vertical line at ``xs[j]`` (``discriminator`` returns logits).
    """
    import torch

    xs, ys = torch.as_tensor(xs, dtype=torch.float32), torch.as_tensor(ys, dtype=torch.float32)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")  # each (len(ys), len(xs))
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)  # (len(ys) * len(xs), 2)
    with torch.no_grad():
        logits = discriminator(points)
    return torch.sigmoid(logits).reshape(len(ys), len(xs))


def fake_point_gradients(discriminator, fake_points, loss: str = "non_saturating"):
    """The gradient of G's loss with respect to each fake point, ``(N, 2)``.

    G's loss is the kit's :func:`~ganlab_kit.torch_gan.losses.generator_loss` on
    ``discriminator(fake_points)`` (logits), a mean over the batch. ``-gradient[i]`` is the
    direction G's update pushes fake point ``i``. D's weights receive no gradient.
    """
    import torch

    from ..torch_gan.losses import generator_loss

    points = torch.as_tensor(fake_points, dtype=torch.float32).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = generator_loss(discriminator(points), loss, from_logits=True)
        (gradient,) = torch.autograd.grad(value, points)
    return gradient


def noise_grid(lines: int = 15, extent: float = 2.0):
    """A square grid over the noise plane, ``(lines, lines, 2)``: ``[i, j] = (u[j], v[i])`` with
    ``u = v = linspace(-extent, extent, lines)`` (2 standard deviations of G's normal noise)."""
    import torch

    axis = torch.linspace(-float(extent), float(extent), int(lines))
    u, v = torch.meshgrid(axis, axis, indexing="xy")
    return torch.stack([u, v], dim=-1)


def manifold_grid(generator, lines: int = 15, extent: float = 2.0) -> np.ndarray:
    """G applied to :func:`noise_grid`: where the noise plane's grid lands, ``(lines, lines, 2)``."""
    import torch

    grid = noise_grid(lines, extent)
    with torch.no_grad():
        points = generator(grid.reshape(-1, 2))
    return points.reshape(lines, lines, 2).numpy().astype(np.float32)


def _array(value: Any, shape: Tuple[int, ...], what: str) -> np.ndarray:
    """A function's result as float32 numpy of ``shape``; ValueError naming ``what`` otherwise."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=np.float32)
    if array.shape != shape:
        raise ValueError(f"{what} returned shape {array.shape}; the view needs {shape}")
    return array


def _short_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:160] if text else type(error).__name__


@dataclass
class GAN2DView:
    """What one picture shows (numpy, float32; ``None`` where a function failed, see ``errors``)."""

    real: np.ndarray                  # (n_real, 2) points of the data set
    fake: np.ndarray                  # (n_fake, 2) G(fixed noise)
    xs: np.ndarray                    # (resolution,) x of the heat map's columns
    ys: np.ndarray                    # (resolution,) y of its rows
    heatmap: Optional[np.ndarray]     # (len(ys), len(xs)) D's P(real)
    manifold: np.ndarray              # (lines, lines, 2) G(noise grid)
    gradients: Optional[np.ndarray]   # (n_fake, 2) d G-loss / d fake point
    dataset: str
    loss: str
    d_updates: int
    g_updates: int
    errors: Dict[str, str] = field(default_factory=dict)  # "heatmap"/"gradients" -> message


class GAN2DSession:
    """The models, the trainer, the settings and the curves of one 2-D GAN (no widgets).

    Args:
        settings: a :class:`GAN2DSettings` (defaults: the ring, non-saturating loss).
        heatmap_fn: computes the heat map, ``(discriminator, xs, ys) -> (len(ys), len(xs))``
            probabilities; default :func:`discriminator_heatmap` (a lab passes the student's).
        gradient_fn: computes the arrows, ``(discriminator, fake_points, loss) -> (N, 2)``;
            default :func:`fake_point_gradients`.
        resolution: heat-map cells per side.
        fakes: generated points on view (and arrows); reals: real points on view.
        manifold_lines: lines of the noise grid per direction.
    """

    def __init__(self, settings: Optional[GAN2DSettings] = None, *,
                 heatmap_fn: Optional[HeatmapFunction] = None,
                 gradient_fn: Optional[GradientFunction] = None, resolution: int = 64,
                 fakes: int = 200, reals: int = 400, manifold_lines: int = 15) -> None:
        self.settings = settings or GAN2DSettings()
        self.settings.check()
        self.heatmap_fn = heatmap_fn or discriminator_heatmap
        self.gradient_fn = gradient_fn or fake_point_gradients
        self.resolution = int(resolution)
        self.n_fakes, self.n_reals, self.manifold_lines = int(fakes), int(reals), int(manifold_lines)
        self.listeners: List[Callable[[str], None]] = []  # called with "step", "end", "reset"
        self._lock = threading.RLock()  # models are touched by one thread at a time
        self._pending: List[Callable[[], None]] = []  # setting changes for the training thread
        self._thread: Optional[threading.Thread] = None
        self._thread_error: Optional[BaseException] = None
        self._trainer = None
        self.reset()

    # ------------------------------------------------------------------ building
    def reset(self) -> None:
        """Fresh weights (seeded), an empty history; stops Play first."""
        import torch

        from ..data import toy_2d

        self.pause()
        s = self.settings
        with self._lock:
            torch.manual_seed(s.seed)
            self._generator = toy_generator(s.latent_dim, s.hidden)
            self._discriminator = toy_discriminator(s.hidden)
            self.data = toy_2d(s.dataset, n=s.samples, seed=s.seed)
            view_rng = torch.Generator().manual_seed(s.seed + 1)
            self.real_view = self.data[torch.randperm(len(self.data), generator=view_rng)[:self.n_reals]]
            self.fixed_noise = torch.randn(self.n_fakes, s.latent_dim, generator=view_rng)
            self._trainer = None  # built at the first step: a view alone needs no optimizer
            self.state = DashboardState()
            self.d_updates = 0
            self.g_updates = 0
            self.iterations = 0
        self._notify("reset")

    @property
    def trainer(self):
        """The kit's :class:`~ganlab_kit.torch_gan.Trainer` of this run (built on first use, from
        the current settings; building Adam imports much of PyTorch, which a picture alone
        does not need)."""
        with self._lock:
            if self._trainer is None:
                self._trainer = self._build_trainer()
            return self._trainer

    def _build_trainer(self):
        from ..torch_gan.trainer import Callback, Trainer

        s = self.settings
        trainer = Trainer(self._generator, self._discriminator, self.data, latent_dim=s.latent_dim,
                          from_logits=True, steps=FOREVER_STEPS, batch_size=s.batch_size,
                          g_lr=s.g_lr, d_lr=s.d_lr, d_steps=int(s.d_steps), loss=s.loss,
                          seed=s.seed, snapshot_every=0, n_fixed=1, track_grad_norm=False)
        session = self

        class _Recorder(Callback):
            """Play's records, setting changes between steps, redraws (training thread)."""

            def on_step_end(self, trainer, record):
                session._record(record, d_updates=trainer.config.d_steps, g_updates=1)
                session._apply_pending()
                session._notify("step")

            def on_train_end(self, trainer):
                error = sys.exc_info()[1]
                if error is not None:
                    session.state.end(error=_short_error(error))
                session._notify("end")

        trainer.callbacks.append(_Recorder())
        return trainer

    @property
    def generator(self):
        return self._generator

    @property
    def discriminator(self):
        return self._discriminator

    @property
    def loss(self) -> str:
        """The loss the next step uses (a change made during Play applies between two steps)."""
        trainer = self._trainer
        return trainer.config.loss if trainer is not None else self.settings.loss

    # ------------------------------------------------------------------ settings
    def _change(self, apply: Callable[[], None]) -> None:
        """Apply a setting now, or between two steps when Play runs (on its thread)."""
        if self.is_playing:
            with self._lock:
                self._pending.append(apply)
        else:
            with self._lock:
                apply()
            self._notify("settings")

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            for apply in pending:
                apply()

    def set_dataset(self, name: str) -> None:
        """Another toy distribution: the GAN starts again (as in GAN Lab)."""
        if name not in TOY_DISTRIBUTIONS:
            raise ValueError(f"unknown data set {name!r}; choose one of {TOY_DISTRIBUTIONS}")
        self.settings.dataset = name
        self.reset()

    def set_loss(self, loss: str) -> None:
        """Minimax, non-saturating or least squares, for both networks from the next step on."""
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")
        self.settings.loss = loss

        def apply() -> None:
            if self._trainer is not None:
                self._trainer.config.loss = loss
        self._change(apply)

    def set_learning_rates(self, g_lr: Optional[float] = None, d_lr: Optional[float] = None) -> None:
        """New Adam learning rates; the optimizers keep their moments."""
        for name, value in (("g_lr", g_lr), ("d_lr", d_lr)):
            if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
                raise ValueError(f"{name} must be a positive learning rate, got {value!r}")
        if g_lr is not None:
            self.settings.g_lr = float(g_lr)
        if d_lr is not None:
            self.settings.d_lr = float(d_lr)

        def apply() -> None:
            trainer = self._trainer
            if trainer is None:
                return
            for optimizer, value in ((trainer.g_optimizer, g_lr), (trainer.d_optimizer, d_lr)):
                if value is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = float(value)
            trainer.config.g_lr, trainer.config.d_lr = self.settings.g_lr, self.settings.d_lr
        self._change(apply)

    def set_d_steps(self, k: int) -> None:
        """k: D updates per G update in Step both and Play."""
        if int(k) < 1:
            raise ValueError(f"k (D steps per G step) must be at least 1, got {k}")
        self.settings.d_steps = int(k)

        def apply() -> None:
            if self._trainer is not None:
                self._trainer.config.d_steps = int(k)
        self._change(apply)

    # ------------------------------------------------------------------ steps
    def _record(self, record: Dict[str, float], d_updates: int, g_updates: int) -> None:
        self.d_updates += d_updates
        self.g_updates += g_updates
        self.iterations += 1
        self.state.add_record({**record, "step": self.iterations})

    def step_discriminator(self) -> Dict[str, float]:
        """Step D: one update of D alone (the trainer's ``discriminator_step``)."""
        self.pause()
        with self._lock:
            record = self.trainer.discriminator_step()
            self._record(record, 1, 0)
        self._notify("step")
        return record

    def step_generator(self) -> Dict[str, float]:
        """Step G: one update of G alone (the trainer's ``generator_step``)."""
        self.pause()
        with self._lock:
            record = self.trainer.generator_step()
            self._record(record, 0, 1)
        self._notify("step")
        return record

    def step_both(self) -> Dict[str, float]:
        """Step both: k D updates then one G update (the trainer's ``train_step``)."""
        self.pause()
        with self._lock:
            record = self.trainer.train_step()
            self._record(record, self.trainer.config.d_steps, 1)
        self._notify("step")
        return record

    def train(self, steps: int) -> None:
        """``steps`` training steps (k D updates + 1 G update each) in this thread, through
        ``trainer.fit``: scripts, tests, benchmarks (the widget's Play trains in the background)."""
        self.pause()
        if int(steps) > 0:
            self.trainer.fit(int(steps))

    # ------------------------------------------------------------------ play / pause
    @property
    def is_playing(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def play(self) -> None:
        """Train in a background thread until :meth:`pause` (``trainer.fit``, one step at a time)."""
        if self.is_playing:
            return
        self._apply_pending()
        trainer = self.trainer
        self._thread_error = None

        def run() -> None:
            try:
                trainer.fit(FOREVER_STEPS)
            except BaseException as error:  # shown in the view, raised again by wait()
                self._thread_error = error

        self.state.status = "running"
        self._thread = threading.Thread(target=run, name="ganlab-gan2d", daemon=True)
        self._thread.start()

    def pause(self, timeout: Optional[float] = 30.0) -> None:
        """Stop Play after the current step and wait for it (a no-op when not playing)."""
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive():
            self._trainer.stop()
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"training did not pause within {timeout} s")
        self._thread = None
        self._apply_pending()
        if self.state.status == "running":
            self.state.status = "paused"

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait for Play to end (after :meth:`pause` from another thread); re-raise its error."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self._thread_error is not None:
            error, self._thread_error = self._thread_error, None
            raise error

    def _notify(self, event: str) -> None:
        for listener in list(self.listeners):
            listener(event)

    # ------------------------------------------------------------------ the view
    def view(self) -> GAN2DView:
        """The numbers of one picture, from the models as they are now.

        Call it on the thread that trains (listeners are called there) or while nothing
        trains. The heat-map and gradient functions may be a student's: an error in one is
        reported in ``errors`` and leaves that layer out.
        """
        import torch

        with self._lock:
            xs, ys = plane_axes(self.resolution)
            errors: Dict[str, str] = {}
            generator, discriminator = self.generator, self.discriminator
            with torch.no_grad():
                fake = generator(self.fixed_noise)
            heatmap = gradients = None
            try:
                heatmap = _array(self.heatmap_fn(discriminator, xs, ys),
                                 (len(ys), len(xs)), "the heat-map function")
            except Exception as error:  # a student's function: show the problem in the view
                errors["heatmap"] = _short_error(error)
            try:
                with torch.enable_grad():
                    result = self.gradient_fn(discriminator, fake.clone(), self.loss)
                gradients = _array(result, tuple(fake.shape), "the gradient function")
            except Exception as error:
                errors["gradients"] = _short_error(error)
            return GAN2DView(
                real=self.real_view.numpy().astype(np.float32), fake=fake.numpy().astype(np.float32),
                xs=xs.numpy(), ys=ys.numpy(), heatmap=heatmap,
                manifold=manifold_grid(generator, self.manifold_lines), gradients=gradients,
                dataset=self.settings.dataset, loss=self.loss,
                d_updates=self.d_updates, g_updates=self.g_updates, errors=errors)

    def settings_dict(self) -> Dict[str, Any]:
        return asdict(self.settings)
