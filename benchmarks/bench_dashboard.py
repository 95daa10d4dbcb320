"""What does the live dashboard cost? Trainer with vs without it, side by side in one run.

Two trainers with the same seed and model (the default MLP, batch 64) train at the
same time, taking turns step by step: one bare, one with a :class:`TrainingDashboard`
whose widgets are built, so every redraw renders curves and samples to PNG and sets
the image traits as in a notebook, and whose alarms run the classifier on snapshots.
A turnstile lets only one trainer compute at a time and times each turn, so both
arms see the same machine load, even on a busy shared machine. Printed:

* the time of each arm and their ratio (target: at most 1.03);
* the time spent inside the dashboard's callbacks, as a share of its arm's time
  (the direct cost, counted inside the run).

The ratio is an upper bound: the dashboard's throttle counts wall-clock time, which
here includes the other arm's turns, so it redraws about twice as often per step of
its own arm as it would training alone.

    python benchmarks/bench_dashboard.py            # 600 steps per arm
    python benchmarks/bench_dashboard.py --quick    # a few seconds (CI smoke test)
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
import time

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["GANLAB_WIDGETS"] = "live"  # no kernel here; keep the live drawing path

TARGET_RATIO = 1.03


class Timer:
    """Accumulates the time spent in wrapped callables."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1
        return timed


class Turnstile:
    """Two training loops take turns, one step each; each turn's duration is summed.

    A turn runs from the moment an arm gets the turn to the end of its step's
    callbacks (after its snapshot on snapshot steps), so the dashboard's work is
    counted in its arm.
    """

    def __init__(self, first: str, second: str) -> None:
        self.condition = threading.Condition()
        self.turn = first
        self.other = {first: second, second: first}
        self.seconds = {first: 0.0, second: 0.0}
        self.began = {first: 0.0, second: 0.0}
        self.done = set()

    def wait(self, name: str) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.turn == name or self.other[name] in self.done)
            self.began[name] = time.perf_counter()

    def hand_over(self, name: str, finished: bool = False) -> None:
        with self.condition:
            self.seconds[name] += time.perf_counter() - self.began[name]
            if finished:
                self.done.add(name)
            self.turn = self.other[name]
            self.condition.notify_all()
        if not finished:
            self.wait(name)

    def callback(self, name: str, snapshot_every: int):
        from ganlab_kit.torch_gan import Callback

        turnstile = self

        class Turn(Callback):
            def on_train_begin(self, trainer) -> None:
                turnstile.wait(name)

            def on_step_end(self, trainer, record) -> None:
                if not (snapshot_every and trainer.step % snapshot_every == 0):
                    turnstile.hand_over(name)  # else after the snapshot

            def on_snapshot(self, trainer, step, images) -> None:
                if step > 0:
                    turnstile.hand_over(name)

            def on_train_end(self, trainer) -> None:
                turnstile.hand_over(name, finished=True)

        return Turn()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per arm")
    parser.add_argument("--model", default="mlp", help="a ganlab_kit build_models kind")
    parser.add_argument("--refresh", type=float, default=1.0, help="dashboard refresh_seconds")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true",
                        help="playground-fc model, 400 steps, 1 thread: a few seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.model, args.threads = 400, "playground-fc", 1

    import torch

    from ganlab_kit.data import load_mnist
    from ganlab_kit.torch_gan import Trainer, build_models, seed_everything
    from ganlab_kit.widgets import TrainingDashboard

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_mnist(split="train")
    snapshot_every = 100

    def make_trainer():
        seed_everything(0)  # both arms train the very same networks on the same batches
        generator, discriminator = build_models(args.model)
        return Trainer(generator, discriminator, data, seed=0, batch_size=64,
                       snapshot_every=snapshot_every)

    bare, watched = make_trainer(), make_trainer()
    dashboard = TrainingDashboard(watched, refresh_seconds=args.refresh)
    widget = dashboard.widget  # built widgets: every redraw renders and sets traits
    in_dashboard = Timer()
    for hook in ("on_train_begin", "on_step_end", "on_snapshot", "on_train_end"):
        setattr(dashboard, hook, in_dashboard.wrap(getattr(dashboard, hook)))

    warmup = max(5, args.steps // 20)  # first-call costs: allocator, fonts, classifier weights
    bare.fit(warmup)
    dashboard.run(warmup)
    in_dashboard.seconds = in_dashboard.calls = 0
    dashboard.throttle.redraws, dashboard.throttle.total_cost = 0, 0.0

    turnstile = Turnstile("bare", "watched")
    bare.callbacks = [turnstile.callback("bare", snapshot_every)]
    watched.callbacks = [dashboard, turnstile.callback("watched", snapshot_every)]
    errors = []

    def train(run) -> None:
        try:
            run(args.steps)
        except BaseException as error:  # reported below
            errors.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=train, args=(bare.fit,)),
               threading.Thread(target=train, args=(dashboard.run,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.perf_counter() - started
    if errors:
        raise errors[0]

    bare_seconds, watched_seconds = turnstile.seconds["bare"], turnstile.seconds["watched"]
    ratio = watched_seconds / bare_seconds
    share = in_dashboard.seconds / watched_seconds
    throttle = dashboard.throttle
    print(f"model={args.model} batch=64 {args.steps} steps per arm, taking turns step by step "
          f"({total:.1f} s in all), torch threads={torch.get_num_threads()}, "
          f"refresh every >= {args.refresh:g} s")
    print(f"without dashboard: {bare_seconds:8.2f} s ({1000 * bare_seconds / args.steps:6.1f} ms/step)")
    print(f"with dashboard:    {watched_seconds:8.2f} s ({1000 * watched_seconds / args.steps:6.1f} ms/step)")
    print(f"time inside the dashboard's callbacks: {in_dashboard.seconds:.2f} s over "
          f"{in_dashboard.calls} calls = {100 * share:.2f}% of its arm; of that, "
          f"{throttle.redraws} redraws into a {type(widget).__name__} took {throttle.total_cost:.2f} s")
    print(f"ratio with/without: {ratio:.3f}  (target <= {TARGET_RATIO:.2f}; "
          f"direct cost alone {1 + share:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
