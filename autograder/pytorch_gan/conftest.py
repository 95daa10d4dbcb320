"""Shared fixtures of the PyTorch GAN lab's hidden checks.

The checks of one part use the kit's reference pieces for everything else (models,
losses, noise), so a bug costs points in the part where it lives and nowhere else.
"""
import pytest
import torch


LATENT_DIM = 100


@pytest.fixture
def reference_generator(nb):
    """The kit's MLP generator, 100 -> 256 -> 512 -> 1024 -> 784, Tanh (in the notebook's process)."""
    return nb.new("ganlab_kit.torch_gan:MLPGenerator")


@pytest.fixture
def steady_discriminator(nb):
    """The kit's MLP discriminator without dropout: the same input always gives the same D(x)."""
    return nb.new("ganlab_kit.torch_gan:MLPDiscriminator", dropout=0.0)


@pytest.fixture
def real_batch():
    """Stand-in real images (16, 1, 28, 28) in [-1, 1]: bright strokes on a dark ground."""
    images = -torch.ones(16, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0
    return images + 0.1 * torch.rand(16, 1, 28, 28)


@pytest.fixture
def reference_pieces(nb):
    """Kit versions of the functions the training steps may call (in the notebook's process)."""
    return {
        "discriminator_loss": nb.ref("ganlab_kit.torch_gan.losses:discriminator_loss"),
        "generator_loss": nb.ref("ganlab_kit.torch_gan.losses:generator_loss"),
        "sample_noise": nb.ref("ganlab_kit.torch_gan:sample_noise"),
    }


PROBES = "ganlab_kit.grading.probes"


@pytest.fixture
def layers_of(nb):
    """``layers_of(module)``: descriptions (type, widths, slopes, rates...) of a notebook
    module's leaf layers, in registration order."""
    return lambda module: nb.new(f"{PROBES}:leaf_layers", module)


def parameters_of(nb, module):
    """Copies of a notebook module's parameters, in order."""
    return nb.new(f"{PROBES}:parameters", module)


def changed(nb, before, module):
    """Whether any parameter of the notebook's ``module`` differs from the copies in ``before``."""
    return any(not torch.equal(old, new) for old, new in zip(before, parameters_of(nb, module)))


@pytest.fixture
def snapshot(nb):
    """Helpers to compare parameters before and after a step."""
    return (lambda module: parameters_of(nb, module)), (lambda before, module: changed(nb, before, module))
