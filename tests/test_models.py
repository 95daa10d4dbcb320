"""Tests of the reference models: shapes, ranges, configuration, the lab's layout, Reshape."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab_kit.config import DiscriminatorConfig, GeneratorConfig
from ganlab_kit.torch_gan import (MODEL_KINDS, DCGANDiscriminator, DCGANGenerator,
                                  MLPDiscriminator, MLPGenerator, Reshape, build_models,
                                  playground_conv, playground_fc, sample_noise)

BATCH_SIZES = (1, 7, 64)


def check_pair(generator: nn.Module, discriminator: nn.Module, image_shape, latent_dim=100):
    """G(z) has image_shape and values in [-1, 1]; D(G(z)) is (B, 1) in [0, 1]; both modes."""
    for training in (True, False):
        generator.train(training)
        discriminator.train(training)
        for batch_size in BATCH_SIZES:
            z = sample_noise(batch_size, latent_dim, torch.Generator().manual_seed(batch_size))
            images = generator(z)
            assert images.shape == (batch_size, *image_shape)
            assert images.min() >= -1 and images.max() <= 1
            scores = discriminator(images)
            assert scores.shape == (batch_size, 1)
            assert scores.min() >= 0 and scores.max() <= 1


@pytest.mark.parametrize("kind", ["mlp", "dcgan", "playground-fc", "playground-conv"])
def test_mnist_pairs_shapes_and_ranges(kind):
    """Does each kind map z (B, 100) to (B, 1, 28, 28) in [-1, 1] and D to (B, 1) in [0, 1]?"""
    torch.manual_seed(0)
    generator, discriminator = build_models(kind)
    check_pair(generator, discriminator, (1, 28, 28))


def test_dcgan_for_cifar_shapes_and_ranges():
    """Does the DCGAN pair work on (3, 32, 32) images, for batches of 1, 7 and 64?"""
    torch.manual_seed(0)
    generator, discriminator = build_models("dcgan", image_shape=(3, 32, 32))
    check_pair(generator, discriminator, (3, 32, 32))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_dcgan_refine_and_hidden_options(shape):
    """Do the recipe's options (G's refining 3x3 layer, D's hidden dense layer) keep the pair's
    shapes and ranges, and add exactly the layers and parameters they promise?"""
    torch.manual_seed(0)
    generator = DCGANGenerator(image_shape=shape, width=16, refine=True)
    discriminator = DCGANDiscriminator(image_shape=shape, width=8, hidden=32)
    check_pair(generator, discriminator, shape)
    plain = DCGANGenerator(image_shape=shape, width=16)
    count = lambda module: sum(p.numel() for p in module.parameters())
    assert count(generator) - count(plain) == 16 * 16 * 9 + 2 * 16      # conv + BatchNorm
    assert sum(isinstance(m, nn.Conv2d) for m in generator.modules()) == 1
    linears = [m for m in discriminator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == \
        [(2 * 8 * (shape[1] // 4) ** 2, 32), (32, 1)]
    with pytest.raises(ValueError, match="hidden"):
        DCGANDiscriminator(hidden=-1)


def test_mlp_for_cifar_shapes_and_ranges():
    """Does the MLP pair adapt its input and output layers to (3, 32, 32) images?"""
    torch.manual_seed(0)
    generator, discriminator = build_models("mlp", image_shape=(3, 32, 32))
    assert generator.net[-2].out_features == 3 * 32 * 32
    assert discriminator.net[0].in_features == 3 * 32 * 32
    check_pair(generator, discriminator, (3, 32, 32))


def test_dcgan_generator_handles_a_batch_of_one_in_training_mode():
    """Can a student draw a single image from the DCGAN generator without switching to eval?"""
    generator = DCGANGenerator(latent_dim=100)
    generator.train()
    assert generator(torch.randn(1, 100)).shape == (1, 1, 28, 28)


def test_latent_dim_is_configurable_everywhere():
    """Does every kind accept latent_dim=16 and expose it as .latent_dim?"""
    for kind in MODEL_KINDS:
        generator, discriminator = build_models(kind, latent_dim=16)
        assert generator.latent_dim == 16
        generator.eval()
        assert generator(torch.randn(3, 16)).shape == (3, 1, 28, 28)


# --------------------------------------------------------------------------- the lab's MLP

class LabGenerator(nn.Module):
    """The generator a lab solution writes: 100 -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2), Tanh."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(100, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class LabDiscriminator(nn.Module):
    """The discriminator of the lab: 784 -> 1024 -> 512 -> 256 -> 1, dropout 0.3, Sigmoid."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(256, 1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.net(x.view(x.shape[0], -1))


def layer_signature(module: nn.Module):
    """(type, in, out or parameter) for each layer: a readable architecture fingerprint."""
    rows = []
    for layer in module.net:
        if isinstance(layer, nn.Linear):
            rows.append(("Linear", layer.in_features, layer.out_features))
        elif isinstance(layer, nn.LeakyReLU):
            rows.append(("LeakyReLU", layer.negative_slope))
        elif isinstance(layer, nn.Dropout):
            rows.append(("Dropout", layer.p))
        else:
            rows.append((type(layer).__name__,))
    return rows


@pytest.mark.parametrize("kit_class, lab_class", [(MLPGenerator, LabGenerator),
                                                  (MLPDiscriminator, LabDiscriminator)])
def test_mlp_layout_matches_the_lab(kit_class, lab_class):
    """Do the kit's MLPs have the lab's layers, and do state dicts load both ways?"""
    kit, lab = kit_class(), lab_class()
    assert layer_signature(kit) == layer_signature(lab)
    assert {k: v.shape for k, v in kit.state_dict().items()} == \
        {k: v.shape for k, v in lab.state_dict().items()}
    lab.load_state_dict(kit.state_dict())  # strict: every key and shape must match
    kit_from_lab = kit_class()
    kit_from_lab.load_state_dict(lab.state_dict())
    kit.eval(), lab.eval()
    example = torch.randn(4, 100) if kit_class is MLPGenerator else torch.rand(4, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(kit(example), lab(example))


def test_mlp_parameter_counts_follow_from_the_spec():
    """Are the parameter counts those of the lab's layer widths (weights plus biases)?"""
    def dense(widths):
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    assert sum(p.numel() for p in MLPGenerator().parameters()) == dense([100, 256, 512, 1024, 784])
    assert sum(p.numel() for p in MLPDiscriminator().parameters()) == dense([784, 1024, 512, 256, 1])


