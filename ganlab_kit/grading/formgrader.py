"""Grading guides in formgrader: what a full written answer says, shown to TAs only.

Each lab's guides live beside its hidden checks, in ``autograder/<lab>/grading_guide.md``
(never shipped to students), one section per written-answer cell::

    ## q1_answer
    Full marks (2): ...
    1 point: ...

:class:`GradingGuides` is an nbconvert preprocessor the kit's nbgrader config adds to the
HTML exporter. In formgrader's grading page it puts the cell's guide, and the example answer of
the course's source notebook, right under the student's answer. It changes only the page
formgrader draws (nothing is written to disk), and it does nothing outside formgrader: the
feedback pages nbgrader writes for students go through the same exporter, and there it
leaves the notebook untouched.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Optional

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell
from traitlets import Unicode

from .bridge import AUTOGRADER_ENV
from .notebook import nbgrader_metadata, read_notebook, solution_text

__all__ = ["GUIDE_FILE", "GUIDE_CLASS", "read_guides", "written_answer_cells", "GradingGuides"]

GUIDE_FILE = "grading_guide.md"
#: CSS class of the guide block in formgrader's page (tests look for it).
GUIDE_CLASS = "ganlab-grading-guide"

_SECTION = re.compile(r"^##\s+([A-Za-z0-9_.-]+)\s*$", re.MULTILINE)
_GRADE_CALL = re.compile(r"""grade\(\s*["']""")


def read_guides(path: "os.PathLike[str] | str") -> Dict[str, str]:
    """grade_id -> guide text of a ``grading_guide.md`` ({} when the file is absent)."""
    path = Path(path)
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    matches = list(_SECTION.finditer(text))
    guides = {}
    for match, following in zip(matches, matches[1:] + [None]):
        end = following.start() if following else len(text)
        guides[match.group(1)] = text[match.end():end].strip()
    return guides


def written_answer_cells(notebook: NotebookNode) -> Dict[str, NotebookNode]:
    """grade_id -> cell of every answer graded by hand (graded, no ``grade(...)`` check call)."""
    cells = {}
    for cell in notebook.cells:
        meta = nbgrader_metadata(cell)
        if meta.get("grade") and meta.get("solution") and not (
                cell.cell_type == "code" and _GRADE_CALL.search(cell.source)):
            cells[meta["grade_id"]] = cell
    return cells


def _quote(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in text.splitlines())


class GradingGuides(Preprocessor):
    """Show each written answer's grading guide in formgrader (and nowhere else)."""

    autograder_dir = Unicode(
        "", help="folder of the hidden checks holding <lab>/grading_guide.md "
                 "(default: $GANLAB_AUTOGRADER, which the kit's nbgrader config sets)").tag(config=True)
    course_root = Unicode(
        "", help="the course folder whose source/<lab>/ notebook holds the example answers "
                 "(default: c.CourseDirectory.root, else the working directory)").tag(config=True)

    def _course_root(self) -> Path:
        if self.course_root:
            return Path(self.course_root)
        configured = self.config.get("CourseDirectory", {}).get("root")
        return Path(configured) if isinstance(configured, str) and configured else Path.cwd()

    def _source_answers(self, lab: str, notebook_id: str) -> Dict[str, str]:
        path = self._course_root() / "source" / lab / f"{notebook_id}.ipynb"
        if not path.is_file():
            return {}
        return {grade_id: solution_text(cell)
                for grade_id, cell in written_answer_cells(read_notebook(path)).items()}

    def guide_cell(self, grade_id: str, points: object, guide: Optional[str],
                   example: Optional[str]) -> NotebookNode:
        parts = [f'<div class="{GUIDE_CLASS}" data-grade-id="{grade_id}"></div>',
                 "", f"> **Grading guide (TAs only; students never see it)** · `{grade_id}` · {points} points",
                 ">"]
        parts.append(_quote(guide) if guide else
                     f"> No guide for this answer in {GUIDE_FILE}; the example answer below earns full marks.")
        if example:
            parts += [">", "> *The lab's example answer:*", ">", _quote(example)]
        return new_markdown_cell("\n".join(parts), metadata={"ganlab_grading_guide": grade_id})

    def preprocess(self, nb: NotebookNode, resources: dict):
        # formgrader's grading page passes the submission's id; nbgrader's feedback never does
        if not isinstance(resources, dict) or "submission_id" not in resources or "nbgrader" in resources:
            return nb, resources
        lab = resources.get("assignment_id")
        notebook_id = resources.get("notebook_id") or lab
        if not lab:
            return nb, resources
        folder = self.autograder_dir or os.environ.get(AUTOGRADER_ENV, "")
        guides = read_guides(Path(folder) / lab / GUIDE_FILE) if folder else {}
        examples = self._source_answers(lab, notebook_id)
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            meta = nbgrader_metadata(cell)
            grade_id = meta.get("grade_id")
            if grade_id and grade_id in written_answer_cells(NotebookNode(cells=[cell])):
                cells.append(self.guide_cell(grade_id, meta.get("points", "?"), guides.get(grade_id),
                                             examples.get(grade_id)))
        nb.cells = cells
        return nb, resources
