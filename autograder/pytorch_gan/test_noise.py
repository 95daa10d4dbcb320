"""Hidden checks: sample_noise, the generator's input z."""
import pytest
import torch


@pytest.mark.points(1)
def test_shape(nb):
    """Does sample_noise return a float tensor of shape (batch_size, latent_dim) for several sizes?"""
    for batch_size in (1, 7, 64):
        z = nb.sample_noise(batch_size)
        assert isinstance(z, torch.Tensor), (
            f"sample_noise should return a torch.Tensor, got {type(z).__name__}.")
        assert tuple(z.shape) == (batch_size, 100), (
            f"sample_noise({batch_size}) should hold one row of LATENT_DIM = 100 numbers per "
            f"image, shape ({batch_size}, 100); got {tuple(z.shape)}.")
        assert z.dtype == torch.float32, f"the noise should be float32 like the network, got {z.dtype}."
    z = nb.sample_noise(5, latent_dim=16)
    assert tuple(z.shape) == (5, 16), (
        f"sample_noise(5, latent_dim=16) should have shape (5, 16): use the latent_dim "
        f"argument rather than a fixed 100; got {tuple(z.shape)}.")


@pytest.mark.points(1)
def test_standard_normal(nb):
    """Is the noise standard normal: mean 0, standard deviation 1, with the tails of a bell curve?"""
    z = nb.sample_noise(4000).double()
    mean, std = float(z.mean()), float(z.std())
    tail = float((z.abs() > 2).double().mean())
    assert abs(mean) < 0.02 and abs(std - 1) < 0.02, (
        f"z should be standard normal (mean 0, std 1), got mean {mean:.3f} and std {std:.3f}. "
        "torch.rand draws uniformly from [0, 1); torch.randn draws from N(0, 1).")
    assert 0.035 < tail < 0.056, (
        f"{tail:.1%} of the values lie beyond +-2, where a standard normal has about 4.6%: "
        "draw the noise with torch.randn.")


@pytest.mark.points(1)
def test_fresh_and_reproducible(nb):
    """Does each call draw fresh noise from torch's generator, so torch.manual_seed makes it repeatable?"""
    first, second = nb.sample_noise(8), nb.sample_noise(8)
    assert not torch.equal(first, second), (
        "two calls returned the same noise: every batch of fakes needs new random z.")
    nb.new("torch:manual_seed", 1234)      # torch's generator only, in the notebook's process
    again_first = nb.sample_noise(8)
    nb.new("torch:manual_seed", 1234)
    again_second = nb.sample_noise(8)
    assert torch.equal(again_first, again_second), (
        "after torch.manual_seed(1234) two calls should give the same noise: draw it with "
        "torch's own generator (torch.randn), not NumPy or Python's random module.")
