"""``ganlab train``: train a reference GAN from the command line."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["register", "run_train"]


def register(subparsers) -> None:
    from ..config import LOSSES, TrainConfig
    from ..data import DATASETS
    from .recipes import RECIPES

    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "train", help="train a reference GAN and write samples, curves, history and a checkpoint",
        description="Train a reference GAN on the CPU. Writes samples.png, losses.png, "
                    "history.json and checkpoint.pt into --out. With --recipe, trains a tuned "
                    "recipe (its own networks, batch size, learning rates and tricks) and "
                    "writes generator.pt and scores.json instead of checkpoint.pt.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", default="mlp",
                       choices=("mlp", "dcgan", "playground-fc", "playground-conv"),
                       help="architecture (default: mlp, the labs' 100-256-512-1024-784 MLP)")
    which.add_argument("--recipe", choices=sorted(RECIPES),
                       help="a tuned reference recipe instead (dcgan: good digits in under a "
                            "minute on 2 cores), trained with its own data and settings")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"generator updates (default: {defaults.steps}, or the recipe's)")
    parser.add_argument("--out", default="runs/latest", help="output directory (created)")
    parser.add_argument("--dataset", default="mnist-offline", choices=DATASETS,
                        help="training data (default: the 5,000 offline digits)")
    parser.add_argument("--digits", type=int, nargs="+", metavar="D",
                        help="train on these digits only, e.g. --digits 8")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--g-lr", type=float, default=defaults.g_lr)
    parser.add_argument("--d-lr", type=float, default=defaults.d_lr)
    parser.add_argument("--d-steps", type=int, default=defaults.d_steps,
                        help="discriminator updates per generator update (k)")
    parser.add_argument("--loss", default=defaults.loss, choices=LOSSES)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snapshot-every", type=int, default=defaults.snapshot_every)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # the options a recipe sets itself, with their defaults: other values clash with --recipe
    recipe_sets = {option: parser.get_default(option[2:].replace("-", "_"))
                   for option in RECIPE_SETS}
    parser.set_defaults(func=run_train, recipe_sets=recipe_sets)


#: Options of `ganlab train` that a recipe fixes itself (its data and training settings).
RECIPE_SETS = ("--dataset", "--digits", "--batch-size", "--g-lr", "--d-lr", "--d-steps",
               "--loss", "--label-smoothing")


def run_train(args: argparse.Namespace) -> int:
    from ..config import TrainConfig
    from ..data import DataNotFoundError, load_dataset
    from ..plots import plot_history, save_image_grid
    from .models import build_models
    from .trainer import Trainer, seed_everything

    if args.steps is not None and args.steps < 1:
        print(f"error: --steps must be at least 1, got {args.steps}", file=sys.stderr)
        return 2
    if args.recipe:
        return run_recipe(args)
    args.steps = args.steps or TrainConfig().steps
    try:
        data = load_dataset(args.dataset, digits=args.digits)
    except (DataNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, g_lr=args.g_lr,
                         d_lr=args.d_lr, d_steps=args.d_steps, loss=args.loss,
                         label_smoothing=args.label_smoothing, seed=args.seed,
                         snapshot_every=args.snapshot_every)
    seed_everything(args.seed)
    generator, discriminator = build_models(args.model, image_shape=data.image_shape)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    progress = _progress_bar(args.steps, f"{args.model} on {data.name}", args.no_progress)
    trainer = Trainer(generator, discriminator, data, config, callbacks=[progress],
                      checkpoint_path=out / "checkpoint.pt")
    started = time.perf_counter()
    history = trainer.fit()
    seconds = time.perf_counter() - started
    save_image_grid(trainer.sample(), out / "samples.png")
    plot_history(history, out / "losses.png")
    history.save_json(out / "history.json")
    (out / "config.json").write_text(json.dumps(
        {"model": args.model, "dataset": data.name, **config.to_dict()}, indent=2))
    print(f"trained {len(history)} steps in {seconds:.1f} s "
          f"({len(history) / seconds:.1f} steps/s)")
    for name in ("samples.png", "losses.png", "history.json", "checkpoint.pt"):
        print(f"  {out / name}")
    return 0


def run_recipe(args: argparse.Namespace) -> int:
    """``ganlab train --recipe NAME``: a tuned recipe, its averaged generator and its scores."""
    import torch

    from ..plots import plot_history, save_image_grid
    from ..scoring import QUALITY_BAR, score_generator
    from .recipes import RECIPES, save_generator_weights, train_recipe

    recipe = RECIPES[args.recipe]
    changed = [option for option, default in args.recipe_sets.items()
               if getattr(args, option[2:].replace("-", "_")) != default]
    if changed:
        print(f"error: --recipe {recipe.name} trains with its own data and settings, so "
              f"{', '.join(changed)} would be ignored; drop {'them' if len(changed) > 1 else 'it'}, "
              f"or train --model {recipe.name.replace('naive-', '')} with your settings",
              file=sys.stderr)
        return 2
    steps = args.steps or recipe.config.steps
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"recipe {recipe.name}: {recipe.description}")
    started = time.perf_counter()
    run = train_recipe(recipe.name, steps=steps, seed=args.seed, callbacks=[
        _progress_bar(steps, f"recipe {recipe.name}", args.no_progress)])
    seconds = time.perf_counter() - started
    with torch.no_grad():  # the averaged generator (what the recipe samples from)
        save_image_grid(run.generator(run.trainer.fixed_noise), out / "samples.png")
    plot_history(run.history, out / "losses.png")
    run.history.save_json(out / "history.json")
    save_generator_weights(run.generator, out / "generator.pt", half=False)
    scores = score_generator(run.generator, n=1000, seed=0)
    (out / "scores.json").write_text(json.dumps(scores.to_dict(), indent=2))
    (out / "config.json").write_text(json.dumps(
        {"recipe": recipe.name, "description": recipe.description,
         **run.trainer.config.to_dict()}, indent=2))
    print(f"trained {run.trainer.step} steps in {seconds:.1f} s "
          f"({run.trainer.step / seconds:.1f} steps/s)")
    print(scores)
    print(f"quality bar ({QUALITY_BAR}): {'met' if scores.meets(QUALITY_BAR) else 'not met'}")
    for name in ("samples.png", "losses.png", "history.json", "generator.pt", "scores.json"):
        print(f"  {out / name}")
    return 0



def _progress_bar(total: int, description: str, disable: bool):
    """A trainer callback drawing a tqdm bar with the latest losses and D outputs."""
    from tqdm.auto import tqdm

    from .trainer import Callback

    class ProgressBar(Callback):
        def on_train_begin(self, trainer):
            self.bar = tqdm(total=total, desc=description, unit="step", disable=disable)

        def on_step_end(self, trainer, record):
            self.bar.update(1)
            if trainer.step % 25 == 0:
                self.bar.set_postfix(d_loss=f"{record['d_loss']:.3f}",
                                     g_loss=f"{record['g_loss']:.3f}",
                                     d_real=f"{record['d_real']:.2f}",
                                     d_fake=f"{record['d_fake']:.2f}")

        def on_train_end(self, trainer):
            self.bar.close()

    return ProgressBar()
