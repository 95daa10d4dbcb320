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


LOSSES = ("non_saturating", "least_squares", "minimax")
#: What G minimises under each loss (D = sigmoid of D's logit), for the feedback.
FORMULAS = {"non_saturating": "-log D(G(z))", "least_squares": "(D(G(z)) - 1)^2",
            "minimax": "log(1 - D(G(z)))"}


def _close(given, wanted):
    return tuple(given.shape) == tuple(wanted.shape) and torch.allclose(given, wanted, rtol=1e-3, atol=1e-7)


def _d_loss_gradient(local, points):
    """The gradient of D's loss on the fakes (fakes labelled 0), per point."""
    copy = points.clone().requires_grad_(True)
    d_loss = torch.nn.functional.binary_cross_entropy_with_logits(local(copy), torch.zeros(len(points), 1))
    (gradient,) = torch.autograd.grad(d_loss, copy)
    return gradient


def _twice_squashed(local):
    """D with a sigmoid on its logits: G's loss with from_logits=True then applies a second one."""
    return lambda points: torch.sigmoid(local(points))


def _describe(results, local, points):
    """Feedback derived from what was measured: ``results`` is loss -> (yours, expected) for the
    three losses; which of them are wrong, and what the wrong ones match instead."""
    wrong = [loss for loss, (gradient, expected) in results.items()
             if not torch.allclose(gradient, expected, rtol=1e-4, atol=1e-7)]
    every = len(wrong) == len(results)

    def all_match(alternative):
        return all(_close(results[loss][0], alternative(loss)) for loss in wrong)

    if every and all_match(lambda loss: -results[loss][1]):
        return ("for every loss your values have the opposite sign: return the gradient itself; the "
                "widget draws minus the gradient, the direction in which G moves the points.")
    if every and all_match(lambda loss: _d_loss_gradient(local, points)):
        return ("for every loss your values are the gradient of D's loss on the fakes (fakes labelled 0); "
                "the arrows show G's loss, generator_loss(..., loss, from_logits=True).")
    if all_match(lambda loss: results[loss][1] * len(points)):
        return ("your values are the batch size times too large: G's loss is a mean over the points "
                "(generator_loss returns the mean), not a sum.")
    if all_match(lambda loss: reference(_twice_squashed(local), points, loss)):
        return ("your values are those of G's loss on sigmoid(D's logits) with from_logits=True: the sigmoid "
                "is applied twice. Pass D's logits, discriminator(points), to generator_loss(..., "
                "from_logits=True), which applies the sigmoid itself.")
    if "non_saturating" not in wrong and all_match(lambda loss: results["non_saturating"][1]):
        return (f"for loss={wrong[0]!r} your values are those of the non-saturating loss: pass the loss "
                "argument on to generator_loss.")
    right = [loss for loss in results if loss not in wrong]
    opposite = [loss for loss in wrong if _close(results[loss][0], -results[loss][1])]
    if opposite and right:
        return (f"for loss={opposite[0]!r} your values have the opposite sign, while those of "
                f"{' and '.join(repr(loss) for loss in right)} are right: the sign of your {opposite[0]} loss is "
                f"flipped. G minimises {FORMULAS[opposite[0]]} (generator_loss(logits, {opposite[0]!r}, "
                "from_logits=True)); keep returning the gradient itself.")
    loss = wrong[0]
    gradient, expected = results[loss]
    worst = int((gradient - expected).norm(dim=1).argmax())
    return (f"with loss={loss!r}" + (f" (right for {' and '.join(repr(r) for r in right)})" if right else "")
            + f": for point {worst}, ({float(points[worst, 0]):.2f}, {float(points[worst, 1]):.2f}), the "
            f"gradient of G's loss {FORMULAS[loss]} is ({float(expected[worst, 0]):.4g}, "
            f"{float(expected[worst, 1]):.4g}); yours is ({float(gradient[worst, 0]):.4g}, "
            f"{float(gradient[worst, 1]):.4g}).")


@pytest.mark.points(2)
def test_matches_autograd(discriminators, gradients_of):
    """For each of the three losses, is the result the gradient of G's loss (generator_loss on D's
    logits, a mean over the batch) with respect to each fake point?"""
    local, remote = discriminators(4, logit_scale=2.0)
    points = 1.5 * torch.randn(16, 2)
    results = {}
    for loss in LOSSES:  # minimax's is minus D's loss's
        expected = reference(local, points, loss)
        gradient = gradients_of(remote, points, loss)
        assert tuple(gradient.shape) == tuple(expected.shape), (
            f"the result should have shape {tuple(expected.shape)}; got {tuple(gradient.shape)}.")
        results[loss] = (gradient, expected)
    assert all(torch.allclose(gradient, expected, rtol=1e-4, atol=1e-7) for gradient, expected in results.values()), (
        _describe(results, local, points))


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
    if bool((non_saturating > 100 * minimax).all()):
        return
    said = (f"where D calls the fakes fake with certainty, log(1 - D(G(z))) (minimax) is flat and -log D(G(z)) "
            f"(non-saturating) is steep, so the minimax gradients should be hundreds of times smaller; yours are "
            f"{float(minimax.mean()):.3g} (minimax) against {float(non_saturating.mean()):.3g} (non-saturating) on "
            "average. ")
    expected_minimax = reference(local, points, "minimax")
    given = gradients_of(remote, points, "minimax")
    if _close(given, reference(_twice_squashed(local), points, "minimax")):
        raise AssertionError(said + "Yours are those of G's loss on sigmoid(D's logits): the sigmoid is applied "
                                    "twice, so D(G(z)) never falls below 0.5 and the minimax loss never flattens. "
                                    "Pass the logits to generator_loss(..., from_logits=True).")
    if torch.allclose(given, gradients_of(remote, points, "non_saturating"), rtol=1e-6, atol=1e-12):
        raise AssertionError(said + "They are the same for both losses: pass the loss argument on, "
                                    "generator_loss(discriminator(points), loss, from_logits=True).")
    raise AssertionError(said + f"Your minimax gradients are not those of {FORMULAS['minimax']} (about "
                                f"{float(expected_minimax.norm(dim=1).mean()):.3g} here): compute G's loss as "
                                "generator_loss(discriminator(points), loss, from_logits=True).")
