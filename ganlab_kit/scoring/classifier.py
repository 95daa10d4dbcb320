"""The kit's classifiers: small CNNs that score generated digits and clothes.

It takes images ``(N, 1, 28, 28)`` in ``[-1, 1]`` (the range of a tanh generator)
and returns ten logits. Its 64-dimensional penultimate layer is the feature space
of the kit's Frechet distance. The weights ship inside the package
(``ganlab_kit/assets/mnist_classifier.pt``) together with a Keras copy
(``mnist_classifier.h5``, see :mod:`ganlab_kit.scoring.keras_classifier`) and a
small JSON record of how they were trained and how accurate they are. The same
network trained on Fashion-MNIST ships as ``fashion_classifier.pt`` (PyTorch only).
"""
from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

__all__ = [
    "MNISTClassifier",
    "ASSETS",
    "CLASSIFIER_WEIGHTS",
    "CLASSIFIER_KERAS",
    "CLASSIFIER_RECORD",
    "FASHION_CLASSIFIER_WEIGHTS",
    "FASHION_CLASSIFIER_RECORD",
    "CLASSIFIER_FILES",
    "classifier_dataset",
    "load_classifier",
    "classifier_record",
    "classify",
    "as_image_batch",
    "predict",
    "ImageBatch",
]

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CLASSIFIER_WEIGHTS = ASSETS / "mnist_classifier.pt"    # PyTorch state_dict
CLASSIFIER_KERAS = ASSETS / "mnist_classifier.h5"      # Keras 3, legacy HDF5 format
CLASSIFIER_RECORD = ASSETS / "mnist_classifier.json"   # training data, held-out accuracy

#: The shipped Fashion-MNIST classifier: the same network, trained on Debian's
#: dataset-fashion-mnist (60,000 training images; accuracy measured on the 10,000 test ones).
FASHION_CLASSIFIER_WEIGHTS = ASSETS / "fashion_classifier.pt"
FASHION_CLASSIFIER_RECORD = ASSETS / "fashion_classifier.json"

#: Which shipped classifier scores which data set: name -> (weights, record).
#: "mnist" also stands for the offline digits ("mnist-offline").
CLASSIFIER_FILES = {
    "mnist": (CLASSIFIER_WEIGHTS, CLASSIFIER_RECORD),
    "fashion-mnist": (FASHION_CLASSIFIER_WEIGHTS, FASHION_CLASSIFIER_RECORD),
}

FEATURE_DIM = 64   # width of the penultimate layer (the Frechet distance's features)
BATCH_SIZE = 1000  # images per forward pass when classifying many

#: What :func:`as_image_batch` accepts: a torch tensor, a numpy array or nested lists.
ImageBatch = Union[torch.Tensor, np.ndarray, list]


class MNISTClassifier(nn.Module):
    """images ``(B, 1, 28, 28)`` in [-1, 1] -> logits ``(B, 10)``.

    Two 3x3 convolution blocks, a 64-unit hidden layer (the features), ten logits.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),      # (B, 16, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),                     # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1),     # (B, 32, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),                     # (B, 32, 7, 7)
            nn.Flatten(),                        # (B, 1568), channels-first order
            nn.Linear(32 * 7 * 7, FEATURE_DIM),  # (B, 64)
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURE_DIM, 10)   # (B, 10) logits

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(B, 64)``, all >= 0."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))

    def forward_with_features(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, 10), features (B, 64))`` from one pass."""
        features = self.features(images)
        return self.head(self.dropout(features)), features


_LOCK = threading.Lock()
_LOADED: Dict[str, MNISTClassifier] = {}


def classifier_dataset(dataset: Optional[str] = None) -> str:
    """The key of :data:`CLASSIFIER_FILES` that scores ``dataset``.

    ``None``, ``"mnist"``, ``"mnist-offline"`` (and split names such as
    ``"mnist-offline:test"``) -> ``"mnist"``; ``"fashion-mnist[:split]"`` -> ``"fashion-mnist"``.
    Data sets without a shipped classifier (CIFAR-10) are an error.
    """
    if dataset is None:
        return "mnist"
    name = str(dataset).split(":", 1)[0].split("[", 1)[0]
    name = {"mnist-offline": "mnist", "fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist"}.get(name, name)
    if name not in CLASSIFIER_FILES:
        raise ValueError(f"the kit ships no classifier for {dataset!r}; it scores "
                         f"{sorted(CLASSIFIER_FILES)} (and the offline digits)")
    return name


