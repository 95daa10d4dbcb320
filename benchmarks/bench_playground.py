"""What does the Playground widget cost? Widget vs the kit trainer on the same model, side by side.

Two trainers of the convolutional preset (same seed, same optimizers, batch 64) take
turns in chunks of a few steps in one thread, so both see the same machine load:

* **bare**: the kit's :class:`~ganlab_kit.torch_gan.Trainer` on modules built from the
  preset, no callbacks;
* **widget**: a :class:`~ganlab_kit.widgets.Playground` with its widgets built (live
  mode), training through its session: the view's state is fed every step and the view
  redraws (D's verdicts on 9 + 9 images, the labelled grid, the curves, two PNGs) as its
  throttle allows.

Printed: examples per second of each arm and their ratio (goal: the widget at >= 90 % of
the bare trainer), the redraw time as a share of the widget arm's time (goal: <= 5 %),
the cost of one snapshot, and (without --quick) the wall time of one fresh widget run
to 25,000 examples (the seed's "recognisable digits"; goal <= 60 s) and the in-process
grading time of the reference submission (all parts; budget 30 s per submission).

Both figures are upper bounds: the throttle counts wall-clock time, which here includes
the other arm's turns, so the widget redraws about twice as often per step of its own as
it would training alone, and each chunk ends with a forced redraw (the end of a run),
which continuous training from the Train button does not have.

    python benchmarks/bench_playground.py            # 6 rounds of 60 steps per arm
    python benchmarks/bench_playground.py --quick    # a few seconds (CI smoke test)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["GANLAB_WIDGETS"] = "live"  # no kernel here; keep the live drawing path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_SPEED = 0.90
TARGET_REDRAW = 0.05


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60, help="steps per arm per round")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 2, 3

    import torch

    torch.set_num_threads(args.threads)
    from ganlab_kit.data import load_mnist
    from ganlab_kit.torch_gan import Trainer
    from ganlab_kit.torch_gan.layer_spec import build_module
    from ganlab_kit.widgets import Playground
    from ganlab_kit.widgets.playground_state import make_optimizer

    data = load_mnist()
    scratch = Path(tempfile.mkdtemp(prefix="bench-playground-"))
    playground = Playground(scratch / "widget", dataset=data, auto_snapshots=())
    playground.widget  # build the widgets: every redraw renders as in a notebook
    session = playground.session
    settings = session.settings
    torch.manual_seed(settings.seed)
    generator, discriminator = build_module(session.generator), build_module(session.discriminator)
    bare = Trainer(generator, discriminator, data, seed=settings.seed, snapshot_every=0,
                   track_grad_norm=False, batch_size=settings.batch_size,
                   g_optimizer=make_optimizer(settings.g_optimizer, generator.parameters(), settings.g_lr),
                   d_optimizer=make_optimizer(settings.d_optimizer, discriminator.parameters(), settings.d_lr))
    # warm up both (first steps allocate)
    bare.fit(2)
    playground.train(2 * settings.batch_size)
    playground.throttle.redraws, playground.throttle.total_cost = 0, 0.0

    times = {"bare": 0.0, "widget": 0.0}
    steps = {"bare": 0, "widget": 0}
    arms = {"bare": lambda: bare.fit(args.steps),
            "widget": lambda: playground.train(session.examples + args.steps * settings.batch_size)}
    for round_number in range(args.rounds):
        order = ("bare", "widget") if round_number % 2 == 0 else ("widget", "bare")  # no arm always first
        for arm in order:
            started = time.perf_counter()
            arms[arm]()
            times[arm] += time.perf_counter() - started
            steps[arm] += args.steps
    speed = {arm: steps[arm] * settings.batch_size / times[arm] for arm in times}
    ratio = speed["widget"] / speed["bare"]
    redraw_share = playground.throttle.total_cost / times["widget"]
    started = time.perf_counter()
    playground.snapshot()
    snapshot_seconds = time.perf_counter() - started

    print(f"convolutional preset, batch {settings.batch_size}, {args.rounds} rounds x {args.steps} "
          f"steps per arm, {args.threads} torch thread(s)")
    print(f"  kit trainer (bare)   {speed['bare']:8.0f} examples/s")
    print(f"  Playground widget    {speed['widget']:8.0f} examples/s")
    print(f"  ratio widget / bare  {ratio:8.3f}   (goal >= {TARGET_SPEED:.2f}: "
          f"{'met' if ratio >= TARGET_SPEED else 'NOT met'})")
    print(f"  redraws: {playground.throttle.redraws}, {redraw_share:.1%} of the widget's time "
          f"(goal <= {TARGET_REDRAW:.0%}: {'met' if redraw_share <= TARGET_REDRAW else 'NOT met'})")
    print(f"  one snapshot (PNG of the view, scores of 500 samples, a log line): {snapshot_seconds:.2f} s")
    if args.quick:
        return 0

    fresh = Playground(scratch / "fresh", dataset=data)
    fresh.widget
    started = time.perf_counter()
    fresh.train(25_000)
    seconds = time.perf_counter() - started
    scores = [r["scores"] for r in __import__("ganlab_kit.widgets.playground_state", fromlist=["read_log"])
              .read_log(fresh.session.log_path)]
    print(f"  a fresh run to 25,000 examples: {seconds:.0f} s (goal <= 60 s: "
          f"{'met' if seconds <= 60 else 'NOT met'}); at 25,000: {scores[-1]['confident_rate']:.0%} "
          f"confident, {scores[-1]['coverage']}/10 digits covered")

    from ganlab_kit.grading import run_checks
    from ganlab_kit.grading.notebook import read_notebook, run_in_process
    import importlib.util

    spec = importlib.util.spec_from_file_location("_subs", REPO / "autograder" / "playground" / "submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = scratch / "graded"
    module.reference_files(folder)
    namespace = run_in_process(read_notebook(REPO / "assignments" / "source" / "playground" / "playground.ipynb"))
    started = time.perf_counter()
    for part in ("reshape", "log", "first_run", "fc_vs_conv", "configurations"):
        result = run_checks(f"playground/{part}", namespace, folder, REPO / "autograder")
        assert not result.failed_checks, (part, result.failed_checks)
    print(f"  grading the reference submission in process (5 parts): {time.perf_counter() - started:.1f} s "
          "(nbgrader adds a kernel start and the notebook's imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
