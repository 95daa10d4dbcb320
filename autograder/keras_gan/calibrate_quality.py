"""Measure what the Keras lab's own training reaches, to set the quality thresholds.

Runs the source notebook's solution cells in this process (its create_generator,
create_discriminator, create_gan and train_gan), then trains fresh networks exactly as
the notebook's training cell does, once per seed, and scores the generator every
``--every`` steps the way test_quality.py does (its weights in the lab's architecture run
with NumPy, 1,000 samples from noise seed 0, the kit's classifier). Writes the figures to
quality_calibration.json next to this file; test_quality.py's thresholds must stay below
the worst seed at the notebook's TRAINING_STEPS (tests/test_lab_keras_gan.py checks that).

    python autograder/keras_gan/calibrate_quality.py --seeds 0 1 2 3 4
    python autograder/keras_gan/calibrate_quality.py --seeds 0 --write-reference   # the shipped generator

Slow: roughly 5 to 20 minutes per seed on a 2-core laptop, depending on the load; run
seeds as separate processes side by side and merge with --merge.
"""
import argparse
import json
import os
import re
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "assignments" / "source" / "keras_gan" / "keras_gan.ipynb"
OUTPUT = HERE / "quality_calibration.json"
SAMPLES, NOISE_SEED = 1000, 0


def notebook_steps() -> int:
    text = SOURCE.read_text()
    return int(re.search(r"TRAINING_STEPS = (\d+)", text).group(1))


def calibrate(seed: int, steps: int, every: int, reference: bool) -> list:
    from ganlab_kit.grading.notebook import read_notebook, run_in_process
    from ganlab_kit.keras_gan.lab_weights import (REFERENCE_KERAS_GENERATOR, NumpyMLPGenerator,
                                                  save_dense_arrays)
    from ganlab_kit.scoring import generate_images, score_images

    namespace = run_in_process(read_notebook(SOURCE))  # the solution's functions; no training cells
    keras, images = namespace["keras"], namespace["images"]
    keras.utils.set_random_seed(seed)
    generator = namespace["create_generator"]()
    discriminator = namespace["create_discriminator"]()
    gan = namespace["create_gan"](discriminator, generator)
    rows, started = [], time.perf_counter()

    def dense_weights():
        arrays = generator.get_weights()
        return list(zip(arrays[0::2], arrays[1::2]))

    def score(_images, path):  # stands in for save_sample_grid: called every `every` steps
        step = int(re.search(r"step_(\d+)", str(path)).group(1))
        samples = generate_images(NumpyMLPGenerator(dense_weights()), n=SAMPLES, seed=NOISE_SEED)
        scores = score_images(samples.clamp(-1, 1), reference=None)
        rows.append({"seed": seed, "step": step, "seconds": round(time.perf_counter() - started),
                     "inception_score": round(scores.inception_score, 3), "coverage": scores.coverage,
                     "confident_rate": round(scores.confident_rate, 3)})
        print(json.dumps(rows[-1]), flush=True)
        if reference:  # the latest checkpoint is the kit's reference generator
            save_dense_arrays(dense_weights(), REFERENCE_KERAS_GENERATOR)

    namespace["save_sample_grid"] = score
    namespace["train_gan"](generator, discriminator, gan, images, steps, sample_interval=every,
                           sample_dir=f"/tmp/keras_gan_calibration_{seed}", seed=seed)
    return rows


def write(rows: list, steps: int, incomplete: str = "") -> None:
    reached = {seed: max(row["step"] for row in rows if row["seed"] == seed) for seed in {row["seed"] for row in rows}}
    complete = not incomplete and len(reached) >= 5 and min(reached.values()) >= steps
    OUTPUT.write_text(json.dumps({
        "complete": complete,
        "note": incomplete or ("" if complete else f"steps reached per seed: {reached}, needed {steps} for 5 seeds"),
        "recipe": "the keras_gan notebook's own training: its create_generator / create_discriminator / "
                  "create_gan / train_gan, batch 64, D Adam 2e-4 (0.5, 0.999), GAN Adam 1e-3 (0.5, 0.999), the 5,000 offline digits",
        "training_steps": steps, "samples": SAMPLES, "noise_seed": NOISE_SEED,
        "measured_on": "2 shared CPU cores under other jobs, one TensorFlow thread per run, seeds side by side "
                       "(seconds are wall time under that load)",
        "runs": sorted(rows, key=lambda row: (row["seed"], row["step"]))}, indent=1) + "\n")
    print(f"wrote {OUTPUT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=None, help="default: the notebook's TRAINING_STEPS")
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--write-reference", action="store_true",
                        help="save the (first) seed's generator at every checkpoint as the kit's reference weights")
    parser.add_argument("--rows", type=Path, help="append the rows (JSON lines) to this file instead of writing")
    parser.add_argument("--merge", type=Path, nargs="+", help="JSON-lines files (or logs) of earlier runs to write out")
    parser.add_argument("--incomplete", default="", help="mark the written calibration incomplete, with this note")
    args = parser.parse_args()
    steps = args.steps or notebook_steps()
    if args.merge:
        rows = [json.loads(line) for path in args.merge for line in path.read_text().splitlines()
                if line.startswith("{")]
        write(rows, steps, args.incomplete)
        return
    from ganlab_kit.keras_gan import require_tensorflow_backend

    require_tensorflow_backend()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rows = []
    for index, seed in enumerate(args.seeds):
        rows += calibrate(seed, steps, args.every, args.write_reference and index == 0)
    if args.rows:
        with args.rows.open("a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    else:
        write(rows, steps)


if __name__ == "__main__":
    main()
