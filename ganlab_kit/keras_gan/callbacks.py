"""Keras callbacks for the Keras track: fixed-noise sample snapshots and a dashboard bridge.

Side effects of training live here, not in ``GAN.train_step``.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ._backend import require_tensorflow_backend
from ..torch_gan.trainer import RunControl
from .models import sample_noise

keras = require_tensorflow_backend()

__all__ = ["SampleSnapshot", "KerasHistoryBridge", "find_generator"]

SnapshotListener = Callable[[int, np.ndarray], None]


def find_generator(model: "keras.Model") -> "keras.Model":
    """The generator inside ``model``: its ``.generator`` (a :class:`GAN`), or the first
    sub-model of a combined D(G(z)) model (:func:`build_combined`)."""
    generator = getattr(model, "generator", None)
    if generator is None:
        generator = next((layer for layer in getattr(model, "layers", [])
                          if isinstance(layer, keras.Model)), None)
    if generator is None:
        raise ValueError(f"cannot find a generator in {type(model).__name__}; pass the "
                         "generator explicitly, e.g. SampleSnapshot(generator=generator)")
    return generator


class SampleSnapshot(keras.callbacks.Callback):
    """Stores images made from the same fixed noise every ``every`` training steps.

    ``snapshots`` is a list of ``(step, images)``, images ``(n_fixed, H, W, C)`` numpy
    float32 in the generator's output range ([-1, 1] for tanh). Step 0 (before any
    update) is taken when training begins. Steps count across epochs and ``fit`` calls.

    Args:
        every: steps between snapshots; 0 disables them.
        n_fixed: how many fixed noise vectors.
        seed: seed of the fixed noise.
        generator: the generator to sample; found in the trained model when omitted.
        on_snapshot: functions ``(step, images)`` called after each snapshot.
    """

    def __init__(self, every: int = 100, n_fixed: int = 64, seed: Optional[int] = 0,
                 generator: Optional["keras.Model"] = None,
                 on_snapshot: Optional[List[SnapshotListener]] = None) -> None:
        super().__init__()
        if every < 0 or n_fixed < 1:
            raise ValueError(f"every must be >= 0 and n_fixed >= 1, got every={every}, "
                             f"n_fixed={n_fixed}")
        self.every = int(every)
        self.n_fixed = int(n_fixed)
        self.seed = seed
        self.generator = generator
        self.listeners: List[SnapshotListener] = list(on_snapshot or [])
        self.fixed_noise: Optional[np.ndarray] = None  # (n_fixed, latent_dim)
        self.snapshots: List[Tuple[int, np.ndarray]] = []
        self.step = 0

    def _generator(self) -> "keras.Model":
        if self.generator is None:
            self.generator = find_generator(self.model)
        return self.generator

    def take(self) -> np.ndarray:
        """Sample the fixed noise now, store ``(step, images)`` and tell the listeners."""
        generator = self._generator()
        if self.fixed_noise is None:
            self.fixed_noise = sample_noise(self.n_fixed, int(generator.input_shape[-1]), self.seed)
        images = np.asarray(generator(self.fixed_noise, training=False))  # (n_fixed, H, W, C)
        self.snapshots.append((self.step, images))
        for listener in self.listeners:
            listener(self.step, images)
        return images

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if self.every and not self.snapshots:
            self.take()

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.step += 1
        if self.every and self.step % self.every == 0:
            self.take()


class KerasHistoryBridge(RunControl, keras.callbacks.Callback):
    """Forwards Keras training to a PyTorch-track dashboard (``ganlab_kit.torch_gan.Callback``).

    Contract, so the same dashboard serves both tracks:

    * ``target`` is any object with ``on_step_end(trainer, record)``. If it also has
      ``on_train_begin(trainer)``, ``on_snapshot(trainer, step, images)`` or
      ``on_train_end(trainer)``, those are called at the same moments as in
      :class:`ganlab_kit.torch_gan.Trainer`.
    * ``trainer`` is this bridge. Like the PyTorch ``Trainer`` it offers ``step``,
      ``history`` (a :class:`ganlab_kit.torch_gan.History`), ``snapshots``,
      ``stop()``, ``pause()``, ``resume()``, ``is_paused``, ``stop_requested``, plus
      ``model`` (the Keras model being trained). ``stop`` ends ``fit`` after the current
      batch; ``pause`` holds ``fit`` before its next batch (call these from another thread
      or a widget callback while ``fit`` runs).
    * ``record`` is a dict, once per training batch: ``"step"`` (1, 2, ... counted across
      epochs and ``fit`` calls) and every name in ``ganlab_kit.torch_gan.trainer.METRICS``
      as a float. The values are that batch's logs (:class:`GAN` logs the one step's
      values); a name the logs lack is NaN. ``examples_per_sec`` is ``batch_size``
      divided by the batch's wall time when the logs lack it (NaN without ``batch_size``).
    * ``images`` given to ``on_snapshot`` is a ``torch.Tensor`` ``(n, C, H, W)``, channels
      first as on the PyTorch track, in the generator's range ([-1, 1]); snapshots are
      taken every ``snapshot_every`` steps (and at step 0) when ``snapshot_every > 0``.
    """

    def __init__(self, target: Any, batch_size: Optional[int] = None, snapshot_every: int = 0,
                 n_fixed: int = 64, seed: Optional[int] = 0,
                 generator: Optional["keras.Model"] = None) -> None:
        super().__init__()
        if not callable(getattr(target, "on_step_end", None)):
            raise TypeError(f"{type(target).__name__} has no on_step_end(trainer, record) "
                            "method; pass a ganlab_kit.torch_gan.Callback (a dashboard)")
        from ..torch_gan.trainer import METRICS, History

        self.target = target
        self.batch_size = batch_size
        self.metric_names = METRICS
        self.history = History()
        self.step = 0
        self.snapshots: List[Tuple[int, Any]] = []  # (step, torch.Tensor (n, C, H, W))
        self.sampler = SampleSnapshot(snapshot_every, n_fixed, seed, generator,
                                      on_snapshot=[self._forward_snapshot])
        RunControl.__init__(self)
        self._batch_started = 0.0

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask ``fit`` to finish after the current batch (safe from another thread)."""
        RunControl.stop(self)
        if self.model is not None:
            self.model.stop_training = True

    def set_model(self, model: "keras.Model") -> None:
        super().set_model(model)
        self.sampler.set_model(model)

    # ------------------------------------------------------------------ Keras hooks
    def _forward_snapshot(self, step: int, images: np.ndarray) -> None:
        import torch

        tensor = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())  # (n, C, H, W)
        self.snapshots.append((step, tensor))
        hook = getattr(self.target, "on_snapshot", None)
        if callable(hook):
            hook(self, step, tensor)

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.clear_stop()
        hook = getattr(self.target, "on_train_begin", None)
        if callable(hook):
            hook(self)
        self.sampler.on_train_begin(logs)

    def on_train_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.wait_while_paused()
        self._batch_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        elapsed = time.perf_counter() - self._batch_started
        logs = logs or {}
        self.step += 1
        record: Dict[str, float] = {}
        for name in self.metric_names:
            value = logs.get(name)
            record[name] = math.nan if value is None else float(value)
        if "examples_per_sec" not in logs and self.batch_size:
            record["examples_per_sec"] = self.batch_size / max(elapsed, 1e-9)
        record["step"] = self.step
        self.history.append(self.step, record)
        self.target.on_step_end(self, record)
        self.sampler.on_train_batch_end(batch, logs)
        if self.stop_requested and self.model is not None:
            self.model.stop_training = True

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        hook = getattr(self.target, "on_train_end", None)
        if callable(hook):
            hook(self)


class GradingBudgetStop(keras.callbacks.Callback):
    """Ends ``fit`` after ``GANLAB_MAX_STEPS`` batches while nbgrader executes the notebook.

    The Keras counterpart of the PyTorch trainer's grading budget
    (:class:`~ganlab_kit.config.GradingBudget`); :meth:`GAN.fit` adds it by itself
    when ``NBGRADER_EXECUTION`` is set.
    """

    def __init__(self, max_steps: Optional[int] = None) -> None:
        super().__init__()
        from ..config import GradingBudget

        self.max_steps = GradingBudget.from_environment().max_steps if max_steps is None else max_steps
        self.steps_done = 0

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.steps_done += 1
        if self.steps_done >= self.max_steps:
            self.model.stop_training = True
