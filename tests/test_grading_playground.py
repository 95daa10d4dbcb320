"""End to end with nbgrader for the GAN Playground lab: release, validate, autograde, feedback.

One course with five students (the reference with its experiment log, the stub, a code
mistake and two log mistakes), built once (see tests/lab_e2e.py); all tests share one xdist
group. Each student hands in the files the lab's submissions.py gives it.
"""
import pytest

from lab_e2e import LabEndToEnd


pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-playground")]

ASSIGNMENT = "playground"


class TestPlaygroundEndToEnd(LabEndToEnd):
    ASSIGNMENT = ASSIGNMENT
    STUDENTS = ("reference", "stub", "ndim_reshape", "edited_log", "lost_snapshot")
    FEEDBACK = {"lost_snapshot": "is missing"}

    def test_edited_log_feedback_names_the_change(self, graded):
        """Does the feedback of a student whose log was edited say what no longer matches?"""
        from lab_e2e import feedback_texts

        text = feedback_texts(graded["course"], ASSIGNMENT, ["edited_log"])["edited_log"]
        assert "says examples 30000" in text and "the log was edited" in text
