"""Train until the samples are good, keep the averaged generator, save it for grading.

What the DCGAN lab's training cells call. One run:

* keeps an exponential moving average of G's weights (:class:`AveragedGenerator`, as the
  kit's ``dcgan`` recipe does): the averaged copy is what gets scored, shown and saved;
* scores the averaged generator every ``check_every`` steps with the classifier that fits
  the data set (digits or clothes) and stops once it clears that data set's quality bar
  (:class:`QualityStop`), or after ``steps`` steps;
* shows the training dashboard (a static picture when the notebook runs headless);
* saves the averaged generator's ``state_dict`` to ``checkpoint_path`` (the file a student
  hands in).

Under nbgrader (``NBGRADER_EXECUTION`` set) a saved ``checkpoint_path`` is loaded instead of
training, exactly as :meth:`Trainer.fit` does, and never overwritten; without one, the usual
grading budget caps the steps (``GANLAB_MAX_STEPS``) and no file is saved, so the autograder
can tell that none was handed in.
"""
from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import nn

from ..config import GradingBudget
from .recipes import AveragedGenerator
from .trainer import Callback, History, Trainer, load_generator

__all__ = ["QualityStop", "BarRun", "fit_to_bar", "budgeted_steps"]


def budgeted_steps(steps: int) -> int:
    """``steps``, or at most ``GANLAB_MAX_STEPS`` (default 200) while nbgrader runs the notebook:
    the grading budget of :class:`Trainer`, for a training loop written out in a notebook."""
    budget = GradingBudget.from_environment()
    return min(int(steps), budget.max_steps) if budget.active else int(steps)


class QualityStop(Callback):
    """Scores the (averaged) generator every ``check_every`` steps; stops at the bar.

    ``dataset`` picks the classifier and the bar (``"mnist"`` or ``"fashion-mnist"``);
    ``None`` turns scoring off (CIFAR-10 has no classifier in the kit). Time spent
    scoring is kept out of :attr:`train_seconds`.
    """

    def __init__(self, dataset: Optional[str] = "mnist", check_every: int = 250, n: int = 1000,
                 seed: int = 12345, stop_at_bar: bool = True,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.dataset = dataset
        self.log = log
        self.check_every = check_every
        self.n = n
        self.seed = seed
        self.stop_at_bar = stop_at_bar
        self.checks: List[Tuple[int, float, Any]] = []  # (step, train_seconds, SampleScores)
        self.reached_step: Optional[int] = None
        self.reached_seconds: Optional[float] = None
        self._started = 0.0
        self._scoring = 0.0

    @property
    def train_seconds(self) -> float:
        """Seconds of training so far, scoring excluded."""
        return time.perf_counter() - self._started - self._scoring

    def on_train_begin(self, trainer: Trainer) -> None:
        self._started, self._scoring = time.perf_counter(), 0.0

    def on_step_end(self, trainer: Trainer, record: dict) -> None:
        if self.dataset is None or trainer.step % self.check_every:
            return
        from ..scoring import score_generator

        seconds = self.train_seconds
        began = time.perf_counter()
        sampler = getattr(trainer, "averaged_generator", trainer.generator)
        scores = score_generator(sampler, n=self.n, seed=self.seed, reference=None,
                                 dataset=self.dataset)
        self._scoring += time.perf_counter() - began
        self.checks.append((trainer.step, seconds, scores))
        if self.log:
            self.log(f"step {trainer.step:5d} ({seconds:5.0f} s): inception score "
                     f"{scores.inception_score:5.2f}, {scores.coverage:2d}/10 classes, "
                     f"{scores.confident_rate:4.0%} confident{'  <- at the bar' if scores.meets() else ''}")
        if scores.meets() and self.reached_step is None:
            self.reached_step, self.reached_seconds = trainer.step, seconds
            if self.stop_at_bar:
                trainer.stop()


@dataclass
class BarRun:
    """What :func:`fit_to_bar` did."""

    generator: nn.Module                 # the averaged generator, eval mode: sample from this
    history: History
    steps: int                           # steps trained in this call (0: loaded for grading)
    seconds: float                       # wall time of the training loop, scoring included
    loaded_from_checkpoint: bool = False
    reached_step: Optional[int] = None   # first check at the bar (None: not reached / no check)
    reached_seconds: Optional[float] = None  # training seconds to it, scoring excluded
    checks: list = field(default_factory=list)

    def summary(self) -> str:
        """One line for the notebook."""
        if self.loaded_from_checkpoint:
            return "loaded the saved generator (grading run: no training)"
        if self.reached_step is not None:
            return (f"reached the quality bar at step {self.reached_step} after "
                    f"{self.reached_seconds:.0f} s of training; trained {self.steps} steps in all")
        last = self.checks[-1][2] if self.checks else None
        return (f"trained {self.steps} steps in {self.seconds:.0f} s; bar not reached"
                + (f" (last check: {', '.join(last.bar.failures(last))})" if last else ""))


def fit_to_bar(trainer: Trainer, steps: int, checkpoint_path: Union[str, os.PathLike, None],
               dataset: Optional[str] = "mnist", average_decay: float = 0.995,
               average_start: int = 500, check_every: int = 250, stop_at_bar: bool = True,
               dashboard: bool = True, alarms: Any = True,
               log: Optional[Callable[[str], None]] = print) -> BarRun:
    """Train ``trainer`` for at most ``steps`` steps, stopping at ``dataset``'s quality bar
    (``stop_at_bar=False``: train all ``steps`` and only note when the bar was reached).

    Returns a :class:`BarRun` whose ``generator`` is the weight average (a copy of the
    trainer's generator). See the module docstring for the grading behaviour.
    """
    path = Path(checkpoint_path) if checkpoint_path else None
    budget = GradingBudget.from_environment()
    if budget.active and path is not None and path.is_file():
        averaged = copy.deepcopy(trainer.generator).eval()
        try:
            load_generator(averaged, path)
            message = f"grading run: loaded {path.name} instead of training"
        except RuntimeError:  # weights of another architecture: say so, keep the notebook running
            message = (f"grading run: {path.name} does not fit this Generator (saved from another "
                       "version of the class?); the samples below come from an untrained one")
        trainer.averaged_generator = averaged
        if log:
            log(message)
        return BarRun(averaged, trainer.history, 0, 0.0, loaded_from_checkpoint=True)

    average = AveragedGenerator(average_decay, average_start)
    stop = QualityStop(dataset, check_every, stop_at_bar=stop_at_bar, log=log)
    trainer.callbacks.extend([average, stop])
    started = time.perf_counter()
    before = trainer.step
    try:
        if dashboard:
            from ..widgets import TrainingDashboard

            TrainingDashboard(trainer, alarms=alarms).run(steps)
        else:
            trainer.fit(steps)
    finally:
        for callback in (average, stop):
            trainer.callbacks.remove(callback)
    seconds = time.perf_counter() - started
    averaged = average.average.eval()
    if path is not None and not budget.active:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(averaged.state_dict(), path)
    elif path is not None and log:  # under nbgrader: no hand-in file made up from a short run
        log(f"grading run: no {path.name} next to the notebook, so this run trained only the "
            f"grading budget's steps and saved nothing; hand in the {path.name} your own "
            "training saved")
    run = BarRun(averaged, trainer.history, trainer.step - before, seconds,
                 reached_step=stop.reached_step, reached_seconds=stop.reached_seconds,
                 checks=stop.checks)
    if log:
        log(run.summary())
    return run
