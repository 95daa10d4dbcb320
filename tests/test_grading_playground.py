"""End to end with nbgrader for the GAN Playground lab: release, validate, autograde, feedback.

One course with five students (the reference with its experiment log, the stub, a code
mistake and two log mistakes), built once (see tests/lab_e2e.py); all tests share one xdist
group. Each student hands in the files the lab's submissions.py gives it.
"""
import pytest

from lab_e2e import LabEndToEnd

from ganlab_kit.grading.course import find_repository

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader-playground")]

ASSIGNMENT = "playground"


class TestPlaygroundEndToEnd(LabEndToEnd):
    ASSIGNMENT = ASSIGNMENT
    STUDENTS = ("reference", "stub", "ndim_reshape", "edited_log", "lost_snapshot")
    REGRADE = ("edited_log",)
    FEEDBACK = {"lost_snapshot": "is missing"}

    def test_edited_log_feedback_names_the_change(self, graded):
        """Does the feedback of a student whose log was edited say what no longer matches?"""
        from lab_e2e import feedback_texts

        text = feedback_texts(graded["course"], ASSIGNMENT, ["edited_log"])["edited_log"]
        assert "names other models or settings" in text or "says run" in text


def test_solution_is_reproducible(tmp_path):
    """Does `ganlab solutions` regenerate the committed solution notebook byte for byte, with every
    grade cell at full points?"""
    import nbformat

    from ganlab_kit.grading.solutions import generate_solutions

    committed = find_repository().root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    fresh, = generate_solutions(tmp_path, assignments=[ASSIGNMENT], log=lambda message: None)
    assert committed.read_bytes() == fresh.read_bytes()
    notebook = nbformat.read(committed, as_version=4)
    assert not [cell.id for cell in notebook.cells if cell.cell_type == "code"
                for output in cell.outputs if output.output_type == "error"]
    scores = {cell.id: float(output.data["text/plain"]) for cell in notebook.cells
              if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
              for output in cell.outputs if output.output_type == "execute_result"}
    points = {cell.id: cell.metadata["nbgrader"]["points"] for cell in notebook.cells if cell.id in scores}
    assert scores == points and len(scores) == 5
