"""Running a PyTorch or a Keras model on numpy batches, for the sample widgets."""
from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np

from .drawing import is_channels_last

__all__ = ["is_torch_module", "forward", "latent_dim_of", "as_array", "to_layout"]


def is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def as_array(images: Any) -> np.ndarray:
    """A tensor, an ImageDataset or an array -> float32 numpy array."""
    images = getattr(images, "images", images)  # an ImageDataset
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    return np.asarray(images, dtype=np.float32)


def to_layout(images: np.ndarray, channels_last: bool) -> np.ndarray:
    """Images in either layout -> ``(N, H, W, C)`` if ``channels_last`` else ``(N, C, H, W)``."""
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W) or (N, H, W, C), got shape {images.shape}")
    is_last = is_channels_last(images.shape)
    if is_last == channels_last:
        return images
    return images.transpose(0, 2, 3, 1) if channels_last else images.transpose(0, 3, 1, 2)


def forward(model: Any, inputs: np.ndarray) -> np.ndarray:
    """``model(inputs)`` without gradients, in inference mode (dropout off), as numpy."""
    if is_torch_module(model):
        import torch

        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return model(torch.from_numpy(np.ascontiguousarray(inputs))).cpu().numpy()
        finally:
            model.train(was_training)
    output = model(inputs, training=False)  # a Keras model
    return np.asarray(output, dtype=np.float32)


def latent_dim_of(generator: Any, latent_dim: Optional[int] = None) -> int:
    """The length of the generator's noise vector."""
    if latent_dim is not None:
        return int(latent_dim)
    value = getattr(generator, "latent_dim", None)
    if value is None:
        shape = getattr(generator, "input_shape", None)  # Keras: (None, latent_dim)
        value = shape[-1] if shape else None
    if value is None and is_torch_module(generator):
        import torch

        first = next((m for m in generator.modules() if isinstance(m, torch.nn.Linear)), None)
        value = first.in_features if first is not None else None  # the usual first layer
    if value is None:
        raise ValueError("cannot tell the generator's latent_dim; pass latent_dim=...")
    return int(value)
