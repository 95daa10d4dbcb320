"""``ganlab classifier train|info`` and ``ganlab score CHECKPOINT``.

Imports nothing heavy at module level, so ``ganlab --help`` stays quick.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add the ``classifier`` and ``score`` sub-commands to the ``ganlab`` parser."""
    classifier = subparsers.add_parser(
        "classifier", help="train or describe the classifiers used for scoring",
        description="The small CNNs behind `ganlab score` and ganlab_kit.scoring: one for "
                    "digits (MNIST), one for clothes (Fashion-MNIST).")
    actions = classifier.add_subparsers(dest="classifier_command", metavar="ACTION")
    train = actions.add_parser(
        "train", help="rebuild the classifier weights (PyTorch .pt, Keras .h5, JSON record)",
        description="Train a classifier from scratch (seeded) and write "
                    "mnist_classifier.pt, mnist_classifier.h5 and mnist_classifier.json "
                    "(digits) or fashion_classifier.pt and fashion_classifier.json "
                    "(--data fashion-mnist).")
    train.add_argument("--data", choices=("mnist-offline", "mnist", "fashion-mnist"),
                       default="mnist-offline",
                       help="training images: the 4,000 offline digits, full MNIST where "
                            "present (GANLAB_DATA or the Keras cache), or Fashion-MNIST "
                            "(apt-get install dataset-fashion-mnist); default: mnist-offline")
    train.add_argument("--out", type=Path, default=None,
                       help="output directory (default: the package's assets folder)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--epochs", type=int, default=None,
                       help="passes over the data (default: 240,000 images' worth)")
    train.add_argument("--no-keras", action="store_true",
                       help="skip the Keras .h5 copy (no Keras needed)")
    train.set_defaults(func=_train)
    info = actions.add_parser("info", help="architecture, training data, held-out accuracy")
    info.add_argument("--dir", type=Path, default=None,
                      help="folder with the weights and record (default: the package's)")
    info.add_argument("--data", choices=("all", "mnist", "fashion-mnist"), default="all",
                      help="which classifier to describe (default: every shipped one)")
    info.set_defaults(func=_info)
    classifier.set_defaults(func=lambda args: _usage(classifier))

    score = subparsers.add_parser(
        "score", help="score a generator checkpoint with the MNIST classifier",
        description="Sample N digits from a generator checkpoint (a kit checkpoint or a "
                    "bare generator state_dict such as generator.pt) and print their scores.")
    score.add_argument("checkpoint", type=Path, help="path to the checkpoint")
    score.add_argument("--n", type=int, default=1000, help="samples to score (default 1000)")
    score.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    score.add_argument("--model", choices=("auto", "mlp", "dcgan"), default="auto",
                       help="generator architecture (default: read from the checkpoint)")
    score.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                       help="what the generator draws, which picks the classifier (default: mnist)")
    score.add_argument("--json", action="store_true", help="print JSON instead of text")
    score.set_defaults(func=_score)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _train(args: argparse.Namespace) -> int:
    from ..data import DataNotFoundError
    from .classifier import ASSETS
    from .training import train_classifier

    try:
        train_classifier(data=args.data, out_dir=args.out or ASSETS, seed=args.seed,
                         epochs=args.epochs, keras=not args.no_keras)
    except DataNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _info(args: argparse.Namespace) -> int:
    names = ("mnist", "fashion-mnist") if args.data == "all" else (args.data,)
    status = 0
    for index, name in enumerate(names):
        if index:
            print()
        status = max(status, _info_one(name, args.dir, required=args.data != "all" or name == "mnist"))
    return status


def _info_one(dataset: str, folder, required: bool = True) -> int:
    from .classifier import CLASSIFIER_FILES, classifier_record, load_classifier
    from .metrics import reference_statistics

    weights, record_file = CLASSIFIER_FILES[dataset]
    record_path = folder / record_file.name if folder else record_file
    weights_path = folder / weights.name if folder else weights
    try:
        record = classifier_record(record_path)
        model = load_classifier(weights_path)
    except FileNotFoundError as error:
        if not required:  # a folder of digit weights only: say so, do not fail
            print(f"{dataset} classifier: not in {folder or weights.parent}")
            return 0
        print(error, file=sys.stderr)
        return 1
    if dataset == "fashion-mnist":
        return _info_fashion(record, model, weights_path, folder)
    print(f"MNIST classifier ({weights_path})")
    print(f"  architecture       {record['architecture']}")
    print(f"  input              {record['input']}")
    print(f"  parameters         {record['parameters']:,}")
    print(f"  training data      {record['training_data']}, {record['epochs']} epochs, "
          f"seed {record['seed']}")
    print(f"  held-out accuracy  {record['heldout_accuracy']:.2%} on {record['heldout_data']}")
    reference = reference_statistics("heldout", model if folder else None)
    print(f"  inception score    {reference.inception_score:.2f} on the real held-out digits "
          "(the ceiling generated digits are compared with)")
    if record.get("keras_file"):
        print(f"  Keras copy         {record['keras_file']} (Keras {record.get('keras')}), agrees "
              f"with PyTorch on {record['keras_agreement']:.2%} of held-out digits")
    print(f"  rebuild with       {record['command']}")
    return 0


def _info_fashion(record, model, weights_path, folder) -> int:
    from ..data import DataNotFoundError
    from .metrics import FASHION_QUALITY_BAR, reference_statistics

    print(f"Fashion-MNIST classifier ({weights_path})")
    print(f"  architecture       {record['architecture']} (the digit classifier's network)")
    print(f"  parameters         {record['parameters']:,}")
    print(f"  training data      {record['training_data']}, {record['epochs']} epochs, "
          f"seed {record['seed']}")
    print(f"  held-out accuracy  {record['heldout_accuracy']:.2%} on {record['heldout_data']}")
    print(f"  inception score    {record['heldout_inception_score']:.2f} on the real test images")
    if "heldout_confident_rate" in record:
        print(f"  confident share    {record['heldout_confident_rate']:.1%} of the real test images "
              "(top-1 probability >= 0.9)")
    try:
        reference = reference_statistics("heldout", model, "fashion-mnist")
        print(f"  measured now       inception score {reference.inception_score:.2f}, accuracy "
              f"{reference.accuracy:.2%} on the installed test images")
    except DataNotFoundError:
        print("  measured now       - (Fashion-MNIST is not installed: "
              "apt-get install dataset-fashion-mnist)")
    print(f"  quality bar        {FASHION_QUALITY_BAR} (generated clothes)")
    print(f"  rebuild with       {record['command']}")
    return 0


def _score(args: argparse.Namespace) -> int:
    import torch

    from ..torch_gan import load_generator
    from ..torch_gan.recipes import generator_for_state
    from .metrics import score_generator

    if not args.checkpoint.is_file():
        print(f"no checkpoint at {args.checkpoint}", file=sys.stderr)
        return 1
    if args.n < 2:
        print("--n must be at least 2", file=sys.stderr)
        return 2
    try:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        generator = load_generator(generator_for_state(state, args.model), args.checkpoint)
    except (ValueError, RuntimeError, KeyError) as error:
        print(f"cannot load {args.checkpoint}: {error}", file=sys.stderr)
        return 1
    scores = score_generator(generator, n=args.n, seed=args.seed, dataset=args.dataset,
                             reference="heldout" if args.dataset == "mnist" else None)
    if args.json:
        print(json.dumps(scores.to_dict(), indent=2))
    else:
        print(f"{args.checkpoint} ({type(generator).__name__}, seed {args.seed})")
        print(scores)
    return 0
