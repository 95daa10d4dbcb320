"""Hidden checks: discriminator_loss, compared with the kit's reference loss."""
import pytest
import torch

from ganlab_kit.torch_gan import losses as reference


def _probabilities(*shape):
    return torch.rand(*shape) * 0.98 + 0.01


@pytest.mark.points(1)
def test_matches_reference(nb):
    """Is discriminator_loss mean BCE(D(x), 1) + mean BCE(D(G(z)), 0) for several batch sizes
    (equal real and fake batches, as the lab always trains)?"""
    for real_size, fake_size in ((1, 1), (8, 8), (64, 64)):
        d_real, d_fake = _probabilities(real_size, 1), _probabilities(fake_size, 1)
        expected = float(reference.discriminator_loss(d_real, d_fake))
        value = float(nb.discriminator_loss(d_real, d_fake))
        assert abs(value - expected) <= 1e-4 * max(1.0, abs(expected)), (
            f"for {real_size} real and {fake_size} fake images the loss should be "
            f"mean BCE(D(x), 1) + mean BCE(D(G(z)), 0) = {expected:.4f}; got {value:.4f}. "
            "Real images have target 1 and fakes target 0; add the two means.")


@pytest.mark.points(1)
def test_direction(nb):
    """Does the loss fall as D(x) rises and as D(G(z)) falls (D tells real from fake better)?"""
    levels = torch.linspace(0.05, 0.95, 7)
    rising_real = [float(nb.discriminator_loss(torch.full((16, 1), float(level)), torch.full((16, 1), 0.3)))
                   for level in levels]
    assert all(a > b for a, b in zip(rising_real, rising_real[1:])), (
        "discriminator_loss should fall as D(x) rises: D is rewarded for calling real images real "
        f"(loss at D(x) = 0.05 ... 0.95: {[round(v, 3) for v in rising_real]}).")
    rising_fake = [float(nb.discriminator_loss(torch.full((16, 1), 0.7), torch.full((16, 1), float(level))))
                   for level in levels]
    assert all(a < b for a, b in zip(rising_fake, rising_fake[1:])), (
        "discriminator_loss should rise as D(G(z)) rises: D is penalised for calling fakes real "
        f"(loss at D(G(z)) = 0.05 ... 0.95: {[round(v, 3) for v in rising_fake]}).")


@pytest.mark.points(1)
def test_scalar_tensor_with_gradient(nb):
    """Does discriminator_loss return a scalar tensor that backpropagates into D's outputs?"""
    report = nb.new("ganlab_kit.grading.probes:gradients", nb.discriminator_loss,
                    _probabilities(8, 1), _probabilities(8, 1))
    assert report["is_tensor"] and report["shape"] == (), (
        "discriminator_loss should return a scalar tensor (shape ()), not a Python number or a "
        "per-image vector, so that loss.backward() can train D.")
    assert report["requires_grad"], (
        "the loss lost its connection to D's outputs (no .item(), .detach() or NumPy inside).")
    grad_real, grad_fake = report["grads"]
    assert grad_real is not None and grad_fake is not None, (
        "the loss should depend on both D(x) and D(G(z)).")
