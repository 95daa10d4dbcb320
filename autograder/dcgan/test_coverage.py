"""Hidden checks: taps of a 1-D transposed convolution, and which (kernel, stride) pairs tile evenly."""
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

PAIRS = ((2, 2), (3, 2), (4, 2), (5, 2), (3, 3), (4, 3), (6, 3), (3, 1))


def _expected(kernel_size, stride, length):
    """What a transposed convolution with all-one weights makes of an input of ones: the tap counts."""
    counts = F.conv_transpose1d(torch.ones(1, 1, length), torch.ones(1, 1, kernel_size), stride=stride)
    return [int(v) for v in counts.flatten()]


def _coverage(nb, kernel_size, stride, length=None):
    args = (kernel_size, stride) if length is None else (kernel_size, stride, length)
    result = nb.tap_coverage(*args)
    try:
        values = np.asarray(result, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise AssertionError(f"tap_coverage should return a list of numbers, got {type(result).__name__}.") from None
    assert np.all(values == np.round(values)), f"tap_coverage{args} should count taps (whole numbers); got {values.tolist()}."
    return [int(v) for v in values]


def _compare(nb, kernel_size, stride, length):
    expected = _expected(kernel_size, stride, length)
    given = _coverage(nb, kernel_size, stride, length)
    assert len(given) == len(expected), (
        f"tap_coverage({kernel_size}, {stride}, length={length}) has {len(given)} positions; an input of "
        f"{length} gives (length - 1) * stride + kernel_size = {len(expected)} outputs.")
    assert given == expected, (
        f"tap_coverage({kernel_size}, {stride}, length={length}) gave {given}; the taps reaching each position "
        f"are {expected}. Input i reaches positions i * stride ... i * stride + kernel_size - 1.")


@pytest.mark.points(1)
def test_small_cases(nb):
    """Does tap_coverage count the taps right on small cases (even, uneven, touching, with gaps)?"""
    for case in ((1, 1, 4), (2, 2, 3), (3, 2, 4), (4, 2, 5), (5, 3, 4), (3, 1, 5), (2, 3, 3)):
        _compare(nb, *case)


@pytest.mark.points(1)
def test_default_length(nb):
    """Does tap_coverage(kernel, stride) use an input of 8 values when no length is given?"""
    for kernel_size, stride in ((4, 2), (3, 2)):
        expected = _expected(kernel_size, stride, 8)
        given = _coverage(nb, kernel_size, stride)
        assert given == expected, (
            f"tap_coverage({kernel_size}, {stride}) should cover an input of length 8: {expected}; got {given}.")


@pytest.mark.points(1)
def test_many_cases(nb):
    """Is tap_coverage right for 40 other kernel sizes, strides and lengths?"""
    draw = random.Random(2016)
    for _ in range(40):
        _compare(nb, draw.randint(1, 7), draw.randint(1, 4), draw.randint(1, 12))


@pytest.mark.points(1)
def test_tiles_evenly_claim(nb):
    """Is TILES_EVENLY right: True exactly when the stride divides the kernel size?"""
    claims = nb.TILES_EVENLY
    assert isinstance(claims, dict), f"TILES_EVENLY should be a dict {{(kernel, stride): True or False}}, got {type(claims).__name__}."
    for pair in PAIRS:
        claim = claims.get(pair)
        assert claim is not Ellipsis and claim is not None, f"replace the ... of TILES_EVENLY[{pair}] with True or False."
        assert isinstance(claim, (bool, np.bool_)), (  # np.all(...) answers with NumPy's bool: as good
            f"TILES_EVENLY[{pair}] should be True or False, got {claim!r} ({type(claim).__name__}).")
        claim = bool(claim)
        interior = _expected(pair[0], pair[1], 12)[pair[0]:-pair[0]]
        even = len(set(interior)) == 1
        assert claim == even, (
            f"TILES_EVENLY[{pair}] is {claim}, but inside the output kernel {pair[0]} / stride {pair[1]} gives "
            f"{'the same number of taps everywhere' if even else 'counts ' + str(interior[:6])}: "
            f"the overlap is even exactly when the stride divides the kernel size.")
