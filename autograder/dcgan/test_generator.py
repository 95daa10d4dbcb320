"""Hidden checks: the DCGAN generator (transposed convolutions 7x7 -> 14x14 -> 28x28)."""
import pytest
import torch

LATENT_DIM = 8
IMAGE_SHAPES = ((1, 28, 28), (3, 32, 32))


@pytest.mark.points(1)
def test_output_shape(nb):
    """Does Generator(image_shape=...) turn noise (B, 8) into images (B, C, H, W), for 28x28x1 and 32x32x3?"""
    for image_shape in IMAGE_SHAPES:
        generator = nb.Generator(image_shape=image_shape)
        for batch_size in (2, 3, 64):
            images = generator(torch.randn(batch_size, LATENT_DIM))
            assert isinstance(images, torch.Tensor), f"Generator.forward should return a tensor, got {type(images).__name__}."
            expected = (batch_size, *image_shape)
            assert tuple(images.shape) == expected, (
                f"Generator(image_shape={image_shape}) should turn noise ({batch_size}, {LATENT_DIM}) into "
                f"images {expected}; got {tuple(images.shape)}. Each stride-2 transposed convolution "
                "(kernel 4, padding 1) doubles the side: s -> 2s -> 4s with s = H // 4.")


@pytest.mark.points(1)
def test_output_range(nb):
    """Does the generator end with Tanh, so its pixels lie in [-1, 1] and reach both ends?"""
    generator = nb.Generator()
    state = generator.state_dict()
    # large weights drive the last activation into saturation (BatchNorm statistics left alone)
    generator.load_state_dict({name: value * 50 for name, value in state.items()
                               if value.is_floating_point() and "running" not in name}, strict=False)
    images = generator(torch.randn(256, LATENT_DIM))
    low, high = float(images.min()), float(images.max())
    assert low >= -1.0001 and high <= 1.0001, (
        f"generated pixels span [{low:.3g}, {high:.3g}], outside [-1, 1]: end the network with nn.Tanh() "
        "so fakes have the range of the real images.")
    assert low < -0.99 and high > 0.99, (
        f"generated pixels only span [{low:.3g}, {high:.3g}]; the real images fill [-1, 1]. Tanh reaches "
        "both ends (Sigmoid stops at 0).")


@pytest.mark.points(1)
def test_upsampling_path(nb, forward_layers):
    """Do two stride-2 transposed convolutions grow the map s -> 2s -> 4s (7 -> 14 -> 28, 8 -> 16 -> 32)?"""
    for image_shape in IMAGE_SHAPES:
        side = image_shape[1] // 4
        layers = forward_layers(nb.Generator(image_shape=image_shape), torch.randn(2, LATENT_DIM))
        upsampling = [layer for layer in layers if layer["type"] == "ConvTranspose2d"]
        sides = [layer["output_shape"][-1] for layer in upsampling]
        if len(upsampling) > 2:
            raise AssertionError(
                f"the generator has {len(upsampling)} nn.ConvTranspose2d layers (output sides {sides}); the "
                f"table's generator has two, which grow the {side}x{side} map to {2 * side}x{2 * side} and "
                f"{4 * side}x{4 * side}. Each stride-2 one doubles the side: keep exactly the two of rows 3 "
                "and 5 (row 4 is an ordinary nn.Conv2d with stride 1).")
        if len(upsampling) < 2:
            shrinking = [layer for layer in layers if layer["type"] == "Conv2d" and tuple(layer["stride"]) != (1, 1)]
            raise AssertionError(
                f"the generator should upsample with two nn.ConvTranspose2d layers; found {len(upsampling)}."
                + (" A plain nn.Conv2d with stride 2 shrinks the map instead of growing it: yours has "
                   f"{len(shrinking)}." if shrinking else " Use nn.ConvTranspose2d with kernel 4, stride 2, padding 1."))
        assert sides == [2 * side, 4 * side], (
            f"for {image_shape} images the transposed convolutions should output {2 * side}x{2 * side} then "
            f"{4 * side}x{4 * side}; yours output sides {sides}. Kernel 4, stride 2, padding 1 doubles the side.")


@pytest.mark.points(1)
def test_even_overlap(nb, leaf_layers):
    """Is every stride-2 transposed convolution's kernel size a multiple of its stride (no checkerboard)?"""
    layers = [layer for layer in leaf_layers(nb.Generator()) if layer["type"] == "ConvTranspose2d"]
    assert layers, "the generator has no nn.ConvTranspose2d layer."
    for layer in layers:
        kernel, stride = layer["kernel_size"][0], layer["stride"][0]
        assert kernel % stride == 0, (
            f"a transposed convolution has kernel {kernel} and stride {stride}: its kernel copies overlap "
            "unevenly and paint a checkerboard (part 4). Use kernel 4 with stride 2.")


@pytest.mark.points(1)
def test_matches_reference(nb, reference_generator, first_difference, with_reference_weights, layer_difference):
    """With the kit's reference weights loaded, does Generator() compute what the kit's DCGAN generator does?"""
    for image_shape in IMAGE_SHAPES:
        torch.manual_seed(0)
        reference = reference_generator(image_shape).eval()
        generator = nb.Generator(image_shape=image_shape)
        if not with_reference_weights(generator, reference):
            raise AssertionError(
                f"for {image_shape} images {first_difference(generator.state_dict(), reference.state_dict())}: "
                "build exactly the layers of the table, in that order (Linear without bias, BatchNorm2d, "
                "transposed convolutions, the 3x3 convolution).")
        generator.eval()
        z = torch.randn(16, LATENT_DIM)
        with torch.no_grad():
            expected = reference(z)
        if not torch.allclose(generator(z), expected, atol=1e-5):
            layers = layer_difference(generator, reference)
            raise AssertionError(
                "with the same weights your generator computes something else than the table's network: "
                + (f"{layers}." if layers else "its layers match the table's, so check what forward does with them "
                   "(project, then upsample; ReLU after each BatchNorm2d, Tanh at the end)."))
