"""Measure what a correct solution of the lab reaches, to set the quality thresholds.

Runs the lab notebook's own full-digit training cell (the source notebook's reference
answers: the student's step functions, optimizers from make_optimizers, the Trainer
options of the cell) from scratch for several seeds, scores the generator the cell
saves (the weight average) on 1,000 samples with the kit's classifier every
``--every`` steps (noise seed 0, as test_quality.py does) and writes the figures to
quality_calibration.json next to this file. test_quality.py's thresholds must stay
below the worst seed at the notebook's TRAINING_STEPS; tests/test_lab_pytorch_gan.py
checks that they do. Each row also gives the training CPU seconds (one thread, scoring
left out), which other programs on a shared machine do not inflate as they do wall time.

    python autograder/pytorch_gan/calibrate_quality.py --seeds 0 1 2 3 4 --steps 6000

Seeds run one after another, on one thread.
"""
import argparse
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import nbformat
import torch

from ganlab_kit.data import load_mnist
from ganlab_kit.grading.notebook import read_notebook, run_in_process
from ganlab_kit.scoring import generate_images, score_images
from ganlab_kit.torch_gan import Trainer

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "quality_calibration.json"
NOTEBOOK = HERE.parents[1] / "assignments" / "source" / "pytorch_gan" / "pytorch_gan.ipynb"


def training_cells(notebook: nbformat.NotebookNode) -> List[str]:
    """The sources of the full-digit training cells: from ``digits = load_mnist()`` to the run."""
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    start = next(i for i, text in enumerate(cells) if "digits = load_mnist()" in text)
    end = next(i for i, text in enumerate(cells) if "TRAINING_STEPS = " in text)
    return cells[start:end + 1]


def training_steps(notebook: nbformat.NotebookNode) -> int:
    """The notebook's TRAINING_STEPS."""
    text = "\n".join(training_cells(notebook))
    return int(re.search(r"TRAINING_STEPS = ([\d_]+)", text).group(1))


def recipe_fingerprint(notebook: nbformat.NotebookNode) -> str:
    """A hash of what decides the lab's training: the training cells and the reference answers
    they call (optimizers, step functions, losses, networks, noise). A calibration belongs to the
    notebook whose fingerprint it records."""
    from ganlab_kit.grading.notebook import nbgrader_metadata

    answers = [cell.source for cell in notebook.cells
               if nbgrader_metadata(cell).get("solution") and cell.cell_type == "code"]
    text = "\n".join(answers + training_cells(notebook))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lab_run(seed: int, steps: Optional[int] = None, callbacks: Sequence = (),
            notebook_path: Path = NOTEBOOK, options: Optional[Dict] = None,
            replace: Optional[Dict[str, Any]] = None) -> Trainer:
    """Run the notebook's full-digit training cells with its reference answers, for ``steps``
    steps (default: its TRAINING_STEPS), seed ``seed``; returns the Trainer.

    The dashboard is left out (it changes nothing in training; benchmarks/bench_dashboard.py
    measures its cost). ``options`` overrides Trainer keyword arguments of the cell and
    ``replace`` replaces names the notebook defines, e.g. ``make_optimizers`` or
    ``Discriminator`` (the benchmark's settings from before issue 15).
    """
    notebook = read_notebook(notebook_path)
    namespace = run_in_process(notebook)  # the answers, without training cells or checks
    namespace.update(replace or {})
    extra = dict(options or {})

    class LabTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            kwargs.update(extra)
            kwargs["seed"] = seed
            kwargs.pop("checkpoint_path", None)  # never overwrite a generator.pt here
            kwargs["callbacks"] = list(kwargs.get("callbacks", ())) + list(callbacks)
            super().__init__(*args, **kwargs)

    class NoDashboard:
        def __init__(self, trainer, **_):
            self.trainer = trainer

        def run(self, run_steps=None):
            return self.trainer.fit(run_steps)

    namespace.update(load_mnist=load_mnist, Trainer=LabTrainer, TrainingDashboard=NoDashboard)
    cells = training_cells(notebook)
    torch.manual_seed(seed)  # the networks' initial weights
    for text in cells[:-1]:
        exec(compile(text, "<training setup>", "exec"), namespace)
    run_cell = cells[-1]
    if steps is not None:
        run_cell = re.sub(r"TRAINING_STEPS = [\d_]+", f"TRAINING_STEPS = {int(steps)}", run_cell)
    exec(compile(run_cell, "<training>", "exec"), namespace)
    return namespace["trainer"]


class Scorer:
    """Callback: scores the trainer's sampler every ``every`` steps; CPU and wall seconds
    of training (scoring left out)."""

    def __init__(self, seed: int, every: int, log: Callable[[dict], None] = print) -> None:
        self.seed, self.every, self.log = seed, every, log
        self.rows: List[dict] = []
        self._scoring = self._scoring_cpu = 0.0

    def on_train_begin(self, trainer):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_step_end(self, trainer, record):
        if trainer.step % self.every:
            return
        wall, cpu = time.perf_counter(), time.process_time()
        scores = score_images(generate_images(trainer.sampler, n=1000, seed=0).clamp(-1, 1),
                              reference=None)
        row = {"seed": self.seed, "step": trainer.step,
               "seconds": round(wall - self._wall - self._scoring),
               "cpu_seconds": round(cpu - self._cpu - self._scoring_cpu, 1),
               "inception_score": round(scores.inception_score, 3), "coverage": scores.coverage,
               "confident_rate": round(scores.confident_rate, 3)}
        self._scoring += time.perf_counter() - wall
        self._scoring_cpu += time.process_time() - cpu
        self.rows.append(row)
        self.log(row)

    def on_snapshot(self, *args):
        pass

    def on_train_end(self, trainer):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=None, help="default: the notebook's TRAINING_STEPS")
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    notebook = read_notebook(NOTEBOOK)
    steps = args.steps or training_steps(notebook)
    rows: List[dict] = []
    for seed in args.seeds:
        scorer = Scorer(seed, args.every, log=lambda row: print(json.dumps(row), flush=True))
        lab_run(seed, steps, callbacks=[scorer], options={"threads": 1})
        rows.extend(scorer.rows)
        args.output.write_text(json.dumps({
            "recipe": "the lab notebook's full-digit training cell with its reference answers "
                      "(student step functions, make_optimizers, the cell's Trainer options; "
                      "the weight-averaged generator is scored)",
            "samples": 1000, "noise_seed": 0,
            "recipe_fingerprint": recipe_fingerprint(notebook),
            "measured_on": "2 shared CPU cores under heavy load from other programs, one torch "
                           "thread, seeds one after another (wall seconds inflated by that load; "
                           "cpu_seconds are the training's own CPU time)",
            "runs": rows}, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
