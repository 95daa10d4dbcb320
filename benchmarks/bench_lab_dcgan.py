"""Time to the bar of the DCGAN lab's own training cells, next to the kit's ``dcgan`` recipe.

For each seed, one after the other in this process (so both share the machine's load):

* the lab notebook's digit training cell, run as the notebook runs it (the reference answers,
  the dashboard, ``fit_to_bar`` scoring every 250 steps and stopping at the digit bar);
* the kit's ``dcgan`` recipe (``train_recipe`` with a ``BarWatcher`` checking every 250 steps
  too, the same bar: inception score >= 8, 10/10 classes, >= 80 % confident);
* the lab's Fashion-MNIST training cell (when Debian's dataset-fashion-mnist is installed),
  which trains its fixed number of steps and notes when it first cleared the clothes bar.

The clock counts training only (scoring pauses it). It prints min / median / max seconds and
steps to the bar and the lab-to-recipe ratio of the medians. Goals (2 cores, from issue 12):
digits <= 60 s, clothes <= 90 s.

    python benchmarks/bench_lab_dcgan.py               # 3 seeds
    python benchmarks/bench_lab_dcgan.py --quick       # a smoke run (a few steps, no bar)

Run it on idle cores: wall times inflate when other programs share them.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
GOALS = {"lab digits": 60.0, "lab clothes": 90.0}


def _calibration_module():
    path = REPO / "autograder" / "dcgan" / "calibrate_quality.py"
    spec = importlib.util.spec_from_file_location("_dcgan_calibration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe_time_to_bar(seed: int, steps: int) -> dict:
    from ganlab_kit.torch_gan.recipes import BarWatcher, train_recipe

    watcher = BarWatcher(check_every=250, n=1000)
    run = train_recipe("dcgan", steps=steps, seed=seed, callbacks=[watcher])
    return {"seed": seed, "seconds": watcher.reached_seconds, "steps": watcher.reached_step,
            "trained_steps": run.trainer.step}


def lab_time_to_bar(calibration, dataset: str, seed: int) -> dict:
    row = calibration.calibrate(dataset, seed)
    return {"seed": seed, "seconds": row["reached_seconds"], "steps": row["reached_step"],
            "trained_steps": row["steps"], "final": row["final"]}


def describe(name: str, runs: list) -> str:
    reached = [run for run in runs if run["seconds"] is not None]
    if not reached:
        return f"{name:<14} not reached on any of {len(runs)} seeds"
    seconds = sorted(run["seconds"] for run in reached)
    steps = sorted(run["steps"] for run in reached)
    goal = GOALS.get(name)
    verdict = ""
    if goal is not None:
        verdict = f"  (goal {goal:.0f} s: {'met' if max(seconds) <= goal else 'missed'} on the slowest seed)"
    missing = f"; not reached on {len(runs) - len(reached)} seed(s)" if len(reached) < len(runs) else ""
    return (f"{name:<14} {seconds[0]:6.1f} / {statistics.median(seconds):6.1f} / {seconds[-1]:6.1f} s"
            f"   steps {steps[0]:,}-{steps[-1]:,}{missing}{verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the notebook uses at most 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few steps, no bar expected")
    parser.add_argument("--no-fashion", action="store_true", help="skip the Fashion-MNIST cell")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.quick:
        os.environ["GANLAB_QUICK"] = "1"
        args.seeds = args.seeds[:1]
    calibration = _calibration_module()
    from ganlab_kit.data import DataNotFoundError, load_dataset

    fashion = not args.no_fashion
    if fashion:
        try:
            load_dataset("fashion-mnist", split="test", allow_download=False)
        except DataNotFoundError:
            print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): its cell is skipped")
            fashion = False
    results = {"lab digits": [], "recipe dcgan": [], "lab clothes": []}
    for seed in args.seeds:
        print(f"seed {seed}: the lab's digit cell", flush=True)
        results["lab digits"].append(lab_time_to_bar(calibration, "mnist", seed))
        print(f"seed {seed}: the kit's dcgan recipe", flush=True)
        results["recipe dcgan"].append(recipe_time_to_bar(seed, 30 if args.quick else 5000))
        if fashion:
            print(f"seed {seed}: the lab's Fashion-MNIST cell", flush=True)
            results["lab clothes"].append(lab_time_to_bar(calibration, "fashion-mnist", seed))
    print()
    print(f"time to the bar, {len(args.seeds)} seed(s), {args.threads} torch thread(s), training only "
          "(min / median / max):")
    for name, runs in results.items():
        if runs:
            print(describe(name, runs))
    lab = [r["seconds"] for r in results["lab digits"] if r["seconds"] is not None]
    recipe = [r["seconds"] for r in results["recipe dcgan"] if r["seconds"] is not None]
    if lab and recipe:
        print(f"lab cell / recipe (medians): {statistics.median(lab) / statistics.median(recipe):.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
