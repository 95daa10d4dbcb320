"""How many threads a training loop gives torch, chosen from what the other programs leave free.

torch uses every core by default. Its threads wait for each other at the end of every
matrix product, so when another program holds one of a laptop's two cores, one of torch's
threads keeps losing its core and the others wait for it: measured on the lab's MLP GAN,
a step went from 30 ms to 1,286 ms beside a second torch process, and from 20 to 60 ms
beside a busy Python loop, against 29-43 ms with one thread (issue 17;
``benchmarks/bench_threads.py``). One thread on an idle machine, on the other hand, is
slower than two.

:class:`ThreadPicker` looks every ``interval`` seconds at how much CPU time the *other*
programs used (all cores' busy time from ``/proc/stat``, or :mod:`psutil` elsewhere, minus
this process's own CPU time) and sets ``torch.set_num_threads`` to the cores they leave
free: all of them on an idle machine, one less per busy competitor, never fewer than one
and never more than the thread count torch had when training began (so ``OMP_NUM_THREADS``
or your own ``torch.set_num_threads(n)`` stays the upper limit). Reading the counters
costs a few microseconds; the check runs from the training loop, between steps.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Optional, Tuple

import torch

__all__ = ["ThreadPicker", "available_cores", "cpu_times"]

#: A competitor using less than this share of a core does not take that core away.
SPARE_SHARE = 0.25
#: Seconds of the first interval, trained on one thread, after which the picker first decides.
FIRST_LOOK = 0.5


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_times() -> Optional[Tuple[float, float]]:
    """``(busy, own)``: CPU seconds all programs and this process have used so far, or None
    where the machine's total is unknown (no ``/proc/stat`` and no psutil)."""
    own = sum(os.times()[:2])  # user + system time of every thread of this process
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()[1:]
        ticks = [int(value) for value in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        busy = sum(ticks[:8]) - idle  # guest time is already inside user time
        return busy / os.sysconf("SC_CLK_TCK"), own
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0), own


class ThreadPicker:
    """Keeps torch's thread count at the number of cores other programs leave free.

    Call :meth:`begin` when training starts, :meth:`tick` between steps and :meth:`end` when
    it stops (the thread count torch had before is restored). ``clock`` and ``counters`` are
    injectable for tests.

    Args:
        interval: seconds between looks at the machine's load.
        max_threads: upper limit; default: torch's thread count at :meth:`begin`.
    """

    def __init__(self, interval: float = 2.0, max_threads: Optional[int] = None,
                 clock: Callable[[], float] = time.monotonic,
                 counters: Callable[[], Optional[Tuple[float, float]]] = cpu_times) -> None:
        self.interval = interval
        self.max_threads = max_threads
        self.clock = clock
        self.counters = counters
        self.threads: Optional[int] = None   # what the picker set last
        self.changes = 0                     # how often it changed the count
        self._limit = 1
        self._before: Optional[int] = None
        self._last: Optional[Tuple[float, float, float]] = None  # (time, busy, own)
        self._wait = interval

    def begin(self) -> None:
        self._before = torch.get_num_threads()
        self._limit = max(1, min(self.max_threads or self._before, available_cores()))
        self._last = None
        self.threads = self._before
        # the first look: one thread (safe whatever the load) for a short first interval
        self._set(1)
        self._wait = min(self.interval, FIRST_LOOK)
        self.tick(force=True)

    def end(self) -> None:
        if self._before is not None and torch.get_num_threads() != self._before:
            torch.set_num_threads(self._before)
        self._before = None

    def pick(self, others_busy_cores: float) -> int:
        """Threads to use when other programs keep ``others_busy_cores`` cores busy."""
        free = available_cores() - max(0.0, others_busy_cores)
        return max(1, min(self._limit, int(free + SPARE_SHARE)))

    def tick(self, force: bool = False) -> None:
        """Between two steps: look at the load if ``interval`` has passed and adapt."""
        now = self.clock()
        if not force and self._last is not None and now - self._last[0] < self._wait:
            return
        counters = self.counters()
        if counters is None:
            return
        busy, own = counters
        previous, self._last = self._last, (now, busy, own)
        if previous is None or now <= previous[0]:
            return
        self._wait = self.interval
        others = ((busy - previous[1]) - (own - previous[2])) / (now - previous[0])
        self._set(self.pick(others))

    def _set(self, threads: int) -> None:
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            self.changes += 1
        self.threads = threads
