"""Tests of the GAN losses against hand-computed oracles, and of the label tricks."""
from __future__ import annotations

import math

import pytest
import torch

from ganlab_kit.config import LOSSES, TrainConfig
from ganlab_kit.torch_gan import LabelTricks, discriminator_loss, generator_loss, real_fake_targets

D_REAL = [0.9, 0.6, 0.3, 0.99]
D_FAKE = [0.2, 0.5, 0.7, 0.01]


def mean(values):
    return sum(values) / len(values)


def oracle_d_loss(loss, d_real, d_fake, real_target=1.0):
    """The discriminator objectives, written out with math.log on plain floats."""
    if loss == "least_squares":
        return mean([(p - real_target) ** 2 for p in d_real]) + mean([p ** 2 for p in d_fake])
    bce_real = mean([-(real_target * math.log(p) + (1 - real_target) * math.log(1 - p))
                     for p in d_real])
    return bce_real + mean([-math.log(1 - p) for p in d_fake])


def oracle_g_loss(loss, d_fake):
    if loss == "non_saturating":
        return mean([-math.log(p) for p in d_fake])          # max log D(G(z))
    if loss == "minimax":
        return mean([math.log(1 - p) for p in d_fake])       # min log(1 - D(G(z)))
    return mean([(p - 1) ** 2 for p in d_fake])              # min (D(G(z)) - 1)^2


def as_column(values):
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1)


@pytest.mark.parametrize("loss", LOSSES)
def test_losses_match_hand_computed_oracles(loss):
    """Do D and G losses equal the textbook formulas on the same probabilities?"""
    d_loss = discriminator_loss(as_column(D_REAL), as_column(D_FAKE), loss)
    g_loss = generator_loss(as_column(D_FAKE), loss)
    assert d_loss.item() == pytest.approx(oracle_d_loss(loss, D_REAL, D_FAKE), rel=1e-9)
    assert g_loss.item() == pytest.approx(oracle_g_loss(loss, D_FAKE), rel=1e-9)


def test_oracles_tell_the_losses_apart():
    """Do the three generator losses differ on the same inputs (so the oracle test can fail)?"""
    values = {loss: generator_loss(as_column(D_FAKE), loss).item() for loss in LOSSES}
    assert len({round(v, 6) for v in values.values()}) == 3


