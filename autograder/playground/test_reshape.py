"""Problem 2: when can a Reshape layer turn one shape into another?"""
import numbers

import numpy as np
import pytest

from ganlab_kit.torch_gan.layer_spec import can_reshape as reference_can_reshape


def _answer(nb, in_shape, out_shape):
    result = nb.can_reshape(list(in_shape), list(out_shape))
    assert isinstance(result, (bool, np.bool_)), (  # Python's or NumPy's True / False (np.prod(...) == ...)
        f"can_reshape({list(in_shape)}, {list(out_shape)}) should return True or False, "
        f"got {result!r}")
    return bool(result)


@pytest.mark.points(1)
def test_hint_cases(nb):
    """Does can_reshape answer the Playground's two hint cases, [600] -> [20, 20, 2] and [800] -> [20, 10, 4]?"""
    for in_shape, out_shape in (((600,), (20, 20, 2)), ((800,), (20, 10, 4))):
        expected = reference_can_reshape(in_shape, out_shape)
        assert _answer(nb, in_shape, out_shape) == expected, (
            f"can_reshape({list(in_shape)}, {list(out_shape)}) should be {expected}: a Reshape "
            "layer keeps every value, so it works exactly when both shapes hold as many values")


@pytest.mark.points(1)
def test_general_cases(nb):
    """Does can_reshape compare the number of values for other shapes (images, the generator's layers, equal axes)?"""
    cases = [((256,), (28, 28, 1)), ((784,), (28, 28, 1)), ((28, 28, 1), (784,)), ((7, 7, 64), (3136,)),
             ((3136,), (7, 7, 64)), ((2, 3), (3, 2)), ((12,), (2, 2, 2)), ((4, 4), (2, 8)),
             ((32, 32, 3), (3072,)), ((5, 5), (5, 4)),
             # whole multiples: twice (or half) as many values do not fit either
             ((1568,), (28, 28, 1)), ((392,), (28, 28, 1)), ((6272,), (7, 7, 64)), ((8,), (2, 2))]
    for in_shape, out_shape in cases:
        expected = reference_can_reshape(in_shape, out_shape)
        assert _answer(nb, in_shape, out_shape) == expected, (
            f"can_reshape({list(in_shape)}, {list(out_shape)}) should be {expected}: compare "
            "the number of values (the product of the sizes) for equality, not the number of axes, "
            "one size, or whether one count divides the other")


@pytest.mark.points(1)
def test_hint_answers(nb):
    """Are RESHAPE_600_TO_20_20_2 and RESHAPE_800_TO_20_10_4 the right True/False answers?"""
    for name, in_shape, out_shape in (("RESHAPE_600_TO_20_20_2", (600,), (20, 20, 2)),
                                      ("RESHAPE_800_TO_20_10_4", (800,), (20, 10, 4))):
        value = getattr(nb, name)
        assert (isinstance(value, (bool, np.bool_))
                and bool(value) == reference_can_reshape(in_shape, out_shape)), (
            f"{name} should be {reference_can_reshape(in_shape, out_shape)} (True or False, not "
            f"{value!r}): count the values of {list(out_shape)}")


@pytest.mark.points(1)
def test_last_layer_units(nb):
    """Is GENERATOR_LAST_FC_UNITS the number of values a [28, 28, 1] image holds?"""
    value = nb.GENERATOR_LAST_FC_UNITS  # any integer type: 784, np.prod([28, 28, 1]) (np.int64)
    assert (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
            and int(value) == 28 * 28 * 1), (
        "the last FC layer must give one value per pixel of a [28, 28, 1] image, so that the "
        f"Reshape layer can lay them out; got {value!r}")
