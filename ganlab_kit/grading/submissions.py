"""Demo submissions: a lab's reference answer, its untouched stub, and typical mistakes.

Each assignment's ``autograder/<assignment>/submissions.py`` lists its demo students as
:class:`Submission` objects (next to the hidden checks, so the expected failures,
which name checks, never ship to students). A submission is the reference solution
with a few :class:`Edit` s applied, plus the checks each mistake must fail. ``ganlab
demo`` grades them with nbgrader; the kit's tests run them in process.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple, Union

from nbformat import NotebookNode

from .notebook import find_cell, solution_text

__all__ = ["Edit", "Submission", "ALL_CHECKS", "load_submissions", "load_submission_module", "answers_of"]

#: ``expected_failures`` value of a submission that should fail every check.
ALL_CHECKS = "all"


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (which must occur exactly once) by ``new`` in one answer cell."""

    cell: str   # grade_id of the answer cell
    old: str
    new: str

    def apply(self, text: str) -> str:
        count = text.count(self.old)
        if count != 1:
            raise ValueError(
                f"edit of cell {self.cell!r} expects {self.old!r} exactly once in the solution, "
                f"found it {count} times; update the demo submission after editing the notebook.")
        return text.replace(self.old, self.new)


@dataclass(frozen=True)
class Submission:
    """One demo student."""

    name: str                                  # student id in the demo course
    description: str                           # the mistake, in words
    edits: Tuple[Edit, ...] = ()               # changes to the reference answers
    stub: bool = False                         # hand in the release notebook untouched
    generator: Optional[str] = "reference"     # "reference": the kit's trained weights; None: no file
    # part -> names of the checks this submission must fail; ALL_CHECKS for every check
    expected_failures: Union[str, Mapping[str, FrozenSet[str]]] = field(default_factory=dict)

    def fails(self, part: str, check: str) -> bool:
        """Whether this submission is expected to fail ``check`` of ``part``."""
        if self.expected_failures == ALL_CHECKS:
            return True
        return check in self.expected_failures.get(part, ())


def answers_of(submission: Submission, source: NotebookNode) -> Dict[str, str]:
    """grade_id -> answer text of every edited cell (the others keep the reference answer)."""
    answers: Dict[str, str] = {}
    for edit in submission.edits:
        text = answers.get(edit.cell, solution_text(find_cell(source, edit.cell)))
        answers[edit.cell] = edit.apply(text)
    return answers


def load_submission_module(assignment_checks: Union[str, "os.PathLike[str]"]):
    """The module ``<assignment_checks>/submissions.py`` (``SUBMISSIONS``, and optionally
    ``reference_files(folder) -> {file name: path}``: the files the reference student hands
    in beside the notebook)."""
    path = Path(assignment_checks) / "submissions.py"
    if not path.is_file():
        raise FileNotFoundError(f"no demo submissions at {path}")
    spec = importlib.util.spec_from_file_location(f"_ganlab_submissions_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_submissions(assignment_checks: Union[str, "os.PathLike[str]"]) -> List[Submission]:
    """The ``SUBMISSIONS`` list of ``<assignment_checks>/submissions.py``."""
    path = Path(assignment_checks) / "submissions.py"
    submissions = list(load_submission_module(assignment_checks).SUBMISSIONS)
    names = [submission.name for submission in submissions]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: demo student names repeat: {names}")
    return submissions
