"""Hidden checks: plot_history draws each model's loss and accuracy from the history."""
import numpy as np
import pytest

HISTORY = {
    "d_loss": [0.71, 0.62, 0.55, 0.58, 0.66],
    "d_acc": [0.45, 0.52, 0.61, 0.57, 0.49],
    "gan_loss": [0.93, 1.04, 1.21, 1.12, 0.97],
    "gan_acc": [0.12, 0.25, 0.18, 0.31, 0.22],
}


@pytest.fixture(scope="module")
def drawn(nb):
    """The y-values of every line of the two figures plot_history returns."""
    figures = nb.plot_history({name: list(values) for name, values in HISTORY.items()})
    try:
        assert isinstance(figures, (tuple, list)) and len(figures) == 2, (
            "plot_history should return two figures: (loss_figure, accuracy_figure).")
        lines = []
        for figure in figures:
            lines.append([np.asarray(line.get_ydata(), dtype=float)
                          for axis in figure.axes for line in axis.get_lines()])
        return lines
    finally:
        nb.new("matplotlib.pyplot:close", "all")


def _shows(lines, values):
    return any(len(line) == len(values) and np.allclose(line, values) for line in lines)


@pytest.mark.points(1)
def test_loss_figure(drawn):
    """Does the first figure plot the discriminator's and the GAN's loss per step?"""
    for name in ("d_loss", "gan_loss"):
        assert _shows(drawn[0], HISTORY[name]), (
            f"the loss figure (the first one returned) has no line with history[{name!r}]; plot "
            "history['d_loss'] and history['gan_loss'] against the step.")


@pytest.mark.points(1)
def test_accuracy_figure(drawn):
    """Does the second figure plot the discriminator's and the GAN's accuracy per step?"""
    for name in ("d_acc", "gan_acc"):
        assert _shows(drawn[1], HISTORY[name]), (
            f"the accuracy figure (the second one returned) has no line with history[{name!r}]; plot "
            "history['d_acc'] and history['gan_acc'] against the step.")
