"""Seconds per 1,000 steps of the Keras lab: the notebook's Algorithm 1 next to the kit's GAN.train_step.

The Keras lab (assignments/source/keras_gan) trains with the reference solution's
``train_gan``: Goodfellow's Algorithm 1 with ``train_on_batch``, as students write it
(``predict_on_batch`` for the fakes, the trainable flag set before each call). The kit's
``GAN.train_step`` runs the same step (same networks, optimizers and batch size) as one
traced function driven by ``fit``. Both run in this process in alternating rounds; the
median over rounds is printed as seconds per 1,000 steps (what a student waits), with
the ratio. The time per 1,000 steps also says how long the original project's 100,000
steps would take here.

    python benchmarks/bench_keras_lab.py            # a few minutes on a laptop CPU
    python benchmarks/bench_keras_lab.py --quick    # smoke run

Wall times measured on a machine that other programs keep busy are inflated; the ratio
holds better than either time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "assignments" / "source" / "keras_gan" / "keras_gan.ipynb"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps per round and method")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 5 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 5, 1
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from ganlab_kit.grading.notebook import read_notebook, run_in_process
    from ganlab_kit.keras_gan import GAN, require_tensorflow_backend
    from ganlab_kit.keras_gan.lab import (LAB_BATCH_SIZE, build_lab_discriminator, build_lab_generator,
                                          lab_dis_optimizer, lab_gan_optimizer)

    keras = require_tensorflow_backend()
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    namespace = run_in_process(read_notebook(SOURCE))  # the reference solution; no training cells
    images = namespace["images"]                        # (5000, 784) in [-1, 1]
    batch_size = namespace.get("BATCH_SIZE", LAB_BATCH_SIZE)
    keras.utils.set_random_seed(0)

    # 1. the notebook's Algorithm 1 (reference train_gan), as a student runs it
    generator = namespace["create_generator"]()
    discriminator = namespace["create_discriminator"]()
    gan = namespace["create_gan"](discriminator, generator)
    samples = tempfile.mkdtemp(prefix="bench_keras_lab_")

    def run_algorithm1(steps: int) -> None:
        namespace["train_gan"](generator, discriminator, gan, images, steps, batch_size=batch_size,
                               sample_interval=10 ** 9, sample_dir=samples)

    # 2. the kit's GAN.train_step on the same networks, optimizers and batch size
    kit = GAN(build_lab_generator(), build_lab_discriminator(compile=False))
    kit.compile(d_optimizer=lab_dis_optimizer(), g_optimizer=lab_gan_optimizer())
    dataset = (tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=0)
               .batch(batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))

    def run_train_step(steps: int) -> None:
        kit.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)

    methods = {"Algorithm 1 (notebook train_gan)": run_algorithm1, "kit GAN.train_step": run_train_step}
    for run in methods.values():  # tracing, first batches
        run(3)
    seconds = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name, run in methods.items():
            started = time.perf_counter()
            run(args.steps)
            seconds[name].append((time.perf_counter() - started) / args.steps * 1000)
    print(f"Keras lab, batch {batch_size}, {args.rounds} rounds of {args.steps} steps, median:")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in medians.items():
        print(f"  {name:<34} {value:7.1f} s per 1,000 steps   (100,000 steps: {value * 100 / 3600:.1f} h)")
    ratio = medians["Algorithm 1 (notebook train_gan)"] / medians["kit GAN.train_step"]
    print(f"  ratio Algorithm 1 / GAN.train_step: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
