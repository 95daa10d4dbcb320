"""Hidden checks: the Discriminator network."""
import pytest
import torch

WIDTHS = [(784, 1024), (1024, 512), (512, 256), (256, 1)]
LINEAR = "torch.nn.modules.linear.Linear"


def _is(layer, qualname):
    return qualname in [layer["qualname"]] + layer["bases"]


@pytest.mark.points(1)
def test_output_shape(nb):
    """Does Discriminator() map images (B, 1, 28, 28) to one score per image, shape (B, 1)?"""
    discriminator = nb.Discriminator()
    for batch_size in (1, 5, 64):
        scores = discriminator(torch.rand(batch_size, 1, 28, 28) * 2 - 1)
        assert isinstance(scores, torch.Tensor), (
            f"Discriminator.forward should return a tensor, got {type(scores).__name__}.")
        assert tuple(scores.shape) == (batch_size, 1), (
            f"for {batch_size} images the discriminator should return shape ({batch_size}, 1), "
            f"one probability per image; got {tuple(scores.shape)}. Flatten each image to 784 "
            "values first (x.view(x.shape[0], -1)).")


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
def test_architecture(nb, layers_of):
    """Are the layers Linear 784 -> 1024 -> 512 -> 256 -> 1 with LeakyReLU(0.2) after each hidden one?"""
    layers = layers_of(nb.Discriminator())
    widths = [(layer["in_features"], layer["out_features"]) for layer in layers if _is(layer, LINEAR)]
    assert widths == WIDTHS, (
        "the discriminator's Linear layers should map 784 -> 1024 -> 512 -> 256 -> 1 (the "
        f"generator's widths in reverse); yours map {widths or 'nothing (no nn.Linear layers)'}.")
    slopes = [layer.get("negative_slope") for layer in layers if layer["type"] == "LeakyReLU"]
    assert len(slopes) == 3 and all(abs(slope - 0.2) < 1e-9 for slope in slopes), (
        "each hidden layer should be followed by nn.LeakyReLU(0.2) (three in all); found "
        f"{len(slopes)} LeakyReLU layer(s) with slopes {slopes}.")
