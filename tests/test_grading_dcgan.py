"""The DCGAN lab end to end with nbgrader: release, validate, autograde, regrade, feedback, export.

One course with four students (the reference with the kit's trained generator files, the
stub, and two typical mistakes; `ganlab demo` grades them all), built once (see tests/lab_e2e.py); every test of this
module shares one xdist group. The training cells load the handed-in generator files
instead of training, as they do for an instructor.
"""
import pytest

from lab_e2e import LabEndToEnd

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-dcgan")]


class TestDcganEndToEnd(LabEndToEnd):
    ASSIGNMENT = "dcgan"
    STUDENTS = ("reference", "stub", "kernel3_everywhere", "generator_targets_swapped")
    MIN_CHECK_LINES = 50
    FEEDBACK = {"kernel3_everywhere": "paint a checkerboard",
                "generator_targets_swapped": "G always aims at the real label"}
    NO_TRACEBACK = ("reference", "generator_targets_swapped", "kernel3_everywhere")
