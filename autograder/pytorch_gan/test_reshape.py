"""Hidden checks: the reshape question (why the generator needs its last Linear layer)."""
import pytest
import torch


def _answer(nb, in_shape, out_shape):
    result = nb.can_reshape(in_shape, out_shape)
    assert type(result).__name__ in ("bool", "bool_"), (
        f"can_reshape should return True or False, got {type(result).__name__} ({result!r}).")
    return bool(result)


def _explain(in_shape, out_shape, expected):
    values_in, values_out = 1, 1
    for size in in_shape:
        values_in *= size
    for size in out_shape:
        values_out *= size
    verdict = "can" if expected else "cannot"
    return (f"can_reshape({list(in_shape)}, {list(out_shape)}) should be {expected}: a reshape only "
            f"rearranges values, and {values_in} values {verdict} fill a shape that holds {values_out}.")


@pytest.mark.points(1)
def test_hint_cases(nb):
    """Does can_reshape answer the two cases of the hint: [600] -> [20, 20, 2] and [800] -> [20, 10, 4]?"""
    for in_shape, out_shape, expected in (([600], [20, 20, 2], False), ([800], [20, 10, 4], True)):
        assert _answer(nb, in_shape, out_shape) is expected, _explain(in_shape, out_shape, expected)


@pytest.mark.points(1)
def test_general_cases(nb):
    """Does can_reshape compare the number of values for any shapes (lists, tuples, torch.Size)?"""
    cases = [
        ([784], [28, 28, 1], True), ([256], [28, 28, 1], False), ([28, 28, 1], [784], True),
        ([2, 3, 4], [4, 6], True), ([12], [5, 2], False), ([7], [7], True), ([6], [6, 1], True),
        ([4], [2, 3], False), ((600,), nb.new("torch:Size", [20, 20, 2]), False),
        ((800,), nb.new("torch:Size", [20, 10, 4]), True),
    ]
    for in_shape, out_shape, expected in cases:
        assert _answer(nb, in_shape, out_shape) is expected, _explain(in_shape, out_shape, expected)


@pytest.mark.points(1)
def test_hint_answers(nb):
    """Are RESHAPE_600_TO_20_20_2 and RESHAPE_800_TO_20_10_4 answered correctly?"""
    first, second = nb.RESHAPE_600_TO_20_20_2, nb.RESHAPE_800_TO_20_10_4
    assert first is not Ellipsis and second is not Ellipsis, "replace the ... with True or False."
    assert bool(first) is False, (
        "RESHAPE_600_TO_20_20_2: [20, 20, 2] holds 800 values, and a reshape cannot invent 200 more.")
    assert bool(second) is True, (
        "RESHAPE_800_TO_20_10_4: [20, 10, 4] holds exactly 800 values, so the reshape works.")


@pytest.mark.points(1)
def test_last_layer_units(nb):
    """Is GENERATOR_LAST_FC_UNITS the number of values a 28 x 28 x 1 image needs?"""
    units = nb.GENERATOR_LAST_FC_UNITS
    assert units is not Ellipsis, "replace the ... with a number."
    assert units == 784, (
        "the last Linear layer must produce one value per pixel, 28 * 28 * 1 = 784, because the "
        f"Reshape that follows cannot change how many values there are; you answered {units!r}.")
