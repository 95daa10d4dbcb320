"""What does the live dashboard cost? Trainer with vs without it, side by side in one run.

Two trainers with the same seed and model (the default MLP, batch 64) train in
alternating rounds: one bare, one with a :class:`TrainingDashboard` whose widgets
are built (so every redraw renders curves and samples to PNG and sets the image
traits, as in a notebook) and whose alarms run the classifier on each snapshot.
Prints both times and their ratio; the target is a ratio of at most 1.03.

    python benchmarks/bench_dashboard.py            # 300 steps per round, 2 rounds
    python benchmarks/bench_dashboard.py --quick    # a few seconds (CI smoke test)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("MPLBACKEND", "Agg")

TARGET_RATIO = 1.03


def _fit_seconds(trainer, steps: int, dashboard=None) -> float:
    started = time.perf_counter()
    if dashboard is None:
        trainer.fit(steps)
    else:
        dashboard.run(steps)
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per arm")
    parser.add_argument("--model", default="mlp", help="a ganlab_kit build_models kind")
    parser.add_argument("--refresh", type=float, default=1.0, help="dashboard refresh_seconds")
    parser.add_argument("--quick", action="store_true",
                        help="playground-fc model, 60 steps, 1 round: runs in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.model = 60, 1, "playground-fc"

    import torch

    from ganlab_kit.data import load_mnist
    from ganlab_kit.torch_gan import Trainer, build_models
    from ganlab_kit.widgets import TrainingDashboard

    data = load_mnist(split="train")

    def make_trainer():
        generator, discriminator = build_models(args.model)
        return Trainer(generator, discriminator, data, seed=0, batch_size=64, snapshot_every=100)

    bare, watched = make_trainer(), make_trainer()
    os.environ["GANLAB_WIDGETS"] = "live"  # no kernel here; keep the live code path
    dashboard = TrainingDashboard(watched, refresh_seconds=args.refresh)
    widget = dashboard.widget  # built widgets: every redraw renders and sets traits

    warmup = max(5, args.steps // 10)
    _fit_seconds(bare, warmup)
    _fit_seconds(watched, warmup, dashboard)

    bare_seconds = watched_seconds = 0.0
    for round_index in range(args.rounds):
        if round_index % 2 == 0:
            bare_seconds += _fit_seconds(bare, args.steps)
            watched_seconds += _fit_seconds(watched, args.steps, dashboard)
        else:
            watched_seconds += _fit_seconds(watched, args.steps, dashboard)
            bare_seconds += _fit_seconds(bare, args.steps)

    ratio = watched_seconds / bare_seconds
    steps = args.steps * args.rounds
    throttle = dashboard.throttle
    print(f"model={args.model} batch=64 steps={steps} (x2 arms, {args.rounds} alternating rounds) "
          f"torch threads={torch.get_num_threads()}")
    print(f"without dashboard: {bare_seconds:8.2f} s  ({1000 * bare_seconds / steps:.1f} ms/step)")
    print(f"with dashboard:    {watched_seconds:8.2f} s  ({1000 * watched_seconds / steps:.1f} ms/step)")
    print(f"redraws: {throttle.redraws} into {type(widget).__name__} taking {throttle.total_cost:.2f} s in all "
          f"(including warm-up)")
    print(f"ratio with/without: {ratio:.3f}  (overhead {100 * (ratio - 1):+.1f}%, "
          f"target <= {TARGET_RATIO:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