def load_classifier(path: Optional[Union[str, os.PathLike]] = None,
                    dataset: Optional[str] = None) -> MNISTClassifier:
    """The shipped classifier of ``dataset`` (default: digits), or the one at ``path``:
    cached, eval mode, CPU, frozen."""
    path = Path(path) if path is not None else CLASSIFIER_FILES[classifier_dataset(dataset)][0]
    key = str(path.resolve())
    with _LOCK:
        if key not in _LOADED:
            if not path.is_file():
                raise FileNotFoundError(
                    f"no classifier weights at {path}. Rebuild them with "
                    "`ganlab classifier train` (or reinstall ganlab-kit, which ships them)."
                )
            model = MNISTClassifier()
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict({name: value.float() for name, value in state.items()})
            model.eval()
            for parameter in model.parameters():
                parameter.requires_grad_(False)
            _LOADED[key] = model
        return _LOADED[key]


def classifier_record(path: Optional[Union[str, os.PathLike]] = None,
                      dataset: Optional[str] = None) -> Dict[str, Any]:
    """The JSON record written next to the weights: data, accuracy, architecture."""
    path = Path(path) if path is not None else CLASSIFIER_FILES[classifier_dataset(dataset)][1]
    if not path.is_file():
        raise FileNotFoundError(f"no classifier record at {path}; run `ganlab classifier train`")
    return json.loads(path.read_text())


def as_image_batch(images: ImageBatch) -> torch.Tensor:
    """Any accepted image batch -> float32 tensor ``(N, 1, 28, 28)`` in [-1, 1].

    Accepted shapes: ``(N, 1, 28, 28)`` (PyTorch), ``(N, 28, 28, 1)`` (Keras),
    ``(N, 28, 28)`` and ``(N, 784)`` (flat, as an MLP generator makes them).
    Values must lie in [-1, 1]; images in [0, 1] trigger a warning, larger values an error.
    """
    if isinstance(images, torch.Tensor):
        batch = images.detach().to("cpu", torch.float32)
    else:
        try:
            batch = torch.as_tensor(np.asarray(images, dtype=np.float32))
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"images must be a torch tensor or a numpy array, got {type(images).__name__}"
            ) from error
    shape = tuple(batch.shape)
    if batch.ndim == 4 and shape[1:] == (1, 28, 28):
        pass
    elif batch.ndim == 4 and shape[1:] == (28, 28, 1):
        batch = batch.permute(0, 3, 1, 2)
    elif batch.ndim == 3 and shape[1:] == (28, 28):
        batch = batch.unsqueeze(1)
    elif batch.ndim == 2 and shape[1] == 784:
        batch = batch.reshape(-1, 1, 28, 28)
    else:
        hint = (" One image? Add a batch axis: images[None]." if shape in
                ((1, 28, 28), (28, 28, 1), (28, 28), (784,)) else "")
        raise ValueError(
            f"images have shape {shape}; the MNIST classifier needs a batch of 28x28 "
            "grey images shaped (N, 1, 28, 28), (N, 28, 28, 1), (N, 28, 28) or (N, 784)."
            + hint
        )
    if len(batch) == 0:
        raise ValueError("images is an empty batch; pass at least one image")
    if not torch.isfinite(batch).all():
        raise ValueError("images contain NaN or infinite values (did training diverge?)")
    low, high = float(batch.min()), float(batch.max())
    if low < -1.01 or high > 1.01:
        raise ValueError(
            f"image values span [{low:.3g}, {high:.3g}], but the classifier expects [-1, 1] "
            "(tanh output). Rescale: images / 127.5 - 1 for 0..255 pixels, "
            "images * 2 - 1 for [0, 1]."
        )
    if low >= 0.0 and len(batch) > 1:
        warnings.warn(
            "every pixel is >= 0: these images look like [0, 1] (sigmoid output or plotting "
            "range), while the classifier expects [-1, 1] with a background of -1. "
            "Rescale with images * 2 - 1.", UserWarning, stacklevel=3)
    return batch.contiguous()


@torch.no_grad()
def predict(images: ImageBatch, model: Optional[MNISTClassifier] = None,
            with_features: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Class probabilities ``(N, 10)`` (and features ``(N, 64)``), batched, no gradients."""
    model = model if model is not None else load_classifier()
    batch = as_image_batch(images)
    probabilities, features = [], []
    for start in range(0, len(batch), BATCH_SIZE):
        logits, feats = model.forward_with_features(batch[start:start + BATCH_SIZE])
        probabilities.append(torch.softmax(logits, dim=1))
        if with_features:
            features.append(feats)
    return torch.cat(probabilities), (torch.cat(features) if with_features else None)


def classify(images: ImageBatch) -> Tuple[np.ndarray, np.ndarray]:
    """Predicted digits ``(N,)`` int64 and their probabilities ``(N,)`` float32 in [0, 1]."""
    probabilities, _ = predict(images)
    confidences, labels = probabilities.max(dim=1)
    return labels.numpy().astype(np.int64), confidences.numpy().astype(np.float32)
