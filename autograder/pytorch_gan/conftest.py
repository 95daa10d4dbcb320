"""Shared fixtures of the PyTorch GAN lab's hidden checks.

The checks of one part use the kit's reference pieces for everything else (models,
losses, noise), so a bug costs points in the part where it lives and nowhere else.
"""
import pytest
import torch

from ganlab_kit.torch_gan import MLPDiscriminator, MLPGenerator
from ganlab_kit.torch_gan import losses as reference_losses
from ganlab_kit.torch_gan import sample_noise as reference_sample_noise

LATENT_DIM = 100


@pytest.fixture
def reference_generator():
    """The kit's MLP generator, 100 -> 256 -> 512 -> 1024 -> 784, Tanh."""
    return MLPGenerator()


@pytest.fixture
def steady_discriminator():
    """The kit's MLP discriminator without dropout: the same input always gives the same D(x)."""
    return MLPDiscriminator(dropout=0.0)


@pytest.fixture
def real_batch():
    """Stand-in real images (16, 1, 28, 28) in [-1, 1]: bright strokes on a dark ground."""
    images = -torch.ones(16, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0
    return images + 0.1 * torch.rand(16, 1, 28, 28)


@pytest.fixture
def reference_pieces():
    """Kit versions of the functions the training steps may call."""
    return {
        "discriminator_loss": reference_losses.discriminator_loss,
        "generator_loss": reference_losses.generator_loss,
        "sample_noise": reference_sample_noise,
    }


def parameters_of(module):
    """Detached copies of a module's parameters, in order."""
    return [parameter.detach().clone() for parameter in module.parameters()]


def changed(before, module):
    """Whether any parameter of ``module`` differs from the copies in ``before``."""
    return any(not torch.equal(old, new.detach()) for old, new in zip(before, module.parameters()))


@pytest.fixture
def snapshot():
    """Helpers to compare parameters before and after a step."""
    return parameters_of, changed
