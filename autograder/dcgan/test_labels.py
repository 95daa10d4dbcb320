"""Hidden checks: the label tricks (flipped, soft, occasionally swapped labels; G's target)."""
import pytest
import torch

DRAWS = 100_000  # targets drawn to measure a distribution or a probability


def _pair(result, what):
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        f"{what} should return two tensors, (real_targets, fake_targets); got {type(result).__name__}.")
    real, fake = result
    assert isinstance(real, torch.Tensor) and isinstance(fake, torch.Tensor), (
        f"{what} should return torch tensors; got {type(real).__name__} and {type(fake).__name__}.")
    return real, fake


def _shape(tensor, batch_size, what):
    assert tuple(tensor.shape) == (batch_size, 1), (
        f"{what} should have shape ({batch_size}, 1), one target per image like D's output; "
        f"got {tuple(tensor.shape)}.")
    assert tensor.is_floating_point(), f"{what} should be a float tensor (BCE needs float targets)."


@pytest.mark.points(1)
def test_flipped_targets(nb):
    """Does flipped_targets(B) give the real batch the target 0 and the fake batch the target 1?"""
    for batch_size in (1, 5, 64):
        real, fake = _pair(nb.flipped_targets(batch_size), "flipped_targets")
        _shape(real, batch_size, "the real targets")
        _shape(fake, batch_size, "the fake targets")
        if torch.all(real == 1) and torch.all(fake == 0):
            raise AssertionError("these are the textbook labels (real = 1, fake = 0); the flipped "
                                 "labels are real = 0 and fake = 1.")
        assert torch.all(real == 0) and torch.all(fake == 1), (
            "with flipped labels every real target is exactly 0 and every fake target exactly 1.")


def _repeats_after_seeding(draw, nb, what):
    """Two draws after the same torch.manual_seed must be equal (torch's generator, not NumPy's or
    Python's random module); two draws without reseeding must differ."""
    nb.new("torch:manual_seed", 2016)
    first = draw()
    nb.new("torch:manual_seed", 2016)
    again = draw()
    assert all(torch.equal(a, b) for a, b in zip(first, again)), (
        f"after torch.manual_seed(2016) two calls of {what} drew different values: draw with PyTorch's "
        "generator (torch.rand), not numpy.random or Python's random module, so that torch.manual_seed "
        "repeats a run.")


@pytest.mark.points(1)
def test_soft_target_ranges(nb):
    """Do soft_targets put real targets in [0.0, 0.1] and fake targets in [0.9, 1.0] (flipped and softened)?"""
    real, fake = _pair(nb.soft_targets(DRAWS), "soft_targets")
    _shape(real, DRAWS, "the real targets")
    _shape(fake, DRAWS, "the fake targets")
    if float(real.min()) >= 0.9 and float(fake.max()) <= 0.1:
        raise AssertionError("the soft labels are on the wrong side: with flipped labels the real "
                             "targets lie near 0, in [0.0, 0.1], and the fake ones near 1, in [0.9, 1.0].")
    assert 0.0 <= float(real.min()) and float(real.max()) <= 0.1, (
        f"real targets span [{float(real.min()):.3f}, {float(real.max()):.3f}]; they must lie in [0.0, 0.1].")
    assert 0.9 <= float(fake.min()) and float(fake.max()) <= 1.0, (
        f"fake targets span [{float(fake.min()):.3f}, {float(fake.max()):.3f}]; they must lie in [0.9, 1.0].")


