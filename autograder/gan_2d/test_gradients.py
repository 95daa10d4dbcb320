"""Hidden checks: fake_point_gradients, the gradient of G's loss with respect to each fake point."""
import pytest
import torch

from ganlab_kit.torch_gan.losses import generator_loss
from ganlab_kit.widgets.gan2d_state import fake_point_gradients as reference


@pytest.mark.points(1)
def test_shape(discriminators, gradients_of):
    """Is there one 2-D gradient per fake point, (N, 2), for several N?"""
    _, remote = discriminators(0)
    for count in (1, 5, 64):
        gradient = gradients_of(remote, torch.randn(count, 2), "non_saturating")
        assert tuple(gradient.shape) == (count, 2), (
            f"for {count} fake points the result should have shape ({count}, 2), the gradient "
            f"with respect to each point; got {tuple(gradient.shape)}.")


def _describe(gradient, expected, local, points, loss):
    if torch.allclose(gradient, -expected, rtol=1e-3, atol=1e-7):
        return ("your values have the opposite sign: return the gradient itself; the widget "
                "draws minus the gradient, the direction in which G moves the points.")
    if torch.allclose(gradient, expected * len(points), rtol=1e-3, atol=1e-7):
        return ("your values are the batch size times too large: G's loss is a mean over the "
                "points (generator_loss returns the mean), not a sum.")
    copy = points.clone().requires_grad_(True)
    d_loss = torch.nn.functional.binary_cross_entropy_with_logits(local(copy), torch.zeros(len(points), 1))
    (d_gradient,) = torch.autograd.grad(d_loss, copy)
    if torch.allclose(gradient, d_gradient, rtol=1e-3, atol=1e-7):
        return ("your values are the gradient of D's loss on the fakes (fakes labelled 0); the "
                "arrows show G's loss, generator_loss(..., loss, from_logits=True).")
    if loss != "non_saturating":
        ns = reference(local, points, "non_saturating")
        if torch.allclose(gradient, ns, rtol=1e-3, atol=1e-7):
            return (f"for loss={loss!r} your values are those of the non-saturating loss: pass the "
                    "loss argument on to generator_loss.")
    worst = int((gradient - expected).norm(dim=1).argmax())
    return (f"for point {worst}, ({float(points[worst, 0]):.2f}, {float(points[worst, 1]):.2f}), the "
            f"gradient is ({float(expected[worst, 0]):.4g}, {float(expected[worst, 1]):.4g}); yours is "
            f"({float(gradient[worst, 0]):.4g}, {float(gradient[worst, 1]):.4g}).")


@pytest.mark.points(2)
def test_matches_autograd(discriminators, gradients_of):
    """For each of the three losses, is the result the gradient of G's loss (generator_loss on D's
    logits, a mean over the batch) with respect to each fake point?"""
    local, remote = discriminators(4, logit_scale=2.0)
    points = 1.5 * torch.randn(16, 2)
    for loss in ("non_saturating", "least_squares", "minimax"):  # minimax's is minus D's loss's
        expected = reference(local, points, loss)
        gradient = gradients_of(remote, points, loss)
        assert tuple(gradient.shape) == tuple(expected.shape), (
            f"the result should have shape {tuple(expected.shape)}; got {tuple(gradient.shape)}.")
        assert torch.allclose(gradient, expected, rtol=1e-4, atol=1e-7), (
            f"with loss={loss!r}: " + _describe(gradient, expected, local, points, loss))


@pytest.mark.points(1)
def test_points_downhill(discriminators, gradients_of):
    """Does a small move of each fake point against your gradient lower G's non-saturating loss
    (the arrows point where G gains)?"""
    local, remote = discriminators(5)
    points = torch.randn(32, 2)
    gradient = gradients_of(remote, points, "non_saturating")
    assert tuple(gradient.shape) == (32, 2) and float(gradient.norm()) > 0, (
        "fake_point_gradients should return a non-zero (N, 2) gradient for this discriminator.")
    with torch.no_grad():
        before = float(generator_loss(local(points), "non_saturating", from_logits=True))
        moved = points - 0.02 * gradient / gradient.norm(dim=1, keepdim=True).clamp_min(1e-12)
        after = float(generator_loss(local(moved), "non_saturating", from_logits=True))
    assert after < before, (
        "moving each fake point a little against your gradient should lower G's loss (it "
        f"went from {before:.5f} to {after:.5f} instead): return the gradient of G's loss, "
        "generator_loss(discriminator(points), loss, from_logits=True), not of D's loss, and not "
        "its negative.")


@pytest.mark.points(1)
def test_follows_loss_choice(linear_discriminator, gradients_of):
    """Where D rejects the fakes with certainty (D(G(z)) near 0), are the minimax gradients tiny
    and the non-saturating ones strong, as the two losses say?"""
    local, remote = linear_discriminator([4.0, 0.0], -9.0)  # D(G(z)) about 1e-4 around x = 0
    points = torch.stack([torch.linspace(-0.5, 0.5, 8), torch.linspace(-1, 1, 8)], dim=1)
    minimax = gradients_of(remote, points, "minimax").norm(dim=1)
    non_saturating = gradients_of(remote, points, "non_saturating").norm(dim=1)
    assert bool((non_saturating > 100 * minimax).all()), (
        "where D calls the fakes fake with certainty, log(1 - D(G(z))) (minimax) is flat and "
        "-log D(G(z)) (non-saturating) is steep, so the minimax gradients should be hundreds of "
        f"times smaller; yours are {float(minimax.mean()):.3g} (minimax) against "
        f"{float(non_saturating.mean()):.3g} (non-saturating) on average. Use G's loss with the "
        "loss argument: generator_loss(discriminator(points), loss, from_logits=True).")
