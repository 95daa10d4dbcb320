"""Shared fixtures of the 2-D GAN lab's hidden checks.

A check builds the discriminator a student's function receives twice, with the same
weights: here, to compute what is expected with the kit's reference code, and in the
notebook's process (``nb.new``), loaded with the same ``state_dict``.
"""
import pytest
import torch

from ganlab_kit.widgets.gan2d_state import toy_discriminator


def _both(nb, local, remote_path, *args):
    remote = nb.new(remote_path, *args)
    remote.load_state_dict(dict(local.state_dict()))
    return local, remote


@pytest.fixture
def discriminators(nb):
    """``discriminators(seed, logit_scale=1.0)``: the lab's toy discriminator (2-64-64-1 MLP,
    logits) as ``(here, in the notebook)``; ``logit_scale`` multiplies its last layer."""
    def make(seed, logit_scale=1.0):
        torch.manual_seed(seed)
        local = toy_discriminator()
        with torch.no_grad():
            local[-1].weight.mul_(logit_scale)
            local[-1].bias.mul_(logit_scale)
        return _both(nb, local, "ganlab_kit.widgets.gan2d_state:toy_discriminator")
    return make


@pytest.fixture
def linear_discriminator(nb):
    """``linear_discriminator(weight, bias)``: D(p) = weight . p + bias as a ``Linear(2, 1)``,
    ``(here, in the notebook)``."""
    def make(weight, bias):
        local = torch.nn.Linear(2, 1)
        with torch.no_grad():
            local.weight.copy_(torch.tensor([weight], dtype=torch.float32))
            local.bias.fill_(float(bias))
        return _both(nb, local, "torch.nn:Linear", 2, 1)
    return make


def _as_tensor(value, what):
    """A returned tensor / array / nested list as a float32 tensor, or an assertion for the student."""
    try:
        return torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"{what} should return a torch tensor; it returned "
                             f"{type(value).__name__}.") from None


@pytest.fixture
def heatmap_of(nb):
    """``heatmap_of(remote_discriminator, xs, ys)``: the notebook's discriminator_heatmap, as a tensor."""
    return lambda remote, xs, ys: _as_tensor(nb.discriminator_heatmap(remote, xs, ys),
                                             "discriminator_heatmap")


@pytest.fixture
def gradients_of(nb):
    """``gradients_of(remote_discriminator, points, loss)``: the notebook's fake_point_gradients,
    as a tensor."""
    return lambda remote, points, loss: _as_tensor(nb.fake_point_gradients(remote, points, loss),
                                                   "fake_point_gradients")
