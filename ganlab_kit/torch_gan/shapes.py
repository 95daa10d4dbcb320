"""Layer-by-layer output shapes of a network, for the labs' shape tables.

``shape_table(model, example)`` runs one forward pass with a forward hook on every leaf
module and returns, in call order, each layer's name, its type and the shape of its output
without the batch axis. ``print_shape_table`` prints it as the notebooks show it.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

__all__ = ["shape_table", "print_shape_table", "ShapeRow"]

#: One row: (layer name in the model, layer type, output shape without the batch axis).
ShapeRow = Tuple[str, str, Tuple[int, ...]]


@torch.no_grad()
def shape_table(model: nn.Module, example: torch.Tensor) -> List[ShapeRow]:
    """Rows ``(name, type, output shape)`` of every leaf module, in the order they run.

    The model runs once in eval mode (BatchNorm uses its running statistics, dropout is off)
    and goes back to its previous mode afterwards. A module called twice appears twice.
    """
    rows: List[ShapeRow] = []
    handles = []
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue  # only leaves: containers would repeat their last child's shape

        def hook(module, inputs, output, name=name):
            if isinstance(output, torch.Tensor):
                rows.append((name, type(module).__name__, tuple(output.shape[1:])))

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def print_shape_table(model: nn.Module, example: torch.Tensor) -> None:
    """Print :func:`shape_table` as an aligned table, the input first."""
    rows = shape_table(model, example)
    width = max([len(name) for name, _, _ in rows] + [5])
    print(f"{'layer':<{width}}  {'type':<16} output (without the batch axis)")
    print(f"{'input':<{width}}  {'':<16} {tuple(example.shape[1:])}")
    for name, kind, shape in rows:
        print(f"{name:<{width}}  {kind:<16} {shape}")
