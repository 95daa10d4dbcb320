"""The failure-modes lab end to end with nbgrader: release, validate, autograde, regrade,
feedback, export.

One course with four students (the reference with the kit's reference runs, the stub, and
two typical mistakes; `ganlab demo` grades them all), built once (see tests/lab_e2e.py); every test of this module shares
one xdist group. The run cells load the handed-in histories and sample snapshots instead of
training, as they do for an instructor.
"""
import pytest

from lab_e2e import LabEndToEnd, Regrades

pytestmark = [pytest.mark.keras, pytest.mark.grading, pytest.mark.slow,
              pytest.mark.xdist_group("nbgrader-failure-modes")]


class TestFailureModesEndToEnd(Regrades, LabEndToEnd):
    ASSIGNMENT = "failure_modes"
    STUDENTS = ("reference", "stub", "keras2_freeze", "distinct_pixels")
    REGRADE = ("keras2_freeze",)
    MIN_CHECK_LINES = 40
    FEEDBACK = {"distinct_pixels": "count digits by their share"}  # keras2_freeze keeps every point (issue 26)
    NO_TRACEBACK = ("reference", "keras2_freeze")
