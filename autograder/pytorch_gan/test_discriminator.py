"""Hidden checks: the Discriminator network."""
import pytest
import torch

WIDTHS = [(784, 1024), (1024, 512), (512, 256), (256, 1)]


def _shape_hint(shape, batch_size):
    """What the measured output shape says went wrong."""
    if shape == (batch_size,) or (len(shape) == 1 and shape[0] == batch_size):
        return ("The scores lost their last axis (a .squeeze(), .view(-1) or .flatten() on D's "
                "output): keep shape (B, 1), the shape of the targets torch.ones(B, 1) that "
                "nn.BCELoss compares them with.")
    if len(shape) == 2 and shape[1] == 1 and shape[0] != batch_size:
        return ("One score per image means one row per image: flatten each image to 784 values "
                "with x.view(x.shape[0], -1), not x.view(-1, 784) on a wrongly shaped input.")
    if len(shape) >= 2 and shape[0] == batch_size and shape[-1] != 1:
        return (f"Each image got {shape[1:]} values: the last Linear layer should have one "
                "output (nn.Linear(256, 1)), and each image should be flattened to 784 values first.")
    return "Flatten each image to 784 values first (x.view(x.shape[0], -1)) and end with nn.Linear(256, 1)."


@pytest.mark.points(1)
def test_output_shape(nb):
    """Does Discriminator() map images (B, 1, 28, 28) to one score per image, shape (B, 1)?"""
    discriminator = nb.Discriminator()
    for batch_size in (1, 5, 64):
        scores = discriminator(torch.rand(batch_size, 1, 28, 28) * 2 - 1)
        assert isinstance(scores, torch.Tensor), (
            f"Discriminator.forward should return a tensor, got {type(scores).__name__}.")
        shape = tuple(scores.shape)
        assert shape == (batch_size, 1), (
            f"for {batch_size} images the discriminator should return shape ({batch_size}, 1), "
            f"one probability per image; got {shape}. " + _shape_hint(shape, batch_size))


@pytest.mark.points(1)
def test_output_range(nb):
    """Does the discriminator end with Sigmoid, so D(x) is a probability in [0, 1]?"""
    discriminator = nb.Discriminator().eval()
    with torch.no_grad():
        scores = discriminator(1000 * (torch.rand(256, 1, 28, 28) * 2 - 1))
    low, high = float(scores.min()), float(scores.max())
    assert low >= 0.0 and high <= 1.0, (
        f"D(x) spans [{low:.3g}, {high:.3g}]: end the network with nn.Sigmoid() so D(x) is the "
        "probability that x is real, which nn.BCELoss expects.")


@pytest.mark.points(1)
def test_architecture(nb, calls_of, activation_problem):
    """Does a forward pass run Linear 784 -> 1024 -> 512 -> 256 -> 1 with LeakyReLU(0.2) after each
    hidden one (as nn layers or as F.leaky_relu in forward)?"""
    calls = calls_of(nb.Discriminator(), torch.rand(2, 1, 28, 28) * 2 - 1)
    widths = [(call["in_features"], call["out_features"]) for call in calls if call["op"] == "linear"]
    assert widths == WIDTHS, (
        "the discriminator's Linear layers should map 784 -> 1024 -> 512 -> 256 -> 1 (the "
        f"generator's widths in reverse); yours map {widths or 'nothing (no nn.Linear layers)'}.")
    problem = activation_problem(calls)
    assert problem is None, problem
