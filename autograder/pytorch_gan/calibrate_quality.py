"""Measure what a correct solution of the lab reaches, to set the quality thresholds.

Trains the lab's networks exactly as the notebook does (MLP generator and
discriminator, Adam 2e-4 / betas (0.5, 0.999), batch 64, non-saturating loss, all
offline digits) for several seeds, scores 1,000 samples with the kit's classifier every
1,000 steps (noise seed 0, as test_quality.py does) and writes the figures to
quality_calibration.json next to this file. test_quality.py's thresholds must stay
below the worst seed at the notebook's TRAINING_STEPS; tests/test_lab_pytorch_gan.py
checks that they do.

    python autograder/pytorch_gan/calibrate_quality.py --seeds 0 1 2 --steps 8000

Slow: about 20 minutes per seed on one busy CPU core. Seeds run one after another.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from ganlab_kit.data import load_mnist
from ganlab_kit.scoring import generate_images, score_images
from ganlab_kit.torch_gan import MLPDiscriminator, MLPGenerator, Trainer

OUTPUT = Path(__file__).resolve().parent / "quality_calibration.json"


def calibrate(seed: int, steps: int, every: int) -> list:
    data = load_mnist()
    torch.manual_seed(seed)
    generator, discriminator = MLPGenerator(), MLPDiscriminator()
    trainer = Trainer(generator, discriminator, data, seed=seed, batch_size=64, snapshot_every=0,
                      track_grad_norm=False)
    rows, started = [], time.perf_counter()
    while trainer.step < steps:
        trainer.fit(min(every, steps - trainer.step))
        scores = score_images(generate_images(generator, n=1000, seed=0).clamp(-1, 1), reference=None)
        rows.append({"seed": seed, "step": trainer.step, "seconds": round(time.perf_counter() - started),
                     "inception_score": round(scores.inception_score, 3), "coverage": scores.coverage,
                     "confident_rate": round(scores.confident_rate, 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [row for seed in args.seeds for row in calibrate(seed, args.steps, args.every)]
    OUTPUT.write_text(json.dumps({"recipe": "the lab notebook's training: Trainer with the kit's MLP "
                                            "networks, batch 64, Adam 2e-4 / (0.5, 0.999), all offline digits",
                                  "samples": 1000, "noise_seed": 0, "runs": rows}, indent=1) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
