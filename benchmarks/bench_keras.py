"""Step time of the Keras track: ``GAN.train_step`` against Algorithm 1 with ``train_on_batch``.

Three ways to run the same GAN step (the kit's MLP pair, batch size 64):

* ``GAN.train_step`` through ``fit``: one traced function updates D, then G.
* the classic Keras 2 lab loop, Algorithm 1 as students write it:
  ``generator.predict`` for the fakes, ``discriminator.train_on_batch`` on the real
  batch and on the fake batch, then ``combined.train_on_batch`` (the trainable flag
  set before each call, so that it is correct in Keras 3).
* the kit's ``AlgorithmOneTrainer``: the same loop, trimmed (``predict_on_batch``
  and one discriminator call on real and fake images together).

All run in one process, in alternating rounds; the median over rounds is
reported, with ratios against ``train_step``, both in wall-clock time and in CPU
time of the process (all threads; steadier than wall time on a busy machine).
The goal is ``train_step`` at least 1.5x faster than the classic loop.

    python benchmarks/bench_keras.py            # about a minute on a laptop CPU
    python benchmarks/bench_keras.py --quick    # smoke run, seconds after the import
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, Dict, List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GOAL = 1.5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Keras GAN.train_step vs train_on_batch step time")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round and method")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per method (tracing)")
    parser.add_argument("--jit", action="store_true", help="compile GAN.train_step with XLA")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 3 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.warmup = 3, 1, 1
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np

    from ganlab_kit.data import load_mnist
    from ganlab_kit.keras_gan import (GAN, AlgorithmOneTrainer, build_combined,
                                      build_discriminator, build_generator, image_dataset,
                                      require_tensorflow_backend)

    keras = require_tensorflow_backend()
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    images = load_mnist().numpy(channels_last=True)  # (N, 28, 28, 1) in [-1, 1]
    batch_size = args.batch_size
    rng = np.random.default_rng(0)

    # 1. GAN.train_step, driven by fit
    gan = GAN(build_generator(), build_discriminator())
    gan.compile(jit_compile=args.jit)
    dataset = image_dataset(images, batch_size).repeat()

    def run_train_step(steps: int) -> None:
        gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)

    # 2. the classic Keras 2 lab loop
    generator, discriminator = build_generator(), build_discriminator()
    discriminator.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                          loss="binary_crossentropy")
    combined = build_combined(generator, discriminator)
    real_targets = np.ones((batch_size, 1), np.float32)
    fake_targets = np.zeros((batch_size, 1), np.float32)

    def run_classic(steps: int) -> None:
        for _ in range(steps):
            real = images[rng.integers(0, len(images), batch_size)]
            noise = rng.standard_normal((batch_size, 100), dtype=np.float32)
            fake = generator.predict(noise, verbose=0)
            discriminator.trainable = True
            discriminator.train_on_batch(real, real_targets)
            discriminator.train_on_batch(fake, fake_targets)
            discriminator.trainable = False
            combined.train_on_batch(noise, real_targets)

    # 3. the kit's Algorithm 1 helper
    algorithm_one = AlgorithmOneTrainer(build_generator(), build_discriminator())

    def run_algorithm_one(steps: int) -> None:
        for _ in range(steps):
            algorithm_one.train_step(images[rng.integers(0, len(images), batch_size)])

    methods: Dict[str, Callable[[int], None]] = {
        "GAN.train_step via fit": run_train_step,
        "classic loop (predict + 3 train_on_batch)": run_classic,
        "AlgorithmOneTrainer (kit, train_on_batch)": run_algorithm_one,
    }
    wall: Dict[str, List[float]] = {name: [] for name in methods}
    cpu: Dict[str, List[float]] = {name: [] for name in methods}
    for run in methods.values():
        run(args.warmup)
    for _ in range(args.rounds):
        for name, run in methods.items():
            wall_started, cpu_started = time.perf_counter(), time.process_time()
            run(args.steps)
            wall[name].append(1000 * (time.perf_counter() - wall_started) / args.steps)
            cpu[name].append(1000 * (time.process_time() - cpu_started) / args.steps)

    wall_ms = {name: statistics.median(values) for name, values in wall.items()}
    cpu_ms = {name: statistics.median(values) for name, values in cpu.items()}
    reference = "GAN.train_step via fit"
    print(f"Keras {keras.__version__}, TensorFlow {tf.__version__}, batch size {batch_size}, "
          f"{args.rounds} rounds x {args.steps} steps, XLA {'on' if args.jit else 'off'}, "
          f"threads {args.threads or 'default'}; medians over rounds")
    print(f"  {'method':44s} {'wall ms/step':>12s} {'ratio':>6s} {'CPU ms/step':>12s} {'ratio':>6s}")
    for name in methods:
        print(f"  {name:44s} {wall_ms[name]:12.2f} {wall_ms[name] / wall_ms[reference]:5.2f}x "
              f"{cpu_ms[name]:12.2f} {cpu_ms[name] / cpu_ms[reference]:5.2f}x")
    classic = "classic loop (predict + 3 train_on_batch)"
    for label, ms in (("wall-clock", wall_ms), ("CPU time", cpu_ms)):
        ratio = ms[classic] / ms[reference]
        verdict = "meets" if ratio >= GOAL else "misses"
        print(f"speed ratio ({label}), classic train_on_batch loop / GAN.train_step: "
              f"{ratio:.2f}x ({verdict} the {GOAL}x goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
