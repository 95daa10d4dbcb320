"""Time from scratch to the quality bar of the PyTorch lab's own training cell, reference answers.

Runs the source notebook's full-digit training cells (its reference answers: the student's
step functions and make_optimizers, the cell's Trainer options) for several seeds, scores
the generator the cell saves every ``--check-every`` steps with the kit's classifier and
stops at the bar (IS >= 8, 10/10 digits, >= 80 % confident) or after ``--time-limit``
seconds of training. Beside it, in the same run, the lab's settings before issue 15 (Adam
2e-4 for both networks, dropout 0.3 in D, no weight average). Printed: min / median / max seconds to the bar
(wall and CPU; scoring left out), the steps, and the ratio of the medians.

The lab's training cell shows a ``TrainingDashboard`` (headless here: no view, so it checks
every snapshot for mode collapse and scores 500 samples every 500 steps, as in a notebook run
by nbconvert); it runs here as in the cell (``--no-dashboard`` leaves it out), its time counted.

    python benchmarks/bench_lab_time_to_bar.py                 # the lab now, 3 seeds, <= 240 s a run
    python benchmarks/bench_lab_time_to_bar.py --with-before   # and the settings before issue 15
    python benchmarks/bench_lab_time_to_bar.py --quick         # 1 seed, <= 150 s: a few minutes

Goal (issue 25): median of 3 seeds <= 120 s on an idle 2-core machine. Run it on idle
cores: other programs inflate wall times (CPU seconds much less so).
"""
import argparse
import importlib.util
import json
import os
import statistics
from pathlib import Path

import torch

from ganlab_kit.scoring import QUALITY_BAR
from ganlab_kit.torch_gan import MLPDiscriminator
from ganlab_kit.torch_gan.recipes import BarWatcher
from ganlab_kit.widgets.dashboard import TrainingDashboard

GOAL_SECONDS = 120.0  # issue 25: the lab's training cell to the bar, median of 3 seeds

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "_calibrate_quality", REPO / "autograder" / "pytorch_gan" / "calibrate_quality.py")
calibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibrate)


def _optimizers_before(generator, discriminator):
    """make_optimizers as the lab had it before issue 15: Adam 2e-4 / (0.5, 0.999) for both."""
    return (torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
            torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)))


def _discriminator_before():
    """The lab's Discriminator before issue 15: the same layers with Dropout(0.3) after each
    hidden LeakyReLU."""
    return MLPDiscriminator(dropout=0.3)


SETTINGS = {
    "lab now (G 1e-3 / D 2e-4, no dropout, weight average)": dict(options={}),
    "lab before (Adam 2e-4 both, dropout 0.3, no average)": dict(
        options={"average_decay": None},
        replace={"make_optimizers": _optimizers_before, "Discriminator": _discriminator_before}),
}


def _spread(values):
    return f"{min(values):.0f} / {statistics.median(values):.0f} / {max(values):.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--time-limit", type=float, default=240.0, help="seconds of training per run")
    parser.add_argument("--check-every", type=int, default=250)
    parser.add_argument("--max-steps", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="one seed, at most 150 s")
    parser.add_argument("--with-before", action="store_true",
                        help="also the lab's settings before issue 15 (doubles the time)")
    parser.add_argument("--no-dashboard", action="store_true",
                        help="leave the cell's dashboard out (training alone)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.time_limit = args.seeds[:1], min(args.time_limit, 150.0)
    settings = dict(SETTINGS) if args.with_before else dict(list(SETTINGS.items())[:1])
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"the lab's training cell to the bar ({QUALITY_BAR}); seeds {args.seeds}, at most "
          f"{args.time_limit:.0f} s of training a run, threads='auto' (the Trainer's default); "
          f"{os.cpu_count()} cores, load average {load:.1f} before the run; the cell's dashboard "
          f"{'left out' if args.no_dashboard else 'on (headless)'}")
    calibration = json.loads((calibrate.HERE / "quality_calibration.json").read_text())
    first = {}
    for run in calibration.get("runs", []):
        if (run["inception_score"] >= QUALITY_BAR.inception_score
                and run["coverage"] >= QUALITY_BAR.coverage
                and run["confident_rate"] >= QUALITY_BAR.confident_rate):
            first.setdefault(run["seed"], run["step"])
    print("calibration (quality_calibration.json, scored every 500 steps): bar first met at step "
          + ", ".join(f"{first[seed]} (seed {seed})" for seed in sorted(first))
          + (f"; not within the calibrated steps on seed(s) "
             f"{sorted({r['seed'] for r in calibration.get('runs', [])} - set(first))}"
             if {r['seed'] for r in calibration.get('runs', [])} - set(first) else ""))
    medians = {}
    for name, setting in settings.items():
        reached, cpu, steps = [], [], []
        for seed in args.seeds:
            watcher = BarWatcher(check_every=args.check_every, time_limit=args.time_limit)
            callbacks = [watcher] if args.no_dashboard else [
                watcher, TrainingDashboard(None, quality_every="auto", quality_samples=500)]
            trainer = calibrate.lab_run(seed, args.max_steps, callbacks=callbacks, **setting)
            if watcher.reached_step is not None:
                reached.append(watcher.reached_seconds)
                cpu.append(watcher.reached_cpu_seconds)
                steps.append(watcher.reached_step)
                outcome = (f"bar at step {watcher.reached_step}, {watcher.reached_seconds:.0f} s "
                           f"({watcher.reached_cpu_seconds:.0f} cpu-s)")
            else:
                best = max(watcher.checks, key=lambda check: check[2].inception_score, default=None)
                outcome = (f"not reached in {watcher.train_seconds:.0f} s ({trainer.step} steps)"
                           + (f"; best IS {best[2].inception_score:.2f} at step {best[0]}" if best else ""))
            print(f"  {name}, seed {seed}: {outcome}", flush=True)
        if len(reached) == len(args.seeds):
            medians[name] = statistics.median(reached)
            print(f"{name}: min / median / max {_spread(reached)} s to the bar ({_spread(cpu)} cpu-s), "
                  f"steps {min(steps)}-{max(steps)}")
        else:
            print(f"{name}: {len(reached)} of {len(args.seeds)} seeds reached the bar within "
                  f"{args.time_limit:.0f} s" + (f" (those: {_spread(reached)} s)" if reached else ""))
    now, before = list(SETTINGS)
    if now in medians:
        print(f"the lab now: median {medians[now]:.1f} s to the bar over {len(args.seeds)} seed(s); "
              f"goal <= {GOAL_SECONDS:.0f} s: {'met' if medians[now] <= GOAL_SECONDS else 'NOT met'}"
              + ("" if len(args.seeds) >= 3 else " (the goal is the median of 3 seeds)"))
    else:
        print(f"the lab now: goal <= {GOAL_SECONDS:.0f} s (median of 3 seeds): NOT met "
              "(not every seed reached the bar within the limit)")
    if not args.with_before:
        return
    if now in medians and before in medians:
        print(f"ratio of medians, before / now: {medians[before] / medians[now]:.2f}x")
    elif now in medians:
        print(f"ratio of medians, before / now: > {args.time_limit / medians[now]:.2f}x "
              "(before did not reach the bar on every seed within the limit)")
    else:
        print("ratio: not measured (the current lab did not reach the bar on every seed within the limit)")


if __name__ == "__main__":
    main()