@pytest.mark.parametrize("loss", LOSSES)
def test_generator_loss_falls_as_d_of_g_rises(loss):
    """Does every G loss fall strictly as D(G(z)) rises from 0.05 to 0.95?"""
    grid = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    values = [generator_loss(p.reshape(1, 1), loss).item() for p in grid]
    assert all(a > b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("loss", LOSSES)
def test_discriminator_loss_directions(loss):
    """Does D's loss fall as D(x) rises and rise as D(G(z)) rises?"""
    grid = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    fixed = torch.tensor([[0.5]], dtype=torch.float64)
    over_real = [discriminator_loss(p.reshape(1, 1), fixed, loss).item() for p in grid]
    over_fake = [discriminator_loss(fixed, p.reshape(1, 1), loss).item() for p in grid]
    assert all(a > b for a, b in zip(over_real, over_real[1:]))
    assert all(a < b for a, b in zip(over_fake, over_fake[1:]))


def test_minimax_saturates_where_non_saturating_does_not():
    """When D rejects the fakes (D(G(z)) = 0.01), is the minimax gradient ~100x smaller?"""
    gradients = {}
    for loss in ("minimax", "non_saturating"):
        p = torch.tensor([[0.01]], dtype=torch.float64, requires_grad=True)
        generator_loss(p, loss).backward()
        gradients[loss] = p.grad.item()
    assert gradients["minimax"] == pytest.approx(-1 / 0.99)      # d/dp log(1 - p)
    assert gradients["non_saturating"] == pytest.approx(-1 / 0.01)  # d/dp -log p


@pytest.mark.parametrize("loss", LOSSES)
def test_from_logits_agrees_with_probabilities(loss):
    """Do logits with from_logits=True give the same losses as their sigmoid probabilities?"""
    logits_real = torch.tensor([2.0, -0.3, 0.7, -4.0], dtype=torch.float64).reshape(-1, 1)
    logits_fake = torch.tensor([-1.5, 0.2, 3.0, -0.1], dtype=torch.float64).reshape(-1, 1)
    d_prob = discriminator_loss(torch.sigmoid(logits_real), torch.sigmoid(logits_fake), loss)
    d_logit = discriminator_loss(logits_real, logits_fake, loss, from_logits=True)
    torch.testing.assert_close(d_logit, d_prob)
    g_prob = generator_loss(torch.sigmoid(logits_fake), loss)
    g_logit = generator_loss(logits_fake, loss, from_logits=True)
    torch.testing.assert_close(g_logit, g_prob)


@pytest.mark.parametrize("loss", LOSSES)
def test_flat_and_column_outputs_agree(loss):
    """Do outputs of shape (B,) give the same losses as (B, 1)?"""
    flat_real, flat_fake = torch.tensor(D_REAL), torch.tensor(D_FAKE)
    torch.testing.assert_close(discriminator_loss(flat_real, flat_fake, loss),
                               discriminator_loss(flat_real[:, None], flat_fake[:, None], loss))
    torch.testing.assert_close(generator_loss(flat_fake, loss),
                               generator_loss(flat_fake[:, None], loss))


def test_unknown_loss_is_a_clear_error():
    """Is an unknown loss name refused with the list of losses, for D, G and the config?"""
    for call in (lambda: discriminator_loss(as_column(D_REAL), as_column(D_FAKE), "wasserstein"),
                 lambda: generator_loss(as_column(D_FAKE), "wasserstein"),
                 lambda: TrainConfig(loss="wasserstein")):
        with pytest.raises(ValueError, match="non_saturating"):
            call()


# --------------------------------------------------------------------------- label tricks

def test_plain_targets_are_ones_and_zeros():
    """Without tricks, are the targets 1 for real and 0 for fake, shape (B, 1)?"""
    real, fake = real_fake_targets(3, 5)
    assert real.shape == (3, 1) and fake.shape == (5, 1)
    assert torch.equal(real, torch.ones(3, 1)) and torch.equal(fake, torch.zeros(5, 1))


@pytest.mark.parametrize("loss", LOSSES)
def test_label_smoothing_lowers_only_the_real_target(loss):
    """With smoothing 0.1, is the real target 0.9 (one-sided) in the loss itself?"""
    real, fake = real_fake_targets(4, 4, LabelTricks(smoothing=0.1))
    torch.testing.assert_close(real, torch.full((4, 1), 0.9))
    assert torch.equal(fake, torch.zeros(4, 1))
    smoothed = discriminator_loss(as_column(D_REAL), as_column(D_FAKE), loss,
                                  LabelTricks(smoothing=0.1))
    assert smoothed.item() == pytest.approx(oracle_d_loss(loss, D_REAL, D_FAKE, 0.9), rel=1e-6)


def test_label_noise_moves_targets_towards_half_deterministically():
    """Does noise w put real targets in [1 - w, 1] and fake in [0, w], repeatably per seed?"""
    tricks = LabelTricks(noise=0.2)
    real, fake = real_fake_targets(2000, 2000, tricks, torch.Generator().manual_seed(0))
    assert real.min() >= 0.8 and real.max() <= 1.0 and real.std() > 0.03
    assert fake.min() >= 0.0 and fake.max() <= 0.2 and fake.std() > 0.03
    again = real_fake_targets(2000, 2000, tricks, torch.Generator().manual_seed(0))
    assert torch.equal(real, again[0]) and torch.equal(fake, again[1])
    other = real_fake_targets(2000, 2000, tricks, torch.Generator().manual_seed(1))
    assert not torch.equal(real, other[0])


def test_label_flip_swaps_a_share_of_targets_deterministically():
    """Does flip p swap about p of the targets (1 <-> 0), the same ones for the same seed?"""
    tricks = LabelTricks(flip=0.25)
    real, fake = real_fake_targets(8000, 8000, tricks, torch.Generator().manual_seed(0))
    assert set(real.unique().tolist()) == {0.0, 1.0} and set(fake.unique().tolist()) == {0.0, 1.0}
    assert 0.23 < (real == 0).float().mean().item() < 0.27
    assert 0.23 < (fake == 1).float().mean().item() < 0.27
    again = real_fake_targets(8000, 8000, tricks, torch.Generator().manual_seed(0))
    assert torch.equal(real, again[0]) and torch.equal(fake, again[1])


def test_flip_of_a_smoothed_target_mirrors_it():
    """With smoothing 0.1 and flipping, does a flipped real target become 0.1?"""
    real, _ = real_fake_targets(4000, 1, LabelTricks(smoothing=0.1, flip=0.3),
                                torch.Generator().manual_seed(0))
    assert set(torch.round(real * 10).unique().tolist()) == {1.0, 9.0}


def test_tricks_change_the_discriminator_loss_as_the_targets_say():
    """Does discriminator_loss with tricks equal BCE against the same tricked targets?"""
    tricks = LabelTricks(smoothing=0.1, noise=0.1, flip=0.2)
    d_real, d_fake = torch.rand(64, 1) * 0.9 + 0.05, torch.rand(64, 1) * 0.9 + 0.05
    loss = discriminator_loss(d_real, d_fake, "non_saturating", tricks,
                              generator=torch.Generator().manual_seed(3))
    real_t, fake_t = real_fake_targets(64, 64, tricks, torch.Generator().manual_seed(3))
    expected = (torch.nn.functional.binary_cross_entropy(d_real, real_t)
                + torch.nn.functional.binary_cross_entropy(d_fake, fake_t))
    torch.testing.assert_close(loss, expected)
    plain = discriminator_loss(d_real, d_fake, "non_saturating")
    assert not torch.isclose(loss, plain)


def test_config_refuses_label_tricks_of_half_or_more():
    """Is a label trick of 0.5 or more (which would erase the real/fake signal) refused?"""
    for name in ("label_smoothing", "label_noise", "label_flip"):
        with pytest.raises(ValueError, match=name):
            TrainConfig(**{name: 0.5})
