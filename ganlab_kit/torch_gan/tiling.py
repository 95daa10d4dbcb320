"""Why some transposed convolutions paint a checkerboard (Odena, Dumoulin and Olah, 2016).

A transposed convolution with stride ``s`` spreads each input value over ``k x k`` output
pixels, starting every ``s`` pixels. When ``s`` does not divide ``k`` the spread copies
overlap unevenly: some output pixels receive more contributions than their neighbours.
Stacking such layers multiplies the pattern into the "tiled" look of an untrained or badly
trained generator.

:func:`overlap_map` measures it directly: an image of ones goes through ``layers``
transposed convolutions whose weights are all one (and biases zero), so each output pixel
holds the number of paths from the input to it.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["overlap_map", "transposed_stack"]


def transposed_stack(kernel_size: int, stride: int = 2, layers: int = 3, padding: int = 0,
                     output_padding: int = 0) -> nn.Sequential:
    """``layers`` single-channel ``ConvTranspose2d(kernel_size, stride)`` with all-one weights."""
    modules = []
    for _ in range(layers):
        layer = nn.ConvTranspose2d(1, 1, kernel_size, stride, padding, output_padding, bias=False)
        nn.init.ones_(layer.weight)
        modules.append(layer)
    return nn.Sequential(*modules)


@torch.no_grad()
def overlap_map(kernel_size: int, stride: int = 2, layers: int = 3, size: int = 4,
                crop: bool = True) -> torch.Tensor:
    """``(H, W)`` counts of input-to-output paths after ``layers`` transposed convolutions.

    The input is a ``size x size`` image of ones. With ``crop`` the border (where fewer
    windows reach any output, whatever the kernel) is cut off, leaving the interior where an
    even layer gives one constant value and an uneven one a repeating pattern.
    """
    counts = transposed_stack(kernel_size, stride, layers)(torch.ones(1, 1, size, size))[0, 0]
    if crop:
        margin = sum(kernel_size * stride ** i for i in range(layers))
        margin = min(margin, (counts.shape[0] - 1) // 3)
        counts = counts[margin:-margin or None, margin:-margin or None]
    return counts
