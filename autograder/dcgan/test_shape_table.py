"""Hidden checks: the shape table of both networks, for both image sizes."""
import pytest
import torch

from ganlab_kit.torch_gan.shapes import shape_table

LATENT_DIM = 8

#: Which layer's output each row of the notebook's tables shows (layer types, in order).
GENERATOR_ROWS = ("Linear", "Reshape", "ConvTranspose2d", "Conv2d", "ConvTranspose2d")
DISCRIMINATOR_ROWS = ("Conv2d", "Conv2d", "Flatten", "Linear", "Linear")


def _rows(model, example, kinds):
    """Output shapes of the layers of the given kinds, in order, from the kit's reference network."""
    table, rows = shape_table(model, example), []
    for kind in kinds:
        index = next(i for i, (_, layer_type, _) in enumerate(table) if layer_type == kind)
        rows.append(table[index][2])
        table = table[index + 1:]
    return rows


def _check(nb, name, expected):
    table = nb[name]
    assert table is not Ellipsis, f"replace the ... of {name} with your list of five shapes."
    assert isinstance(table, (list, tuple)) and len(table) == 5, (
        f"{name} should be a list of five shapes, one per row of the table; got {table!r}.")
    given = []
    for row in table:
        try:
            given.append(tuple(int(n) for n in row))
        except TypeError:
            raise AssertionError(f"each row of {name} is a tuple of sizes such as (32, 14, 14) or (1568,); got {row!r}.") from None
    wrong = [f"row {i + 1}: {g} (should be {e})" for i, (g, e) in enumerate(zip(given, expected)) if g != e]
    assert not wrong, f"{name} has wrong shapes: " + "; ".join(wrong) + ". The batch axis is left out."


@pytest.mark.points(1)
def test_generator_table(nb, reference_generator):
    """Does GENERATOR_SHAPES give each row's output shape for 28x28 grey images?"""
    _check(nb, "GENERATOR_SHAPES", _rows(reference_generator(), torch.randn(2, LATENT_DIM), GENERATOR_ROWS))


@pytest.mark.points(1)
def test_discriminator_table(nb, reference_discriminator):
    """Does DISCRIMINATOR_SHAPES give each row's output shape for 28x28 grey images?"""
    _check(nb, "DISCRIMINATOR_SHAPES", _rows(reference_discriminator(), torch.randn(2, 1, 28, 28), DISCRIMINATOR_ROWS))


@pytest.mark.points(1)
def test_cifar_generator_table(nb, reference_generator):
    """Does CIFAR_GENERATOR_SHAPES give each row's output shape for 32x32 colour images?"""
    _check(nb, "CIFAR_GENERATOR_SHAPES",
           _rows(reference_generator((3, 32, 32)), torch.randn(2, LATENT_DIM), GENERATOR_ROWS))


@pytest.mark.points(1)
def test_cifar_discriminator_table(nb, reference_discriminator):
    """Does CIFAR_DISCRIMINATOR_SHAPES give each row's output shape for 32x32 colour images?"""
    _check(nb, "CIFAR_DISCRIMINATOR_SHAPES",
           _rows(reference_discriminator((3, 32, 32)), torch.randn(2, 3, 32, 32), DISCRIMINATOR_ROWS))
