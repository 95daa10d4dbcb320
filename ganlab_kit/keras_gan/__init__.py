"""Keras track: the reference GAN in Keras 3, on the TensorFlow backend.

Importing this package is light: TensorFlow loads the first time one of the names
below is used (``from ganlab_kit.keras_gan import GAN``). At that moment
``KERAS_BACKEND`` is set to ``"tensorflow"`` if it is unset, and
``TF_CPP_MIN_LOG_LEVEL`` to ``"3"`` (quiet TensorFlow). If keras was already
imported with another backend, a :class:`BackendError` says how to fix it.

Example::

    from ganlab_kit.data import load_mnist
    from ganlab_kit.keras_gan import (GAN, SampleSnapshot, build_discriminator,
                                      build_generator, image_dataset)

    gan = GAN(build_generator(), build_discriminator())
    gan.compile()                                   # Adam(2e-4, beta_1=0.5) for each network
    images = load_mnist().numpy(channels_last=True)  # (N, 28, 28, 1) in [-1, 1]
    snapshots = SampleSnapshot(every=100)
    gan.fit(image_dataset(images, batch_size=64), epochs=5, callbacks=[snapshots])
"""
from __future__ import annotations

from .._lazy import lazy_attributes

# public name -> submodule that defines it
_NAMES = {
    "require_tensorflow_backend": "_backend",
    "BackendError": "_backend",
    "build_generator": "models",
    "build_discriminator": "models",
    "sample_noise": "models",
    "IMAGE_SHAPE": "models",
    "GAN": "gan",
    "GAN_METRICS": "gan",
    "image_dataset": "gan",
    "SampleSnapshot": "callbacks",
    "KerasHistoryBridge": "callbacks",
    "find_generator": "callbacks",
    "GradingBudgetStop": "callbacks",
    "AlgorithmOneTrainer": "algorithm1",
    "build_combined": "algorithm1",
    "compile_discriminator": "algorithm1",
    "discriminator_step": "algorithm1",
    "generator_step": "algorithm1",
    "train_step_algorithm1": "algorithm1",
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_attributes(__name__, _NAMES)
