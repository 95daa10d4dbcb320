"""Shared fixtures of the PyTorch GAN lab's hidden checks.

The checks of one part use the kit's reference pieces for everything else (models,
losses, noise), so a bug costs points in the part where it lives and nowhere else.
"""
import pytest
import torch


LATENT_DIM = 100
#: Hidden widths of the kit's networks the training-step checks run on: the lab's inputs and
#: outputs (noise (B, 100), images (B, 1, 28, 28), D(x) (B, 1)) with narrower hidden layers
#: (the lab's are 256, 512, 1024), so that making, stepping and copying them back costs
#: milliseconds; what a step does to them is the same question.
GENERATOR_HIDDEN = (32, 64, 128)
DISCRIMINATOR_HIDDEN = (128, 64, 32)


@pytest.fixture
def make_generator(nb):
    """``make_generator(latent_dim=100)``: a new kit MLP generator, latent_dim -> 32 -> 64 -> 128
    -> 784, Tanh (in the notebook's process)."""
    return lambda latent_dim=LATENT_DIM: nb.new("ganlab_kit.torch_gan:MLPGenerator", latent_dim=latent_dim,
                                                hidden=GENERATOR_HIDDEN)


@pytest.fixture
def reference_generator(make_generator):
    """The kit's MLP generator, 100 -> 32 -> 64 -> 128 -> 784, Tanh (in the notebook's process)."""
    return make_generator()


@pytest.fixture
def steady_discriminator(nb):
    """The kit's MLP discriminator, 784 -> 128 -> 64 -> 32 -> 1, without dropout: the same input
    always gives the same D(x)."""
    return nb.new("ganlab_kit.torch_gan:MLPDiscriminator", hidden=DISCRIMINATOR_HIDDEN, dropout=0.0)


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
def calls_of(nb):
    """``calls_of(module, *inputs)``: the layer operations one forward pass of a notebook module
    ran, in order (Linear widths, LeakyReLU slopes, Tanh, ...), whether written as nn layers
    or as functions in forward (F.leaky_relu, torch.tanh)."""
    return lambda module, *inputs: nb.new(f"{PROBES}:forward_calls", module, *inputs)


def _activation_problem(calls):
    """What is wrong with the hidden activations of a forward pass (``forward_calls``), in
    words, or None when there are three LeakyReLUs of slope 0.2."""
    slopes = [call["negative_slope"] for call in calls if call["op"] == "leaky_relu"]
    if len(slopes) == 3 and all(abs(slope - 0.2) < 1e-9 for slope in slopes):
        return None
    others = [call["op"] for call in calls if call["op"] in ("relu", "elu", "selu", "gelu", "silu", "sigmoid", "tanh")]
    if "relu" in others:
        return (f"the forward pass applies ReLU {others.count('relu')} time(s) where LeakyReLU with slope 0.2 "
                "belongs (nn.LeakyReLU(0.2), or F.leaky_relu(x, 0.2) in forward): ReLU passes no "
                "gradient for negative inputs.")
    if len(slopes) == 3:
        return (f"the three LeakyReLUs have slopes {slopes}; each should have slope 0.2 "
                "(F.leaky_relu's and nn.LeakyReLU's default is 0.01: pass 0.2).")
    return (f"each hidden layer should be followed by LeakyReLU with slope 0.2 (three in all); the "
            f"forward pass ran {len(slopes)} LeakyReLU(s) with slopes {slopes}"
            + (f" and {', '.join(others)}" if others else "") + ".")


@pytest.fixture
def activation_problem():
    """``activation_problem(calls)``: words for what is wrong with the three hidden LeakyReLU(0.2)
    of a forward pass, or None."""
    return _activation_problem


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
