"""The Keras lab's generator as plain arrays: read a saved weights file safely, run it with NumPy.

The Keras lab (``assignments/source/keras_gan``) saves the student's generator with
``generator.save_weights("generator.weights.h5")``. Grading never hands that file to a
Keras loader (which can deserialise code); it reads the arrays with ``h5py`` (or
``numpy.load(..., allow_pickle=False)`` for ``.npz``), picks the dense layers of the
lab's architecture by their shapes, and runs the forward pass in NumPy. Nothing here
imports TensorFlow or Keras.

The lab's generator: noise ``(B, 100)`` -> Dense 300 -> Dense 600 -> Dense 1200 (each
followed by LeakyReLU) -> Dense 784 with tanh, images ``(B, 784)`` in [-1, 1].
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

__all__ = ["LAB_LATENT_DIM", "LAB_HIDDEN", "LAB_IMAGE_DIM", "LAB_LEAKY_SLOPE", "WeightsFileError",
           "dense_shapes", "read_dense_weights", "NumpyMLPGenerator", "load_lab_generator",
           "REFERENCE_KERAS_GENERATOR", "save_dense_arrays"]

LAB_LATENT_DIM = 100              # length of the noise vector z
LAB_HIDDEN = (300, 600, 1200)     # units of the generator's hidden Dense layers (the seed's revised sizes)
LAB_IMAGE_DIM = 784               # 28 x 28 pixels, flat
LAB_LEAKY_SLOPE = 0.2             # negative slope of every LeakyReLU in the lab

#: The kit's trained reference generator of the Keras lab (float16 arrays, ``kernel_i`` / ``bias_i``).
REFERENCE_KERAS_GENERATOR = Path(__file__).resolve().parents[1] / "assets" / "reference_keras_generator.npz"

PathLike = Union[str, "os.PathLike[str]"]
DenseWeights = List[Tuple[np.ndarray, np.ndarray]]


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable, or does not hold the expected layers."""


def dense_shapes(latent_dim: int = LAB_LATENT_DIM, hidden: Sequence[int] = LAB_HIDDEN,
                 output_dim: int = LAB_IMAGE_DIM) -> List[Tuple[int, int]]:
    """``(inputs, units)`` of each Dense layer, in order: ``[(100, 300), (300, 600), ...]``."""
    widths = [int(latent_dim), *map(int, hidden), int(output_dim)]
    return list(zip(widths[:-1], widths[1:]))


def _arrays_in_h5(path: Path) -> Dict[str, np.ndarray]:
    import h5py

    arrays: Dict[str, np.ndarray] = {}

    def visit(name, item):
        # a compiled model's file also holds its optimizer's state (Keras 3 save_weights:
        # optimizer/vars/0 is an int64 step counter, the moments have the layers' shapes):
        # not the generator's weights, so left out; so is any other non-float entry
        if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" and name.split("/", 1)[0] != "optimizer":
            arrays[name] = np.asarray(item[()], dtype=np.float32)

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(visit)
    except OSError as error:
        raise WeightsFileError(f"{path.name} is not a readable HDF5 weights file ({error})") from None
    return arrays


def _arrays_in_npz(path: Path) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: np.asarray(archive[name], dtype=np.float32) for name in archive.files}
    except (OSError, ValueError) as error:
        raise WeightsFileError(f"{path.name} is not a readable .npz file ({error})") from None


def read_dense_weights(path: PathLike, shapes: Sequence[Tuple[int, int]] = None) -> DenseWeights:
    """``[(kernel, bias), ...]`` of the Dense layers ``shapes`` (default: the lab's generator).

    Each kernel ``(inputs, units)`` and bias ``(units,)`` is found by its shape, whatever
    the layer names are. Reads ``.weights.h5`` (Keras 3 ``save_weights``) with h5py and
    ``.npz`` with ``allow_pickle=False``: no code in the file can run.

    Raises:
        WeightsFileError: the file is unreadable, or a layer is missing or ambiguous.
    """
    path = Path(path)
    shapes = list(shapes or dense_shapes())
    if not path.is_file():
        raise WeightsFileError(f"there is no {path.name}")
    arrays = _arrays_in_npz(path) if path.suffix == ".npz" else _arrays_in_h5(path)
    by_shape: Dict[Tuple[int, ...], List[str]] = {}
    for name, array in arrays.items():
        by_shape.setdefault(tuple(array.shape), []).append(name)
    weights: DenseWeights = []
    for inputs, units in shapes:
        found = []
        for shape, what in (((inputs, units), "kernel"), ((units,), "bias")):
            names = by_shape.get(shape, [])
            if len(names) != 1:
                problem = "no" if not names else f"{len(names)}"
                raise WeightsFileError(
                    f"{path.name} holds {problem} array(s) of shape {shape}; the Dense layer "
                    f"{inputs} -> {units} needs exactly one {what} of that shape")
            found.append(arrays[names[0]])
        weights.append((found[0], found[1]))
    return weights


class NumpyMLPGenerator:
    """The lab's generator run with NumPy: noise ``(B, latent_dim)`` -> images ``(B, 784)``.

    LeakyReLU(``leaky_slope``) after every hidden layer, tanh at the end. Callable on a
    float array, so :func:`ganlab_kit.scoring.generate_images` and ``score_generator``
    accept it.
    """

    def __init__(self, weights: DenseWeights, leaky_slope: float = LAB_LEAKY_SLOPE) -> None:
        if not weights:
            raise ValueError("weights must hold at least one (kernel, bias) pair")
        self.weights = [(np.asarray(k, np.float32), np.asarray(b, np.float32)) for k, b in weights]
        self.leaky_slope = float(leaky_slope)
        self.latent_dim = int(self.weights[0][0].shape[0])

    def __call__(self, noise) -> np.ndarray:
        x = np.asarray(noise, dtype=np.float32)            # (B, latent_dim)
        last = len(self.weights) - 1
        for index, (kernel, bias) in enumerate(self.weights):
            x = x @ kernel + bias                          # (B, units)
            if index < last:
                x = np.where(x >= 0, x, self.leaky_slope * x)
        return np.tanh(x)                                  # (B, 784) in [-1, 1]


def load_lab_generator(path: PathLike, leaky_slope: float = LAB_LEAKY_SLOPE) -> NumpyMLPGenerator:
    """The lab's generator from a saved weights file (``.weights.h5`` or ``.npz``), safely."""
    return NumpyMLPGenerator(read_dense_weights(path), leaky_slope=leaky_slope)


def save_dense_arrays(weights: DenseWeights, path: PathLike, dtype=np.float16) -> Path:
    """Write ``[(kernel, bias), ...]`` as a compressed ``.npz`` (``kernel_0``, ``bias_0``, ...)."""
    path = Path(path)
    arrays = {}
    for index, (kernel, bias) in enumerate(weights):
        arrays[f"kernel_{index}"] = np.asarray(kernel, dtype=dtype)
        arrays[f"bias_{index}"] = np.asarray(bias, dtype=dtype)
    np.savez_compressed(path, **arrays)
    return path
