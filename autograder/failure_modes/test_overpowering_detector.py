"""Hidden checks: discriminator_overpowers(history, accuracy_threshold=0.95, window=100).

Synthetic histories built here: clear positives and negatives, borderline means just
above and below the documented threshold, and runs whose last turns differ from the rest.
"""
import numpy as np
import pytest


def history(*segments, seed=0):
    """A history whose d_acc is each (turns, mean) segment in turn, with a little noise that
    leaves every segment's mean exact."""
    rng = np.random.default_rng(seed)
    values = []
    for turns, mean in segments:
        wiggle = rng.uniform(-0.01, 0.01, turns)
        values.extend(np.clip(mean + wiggle - wiggle.mean(), 0.0, 1.0).tolist())
    return {"d_acc": values, "d_loss": [0.5] * len(values), "g_loss": [1.0] * len(values)}


def verdict(nb, hist, **kwargs):
    answer = nb.discriminator_overpowers(hist, **kwargs)
    assert isinstance(answer, (bool, np.bool_)), (
        f"discriminator_overpowers should return True or False, got {answer!r}.")
    return bool(answer)


@pytest.mark.points(1)
def test_clear_cases(nb):
    """Is a D right 99% of the time overpowering, and a D near 50% not?"""
    assert verdict(nb, history((400, 0.99))) is True, (
        "D was right on 99% of its batches for 400 turns: that is D overpowering G.")
    assert verdict(nb, history((400, 0.5))) is False, (
        "D right on about half of its batches is the healthy balance, not overpowering.")
    assert verdict(nb, history((400, 0.75))) is False, "D at 75% is winning, but not overpowering."


@pytest.mark.points(1)
def test_borderline_around_threshold(nb):
    """Does the default threshold (mean accuracy >= 0.95 over the last 100 turns) decide cases
    just above and just below it?"""
    assert verdict(nb, history((300, 0.956))) is True, (
        "a mean accuracy of 95.6% over the last 100 turns is at or above the 0.95 threshold: "
        "D overpowers G (compare with >=).")
    assert verdict(nb, history((300, 0.944))) is False, (
        "a mean accuracy of 94.4% over the last 100 turns is below the 0.95 threshold.")
    # means that are exactly the threshold (the values and their sums are exact in floating point)
    exact = {"d_acc": [0.5] * 292 + [0.95] * 8}
    for window in (4, 8):
        assert verdict(nb, exact, window=window) is True, (
            f"D's mean accuracy over the last {window} turns is exactly 0.95: 'at least' the threshold "
            "counts as overpowering (compare with >=, not >).")
    assert verdict(nb, {"d_acc": [0.75] * 300}, accuracy_threshold=0.75) is True, (
        "a mean accuracy of exactly 0.75 with accuracy_threshold=0.75 is at least the threshold: "
        "compare with >=, not >.")


@pytest.mark.points(1)
def test_judges_the_last_window(nb):
    """Does the verdict use the mean of the last `window` turns, not the whole run or one turn?"""
    assert verdict(nb, history((500, 1.0), (150, 0.6))) is False, (
        "D was perfect early but right on only 60% of its batches in the last 150 turns: the "
        "balance came back, so it does not overpower G now. Judge the last `window` turns.")
    assert verdict(nb, history((500, 0.6), (120, 0.99))) is True, (
        "D was balanced early but right on 99% of its batches in the last 120 turns: it "
        "overpowers G now. Judge the last `window` turns.")
    late = history((300, 0.99))
    late["d_acc"][-1] = 0.4
    assert verdict(nb, late) is True, "one unlucky last turn does not end D's dominance: use the mean."


@pytest.mark.points(1)
def test_arguments_and_short_runs(nb):
    """Are accuracy_threshold and window used, and is a run shorter than the window judged on all
    its turns?"""
    assert verdict(nb, history((300, 0.85)), accuracy_threshold=0.8) is True, (
        "with accuracy_threshold=0.8, a mean accuracy of 85% counts as overpowering.")
    assert verdict(nb, history((300, 0.99), (20, 0.5)), window=20) is False, (
        "with window=20, only the last 20 turns count (they average 50%).")
    assert verdict(nb, history((40, 0.99))) is True, (
        "a run of 40 turns shorter than the window is judged on all its turns (99%).")
    late_win = history((300, 0.5), (50, 0.99))
    for window, expected in ((50, True), (100, False), (300, False)):
        assert verdict(nb, late_win, window=window) is expected, (
            f"D was at 50% for 300 turns, then at 99% for 50: with window={window} the mean of the last "
            f"{window} turns is {np.mean(late_win['d_acc'][-window:]):.0%}, so the answer is {expected}. "
            "Use the `window` argument, not a fixed number of turns.")
    long_win = history((100, 0.5), (300, 0.99), (150, 0.96))
    for window, expected in ((150, True), (500, False)):
        assert verdict(nb, long_win, window=window) is expected, (
            f"with window={window} the mean of the last {window} turns is "
            f"{np.mean(long_win['d_acc'][-window:]):.1%}, so the answer is {expected}. Use the `window` "
            "argument, not a fixed number of turns.")
