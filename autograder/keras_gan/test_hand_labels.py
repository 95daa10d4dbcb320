"""Hidden check: the student's hand labels of the ten samples of Part 2."""
import numbers

import numpy as np
import pytest


@pytest.mark.points(1)
def test_ten_digits(nb):
    """Is HAND_LABELS a list of ten digits from 0 to 9, one per sample?"""
    labels = nb.HAND_LABELS
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    assert isinstance(labels, (list, tuple)), (
        "HAND_LABELS should be a list of the ten digits you see, e.g. [2, 3, 1, 5, 6, 7, 0, 9, 8, 4]; "
        "replace the ... with your labels.")
    assert len(labels) == 10, f"HAND_LABELS holds {len(labels)} labels; label each of the ten samples."
    assert all(isinstance(label, numbers.Integral) and not isinstance(label, bool) and 0 <= label <= 9
               for label in labels), (
        f"HAND_LABELS = {labels}; each label is the digit itself, a whole number from 0 to 9.")
