"""Hidden checks: mode_collapsed(images_or_labels, max_classes=3, min_share=0.05).

Label sets built here (clear and borderline shares), and real held-out digits: all ten
classes, or one digit repeated.
"""
import numpy as np
import pytest


def labels_with(counts):
    """Digit labels ``(N,)`` with ``counts[d]`` samples of digit d, shuffled."""
    values = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    return np.random.default_rng(0).permutation(values)


def verdict(nb, values, **kwargs):
    answer = nb.mode_collapsed(values, **kwargs)
    assert isinstance(answer, (bool, np.bool_)), f"mode_collapsed should return True or False, got {answer!r}."
    return bool(answer)


@pytest.mark.points(1)
def test_clear_label_sets(nb):
    """Is a set of one digit collapsed, and an even spread of all ten digits not?"""
    assert verdict(nb, labels_with([0, 0, 0, 0, 0, 0, 0, 100, 0, 0])) is True, (
        "100 samples that all show a 7 are a collapsed set.")
    assert verdict(nb, labels_with([10] * 10)) is False, "ten digits, ten samples each, are not collapsed."


@pytest.mark.points(1)
def test_counts_digits_with_a_real_share(nb):
    """Does a digit count only when at least min_share (5%) of the samples show it?"""
    assert verdict(nb, labels_with([1, 91, 1, 1, 1, 1, 1, 1, 1, 1])) is True, (
        "91 of 100 samples show a 1 and every other digit appears once: all ten digits occur, but only "
        "one holds at least 5% of the samples. That is a collapse: count digits by their share, not "
        "distinct values.")
    assert verdict(nb, labels_with([0, 34, 0, 33, 0, 33, 0, 0, 0, 0])) is True, (
        "three digits (at most max_classes = 3) make a collapsed set.")
    assert verdict(nb, labels_with([0, 30, 0, 30, 0, 35, 0, 5, 0, 0])) is False, (
        "four digits hold at least 5% each (the fourth exactly 5%): not collapsed.")


@pytest.mark.points(1)
def test_images(nb, heldout_digits):
    """Given images, does it classify them (the kit's classifier) and judge the digits they show?"""
    images, labels = heldout_digits
    assert verdict(nb, images) is False, "100 real digits, ten of each class, are not a collapsed set."
    one = np.repeat(images[np.flatnonzero(labels == 3)[:1]], 100, axis=0)
    assert verdict(nb, one) is True, (
        "100 copies of one real 3 are a collapsed set: classify the images (classify_digits) and "
        "count the digits, not distinct pixel values.")


@pytest.mark.points(1)
def test_arguments(nb):
    """Are max_classes and min_share used?"""
    assert verdict(nb, labels_with([50, 50, 0, 0, 0, 0, 0, 0, 0, 0]), max_classes=1) is False, (
        "with max_classes=1, two digits at 50% each are not collapsed.")
    assert verdict(nb, labels_with([50, 25, 25, 0, 0, 0, 0, 0, 0, 0]), max_classes=1, min_share=0.3) is True, (
        "with min_share=0.3 only the digit at 50% counts, so with max_classes=1 the set is collapsed.")
    assert verdict(nb, labels_with([10] * 10), max_classes=10) is True, (
        "with max_classes=10 even ten digits count as collapsed (at most max_classes).")