@pytest.mark.points(1)
def test_soft_targets_are_uniform(nb):
    """Are the soft targets drawn afresh, uniformly over their whole range, at every call?"""
    real, fake = _pair(nb.soft_targets(DRAWS), "soft_targets")
    again, _ = _pair(nb.soft_targets(DRAWS), "soft_targets")
    assert not torch.equal(real, again), "two calls gave the same targets: draw new ones at every call."
    _repeats_after_seeding(lambda: _pair(nb.soft_targets(64), "soft_targets"), nb, "soft_targets")
    width = 0.1 / 12 ** 0.5  # standard deviation of U[a, a + 0.1]
    for name, values, centre in (("real", real, 0.05), ("fake", fake, 0.95)):
        mean, spread = float(values.mean()), float(values.std())
        if abs(spread - width) < 0.002 and abs(mean - (1 - centre)) < 0.002:
            raise AssertionError(
                f"the {name} targets are drawn uniformly, but around {mean:.2f}, the other label's side: with "
                f"flipped labels the {name} targets lie in [{centre - 0.05:.1f}, {centre + 0.05:.1f}].")
        assert abs(mean - centre) < 0.002 and abs(spread - width) < 0.002, (
            f"the {name} targets have mean {mean:.4f} and standard deviation {spread:.4f}; a uniform "
            f"draw over its range of 0.1 has mean {centre} and standard deviation {width:.4f}. Use "
            "torch.rand, scaled by 0.1 and shifted, not a constant or a normal draw.")


def _in_notebook(nb, tensor):
    """A handle to a copy of ``tensor`` made in the notebook's process (so that changes the
    student's code makes to it in place can be seen)."""
    return nb.keep(nb.ref("torch:clone"), tensor)


@pytest.mark.points(1)
def test_swap_probability(nb):
    """Does swap_some exchange each position's two targets with the given probability, independently,
    with torch's generator, leaving the tensors it receives unchanged?"""
    real = torch.linspace(0.0, 0.1, DRAWS).reshape(-1, 1)
    fake = torch.linspace(0.9, 1.0, DRAWS).reshape(-1, 1)
    given_real, given_fake = _in_notebook(nb, real), _in_notebook(nb, fake)
    _pair(nb.swap_some(given_real, given_fake, probability=0.5), "swap_some")
    after_real, after_fake = nb.new("torch:clone", given_real), nb.new("torch:clone", given_fake)
    assert torch.equal(after_real, real) and torch.equal(after_fake, fake), (
        "swap_some changed the tensors it received (in place): the caller's targets are then swapped too. "
        "Build new tensors (torch.where(swap, fake_targets, real_targets)) or clone before changing them.")
    small_real, small_fake = real[:64].clone(), fake[:64].clone()
    _repeats_after_seeding(lambda: _pair(nb.swap_some(small_real, small_fake, probability=0.5), "swap_some"),
                           nb, "swap_some")
    for probability in (0.0, 0.05, 0.3, 1.0):
        new_real, new_fake = _pair(nb.swap_some(real, fake, probability=probability), "swap_some")
        _shape(new_real, DRAWS, "the real targets swap_some returns")
        swapped = (new_real == fake) & (new_fake == real)
        kept = (new_real == real) & (new_fake == fake)
        assert torch.all(swapped | kept), (
            "each position must either keep its two targets or exchange them (real[i] <-> fake[i]); "
            "some positions got other values.")
        rate = float(swapped.float().mean())
        assert abs(rate - probability) < 0.006, (
            f"with probability={probability} a share of {rate:.3f} of the positions swapped over "
            f"{DRAWS:,} positions; it should be close to {probability}. Draw one random number per "
            "position (torch.rand(real_targets.shape) < probability).")


@pytest.mark.points(1)
def test_generator_targets(nb):
    """Is G's target exactly 0 ("real" under flipped labels) for every fake, never softened or swapped?"""
    for batch_size in (1, 7, 4096):
        targets = nb.generator_targets(batch_size)
        assert isinstance(targets, torch.Tensor), (
            f"generator_targets should return a tensor, got {type(targets).__name__}.")
        _shape(targets, batch_size, "generator_targets")
        if torch.all(targets == 1):
            raise AssertionError("G's target is 1, the fake label under flipped labels: G would train "
                                 "to look fake. It aims at the label D learns for real images, 0.")
        assert torch.all(targets == 0), (
            "some of G's targets are not exactly 0: the tricks (soft, noisy, swapped labels) bend D's "
            "targets only; G always aims at the real label, exactly 0.")
