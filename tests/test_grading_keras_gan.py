"""The Keras GAN lab end to end with nbgrader: release, validate, autograde, regrade, feedback.

One course with five students (the reference, the stub and three typical Keras mistakes),
built once (see tests/lab_e2e.py); all tests share one xdist group. Every submission loads
its generator.weights.h5 instead of training, as it does for an instructor.
"""
import pytest

from lab_e2e import LabEndToEnd

pytestmark = [pytest.mark.keras, pytest.mark.grading, pytest.mark.slow,
              pytest.mark.xdist_group("nbgrader_keras_gan")]


class TestKerasGanEndToEnd(LabEndToEnd):
    ASSIGNMENT = "keras_gan"
    STUDENTS = ("reference", "stub", "keras2_freeze_once", "lr_keyword", "accuracy_wrong_axis")
    REGRADE = ("reference", "keras2_freeze_once")
    MIN_CHECK_LINES = 50
    FEEDBACK = {"keras2_freeze_once": ("Keras 3", "freezes D")}
    NO_TRACEBACK = ("reference", "keras2_freeze_once")
