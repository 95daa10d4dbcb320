"""Hidden checks: generator_loss, the non-saturating generator objective."""
import pytest
import torch

from ganlab_kit.torch_gan import losses as reference


@pytest.mark.points(1)
def test_matches_reference(nb):
    """Is generator_loss mean BCE(D(G(z)), 1), the non-saturating loss, for several batch sizes?"""
    for batch_size in (1, 8, 64):
        d_fake = torch.rand(batch_size, 1) * 0.98 + 0.01
        expected = float(reference.generator_loss(d_fake, "non_saturating"))
        value = float(nb.generator_loss(d_fake))
        assert abs(value - expected) <= 1e-4 * max(1.0, abs(expected)), (
            f"for a batch of {batch_size}, generator_loss should be mean BCE(D(G(z)), 1) = "
            f"{expected:.4f}; got {value:.4f}. The generator wants its fakes labelled real (1).")


@pytest.mark.points(1)
def test_direction(nb):
    """Does generator_loss fall as D(G(z)) rises (the generator fools D more)?"""
    levels = torch.linspace(0.05, 0.95, 7)
    values = [float(nb.generator_loss(torch.full((16, 1), float(level)))) for level in levels]
    assert all(a > b for a, b in zip(values, values[1:])), (
        "generator_loss should fall as D(G(z)) rises (non-saturating loss: the generator gains "
        f"when D calls its fakes real); at D(G(z)) = 0.05 ... 0.95 yours gives "
        f"{[round(v, 3) for v in values]}.")


@pytest.mark.points(1)
def test_non_saturating(nb):
    """When D rejects the fakes confidently (D(G(z)) = 0.01), is the gradient still strong?"""
    report = nb.new("ganlab_kit.grading.probes:gradients", nb.generator_loss, torch.full((4, 1), 0.01))
    (gradient,) = report["grads"]
    assert report["is_tensor"] and report["requires_grad"] and gradient is not None, (
        "generator_loss should return a tensor connected to D(G(z)) so that it can train G.")
    slope = float(gradient.sum())  # d loss / d D(G(z)) when every fake moves together
    assert slope < -10, (
        "generator_loss should be non-saturating, -log D(G(z)) = BCE(D(G(z)), 1): early in "
        "training D rejects fakes (D(G(z)) near 0) and this form still gives a strong gradient "
        f"(about -100 there), while log(1 - D(G(z))) gives about -1; yours gives {slope:.3g}.")
