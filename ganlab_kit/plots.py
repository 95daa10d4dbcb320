"""Static pictures of a run: sample grids and training curves (matplotlib, Agg).

Used by the CLI and available to notebooks; no torchvision needed.
"""
from __future__ import annotations

import math
import os
from typing import Optional, Union

import numpy as np
import torch

__all__ = ["image_grid", "save_image_grid", "plot_history"]


def image_grid(images: Union[torch.Tensor, np.ndarray], ncols: Optional[int] = None,
               padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile images ``(N, C, H, W)`` in [-1, 1] into one array ``(rows*H', cols*W', C)`` in [0, 1]."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {array.shape}")
    count, channels, height, width = array.shape
    ncols = ncols or int(math.ceil(math.sqrt(count)))
    nrows = int(math.ceil(count / ncols))
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((nrows * cell_h + padding, ncols * cell_w + padding, channels), pad_value,
                   dtype=np.float32)
    pixels = np.clip((array.transpose(0, 2, 3, 1) + 1.0) / 2.0, 0.0, 1.0)  # (N, H, W, C) in [0, 1]
    for index in range(count):
        row, col = divmod(index, ncols)
        top, left = padding + row * cell_h, padding + col * cell_w
        grid[top:top + height, left:left + width] = pixels[index]
    return grid


def save_image_grid(images: Union[torch.Tensor, np.ndarray], path: Union[str, os.PathLike],
                    ncols: Optional[int] = None, scale: int = 3) -> None:
    """Write a PNG of the tiled images, each pixel enlarged ``scale`` times."""
    import matplotlib.image

    grid = image_grid(images, ncols)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    if grid.shape[-1] == 1:
        matplotlib.image.imsave(os.fspath(path), grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        matplotlib.image.imsave(os.fspath(path), grid)


def plot_history(history, path: Union[str, os.PathLike]) -> None:
    """Loss, D accuracy and mean D outputs of a :class:`~ganlab_kit.torch_gan.History`, as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 3.5), dpi=100)
    axes = figure.subplots(1, 3)
    panels = [
        ("losses", [("d_loss", "D loss"), ("g_loss", "G loss")]),
        ("D accuracy", [("d_acc_real", "on real"), ("d_acc_fake", "on fake")]),
        ("D outputs", [("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))")]),
    ]
    for axis, (title, series) in zip(axes, panels):
        for key, label in series:
            axis.plot(history.step, getattr(history, key), label=label, linewidth=1)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(os.fspath(path))
