"""Measure what a correct solution of the DCGAN lab reaches, to set the quality thresholds.

Runs the lab notebook's own cells (setup and reference answers, then the DCGAN training cell
for digits or for Fashion-MNIST) with the seed of both ``torch.manual_seed(0)`` and
``Trainer(..., seed=0)`` replaced, for several seeds. For each run it records the checks
``fit_to_bar`` made on the way (step, training seconds, scores of the averaged generator)
and the scores the hidden quality checks give the saved file (1,000 samples, noise seed 0,
scored with the kit's architecture as ``test_quality.py`` / ``test_fashion_quality.py`` do).
Writes ``quality_calibration.json`` next to this file after every run (both data sets'
runs, merged by data set and seed), so several processes with different ``--seeds`` and
``--output`` files can run side by side and be merged with ``--merge FILE...``.

    python autograder/dcgan/calibrate_quality.py --dataset mnist --seeds 0 1 2 3 4
    python autograder/dcgan/calibrate_quality.py --dataset fashion-mnist --seeds 0 1 2 3 4

One torch thread per run; seeds run one after another. Wall times depend on the machine's load.
"""
import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

import nbformat
import torch

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "quality_calibration.json"
NOTEBOOK = HERE.parents[1] / "assignments" / "source" / "dcgan" / "dcgan.ipynb"
CELLS = {"mnist": ("mnist_run = fit_to_bar(", "generator.pt"),
         "fashion-mnist": ("fashion_run = fit_to_bar(", "fashion_generator.pt")}


def calibrate(dataset: str, seed: int) -> dict:
    from ganlab_kit.grading.notebook import run_in_process
    from ganlab_kit.grading.safe_load import load_by_order, load_tensors
    from ganlab_kit.scoring import generate_images, score_images
    from ganlab_kit.torch_gan import DCGANGenerator

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    marker, filename = CELLS[dataset]
    training = [cell for cell in notebook.cells if marker in cell.source]
    assert len(training) == 1, f"one training cell with {marker!r} expected"
    cell = training[0]
    cell.source = cell.source.replace("torch.manual_seed(0)", f"torch.manual_seed({seed})")
    cell.source = re.sub(r"\bseed=0\b", f"seed={seed}", cell.source)
    keep = [c for c in notebook.cells
            if c is cell or "training" not in c.metadata.get("tags", ())
            or "digits = load_mnist(" in c.source or "clothes = load_dataset(" in c.source]
    if dataset == "fashion-mnist":  # the digits' training is not needed
        keep = [c for c in keep if "mnist_run = fit_to_bar(" not in c.source]
    else:
        keep = [c for c in keep if "clothes = load_dataset(" not in c.source]
    notebook.cells = keep
    folder = Path(tempfile.mkdtemp(prefix=f"dcgan-calibration-{seed}-"))
    previous = os.getcwd()
    os.chdir(folder)
    try:
        started = time.perf_counter()
        namespace = run_in_process(notebook, skip_tags=())
        seconds = time.perf_counter() - started
    finally:
        os.chdir(previous)
    run = namespace["mnist_run" if dataset == "mnist" else "fashion_run"]
    generator = DCGANGenerator(latent_dim=8, width=32, refine=True)
    load_by_order(generator, load_tensors(folder / filename))
    images = generate_images(generator.eval(), n=1000, seed=0)
    scores = score_images(images.clamp(-1, 1), reference=None, dataset=dataset)
    row = {"dataset": dataset, "seed": seed, "steps": run.steps,
           "reached_step": run.reached_step,
           "reached_seconds": None if run.reached_seconds is None else round(run.reached_seconds, 1),
           "loop_seconds": round(run.seconds, 1), "cells_seconds": round(seconds, 1),
           "final": {"inception_score": round(scores.inception_score, 3), "coverage": scores.coverage,
                     "confident_rate": round(scores.confident_rate, 3)},
           "checks": [{"step": step, "seconds": round(at, 1), "inception_score": round(s.inception_score, 3),
                       "coverage": s.coverage, "confident_rate": round(s.confident_rate, 3)}
                      for step, at, s in run.checks]}
    print(json.dumps({k: v for k, v in row.items() if k != "checks"}), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(CELLS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="merge the runs of these calibration files into --output and stop")
    args = parser.parse_args()
    if args.merge:
        for path in args.merge:
            for row in json.loads(path.read_text())["runs"]:
                write(args.output, row)
        print(f"wrote {args.output}")
        return
    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    for seed in args.seeds:  # written after every seed: an interrupted calibration keeps its runs
        write(args.output, calibrate(args.dataset, seed))
    print(f"wrote {args.output}")


def write(output: Path, row: dict) -> None:
    """Merge ``row`` into ``output`` (replacing an earlier run of the same data set and seed)."""
    existing = json.loads(output.read_text()) if output.is_file() else {}
    runs = [r for r in existing.get("runs", []) if (r["dataset"], r["seed"]) != (row["dataset"], row["seed"])]
    runs = sorted(runs + [row], key=lambda r: (r["dataset"], r["seed"]))
    output.write_text(json.dumps({
        "recipe": "the lab notebook's DCGAN training cells with the reference answers: Trainer, batch 64, "
                  "G Adam 1e-3 / D 2e-4 (0.5, 0.999), label smoothing 0.1, logits, fit_to_bar "
                  "(EMA 0.995 from step 500, stops at the data set's bar, checks every 250 steps)",
        "samples": 1000, "noise_seed": 0,
        "measured_on": "2 CPU cores shared with about 30 runnable jobs of other engineers (load average "
                       "25-30); one torch thread per run, the ten runs side by side, each process getting "
                       "about a tenth of a core; seconds are wall time under that load, far above idle",
        "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
