"""The Keras GAN lab end to end with nbgrader: release, validate, autograde, feedback, solution.

Regrading is checked in process, five times over
(tests/test_lab_keras_gan.py::test_grading_is_repeatable).

One course with four students (the reference, the stub and two typical Keras mistakes;
`ganlab demo` grades them all),
built once (see tests/lab_e2e.py); all tests share one xdist group. Every submission loads
its generator.weights.h5 instead of training, as it does for an instructor.
"""
import pytest

from lab_e2e import LabEndToEnd

pytestmark = [pytest.mark.keras, pytest.mark.grading, pytest.mark.slow,
              pytest.mark.xdist_group("nbgrader_keras_gan")]


class TestKerasGanEndToEnd(LabEndToEnd):
    ASSIGNMENT = "keras_gan"
    STUDENTS = ("reference", "stub", "keras2_freeze_once", "accuracy_wrong_axis")
    MIN_CHECK_LINES = 50
    FEEDBACK = {"keras2_freeze_once": ("Keras 3", "freezes D")}
    NO_TRACEBACK = ("reference", "keras2_freeze_once")
