"""Training the kit's MNIST classifier (what ``ganlab classifier train`` runs).

Seeded and CPU-only: the same command on the same data rebuilds the same weights.
Small random affine jitter (shift, rotation, scale) stands in for the data the
offline set lacks, so the network also copes with slightly off-centre GAN digits.
"""
from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ImageDataset, load_dataset
from .classifier import (ASSETS, CLASSIFIER_FILES, CLASSIFIER_KERAS, CLASSIFIER_RECORD,
                         CLASSIFIER_WEIGHTS, MNISTClassifier, classifier_dataset, predict)

__all__ = ["train_classifier", "jitter", "TRAINING_SAMPLES"]

#: Images seen in training (epochs x data size); 60 epochs of the 4,000 offline digits.
TRAINING_SAMPLES = 240_000

#: Data sets a classifier can be trained on, and the jitter each gets. Clothes are centred
#: and upright in Fashion-MNIST, so they get a gentler jitter than handwriting, and more
#: images (the classes are harder to tell apart).
TRAINING_DATA = {
    "mnist-offline": {"jitter": {}, "samples": TRAINING_SAMPLES},
    "mnist": {"jitter": {}, "samples": TRAINING_SAMPLES},
    "fashion-mnist": {"jitter": {"shift": 1.0, "degrees": 4.0, "scale": 0.05}, "samples": 480_000},
}


def jitter(images: torch.Tensor, generator: torch.Generator, shift: float = 2.0,
           degrees: float = 10.0, scale: float = 0.1) -> torch.Tensor:
    """Random affine copies of ``images`` ``(B, 1, 28, 28)`` in [-1, 1]; background stays -1."""
    batch = len(images)
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * scale
    offset = (torch.rand(batch, 2, generator=generator) * 2 - 1) * (2 * shift / 28)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1),
                         torch.stack([sin, cos, offset[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample pads with 0, so move the background to 0 first and back after
    return F.grid_sample(images + 1, grid, align_corners=False) - 1


def _accuracy(model: MNISTClassifier, data: ImageDataset) -> float:
    probabilities, _ = predict(data.images, model)
    return float((probabilities.argmax(1) == data.labels).float().mean())


def _inception_score(probabilities: torch.Tensor) -> float:
    marginal = probabilities.mean(0, keepdim=True)
    kl = (probabilities * (torch.log(probabilities + 1e-12) - torch.log(marginal + 1e-12))).sum(1)
    return float(torch.exp(kl.mean()))


def train_classifier(data: str = "mnist-offline", out_dir: Union[str, os.PathLike] = ASSETS,
                     seed: int = 0, epochs: Optional[int] = None, batch_size: int = 64,
                     lr: float = 2e-3, keras: bool = True,
                     log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Train, evaluate on the held-out split, and write the weights and their record.

    Writes ``mnist_classifier.pt`` (state_dict), ``mnist_classifier.h5`` (Keras 3,
    when ``keras`` and Keras imports) and ``mnist_classifier.json`` to ``out_dir``
    and returns the record. ``data`` is ``"mnist-offline"`` (the 4,000 training
    digits of the offline set) or ``"mnist"`` (the 60,000 of full MNIST, when present).
    """
    if data not in TRAINING_DATA:
        raise ValueError(f"data must be one of {sorted(TRAINING_DATA)}, got {data!r}")
    settings = TRAINING_DATA[data]
    weights_file, record_file = CLASSIFIER_FILES[classifier_dataset(data)]
    keras = keras and classifier_dataset(data) == "mnist"  # the Keras lab scores digits only
    train = load_dataset(data, split="train")
    test = load_dataset(data, split="test")
    epochs = epochs or max(2, round(settings["samples"] / len(train)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    model = MNISTClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = len(train) // batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    log(f"training the {data} classifier on {len(train)} images for {epochs} epochs "
        f"(seed {seed})")
    started = time.perf_counter()
    batches = train.batches(batch_size, rng)
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for _ in range(steps_per_epoch):
            index = torch.randint(len(train), (batch_size,), generator=rng)
            images, labels = train.images[index], train.labels[index]
            loss = F.cross_entropy(model(jitter(images, rng, **settings["jitter"])), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
        model.eval()
        if epoch % max(1, epochs // 6) == 0 or epoch == epochs:
            log(f"  epoch {epoch:3d}/{epochs}  loss {total / steps_per_epoch:.4f}  "
                f"held-out accuracy {_accuracy(model, test):.4f}")
    del batches
    model.eval()
    seconds = time.perf_counter() - started

    probabilities, _ = predict(test.images, model)
    accuracy = float((probabilities.argmax(1) == test.labels).float().mean())
    torch.save(model.state_dict(), out_dir / weights_file.name)
    record: Dict[str, Any] = {
        "architecture": ("Conv3x3(16)-ReLU-MaxPool2 -> Conv3x3(32)-ReLU-MaxPool2 -> "
                         "Dense(64)-ReLU [features] -> Dropout(0.3) -> Dense(10)"),
        "input": ("(N, 1, 28, 28) in [-1, 1] for PyTorch; (N, 28, 28, 1) in [-1, 1] for Keras"
                  if keras else "(N, 1, 28, 28) in [-1, 1]"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_data": f"{data}:train ({len(train)} images)",
        "heldout_data": f"{data}:test ({len(test)} images)",
        "heldout_accuracy": round(accuracy, 4),
        "heldout_inception_score": round(_inception_score(probabilities), 3),
        "heldout_confident_rate": round(float((probabilities.max(1).values >= 0.9).float().mean()), 4),
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": f"Adam, one-cycle max lr {lr}, affine jitter {settings['jitter'] or 'default'}",
        "seed": seed,
        "training_seconds": round(seconds, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": f"ganlab classifier train --data {data} --seed {seed}",
    }
    if keras:
        record.update(_write_keras(model, out_dir, test, probabilities, log))
    (out_dir / record_file.name).write_text(json.dumps(record, indent=2) + "\n")
    log(f"held-out accuracy {accuracy:.4f}; wrote {out_dir}")
    return record


def _write_keras(model: MNISTClassifier, out_dir: Path, test: ImageDataset,
                 probabilities: torch.Tensor, log: Callable[[str], None]) -> Dict[str, Any]:
    """Save the Keras copy and measure how often it agrees with the PyTorch weights."""
    try:
        from .keras_classifier import load_keras_classifier, save_keras_classifier

        path = save_keras_classifier(model, out_dir / CLASSIFIER_KERAS.name)
        keras_model = load_keras_classifier(path)
        keras_probabilities = np.asarray(
            keras_model.predict(test.numpy(channels_last=True), batch_size=500, verbose=0))
    except ImportError as error:
        log(f"skipped the Keras copy: {error}")
        return {"keras_file": None}
    agreement = float(np.mean(keras_probabilities.argmax(1) == probabilities.argmax(1).numpy()))
    import keras

    log(f"Keras copy agrees with PyTorch on {agreement:.2%} of held-out digits")
    return {"keras_file": CLASSIFIER_KERAS.name, "keras_agreement": round(agreement, 4),
            "keras": keras.__version__}
