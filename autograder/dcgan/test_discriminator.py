"""Hidden checks: the DCGAN discriminator (strided convolutions, LeakyReLU, one logit)."""
import pytest
import torch

IMAGE_SHAPES = ((1, 28, 28), (3, 32, 32))


@pytest.mark.points(1)
def test_output_shape(nb):
    """Does Discriminator(image_shape=...) give one logit per image, (B, 1), for 28x28x1 and 32x32x3?"""
    for image_shape in IMAGE_SHAPES:
        discriminator = nb.Discriminator(image_shape=image_shape)
        for batch_size in (2, 5, 64):
            logits = discriminator(torch.rand(batch_size, *image_shape) * 2 - 1)
            assert isinstance(logits, torch.Tensor), f"Discriminator.forward should return a tensor, got {type(logits).__name__}."
            assert tuple(logits.shape) == (batch_size, 1), (
                f"Discriminator(image_shape={image_shape}) should give ({batch_size}, 1) for {batch_size} images; "
                f"got {tuple(logits.shape)}.")


@pytest.mark.points(1)
def test_strided_convolutions(nb, forward_layers):
    """Do two stride-2 convolutions shrink the image 4s -> 2s -> s, with no pooling layer?"""
    for image_shape in IMAGE_SHAPES:
        side = image_shape[1] // 4
        layers = forward_layers(nb.Discriminator(image_shape=image_shape), torch.rand(2, *image_shape) * 2 - 1)
        pooling = [layer["type"] for layer in layers if "Pool" in layer["type"]]
        assert not pooling, f"the discriminator uses {pooling}; in a DCGAN the strides do the downsampling."
        strided = [layer for layer in layers if layer["type"] == "Conv2d" and tuple(layer["stride"]) == (2, 2)]
        sides = [layer["output_shape"][-1] for layer in strided]
        assert sides == [2 * side, side], (
            f"for {image_shape} images the stride-2 convolutions should output {2 * side}x{2 * side} then "
            f"{side}x{side}; yours output sides {sides}. Kernel 4, stride 2, padding 1 halves the side.")


def _computes_reference(nb, discriminator, reference, with_reference_weights, image_shape=(1, 28, 28)):
    """Whether the notebook's discriminator, given the reference's weights, computes its logits."""
    if not with_reference_weights(discriminator, reference):
        return False
    discriminator.eval()
    reference.eval()
    images = torch.rand(16, *image_shape) * 2 - 1
    with torch.no_grad():
        expected = reference(images)
    logits = discriminator(images)
    return tuple(logits.shape) in ((16, 1), (16,)) and torch.allclose(logits.reshape(16, 1), expected, atol=1e-5)


@pytest.mark.points(1)
def test_leaky_relu(nb, leaf_layers, reference_discriminator, with_reference_weights):
    """Does the discriminator use LeakyReLU(0.2) after its hidden layers, never ReLU (as modules, or as
    functions in forward: then it must compute what the table's network does)?"""
    discriminator = nb.Discriminator()
    layers = leaf_layers(discriminator)
    relus = [layer for layer in layers if layer["type"] == "ReLU"]
    slopes = [layer.get("negative_slope") for layer in layers if layer["type"] == "LeakyReLU"]
    if not relus and len(slopes) == 3 and all(abs(slope - 0.2) < 1e-9 for slope in slopes):
        return
    torch.manual_seed(0)
    if not relus and not slopes and _computes_reference(nb, discriminator, reference_discriminator(), with_reference_weights):
        return  # F.leaky_relu(x, 0.2) in forward: the same network
    assert not relus, ("the discriminator uses nn.ReLU: its units that go negative pass no gradient back "
                       "to G. Use nn.LeakyReLU(0.2).")
    assert len(slopes) == 3 and all(abs(slope - 0.2) < 1e-9 for slope in slopes), (
        f"expected three LeakyReLU activations with slope 0.2 (after each convolution and the hidden Linear "
        f"layer); found {len(slopes)} nn.LeakyReLU modules with slopes {slopes}"
        + ("" if slopes else ", and with the reference weights your network does not compute the table's logits "
           "(F.relu or another slope in forward?)") + ".")


@pytest.mark.points(1)
def test_matches_reference(nb, reference_discriminator, first_difference, with_reference_weights, layer_difference):
    """With the kit's reference weights loaded, does Discriminator() compute the same logits as the kit's?"""
    for image_shape in IMAGE_SHAPES:
        torch.manual_seed(0)
        reference = reference_discriminator(image_shape).eval()
        discriminator = nb.Discriminator(image_shape=image_shape)
        if not with_reference_weights(discriminator, reference):
            raise AssertionError(
                f"for {image_shape} images {first_difference(discriminator.state_dict(), reference.state_dict())}: "
                "build exactly the layers of the table, in that order.")
        discriminator.eval()
        images = torch.rand(16, *image_shape) * 2 - 1
        with torch.no_grad():
            expected = reference(images)
        logits = discriminator(images)
        if tuple(logits.shape) != tuple(expected.shape) and logits.numel() == expected.numel():
            logits = logits.reshape(expected.shape)  # a (B,) output is test_output_shape's business
        assert tuple(logits.shape) == tuple(expected.shape), (
            f"for {image_shape} images your discriminator returns shape {tuple(logits.shape)} for 16 images; "
            f"the table's network gives {tuple(expected.shape)}, one logit per image.")
        if torch.allclose(logits, torch.sigmoid(expected), atol=1e-5):
            raise AssertionError("your discriminator ends with a Sigmoid; it should output the logit (the "
                                 "trainer's loss applies the sigmoid itself, from_logits=True).")
        if not torch.allclose(logits, expected, atol=1e-5):
            layers = layer_difference(discriminator, reference)
            raise AssertionError(
                "with the same weights your discriminator computes something else than the table's network: "
                + (f"{layers}." if layers else "its layers match the table's, so check what forward does with them "
                   "(every layer applied once, in the table's order)."))
