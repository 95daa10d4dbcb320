"""What does the live dashboard cost? Trainer with vs without it, side by side in one run.

Two trainers with the same seed and model (the default MLP, batch 64) train in
alternating rounds (A B B A ...): one bare, one with a :class:`TrainingDashboard`
whose widgets are built, so every redraw renders curves and samples to PNG and sets
the image traits as in a notebook, and whose alarms run the classifier on each
snapshot. Printed:

* wall-clock and CPU time of each arm and their ratio (target: at most 1.03);
* the time spent inside the dashboard's callbacks, as a share of its arm's time:
  the direct cost, which stays exact when other programs load the machine and
  make the side-by-side ratio noisy.

    python benchmarks/bench_dashboard.py            # 150 steps per round, 4 rounds (600 per arm)
    python benchmarks/bench_dashboard.py --quick    # a few seconds (CI smoke test)
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps per round and arm")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--model", default="mlp", help="a ganlab_kit build_models kind")
    parser.add_argument("--refresh", type=float, default=1.0, help="dashboard refresh_seconds")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true",
                        help="playground-fc model, 200 steps, 2 rounds, 1 thread: a few seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.model, args.threads = 200, 2, "playground-fc", 1

    import torch

    from ganlab_kit.data import load_mnist
    from ganlab_kit.torch_gan import Trainer, build_models, seed_everything
    from ganlab_kit.widgets import TrainingDashboard

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_mnist(split="train")

    def make_trainer():
        seed_everything(0)  # both arms train the very same networks on the same batches
        generator, discriminator = build_models(args.model)
        return Trainer(generator, discriminator, data, seed=0, batch_size=64, snapshot_every=100)

    bare, watched = make_trainer(), make_trainer()
    dashboard = TrainingDashboard(watched, refresh_seconds=args.refresh)
    widget = dashboard.widget  # built widgets: every redraw renders and sets traits
    in_dashboard = Timer()
    for hook in ("on_train_begin", "on_step_end", "on_snapshot", "on_train_end"):
        setattr(dashboard, hook, in_dashboard.wrap(getattr(dashboard, hook)))

    def run_bare() -> None:
        bare.fit(args.steps)

    def run_watched() -> None:
        dashboard.run(args.steps)

    warmup = max(5, args.steps // 10)  # first-call costs: allocator, fonts, classifier weights
    bare.fit(warmup)
    dashboard.run(warmup)
    in_dashboard.seconds = in_dashboard.calls = 0
    dashboard.throttle.redraws, dashboard.throttle.total_cost = 0, 0.0

    totals = {"bare": [0.0, 0.0], "watched": [0.0, 0.0]}  # [wall, cpu]
    order = []
    for round_index in range(args.rounds):
        pair = [("bare", run_bare), ("watched", run_watched)]
        if round_index % 2:
            pair.reverse()  # A B, B A, A B, ...
        for name, run in pair:
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            totals[name][0] += time.perf_counter() - wall
            totals[name][1] += time.process_time() - cpu
            order.append(name[0])

    steps = args.steps * args.rounds
    (bare_wall, bare_cpu), (watched_wall, watched_cpu) = totals["bare"], totals["watched"]
    wall_ratio, cpu_ratio = watched_wall / bare_wall, watched_cpu / bare_cpu
    share = in_dashboard.seconds / watched_wall
    print(f"model={args.model} batch=64 {steps} steps per arm in {args.rounds} rounds "
          f"({' '.join(order)}), torch threads={torch.get_num_threads()}, "
          f"refresh every >= {args.refresh:g} s")
    print(f"without dashboard: wall {bare_wall:8.2f} s ({1000 * bare_wall / steps:6.1f} ms/step)  "
          f"cpu {bare_cpu:8.2f} s")
    print(f"with dashboard:    wall {watched_wall:8.2f} s ({1000 * watched_wall / steps:6.1f} ms/step)  "
          f"cpu {watched_cpu:8.2f} s")
    throttle = dashboard.throttle
    print(f"time inside the dashboard's callbacks: {in_dashboard.seconds:.2f} s over "
          f"{in_dashboard.calls} calls = {100 * share:.2f}% of its arm; of that, "
          f"{throttle.redraws} redraws into a {type(widget).__name__} took {throttle.total_cost:.2f} s")
    print(f"ratio with/without: wall {wall_ratio:.3f}, cpu {cpu_ratio:.3f}  "
          f"(target <= {TARGET_RATIO:.2f}; direct cost {1 + share:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
