"""Write the reference student's experiment log: short real runs of the Playground.

    .venv/bin/python autograder/playground/make_reference_log.py

Trains, headless and seeded, what the lab asks for, and writes the log and its
snapshots to ``autograder/playground/reference_log/`` (the demo reference student hands
them in; ``submissions.py`` derives the mistakes from them):

1. the convolutional preset with the default settings to 25,000 examples (automatic
   snapshots at 10,000 and 25,000: problems 1 and 3);
2. the fully connected preset, same settings, to 10,000 examples, plus a Snapshot at
   5,000 (problem 4);
3. the convolutional preset with D's learning rate above G's, to 10,000 (problem 5;
   run 1 is the G-above-D case);
4. the convolutional preset with RMSprop for both networks, to 10,000 (problem 5's
   third configuration).
"""
import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from ganlab_kit.widgets.playground_state import (PlaygroundSession, TrainingSettings,  # noqa: E402
                                                 read_log)

RUNS = (  # seed 0: the reference student's (a student's own seed comes from who runs the notebook)
    ("Convolutional", TrainingSettings(seed=0), 25_000, ()),
    ("Fully connected", TrainingSettings(seed=0), 10_000, (5_000,)),
    ("Convolutional", TrainingSettings(g_lr=2e-4, d_lr=1e-3, seed=0), 10_000, ()),
    ("Convolutional", TrainingSettings(g_optimizer="rmsprop", g_lr=2e-4, d_optimizer="rmsprop",
                                       d_lr=2e-4, seed=0), 10_000, ()),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "reference_log")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("GANLAB_THREADS", "1")))
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    for model, settings, examples, button_at in RUNS:
        started = time.perf_counter()
        session = PlaygroundSession(args.out, model, settings)
        for stop in button_at:
            session.train(stop)
            session.snapshot("button")
        session.train(examples)
        print(f"run {session.run}: {model}, G {settings.g_optimizer} {settings.g_lr} / "
              f"D {settings.d_optimizer} {settings.d_lr}: {session.examples:,} examples in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    for record in read_log(args.out / "playground_log.jsonl"):
        print(record["index"], record["run"], record["reason"], record["examples"],
              record["scores"] and record["scores"]["coverage"], record["snapshot"])


if __name__ == "__main__":
    main()
