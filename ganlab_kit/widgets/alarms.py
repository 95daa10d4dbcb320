"""Failure-mode alarms computed from training records: pure Python, no widgets.

Three ways a GAN run goes wrong that a student can see early:

* **discriminator overpowering**: D tells real from fake almost perfectly for many
  steps, so ``log(1 - D(G(z)))`` saturates and G learns little;
* **vanishing generator gradients**: the norm of G's gradient stays tiny for many
  steps (often the result of the first, or of the minimax loss);
* **mode collapse**: the samples cover few digit classes, or fewer than they used
  to. Measured with the kit's MNIST classifier (``ganlab_kit.scoring.class_histogram``)
  when it is installed and the images are 28x28 grey; otherwise with the spread of
  the samples (mean pairwise distance), compared with its best value so far.

Feed records with :meth:`AlarmMonitor.observe_record` and sample batches with
:meth:`AlarmMonitor.observe_samples`; read :attr:`AlarmMonitor.active`.
"""
from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Mapping, Optional, Union

import numpy as np

__all__ = [
    "Alarm",
    "AlarmMonitor",
    "RollingMean",
    "effective_classes",
    "sample_spread",
    "DISCRIMINATOR_OVERPOWERING",
    "VANISHING_GENERATOR_GRADIENT",
    "MODE_COLLAPSE",
    "REAL_DIGIT_SPREAD",
    "REAL_DIGIT_DISTANCES",
    "real_digit_spread",
]

DISCRIMINATOR_OVERPOWERING = "discriminator_overpowering"
VANISHING_GENERATOR_GRADIENT = "vanishing_generator_gradient"
MODE_COLLAPSE = "mode_collapse"

ClassHistogram = Callable[[np.ndarray], np.ndarray]

#: :func:`sample_spread` of 100 real MNIST digits in [-1, 1] (0.72-0.75 over random draws of
#: the kit's offline digits): the variety a generator of digits works towards.
REAL_DIGIT_SPREAD = 0.73

#: Mean RMS distance between real digits of class i and class j (i == j: between two
#: different digits of that class), in [-1, 1] pixels: the kit's offline MNIST test split,
#: 100 digits per class (tests/test_widgets.py recomputes it). A batch whose class shares
#: are ``h`` would show ``h @ REAL_DIGIT_DISTANCES @ h`` if it were real handwriting.
REAL_DIGIT_DISTANCES = np.array([
    [0.695, 0.822, 0.828, 0.811, 0.816, 0.791, 0.811, 0.811, 0.817, 0.809],
    [0.822, 0.445, 0.691, 0.697, 0.705, 0.678, 0.716, 0.674, 0.696, 0.692],
    [0.828, 0.691, 0.710, 0.757, 0.755, 0.762, 0.739, 0.761, 0.756, 0.752],
    [0.811, 0.697, 0.757, 0.673, 0.776, 0.724, 0.786, 0.760, 0.734, 0.750],
    [0.816, 0.705, 0.755, 0.776, 0.635, 0.732, 0.724, 0.691, 0.750, 0.664],
    [0.791, 0.678, 0.762, 0.724, 0.732, 0.685, 0.747, 0.726, 0.730, 0.720],
    [0.811, 0.716, 0.739, 0.786, 0.724, 0.747, 0.655, 0.761, 0.765, 0.735],
    [0.811, 0.674, 0.761, 0.760, 0.691, 0.726, 0.761, 0.621, 0.751, 0.664],
    [0.817, 0.696, 0.756, 0.734, 0.750, 0.730, 0.765, 0.751, 0.693, 0.724],
    [0.809, 0.692, 0.752, 0.750, 0.664, 0.720, 0.735, 0.664, 0.724, 0.629]])


@dataclass
class Alarm:
    """One failure mode: raised at ``step``, ``active`` until its condition clears."""

    name: str  # one of the *_OVERPOWERING / *_GRADIENT / MODE_COLLAPSE constants
    message: str  # what a student reads, with the numbers that triggered it
    step: int  # the step at which the alarm was (last) raised
    active: bool = True  # False once the condition no longer holds
    cleared_step: Optional[int] = None  # the step at which it cleared


