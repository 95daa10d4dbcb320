"""Static pictures of a run: sample grids and training curves (matplotlib, Agg).

Used by the CLI and available to notebooks; no torchvision needed.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np
import torch

__all__ = ["save_image_grid", "plot_history"]


def save_image_grid(images: Union[torch.Tensor, np.ndarray], path: Union[str, os.PathLike],
                    ncols: Optional[int] = None, scale: int = 3) -> None:
    """Write a PNG of the tiled images (``(N, C, H, W)`` or ``(N, H, W, C)`` in [-1, 1]),
    each pixel enlarged ``scale`` times; the dashboard's own tiling is reused."""
    from .widgets.drawing import draw_image_grid

    draw_image_grid(images, columns=ncols, scale=scale).save(os.fspath(path))


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
