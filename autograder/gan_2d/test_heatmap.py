"""Hidden checks: discriminator_heatmap, D's probability that each grid point is real."""
import pytest
import torch

from ganlab_kit.widgets.gan2d_state import discriminator_heatmap as reference


@pytest.mark.points(1)
def test_shape(discriminators, heatmap_of):
    """Is the heat map (len(ys), len(xs)), one row per y and one column per x, for grids that are
    not square?"""
    _, remote = discriminators(0)
    for columns, rows in ((7, 4), (3, 5)):
        xs, ys = torch.linspace(-3, 3, columns), torch.linspace(-2, 2, rows)
        heat = heatmap_of(remote, xs, ys)
        assert tuple(heat.shape) == (rows, columns), (
            f"for {columns} values of x and {rows} of y the heat map should have shape "
            f"({rows}, {columns}): one row per y value, one column per x value, as an image; "
            f"got {tuple(heat.shape)}.")


@pytest.mark.points(1)
def test_probabilities(discriminators, heatmap_of):
    """Does the heat map hold probabilities in [0, 1] (sigmoid of D's logits), even where D is very
    sure?"""
    _, remote = discriminators(1, logit_scale=25.0)
    xs, ys = torch.linspace(-3, 3, 9), torch.linspace(-3, 3, 9)
    heat = heatmap_of(remote, xs, ys)
    assert torch.isfinite(heat).all(), "the heat map should contain numbers only (no NaN or inf)."
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0, (
        "the heat map should show D's probability that a point is real, between 0 and 1; yours "
        f"ranges from {float(heat.min()):.3g} to {float(heat.max()):.3g}. The discriminator returns "
        "logits: apply torch.sigmoid to them.")


@pytest.mark.points(2)
def test_matches_discriminator(discriminators, heatmap_of):
    """Is heat[i, j] = sigmoid(D((xs[j], ys[i]))) at every grid point?"""
    for seed, scale in ((2, 1.0), (3, 4.0)):
        local, remote = discriminators(seed, logit_scale=scale)
        xs, ys = torch.linspace(-3, 3, 9), torch.linspace(-2, 2.5, 6)
        expected = reference(local, xs, ys)
        heat = heatmap_of(remote, xs, ys)
        assert tuple(heat.shape) == tuple(expected.shape), (
            f"the heat map should have shape (len(ys), len(xs)) = {tuple(expected.shape)}; got "
            f"{tuple(heat.shape)}.")
        if torch.allclose(heat, expected, atol=1e-5):
            continue
        swapped = reference(local, ys, xs).T  # D at (ys[i], xs[j])
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
        with torch.no_grad():
            logits = local(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], 1)).reshape(expected.shape)
        if torch.allclose(heat, swapped, atol=1e-5):
            hint = ("your values are D at (ys[i], xs[j]): x and y are swapped. The point of row i, "
                    "column j is (xs[j], ys[i]): x first.")
        elif torch.allclose(heat, logits, atol=1e-5):
            hint = "your values are D's logits: apply torch.sigmoid to turn them into probabilities."
        else:
            worst = int((heat - expected).abs().argmax())
            i, j = divmod(worst, expected.shape[1])
            hint = (f"at row {i}, column {j}, the point ({float(xs[j]):.2f}, {float(ys[i]):.2f}), "
                    f"D says {float(expected[i, j]):.4f} but your heat map has {float(heat[i, j]):.4f}.")
        raise AssertionError("heat[i, j] should be sigmoid(D((xs[j], ys[i]))), D's probability that "
                             f"the point is real; {hint}")