def test_mlp_is_configurable():
    """Do hidden widths, slope, dropout, batch norm and output activations reach the layers?"""
    generator = MLPGenerator(latent_dim=8, hidden=(32, 64), leaky_slope=0.1, batch_norm=True,
                             output_activation="sigmoid")
    signature = layer_signature(generator)
    assert [r for r in signature if r[0] == "Linear"] == [("Linear", 8, 32), ("Linear", 32, 64),
                                                         ("Linear", 64, 784)]
    assert ("LeakyReLU", 0.1) in signature and ("BatchNorm1d",) in signature
    assert signature[-1] == ("Sigmoid",)
    images = generator(torch.randn(5, 8) * 10)
    assert images.min() >= 0 and images.max() <= 1

    discriminator = MLPDiscriminator(hidden=(16,), dropout=0.0, output_activation=None,
                                     leaky_slope=0.3)
    signature = layer_signature(discriminator)
    assert not any(r[0] == "Dropout" for r in signature)
    assert signature == [("Linear", 784, 16), ("LeakyReLU", 0.3), ("Linear", 16, 1), ("Identity",)]
    logits = discriminator(torch.randn(50, 1, 28, 28) * 5)
    assert logits.min() < 0 or logits.max() > 1  # raw logits are not squashed into (0, 1)

    dropout_half = layer_signature(MLPDiscriminator(dropout=0.5))
    assert dropout_half.count(("Dropout", 0.5)) == 3


def test_config_objects_and_overrides_combine():
    """Does MLPGenerator(config, latent_dim=...) apply the override on top of the config?"""
    config = GeneratorConfig(hidden=(32,), leaky_slope=0.05)
    generator = MLPGenerator(config, latent_dim=12)
    assert generator.latent_dim == 12 and generator.net[0].in_features == 12
    assert generator.net[1].negative_slope == 0.05
    assert config.latent_dim == 100  # the caller's config is not modified
    discriminator = MLPDiscriminator(DiscriminatorConfig(hidden=(8,)), dropout=0.0)
    assert len(discriminator.net) == 4


