"""`ganlab solutions`: the executed solution notebook is the same, byte for byte, every time."""
import nbformat
import pytest

from ganlab_kit.grading.course import find_repository
from ganlab_kit.grading.solutions import generate_solutions, normalize_notebook

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("solutions")]


def test_split_prints_are_merged():
    """Does normalising merge a print that arrived in several messages (as on a loaded machine)?"""
    cell = nbformat.v4.new_code_cell("print('a'); print('b')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="b\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="c\n")]
    notebook = normalize_notebook(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [("stdout", "a\nb\n"), ("stderr", "c\n")]


def test_solutions_are_reproducible(tmp_path):
    """Does regenerating the solutions through nbgrader give the committed bytes, with every check passed?"""
    first = find_repository().root / "solutions" / "pytorch_gan" / "pytorch_gan.ipynb"
    second, = generate_solutions(tmp_path / "second", assignments=["pytorch_gan"], log=lambda message: None)
    notebook, again = nbformat.read(first, as_version=4), nbformat.read(second, as_version=4)
    differing = [(cell.id, [o.get("output_type") for o in cell.get("outputs", [])])
                 for cell, other in zip(notebook.cells, again.cells) if cell != other]
    assert not differing and notebook.metadata == again.metadata
    assert first.read_bytes() == second.read_bytes()
    errors = [cell.id for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors
    scores = {cell.id: float(output.data["text/plain"]) for cell in notebook.cells
              if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
              for output in cell.outputs if output.output_type == "execute_result"}
    points = {cell.id: cell.metadata["nbgrader"]["points"] for cell in notebook.cells
              if cell.id in scores}
    assert scores == points and len(scores) == 10
