"""Loading Keras 3 on the TensorFlow backend, once, with TensorFlow's C++ logs silenced.

Every module of the Keras track calls :func:`require_tensorflow_backend` before it
touches Keras, so nothing imports TensorFlow until a Keras-track name is used.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from types import ModuleType
from typing import Iterator

__all__ = ["require_tensorflow_backend", "BackendError"]

_FIX = (
    "Restart the kernel (or Python) and run "
    "`import os; os.environ['KERAS_BACKEND'] = 'tensorflow'` before anything imports keras, "
    "or import ganlab_kit.keras_gan first."
)


class BackendError(RuntimeError):
    """Keras is, or is about to be, loaded with a backend other than TensorFlow."""


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment (C++ logs bypass sys.stderr)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def require_tensorflow_backend() -> ModuleType:
    """Import Keras on the TensorFlow backend and return the ``keras`` module.

    Sets ``KERAS_BACKEND=tensorflow`` and ``TF_CPP_MIN_LOG_LEVEL=3`` when they are
    unset. With the level at 3, TensorFlow's import-time C++ messages and its Python
    warnings are hidden too. Raises :class:`BackendError` when the user chose another
    backend, through ``KERAS_BACKEND`` or by importing keras with another backend.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" not in sys.modules:
        chosen = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        if chosen != "tensorflow":
            raise BackendError(
                f"the Keras track of ganlab-kit runs on the TensorFlow backend, but "
                f"KERAS_BACKEND is {chosen!r}. Unset it or set it to 'tensorflow' before "
                f"importing keras. {_FIX}"
            )
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    if quiet and "tensorflow" not in sys.modules:
        with _stderr_silenced():  # TensorFlow >= 2.19 logs at import despite the level
            import keras
    else:
        import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise BackendError(
            f"keras was already imported with the {backend!r} backend; the Keras track "
            f"of ganlab-kit needs 'tensorflow'. {_FIX}"
        )
    if quiet:
        import tensorflow as tf

        tf.get_logger().setLevel(logging.ERROR)  # e.g. "triggered tf.function retracing"
    return keras