def test_bad_options_are_clear_errors():
    """Are an unknown option, an unknown activation and wrong-size noise refused clearly?"""
    with pytest.raises(TypeError, match="hiden"):
        MLPGenerator(hiden=(10,))
    with pytest.raises(ValueError, match="output_activation"):
        MLPGenerator(output_activation="relu")
    with pytest.raises(ValueError, match="sample_noise"):
        MLPGenerator()(torch.randn(4, 64))
    with pytest.raises(ValueError, match="1, 28, 28"):
        MLPDiscriminator()(torch.randn(4, 3, 32, 32))


def test_non_square_or_channels_last_dcgan_is_refused():
    """Is a (28, 28, 1) channels-last shape refused by the DCGAN pair with an example shape?"""
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        DCGANGenerator(image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="multiple of 4"):
        DCGANDiscriminator(image_shape=(1, 30, 30))


def test_build_models_errors():
    """Are an unknown kind and a preset with the wrong image shape refused clearly?"""
    with pytest.raises(ValueError, match="unknown model kind"):
        build_models("resnet", image_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="built for"):
        build_models("playground-fc", image_shape=(3, 32, 32))


# --------------------------------------------------------------------------- playground presets

def test_playground_fc_layout():
    """Is the fully connected preset FC 256 + ReLU, FC 784 + Tanh, Reshape; D FC 128, FC 1?"""
    generator, discriminator = playground_fc()
    assert [type(layer).__name__ for layer in generator] == \
        ["Linear", "ReLU", "Linear", "Tanh", "Reshape"]
    assert (generator[0].in_features, generator[0].out_features) == (100, 256)
    assert (generator[2].in_features, generator[2].out_features) == (256, 784)
    assert generator[4].shape == (1, 28, 28)
    assert [type(layer).__name__ for layer in discriminator] == \
        ["Flatten", "Linear", "ReLU", "Linear", "Sigmoid"]
    assert (discriminator[1].in_features, discriminator[1].out_features) == (784, 128)


def test_playground_conv_upsamples_7_14_28():
    """Does the convolutional preset go 7x7 -> 14x14 -> 28x28 in the generator?"""
    generator, _ = playground_conv()
    x = generator[1](generator[0](torch.randn(2, 100)))
    x = generator[2](x)
    assert x.shape == (2, 64, 7, 7)
    x = generator[4](generator[3](x))
    assert x.shape == (2, 32, 14, 14)


# --------------------------------------------------------------------------- Reshape

def test_reshape_needs_the_same_number_of_values():
    """Can [600] not become [20, 20, 2] (800 values), while [800] becomes [20, 10, 4]?"""
    with pytest.raises(ValueError) as info:
        Reshape(20, 20, 2)(torch.zeros(3, 600))
    assert "600" in str(info.value) and "800" in str(info.value)
    x = torch.arange(2 * 800, dtype=torch.float32).reshape(2, 800)
    y = Reshape(20, 10, 4)(x)
    assert y.shape == (2, 20, 10, 4)
    assert torch.equal(y.flatten(1), x)  # values kept, in order
    assert torch.equal(Reshape([20, 10, 4])(x), y)  # the list spelling of the lab's diagram


def test_reshape_refuses_bad_sizes_and_handles_empty_batches():
    """Are zero or negative sizes refused, and does an empty batch keep its shape?"""
    with pytest.raises(ValueError, match="positive"):
        Reshape(0, 28)
    assert Reshape(1, 28, 28)(torch.zeros(0, 784)).shape == (0, 1, 28, 28)
    assert "shape=(1, 28, 28)" in repr(Reshape(1, 28, 28))


def test_sample_noise_is_standard_normal_and_repeatable():
    """Is sample_noise (B, latent_dim), roughly N(0, 1), and repeatable with a generator?"""
    z = sample_noise(2000, 50, torch.Generator().manual_seed(0))
    assert z.shape == (2000, 50)
    assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02
    assert torch.equal(z, sample_noise(2000, 50, torch.Generator().manual_seed(0)))