class RollingMean:
    """Mean of the last ``size`` finite values (NaN values are skipped)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a rolling window needs size >= 1, got {size}")
        self.size = size
        self._values: Deque[float] = deque()
        self._total = 0.0

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        self._values.append(value)
        self._total += value
        if len(self._values) > self.size:
            self._total -= self._values.popleft()

    @property
    def full(self) -> bool:
        return len(self._values) == self.size

    @property
    def mean(self) -> float:
        return self._total / len(self._values) if self._values else math.nan

    def clear(self) -> None:
        self._values.clear()
        self._total = 0.0


def effective_classes(histogram: np.ndarray) -> float:
    """exp(entropy) of a class histogram: 10.0 for ten equal classes, 1.0 for one class."""
    shares = np.asarray(histogram, dtype=np.float64)
    if shares.sum() <= 0:
        return 0.0
    shares = shares / shares.sum()
    shares = shares[shares > 0]
    return float(np.exp(-(shares * np.log(shares)).sum()))


def sample_spread(images: np.ndarray) -> float:
    """Mean pairwise L2 distance between images ``(N, ...)``, per pixel (RMS), >= 0.

    Identical samples give 0; 100 real MNIST digits in [-1, 1] give about 0.73
    (:data:`REAL_DIGIT_SPREAD`).
    """
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if len(flat) < 2:
        return 0.0
    squared = (flat ** 2).sum(1)
    # the Gram matrix through torch's threads, not numpy's BLAS: called between training
    # steps, numpy's OpenBLAS threads fight torch's still-spinning ones for the cores and
    # this 64-image product took 30-60 ms instead of 0.2 ms (issue 25: most of the
    # dashboard's per-snapshot check)
    import torch

    flat_t = torch.from_numpy(flat)
    gram = (flat_t @ flat_t.T).numpy()
    distances = squared[:, None] + squared[None, :] - 2.0 * gram
    pairs = np.sqrt(np.clip(distances[np.triu_indices(len(flat), 1)], 0.0, None))
    return float(pairs.mean() / math.sqrt(flat.shape[1]))


def real_digit_spread(histogram: np.ndarray) -> float:
    """The :func:`sample_spread` real handwriting shows for a batch with these class shares
    (``(10,)``, any scale): 0.445 for ones only, about 0.74 for all ten digits alike."""
    shares = np.asarray(histogram, dtype=np.float64)
    total = shares.sum()
    if total <= 0:
        return REAL_DIGIT_SPREAD
    shares = shares / total
    return float(shares @ REAL_DIGIT_DISTANCES @ shares)


def _kit_class_histogram() -> Optional[ClassHistogram]:
    """``ganlab_kit.scoring.class_histogram`` if it and its weights are installed, else None."""
    try:
        from ..scoring import class_histogram  # type: ignore[attr-defined]
    except ImportError:
        try:
            from ..scoring.metrics import class_histogram  # type: ignore[no-redef]
        except ImportError:
            return None
    return class_histogram


class AlarmMonitor:
    """Watches records and samples and keeps the list of :class:`Alarm` objects.

    Args:
        overpowering_accuracy: D's mean accuracy ((on real + on fake) / 2) at or above
            which D counts as overpowering, in [0, 1].
        overpowering_steps: how many consecutive steps (a rolling mean) it must last.
        vanishing_gradient_norm: G's gradient norm below which it counts as vanished.
        vanishing_steps: over how many steps (a rolling mean) it must stay that small.
        collapse_classes: raise mode collapse when samples cover at most this many
            effective classes (exp of the entropy of the class histogram) ...
        collapse_warmup_steps: ... but only after this many steps (young generators
            draw blobs the classifier puts in one class).
        collapse_drop: also raise it when coverage (classes, or the spread of the
            samples) falls below ``(1 - collapse_drop)`` of its best value so far.
        collapse_patience: how many sample batches in a row must show it (64 samples
            per batch make single readings noisy).
        class_histogram: ``images (N, C, H, W) in [-1, 1] -> (10,) shares``; default:
            the kit's MNIST classifier if available. ``False`` always uses the spread
            (which only counts from ``collapse_warmup_steps`` on).
        reference_spread: what the samples' variety is compared with, besides their own
            best spread so far (below ``(1 - collapse_drop / 2)`` of that, they "look
            alike"). Default (None): real handwriting of the same digits: with the
            classifier, samples look alike when their spread is below ``collapse_variety``
            of :func:`real_digit_spread` of their class shares, so a generator that never
            became varied (it collapsed before the warm-up ended), or that draws one digit
            in a few styles, is caught too. A number: the spread of real images (samples
            look alike below ``(1 - collapse_drop / 2)`` of it); ``0``: the best spread only.
        collapse_variety: with the default ``reference_spread``, the share of real
            handwriting's variety below which samples of the same digits look alike
            (0.87: a batch of real digits shows about 1.0; the provoked collapses of the
            failure-modes lab 0.68-0.82 over their last two snapshots, its healthy runs
            0.82-0.96 with five to seven digits; docs/lab_failure_modes.md).
    """

    def __init__(self, overpowering_accuracy: float = 0.98, overpowering_steps: int = 200,
                 vanishing_gradient_norm: float = 1e-3, vanishing_steps: int = 200,
                 collapse_classes: float = 2.5, collapse_warmup_steps: int = 1000,
                 collapse_drop: float = 0.5, collapse_patience: int = 2,
                 class_histogram: Union[ClassHistogram, None, bool] = None,
                 reference_spread: Optional[float] = None, collapse_variety: float = 0.87) -> None:
        if not 0.0 < overpowering_accuracy <= 1.0:
            raise ValueError(f"overpowering_accuracy must be in (0, 1], got {overpowering_accuracy}")
        if not 0.0 < collapse_drop < 1.0:
            raise ValueError(f"collapse_drop must be in (0, 1), got {collapse_drop}")
        self.overpowering_accuracy = overpowering_accuracy
        self.vanishing_gradient_norm = vanishing_gradient_norm
        self.collapse_classes = collapse_classes
        self.collapse_warmup_steps = collapse_warmup_steps
        self.collapse_drop = collapse_drop
        self.collapse_patience = max(1, int(collapse_patience))
        if not 0.0 < collapse_variety <= 1.0:
            raise ValueError(f"collapse_variety must be in (0, 1], got {collapse_variety}")
        self.reference_spread = None if reference_spread is None else float(reference_spread)
        self.collapse_variety = collapse_variety
        self._collapse_streak = 0
        self._accuracy = RollingMean(overpowering_steps)
        self._gradient = RollingMean(vanishing_steps)
        self._last_gradient = math.nan  # the latest measured norm (a fit measures every k steps)
        self._class_histogram = class_histogram if callable(class_histogram) else None
        self._classifier_failed = class_histogram is False
        self.alarms: Dict[str, Alarm] = {}
        self.best_classes = 0.0  # best effective class count seen
        self.best_spread = 0.0  # best sample spread seen
        self.last_classes: Optional[float] = None
        self.last_spread: Optional[float] = None
        self.last_histogram: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ reading
    @property
    def active(self) -> List[Alarm]:
        """Alarms whose condition holds now, in the order they were raised."""
        return [alarm for alarm in self.alarms.values() if alarm.active]

    def is_active(self, name: str) -> bool:
        alarm = self.alarms.get(name)
        return bool(alarm and alarm.active)

    # ------------------------------------------------------------------ updating
    def _set(self, name: str, condition: bool, step: int, message: str) -> None:
        alarm = self.alarms.get(name)
        if condition:
            if alarm is None or not alarm.active:
                self.alarms[name] = Alarm(name, message, step)
            else:
                alarm.message = message
        elif alarm is not None and alarm.active:
            alarm.active = False
            alarm.cleared_step = step

    def observe_record(self, step: int, record: Mapping[str, float]) -> None:
        """Update the overpowering and vanishing-gradient alarms with one step's record."""
        accuracy_real = float(record.get("d_acc_real", math.nan))
        accuracy_fake = float(record.get("d_acc_fake", math.nan))
        self._accuracy.add((accuracy_real + accuracy_fake) / 2.0)
        if self._accuracy.full:
            mean = self._accuracy.mean
            self._set(
                DISCRIMINATOR_OVERPOWERING, mean >= self.overpowering_accuracy, step,
                f"D is overpowering G: D's accuracy averaged {mean:.1%} over the last "
                f"{self._accuracy.size} steps, so G gets little signal. Try a lower d_lr, "
                "label smoothing, or fewer D steps.")
        norm = float(record.get("g_grad_norm", math.nan))
        if math.isfinite(norm):
            self._last_gradient = norm
        # the torch Trainer measures norms every grad_norm_every steps (NaN between): the
        # latest measured one stands for the steps between, so the window still spans steps
        self._gradient.add(self._last_gradient)
        if self._gradient.full:
            mean = self._gradient.mean
            self._set(
                VANISHING_GENERATOR_GRADIENT, mean < self.vanishing_gradient_norm, step,
                f"G's gradients are vanishing: their norm averaged {mean:.1e} over the last "
                f"{self._gradient.size} steps. Use the non-saturating generator loss, or "
                "weaken D.")

    def _histogram(self, images: np.ndarray) -> Optional[np.ndarray]:
        if self._classifier_failed or tuple(images.shape[1:]) != (1, 28, 28):
            return None
        if self._class_histogram is None:
            self._class_histogram = _kit_class_histogram()
            if self._class_histogram is None:
                self._classifier_failed = True
                return None
        try:
            with warnings.catch_warnings():  # young generators' odd ranges are expected here
                warnings.simplefilter("ignore")
                return np.asarray(self._class_histogram(images), dtype=np.float64)
        except (FileNotFoundError, ImportError, OSError, RuntimeError):
            self._classifier_failed = True  # no weights: use the spread from now on
            return None

    def _looks_alike(self, spread: float, histogram: np.ndarray) -> bool:
        """Less varied than this run's best samples were, or than real handwriting of the
        same digits (a generator that collapsed early never sets a high best spread)."""
        if spread < (1 - self.collapse_drop / 2) * self.best_spread:
            return True
        if self.reference_spread is None:
            return spread < self.collapse_variety * real_digit_spread(histogram)
        return spread < (1 - self.collapse_drop / 2) * self.reference_spread

    def _persistent(self, condition: bool) -> bool:
        """True once ``condition`` held for ``collapse_patience`` sample batches in a row."""
        self._collapse_streak = self._collapse_streak + 1 if condition else 0
        return self._collapse_streak >= self.collapse_patience

    def observe_samples(self, step: int, images: np.ndarray) -> None:
        """Update the mode-collapse alarm with a batch of samples ``(N, C, H, W)`` in [-1, 1].

        Collapsed samples look alike, so the spread of the batch must have fallen too;
        with the classifier the class coverage must also be low (blurry but varied
        samples of a young generator often all read as one digit).
        """
        images = np.asarray(images, dtype=np.float32)
        spread = sample_spread(images)
        self.last_spread = spread
        if step >= self.collapse_warmup_steps:  # young generators' noise is spread out too
            self.best_spread = max(self.best_spread, spread)
        histogram = self._histogram(images)
        if histogram is None:
            fell = self.best_spread > 0 and spread < (1 - self.collapse_drop) * self.best_spread
            self._set(
                MODE_COLLAPSE, self._persistent(fell), step,
                f"Mode collapse? The samples have become alike: their spread is {spread:.2f}, "
                f"down from {self.best_spread:.2f}.")
            return
        self.last_histogram = histogram
        classes = effective_classes(histogram)
        self.last_classes = classes
        self.best_classes = max(self.best_classes, classes)
        too_few = step >= self.collapse_warmup_steps and classes <= self.collapse_classes
        fell = self.best_classes >= 4.0 and classes < (1 - self.collapse_drop) * self.best_classes
        alike = self._looks_alike(spread, histogram)
        top = int(np.argmax(histogram))
        self._set(
            MODE_COLLAPSE, self._persistent((too_few or fell) and alike), step,
            f"Mode collapse? The samples cover about {classes:.1f} digit classes "
            f"(best so far {self.best_classes:.1f}) and look alike (spread {spread:.2f}; best "
            f"{self.best_spread:.2f}, real handwriting of these digits "
            f"{real_digit_spread(histogram):.2f}); {histogram[top] / histogram.sum():.0%} of them "
            f"look like a {top}.")
