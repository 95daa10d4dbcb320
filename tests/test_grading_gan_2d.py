"""End to end with nbgrader for the 2-D GAN lab: release, validate, autograde, regrade, feedback.

One course with four students (the reference, the stub, a heat-map mistake and an arrow
mistake), built once (see tests/lab_e2e.py); all tests share one xdist group.
"""
import pytest

from lab_e2e import LabEndToEnd

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-gan-2d")]


class TestGan2dEndToEnd(LabEndToEnd):
    ASSIGNMENT = "gan_2d"
    STUDENTS = ("reference", "stub", "logit_heatmap", "flipped_sign")
    FEEDBACK = {"logit_heatmap": "apply torch.sigmoid", "flipped_sign": "opposite sign"}

    def test_points_split_between_checks_and_written_answers(self, graded):
        """Are 9 points autograded (heat map 4, gradients 5) and the three written answers left to a person?"""
        auto = {cell.grade_id: cell.points for cell in graded["cells"] if cell.autograded}
        assert auto == {"heatmap_checks": 4, "gradients_checks": 5}
        manual = {cell.grade_id for cell in graded["cells"] if not cell.autograded}
        assert manual == {"q1_answer", "q2_answer", "q3_answer"}
