"""The dashboard's state, in plain Python: what has happened in a run, nothing drawn.

:class:`DashboardState` consumes the trainer's per-step records (the same metric
names from the PyTorch trainer and the Keras bridge) and snapshots, and answers
what the widgets show: the curves, the progress, examples per second, the ETA,
the status and the alarms. :class:`RedrawThrottle` decides when redrawing is due
so that drawing stays a small share of training time. Both take an injectable
clock so tests can drive time.
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .alarms import Alarm, AlarmMonitor

__all__ = ["DashboardState", "RedrawThrottle", "CURVE_METRICS", "QUALITY_METRICS", "STATUSES",
           "format_duration", "bucket_means"]

Clock = Callable[[], float]

#: Metrics the dashboard plots, as the trainer names them.
CURVE_METRICS = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake",
                 "g_grad_norm")
#: The live quality readout's series (the classifier's scores of samples), as SampleScores names them.
QUALITY_METRICS = ("inception_score", "coverage", "confident_rate")
#: Values of :attr:`DashboardState.status`.
STATUSES = ("idle", "running", "paused", "stopped", "finished", "failed")


def format_duration(seconds: Optional[float]) -> str:
    """``75.2 -> "1:15"``, ``3725 -> "1:02:05"``; unknown -> ``"--:--"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bucket_means(steps: Sequence[float], values: Sequence[float],
                 buckets: int) -> Tuple[np.ndarray, np.ndarray]:
    """Average ``values`` over at most ``buckets`` equal runs of consecutive steps.

    Returns ``(x, y)``, each ``(min(len, buckets),)``; NaN values are ignored and a
    bucket with no finite value is dropped. Smooths noisy per-step metrics into one
    point per pixel column.
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return x, y
    count = len(x)
    buckets = max(1, min(int(buckets), count))
    starts = (np.arange(buckets) * count) // buckets
    finite = np.isfinite(y)
    sums = np.add.reduceat(np.where(finite, y, 0.0), starts)
    counts = np.add.reduceat(finite.astype(np.float64), starts)
    centres = np.add.reduceat(x, starts) / np.diff(np.append(starts, count))
    keep = counts > 0
    return centres[keep], sums[keep] / counts[keep]


class RedrawThrottle:
    """Says when a redraw is due: at most every ``min_interval`` seconds, and rarely
    enough that drawing takes at most ``max_share`` of the time.

    After a redraw that took ``cost`` seconds, the next one waits
    ``max(min_interval, cost / max_share)`` seconds.
    """

    def __init__(self, min_interval: float = 1.0, max_share: float = 0.02,
                 clock: Clock = time.perf_counter) -> None:
        if min_interval < 0 or not 0 < max_share <= 1:
            raise ValueError("min_interval must be >= 0 and max_share in (0, 1]")
        self.min_interval = min_interval
        self.max_share = max_share
        self.clock = clock
        self._last: Optional[float] = None
        self._wait = min_interval
        self.redraws = 0
        self.total_cost = 0.0

    def due(self) -> bool:
        return self._last is None or self.clock() - self._last >= self._wait

    def done(self, started: float) -> None:
        """Record a redraw that began at ``started`` (a value of the same clock)."""
        now = self.clock()
        cost = max(0.0, now - started)
        self.redraws += 1
        self.total_cost += cost
        self._last = now
        self._wait = max(self.min_interval, cost / self.max_share)

    def reset(self) -> None:
        self._last = None
        self._wait = self.min_interval


class DashboardState:
    """Everything a training dashboard shows, updated from records and snapshots.

    Args:
        alarms: the :class:`AlarmMonitor` to feed (None: no alarms).
        clock: seconds, monotonic; used for the ETA only.
        rate_window: how many recent steps the steps-per-second estimate uses.
    """

    def __init__(self, alarms: Optional[AlarmMonitor] = None, clock: Clock = time.monotonic,
                 rate_window: int = 50) -> None:
        self.alarm_monitor = alarms
        self.clock = clock
        self.steps: List[int] = []
        self.metrics: Dict[str, List[float]] = {name: [] for name in CURVE_METRICS}
        self.status = "idle"
        self.step = 0  # the last finished step
        self.start_step = 0  # the step the current run began at
        self.target_step: Optional[int] = None  # the step the current run ends at
        self.examples_per_second = math.nan  # smoothed over recent steps
        self.snapshot_step: Optional[int] = None
        self.snapshot_images: Optional[np.ndarray] = None  # (N, C, H, W) in [-1, 1]
        self.snapshot_version = 0  # grows with every new snapshot
        self.error: Optional[str] = None
        # the live quality readout: the classifier's scores every few hundred steps
        self.quality_steps: List[int] = []
        self.quality: Dict[str, List[float]] = {name: [] for name in QUALITY_METRICS}
        self.quality_bar = None  # a ganlab_kit.scoring.QualityBar drawn with the curves
        self.quality_samples = 0  # samples scored per point
        #: a line that explains an empty run, e.g. "generator.pt loaded: trained before grading"
        self.note: Optional[str] = None
        self._times: Deque[Tuple[float, int]] = deque(maxlen=max(2, rate_window))

    # ------------------------------------------------------------------ updates
    def begin(self, step: int, planned_steps: Optional[int]) -> None:
        """A run starts at ``step`` and plans ``planned_steps`` more (None: unknown)."""
        self.start_step = int(step)
        self.step = max(self.step, int(step))
        self.target_step = None if planned_steps is None else int(step) + max(0, int(planned_steps))
        self.status = "running"
        self.error = None
        self._times.clear()

    def add_record(self, record: Mapping[str, float]) -> None:
        """One finished step: ``record`` holds ``step`` and the trainer's metrics."""
        step = int(record.get("step", self.step + 1))
        self.step = step
        self.steps.append(step)
        for name in CURVE_METRICS:
            self.metrics[name].append(float(record.get(name, math.nan)))
        speed = float(record.get("examples_per_sec", math.nan))
        if math.isfinite(speed):
            previous = self.examples_per_second
            self.examples_per_second = speed if not math.isfinite(previous) else (
                0.9 * previous + 0.1 * speed)
        self._times.append((self.clock(), step))
        if self.status in ("idle", "paused"):
            self.status = "running"
        if self.alarm_monitor is not None:
            self.alarm_monitor.observe_record(step, record)

    def add_history(self, steps: Sequence[int], metrics: Mapping[str, Sequence[float]]) -> None:
        """Records the dashboard missed (a run resumed from a checkpoint): curves only."""
        have = set(self.steps)
        for index, step in enumerate(steps):
            if int(step) in have:
                continue
            self.steps.append(int(step))
            for name in CURVE_METRICS:
                column = metrics.get(name)
                self.metrics[name].append(float(column[index]) if column is not None else math.nan)
        if self.steps:
            order = np.argsort(self.steps, kind="stable")
            self.steps = [self.steps[i] for i in order]
            for name in CURVE_METRICS:
                self.metrics[name] = [self.metrics[name][i] for i in order]
            self.step = max(self.step, self.steps[-1])

    def add_snapshot(self, step: int, images: np.ndarray, check_alarms: bool = True) -> None:
        """Samples from the fixed noise at ``step``: ``(N, C, H, W)`` in [-1, 1].

        ``check_alarms=False`` only shows them (the mode-collapse check follows the
        trainer's regular snapshots, not extra ones)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"snapshot images must have shape (N, C, H, W), got {images.shape}")
        self.snapshot_step = int(step)
        self.snapshot_images = images
        self.snapshot_version += 1
        if check_alarms and self.alarm_monitor is not None:
            self.alarm_monitor.observe_samples(int(step), images)

    def add_quality(self, step: int, scores) -> None:
        """The classifier's scores (a ``SampleScores``) of samples drawn at ``step``."""
        self.quality_steps.append(int(step))
        for name in QUALITY_METRICS:
            self.quality[name].append(float(getattr(scores, name)))

    def quality_text(self) -> str:
        """``"step 1500: IS 7.41, 10 digits, 78% confident"`` (empty before the first score)."""
        if not self.quality_steps:
            return ""
        values = {name: self.quality[name][-1] for name in QUALITY_METRICS}
        return (f"step {self.quality_steps[-1]}: IS {values['inception_score']:.2f}, "
                f"{int(values['coverage'])} digits, {values['confident_rate']:.0%} confident")

    def set_paused(self, paused: bool) -> None:
        if paused and self.status == "running":
            self.status = "paused"
        elif not paused and self.status == "paused":
            self.status = "running"
            self._times.clear()  # the pause is not training time

    def end(self, stopped: bool = False, error: Optional[str] = None) -> None:
        if error is not None:
            self.status, self.error = "failed", error
        else:
            self.status = "stopped" if stopped else "finished"
        self._times.clear()

    # ------------------------------------------------------------------ reading
    @property
    def alarms(self) -> List[Alarm]:
        """All alarms raised so far (active and cleared)."""
        return list(self.alarm_monitor.alarms.values()) if self.alarm_monitor else []

    @property
    def active_alarms(self) -> List[Alarm]:
        return self.alarm_monitor.active if self.alarm_monitor else []

    @property
    def steps_done(self) -> int:
        """Steps finished in the current run."""
        return self.step - self.start_step

    @property
    def planned_steps(self) -> Optional[int]:
        return None if self.target_step is None else self.target_step - self.start_step

    @property
    def progress(self) -> float:
        """Share of the current run done, in [0, 1] (0 when the plan is unknown)."""
        planned = self.planned_steps
        if not planned:
            return 1.0 if planned == 0 and self.status in ("finished", "stopped") else 0.0
        return min(1.0, max(0.0, self.steps_done / planned))

    @property
    def steps_per_second(self) -> float:
        if len(self._times) < 2:
            return math.nan
        (t0, s0), (t1, s1) = self._times[0], self._times[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else math.nan

    @property
    def eta_seconds(self) -> Optional[float]:
        """Seconds left in the current run at the recent pace; None when unknown."""
        if self.status != "running" or self.target_step is None:
            return None
        rate = self.steps_per_second
        if not math.isfinite(rate) or rate <= 0:
            return None
        return max(0, self.target_step - self.step) / rate

    def step_text(self) -> str:
        """``"step 120 / 500"`` (or ``"step 120"`` when the plan is unknown)."""
        if self.target_step is None:
            return f"step {self.step}"
        return f"step {self.step} / {self.target_step}"

    def speed_text(self) -> str:
        """``"812 examples/s · ETA 0:42"``: wall-clock numbers, live display only."""
        speed = self.examples_per_second
        speed_part = f"{speed:,.0f} examples/s" if math.isfinite(speed) else "-- examples/s"
        return f"{speed_part} · ETA {format_duration(self.eta_seconds)}"

    def latest(self, name: str) -> float:
        values = self.metrics.get(name) or []
        return values[-1] if values else math.nan
