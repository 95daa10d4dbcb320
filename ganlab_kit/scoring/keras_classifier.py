"""The Keras copy of the kit's MNIST classifier (``mnist_classifier.h5``).

The Keras lab loads the classifier with ``keras.models.load_model``. The file is
written from the PyTorch weights, so both formats make the same predictions:

* convolution kernels move from PyTorch's ``(out, in, kh, kw)`` to Keras's
  ``(kh, kw, in, out)``;
* Keras flattens ``(7, 7, 32)`` feature maps channels-last, PyTorch flattens
  ``(32, 7, 7)`` channels-first, so the rows of the first dense kernel are reordered.

The Keras model takes ``(N, 28, 28, 1)`` images in [-1, 1] and ends in a softmax,
so ``model.predict`` returns probabilities and ``model.evaluate(images, one_hot)``
reports accuracy. Reading the file needs Keras 3 and h5py with any backend:
``KERAS_BACKEND=torch`` works without TensorFlow.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .classifier import CLASSIFIER_KERAS, FEATURE_DIM, MNISTClassifier

__all__ = ["build_keras_classifier", "keras_from_torch", "save_keras_classifier",
           "load_keras_classifier", "KerasUnavailableError"]


class KerasUnavailableError(ImportError):
    """Raised when Keras 3 (with a working backend) cannot be imported."""


def _import_keras():
    try:
        import keras  # noqa: F401  (imports the backend named by KERAS_BACKEND)
    except Exception as error:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        raise KerasUnavailableError(
            f"The Keras classifier (mnist_classifier.h5) needs Keras 3 and h5py; importing "
            f"keras with backend {backend!r} failed ({type(error).__name__}: {error}). "
            "Without TensorFlow, run `pip install keras h5py` and set KERAS_BACKEND=torch "
            "before importing keras; or use the PyTorch weights: "
            "ganlab_kit.scoring.load_classifier()."
        ) from error
    if int(keras.__version__.split(".")[0]) < 3:
        raise KerasUnavailableError(
            f"Keras {keras.__version__} is too old; the classifier file needs Keras 3 "
            "(pip install 'keras>=3')."
        )
    return keras


def build_keras_classifier(dropout: float = 0.3) -> Any:
    """The Keras twin of :class:`MNISTClassifier`: ``(N, 28, 28, 1)`` -> probabilities ``(N, 10)``."""
    keras = _import_keras()
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),   # (N, 28, 28, 16)
        layers.MaxPooling2D(2, name="pool1"),                                     # (N, 14, 14, 16)
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),   # (N, 14, 14, 32)
        layers.MaxPooling2D(2, name="pool2"),                                     # (N, 7, 7, 32)
        layers.Flatten(name="flatten"),                                           # (N, 1568) channels-last
        layers.Dense(FEATURE_DIM, activation="relu", name="features"),           # (N, 64)
        layers.Dropout(dropout, name="dropout"),
        layers.Dense(10, activation="softmax", name="probabilities"),            # (N, 10)
    ], name="mnist_classifier")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def keras_from_torch(model: MNISTClassifier) -> Any:
    """A Keras classifier holding ``model``'s weights (layouts converted)."""
    state = {name: value.detach().float().cpu().numpy() for name, value in model.state_dict().items()}
    keras_model = build_keras_classifier()
    conv1, conv2 = keras_model.get_layer("conv1"), keras_model.get_layer("conv2")
    conv1.set_weights([state["body.0.weight"].transpose(2, 3, 1, 0), state["body.0.bias"]])
    conv2.set_weights([state["body.3.weight"].transpose(2, 3, 1, 0), state["body.3.bias"]])
    # torch column index c*49 + h*7 + w  ->  keras row index h*7*32 + w*32 + c
    dense = state["body.7.weight"].reshape(FEATURE_DIM, 32, 7, 7).transpose(2, 3, 1, 0)
    keras_model.get_layer("features").set_weights(
        [np.ascontiguousarray(dense.reshape(32 * 7 * 7, FEATURE_DIM)), state["body.7.bias"]])
    keras_model.get_layer("probabilities").set_weights(
        [np.ascontiguousarray(state["head.weight"].T), state["head.bias"]])
    return keras_model


def save_keras_classifier(model: MNISTClassifier, path: Union[str, os.PathLike]) -> Path:
    """Write ``model`` as a legacy-HDF5 Keras file (what ``load_model('...h5')`` reads)."""
    import warnings

    path = Path(path)
    keras_model = keras_from_torch(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls HDF5 "legacy"; the lab needs exactly that
        keras_model.save(path)
    return path


def load_keras_classifier(path: Optional[Union[str, os.PathLike]] = None) -> Any:
    """``keras.models.load_model`` on the shipped ``mnist_classifier.h5`` (or ``path``)."""
    path = Path(path) if path is not None else CLASSIFIER_KERAS
    if not path.is_file():
        raise FileNotFoundError(f"no Keras classifier at {path}; run `ganlab classifier train`")
    keras = _import_keras()
    try:
        import h5py  # noqa: F401
    except ImportError as error:
        raise KerasUnavailableError(
            "Reading mnist_classifier.h5 needs h5py: pip install h5py") from error
    # compile=False: the classifier only predicts; compiling a loaded .h5 makes Keras 3 log a red
    # "Compiled the loaded model, but the compiled metrics have yet to be built" in a student's cell
    return keras.models.load_model(path, compile=False)
