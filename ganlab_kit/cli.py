"""The ``ganlab`` command. Sub-systems add their sub-commands through ``register``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

__all__ = ["main", "build_parser"]

# Modules that contribute sub-commands: each defines register(subparsers).
# They must import quickly (no TensorFlow, no training at import time).
_SUBCOMMAND_MODULES = (
    "ganlab_kit.torch_gan.cli",     # train
    "ganlab_kit.scoring.cli",       # classifier, score
    "ganlab_kit.grading.cli",       # demo, solutions, autograde
    "ganlab_kit.grading.course_cli",  # course setup|release|collect|feedback|export
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlab",
        description="ganlab-kit: train, score and grade GAN labs on a laptop CPU.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if not error.name or not (name + ".").startswith(error.name + "."):
                raise  # a real missing dependency inside that module
            continue  # that part of the kit is not installed in this copy
        module.register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
