"""Hidden checks: uniform noise in [-1, 1]."""
import pytest
import torch

DRAWS = 2000  # noise vectors of 100 values: 200,000 values


def _noise(nb, *args, **kwargs):
    z = nb.sample_uniform_noise(*args, **kwargs)
    assert isinstance(z, torch.Tensor), f"sample_uniform_noise should return a tensor, got {type(z).__name__}."
    return z


@pytest.mark.points(1)
def test_shape(nb):
    """Does sample_uniform_noise(B, latent_dim) return a float tensor (B, latent_dim), 100 values by default?"""
    for args, expected in (((1,), (1, 100)), ((16,), (16, 100)), ((5, 8), (5, 8))):
        z = _noise(nb, *args)
        assert tuple(z.shape) == expected, (
            f"sample_uniform_noise{args} should have shape {expected}; got {tuple(z.shape)}.")
        assert z.dtype == torch.float32, f"the noise should be float32, got {z.dtype}."


@pytest.mark.points(1)
def test_uniform_on_minus_one_to_one(nb):
    """Are the values spread evenly over the whole of [-1, 1]?"""
    z = _noise(nb, DRAWS).flatten()
    low, high = float(z.min()), float(z.max())
    assert -1.0 <= low and high <= 1.0, f"the noise spans [{low:.3f}, {high:.3f}], outside [-1, 1]."
    assert low < -0.99 and high > 0.99, (
        f"the noise only spans [{low:.3f}, {high:.3f}]; uniform noise on [-1, 1] fills the whole "
        "range (torch.rand gives [0, 1): scale it by 2 and shift it by -1).")
    quarters = torch.histc(z, bins=4, min=-1.0, max=1.0) / len(z)
    assert torch.all((quarters - 0.25).abs() < 0.01), (
        f"the shares of the noise in the four quarters of [-1, 1] are {[round(float(q), 3) for q in quarters]}; "
        "a uniform draw puts a quarter in each (a normal draw piles up near 0).")


@pytest.mark.points(1)
def test_fresh_and_seeded(nb):
    """Does each call draw new noise from PyTorch's generator, so torch.manual_seed repeats it?"""
    first, second = _noise(nb, 4), _noise(nb, 4)
    assert not torch.equal(first, second), "two calls returned the same noise: draw new values each time."
    nb.new("torch:manual_seed", 1234)
    again = _noise(nb, 4)
    nb.new("torch:manual_seed", 1234)
    assert torch.equal(again, _noise(nb, 4)), (
        "after torch.manual_seed(1234) two calls gave different noise: draw with torch.rand, not "
        "numpy or Python's random module, so a seeded run repeats.")
