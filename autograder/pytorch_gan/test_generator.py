"""Hidden checks: the Generator network."""
import pytest
import torch

from ganlab_kit.grading.safe_load import pair_weights
from ganlab_kit.torch_gan import MLPGenerator

WIDTHS = [(100, 256), (256, 512), (512, 1024), (1024, 784)]


def _linear_widths(calls):
    return [(call["in_features"], call["out_features"]) for call in calls if call["op"] == "linear"]


@pytest.mark.points(1)
def test_output_shape(nb):
    """Does Generator() turn noise (B, 100) into images (B, 1, 28, 28) for several batch sizes?"""
    generator = nb.Generator()
    for batch_size in (1, 3, 64):
        images = generator(torch.randn(batch_size, 100))
        assert isinstance(images, torch.Tensor), (
            f"Generator.forward should return a tensor, got {type(images).__name__}.")
        assert tuple(images.shape) == (batch_size, 1, 28, 28), (
            f"for noise of shape ({batch_size}, 100) the generator should return images of "
            f"shape ({batch_size}, 1, 28, 28) (batch, channel, height, width); got "
            f"{tuple(images.shape)}. Reshape the 784 outputs with .view(-1, 1, 28, 28).")


@pytest.mark.points(1)
def test_output_range(nb):
    """Does the generator end with Tanh, so its pixels fill [-1, 1] like the training images?"""
    generator = nb.Generator()
    with torch.no_grad():
        images = generator(1000 * torch.randn(256, 100))  # large inputs saturate the last activation
    low, high = float(images.min()), float(images.max())
    assert low >= -1.0001 and high <= 1.0001, (
        f"generated pixels span [{low:.3g}, {high:.3g}], outside [-1, 1]: end the network with "
        "nn.Tanh() so fakes have the same range as the real images.")
    assert low < -0.99 and high > 0.99, (
        f"generated pixels only span [{low:.3g}, {high:.3g}]; the real images fill [-1, 1]. "
        "Tanh reaches both ends (Sigmoid stops at 0).")


@pytest.mark.points(1)
def test_architecture(nb, calls_of, activation_problem):
    """Does a forward pass run Linear 100 -> 256 -> 512 -> 1024 -> 784 with LeakyReLU(0.2) between
    them (as nn layers or as F.leaky_relu in forward)?"""
    calls = calls_of(nb.Generator(), torch.randn(2, 100))
    widths = _linear_widths(calls)
    assert widths == WIDTHS, (
        "the generator's Linear layers should map 100 -> 256 -> 512 -> 1024 -> 784 "
        f"(widths growing towards the image); yours map {widths or 'nothing (no nn.Linear layers)'}.")
    problem = activation_problem(calls)
    assert problem is None, problem


@pytest.mark.points(1)
def test_reference_layout(nb):
    """Do the kit's reference weights fit Generator() (by name, or by layer order and shape: the
    layers may sit in self.net or in attributes of their own)?"""
    generator = nb.Generator()
    reference = MLPGenerator().state_dict()
    try:
        _, paired = pair_weights(generator.state_dict(), reference)
    except ValueError as error:
        raise AssertionError(
            "the kit's generator weights do not fit your Generator: it should hold exactly the "
            "four Linear layers 100 -> 256 -> 512 -> 1024 -> 784 (with biases, in that order) "
            f"and no other weights. {error}") from None
    generator.load_state_dict(paired)
