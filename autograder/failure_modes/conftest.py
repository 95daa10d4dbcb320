"""Shared fixtures of the failure-modes lab's hidden checks.

The student's functions receive small Keras networks built in the notebook's process
with the kit's builders (``nb.new``), so a check of one part never depends on the
student's answer to another. Expected values are computed here, in the checks'
process, which never imports TensorFlow: Keras weights and outputs come back as NumPy
arrays.
"""
from types import SimpleNamespace

import numpy as np
import pytest

# imported here, at the top, so that the checker process imports them (and torch) while the
# notebook's cells run, not when the first part's checks need the digits
from ganlab_kit.data import load_mnist
from ganlab_kit.keras_gan.first_step import eager  # shared with the Keras lab's checks

LATENT_DIM = 8          # noise size of the checks' small generator
BATCH = 16              # real images per turn in the checks


def _ask(nb, path, *args, **kwargs):
    return nb.new(path, *args, **kwargs)


def make_networks(nb):
    """``(generator, discriminator)``: small kit MLPs in the notebook's process, D compiled
    (Adam 1e-3, binary cross-entropy, accuracy) and without dropout, so that the same
    input always gives the same D(x)."""
    generator = _ask(nb, "ganlab_kit.keras_gan.models:build_generator", latent_dim=LATENT_DIM, hidden=[32])
    discriminator = _ask(nb, "ganlab_kit.keras_gan.models:build_discriminator", hidden=[32], dropout=0.0)
    _ask(nb, "ganlab_kit.keras_gan.failure:compile_discriminator", discriminator, learning_rate=1e-3)
    return generator, discriminator


@pytest.fixture
def networks(nb):
    """Fresh networks of :func:`make_networks` for one check."""
    return make_networks(nb)


@pytest.fixture(scope="session")
def real_digits():
    """256 real training digits ``(256, 28, 28, 1)`` float32 in [-1, 1], the same every time."""
    images = load_mnist(split="train").images.numpy()        # (4000, 1, 28, 28)
    order = np.random.default_rng(0).permutation(len(images))[:256]
    return np.ascontiguousarray(images[order].transpose(0, 2, 3, 1), dtype=np.float32)


@pytest.fixture(scope="session")
def heldout_digits():
    """100 held-out real digits, ten of each class, ``(100, 28, 28, 1)``, and their labels."""
    data = load_mnist(split="test")
    images, labels = data.images.numpy(), data.labels.numpy()
    picked = np.concatenate([np.flatnonzero(labels == digit)[:10] for digit in range(10)])
    return (np.ascontiguousarray(images[picked].transpose(0, 2, 3, 1), dtype=np.float32),
            labels[picked].astype(np.int64))


def noise(count, seed=0):
    """Standard normal noise ``(count, LATENT_DIM)`` float32."""
    return np.random.default_rng(seed).standard_normal((count, LATENT_DIM)).astype(np.float32)


def accuracy(discriminator, real, fake):
    """D's accuracy on ``real`` (D(x) > 0.5 is right) and ``fake`` images together, computed here
    from D's outputs."""
    d_real = np.asarray(discriminator.predict_on_batch(real)).reshape(-1)
    d_fake = np.asarray(discriminator.predict_on_batch(fake)).reshape(-1)
    return float(np.concatenate([d_real > 0.5, d_fake <= 0.5]).mean())


def weights(model):
    """Copies of a notebook model's weights, in order (NumPy arrays)."""
    return [np.asarray(weight) for weight in model.get_weights()]


def train_on_batch(nb, model, x, y):
    """``model.train_on_batch(x, y)`` in the notebook, its first step traced once instead of twice
    (``ganlab_kit.keras_gan.first_step``: the same step on the same numbers, a second sooner)."""
    return nb.new("ganlab_kit.keras_gan.first_step:train_on_batch", model, x, y)


def changed(before, after):
    return any(not np.array_equal(old, new) for old, new in zip(before, after))


@pytest.fixture(scope="module")
def tools():
    """The helpers above: ``tools.noise``, ``tools.accuracy``, ``tools.weights``, ``tools.changed``,
    ``tools.train_on_batch``, ``tools.eager`` (a model's steps run without a trace, see
    ``ganlab_kit.keras_gan.first_step.eager``)."""
    return SimpleNamespace(noise=noise, accuracy=accuracy, weights=weights, changed=changed,
                           train_on_batch=train_on_batch, eager=eager,
                           make_networks=make_networks,
                           latent_dim=LATENT_DIM, batch=BATCH)
