"""Notebook helpers for grading: nbgrader regions, student copies, in-process execution.

nbgrader marks the parts of a source notebook that students must not see:
``### BEGIN SOLUTION`` / ``### END SOLUTION`` around answers and
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` around hidden checks. These
helpers read and rewrite those regions without running nbgrader, so the checks can be
tested quickly in one process, and so demo submissions can be written like a student's.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, MutableMapping, Optional, Sequence, Union

import nbformat
from nbformat import NotebookNode

__all__ = [
    "read_notebook", "write_notebook", "nbgrader_metadata", "grade_id", "find_cell",
    "strip_solution_markers", "strip_hidden_tests", "solution_text", "student_copy",
    "run_in_process",
]

PathLike = Union[str, "os.PathLike[str]"]

_SOLUTION_MARKER = re.compile(r"^[ \t]*#{2,}[ \t]*(BEGIN|END) SOLUTION[ \t]*(\n|\Z)", re.MULTILINE)
_HIDDEN_REGION = re.compile(
    r"^[ \t]*#{2,}[ \t]*BEGIN HIDDEN TESTS[ \t]*$.*?^[ \t]*#{2,}[ \t]*END HIDDEN TESTS[ \t]*(\n|\Z)",
    re.MULTILINE | re.DOTALL)


def read_notebook(path: PathLike) -> NotebookNode:
    """Read a notebook as nbformat version 4."""
    return nbformat.read(os.fspath(path), as_version=4)


def write_notebook(notebook: NotebookNode, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, os.fspath(path))
    return path


def nbgrader_metadata(cell: NotebookNode) -> Dict[str, Any]:
    """The cell's ``metadata.nbgrader`` dict (empty for plain cells)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def grade_id(cell: NotebookNode) -> Optional[str]:
    return nbgrader_metadata(cell).get("grade_id")


def find_cell(notebook: NotebookNode, cell_grade_id: str) -> NotebookNode:
    """The cell whose nbgrader ``grade_id`` is ``cell_grade_id``."""
    for cell in notebook.cells:
        if grade_id(cell) == cell_grade_id:
            return cell
    known = ", ".join(filter(None, (grade_id(cell) for cell in notebook.cells)))
    raise KeyError(f"no cell with grade_id {cell_grade_id!r}; the notebook has: {known}")


def strip_solution_markers(text: str) -> str:
    """Keep the solution, drop the ``### BEGIN/END SOLUTION`` lines."""
    return _SOLUTION_MARKER.sub("", text)


def strip_hidden_tests(text: str) -> str:
    """Drop every hidden-test region, markers included."""
    return _HIDDEN_REGION.sub("", text).rstrip("\n")


def solution_text(cell: NotebookNode) -> str:
    """What a student who answered ``cell`` perfectly would have written in it."""
    return strip_solution_markers(strip_hidden_tests(cell.source)).rstrip("\n")


def student_copy(release: NotebookNode, source: NotebookNode,
                 answers: Optional[Dict[str, str]] = None) -> NotebookNode:
    """The release notebook with its answer cells filled in, as a student would hand it in.

    Each solution cell takes the source notebook's solution, or ``answers[grade_id]``
    when given. Locked and test cells stay as released.
    """
    answers = answers or {}
    student = nbformat.from_dict(release)
    for cell in student.cells:
        meta = nbgrader_metadata(cell)
        if not meta.get("solution"):
            continue
        cell_id = meta["grade_id"]
        cell.source = answers.get(cell_id, solution_text(find_cell(source, cell_id)))
    return student


def run_in_process(notebook: NotebookNode, namespace: Optional[MutableMapping[str, Any]] = None,
                   skip_tags: Sequence[str] = ("training",), skip_tests: bool = True,
                   allow_errors: bool = False, filename: str = "<notebook>",
                   at_test_cell: Optional[Callable[[NotebookNode, MutableMapping[str, Any]], None]] = None,
                   ) -> MutableMapping[str, Any]:
    """Execute a notebook's code cells in this process and return its globals.

    Cells tagged with one of ``skip_tags`` (training runs) are left out, and so are
    test cells (nbgrader ``grade`` code cells without a solution) when ``skip_tests``;
    hidden-test regions never run. ``at_test_cell(cell, namespace)`` is called at each
    skipped test cell with the globals as they are at that point of the notebook (what
    the autograder grades that cell's part with). With ``allow_errors`` a failing cell
    is skipped and the next one runs (as nbgrader does); otherwise its exception
    propagates. Meant for fast tests of hidden checks.
    """
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = nbgrader_metadata(cell)
        if skip_tests and meta.get("grade") and not meta.get("solution"):
            if at_test_cell is not None:
                at_test_cell(cell, namespace)
            continue
        if set(cell.get("metadata", {}).get("tags", ())) & set(skip_tags):
            continue
        source = strip_hidden_tests(cell.source)
        if source.lstrip().startswith(("%", "!")):
            continue  # IPython magics do not run outside a kernel
        try:
            exec(compile(source, f"{filename}[{meta.get('grade_id', index)}]", "exec"), namespace)
        except Exception:
            if not allow_errors:
                raise
    return namespace
