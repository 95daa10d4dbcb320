"""Grades an LMS imports: ``ganlab course export`` writes one CSV for the whole course.

One row per student, and for each lab four columns: the autograded points, the points of the
written answers (graded by hand in formgrader), nbgrader's late penalty, and the total
(auto + manual - penalty). The first five columns are the identity columns of Canvas's
gradebook CSV (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``); Canvas
matches a row by ``SIS Login ID`` (the nbgrader student id, which is the JupyterHub login),
Moodle's "Import grades: CSV file" maps that column to ``username``. A lab a student never
handed in is left blank (both LMSs then leave the grade as it is). docs/running_a_course.md
shows which columns to map.

The penalty is what nbgrader recorded at autograde from the submission's timestamp and the
lab's due date; :class:`PercentPerDayLate` is a penalty rule a course can switch on.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

try:  # nbgrader is an optional dependency of the kit; the export needs it anyway
    from nbgrader.plugins import LateSubmissionPlugin
    from traitlets import Float
except ImportError:  # pragma: no cover - without nbgrader only the names below are missing
    LateSubmissionPlugin = object  # type: ignore[assignment,misc]

    def Float(*args, **kwargs):  # type: ignore[no-redef]  # noqa: N802
        return None

__all__ = ["IDENTITY_COLUMNS", "COLUMNS_PER_LAB", "LabGrade", "StudentGrades", "course_grades",
           "write_lms_csv", "PercentPerDayLate"]

PathLike = Union[str, "os.PathLike[str]"]

#: Canvas's identity columns, in Canvas's order (Moodle maps any column it is told to).
IDENTITY_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: The columns of each lab, after the lab's name: "<lab> auto", "<lab> manual", ...
COLUMNS_PER_LAB = ("auto", "manual", "late penalty", "total")


@dataclass
class LabGrade:
    """One student's points in one lab."""

    auto: float           # points of the autograded cells (a TA's override included)
    manual: float         # points of the written answers graded by hand (0 while ungraded)
    late_penalty: float   # points nbgrader took off for lateness
    seconds_late: float   # from the submission's timestamp and the lab's due date
    pending: int          # written answers still waiting for a grade
    max_score: float

    @property
    def total(self) -> float:
        return round(self.auto + self.manual - self.late_penalty, 4)


@dataclass
class StudentGrades:
    student_id: str
    name: str
    email: str
    labs: Dict[str, LabGrade] = field(default_factory=dict)


def course_grades(course_root: PathLike, course_id: str) -> tuple:
    """(lab names in due-date order, [StudentGrades]) from the course's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    from .exchange import tools_on_path

    tools_on_path()
    database = Path(course_root) / "gradebook.db"
    if not database.is_file():
        raise FileNotFoundError(f"no gradebook at {database}: release and autograde a lab first")
    with Gradebook(f"sqlite:///{database}", course_id=course_id) as gradebook:
        assignments = sorted(gradebook.assignments,
                             key=lambda assignment: (assignment.duedate is None, assignment.duedate or 0,
                                                     assignment.name))
        labs = [assignment.name for assignment in assignments]
        rows = []
        for student in sorted(gradebook.students, key=lambda student: student.id):
            name = ", ".join(part for part in (student.last_name, student.first_name) if part) or student.id
            row = StudentGrades(student.id, name, student.email or "")
            for lab in labs:
                try:
                    submission = gradebook.find_submission(lab, student.id)
                except MissingEntry:
                    continue
                auto = manual = 0.0
                pending = 0
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.auto_score is None:      # a written answer: only a person grades it
                            manual += grade.manual_score or 0.0
                            pending += grade.manual_score is None
                        else:
                            auto += grade.score
                row.labs[lab] = LabGrade(round(auto, 4), round(manual, 4),
                                         float(submission.late_submission_penalty or 0.0),
                                         float(submission.total_seconds_late or 0.0), pending,
                                         float(submission.max_score))
            rows.append(row)
    return labs, rows


def _number(value: float) -> str:
    return f"{value:g}"


def write_lms_csv(course_root: PathLike, course_id: str, path: Optional[PathLike] = None) -> Path:
    """Write the course's grades as one CSV (default ``<course>/grades_lms.csv``); its path."""
    labs, rows = course_grades(course_root, course_id)
    path = Path(path) if path else Path(course_root) / "grades_lms.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = list(IDENTITY_COLUMNS) + [f"{lab} {column}" for lab in labs for column in COLUMNS_PER_LAB]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            cells: List[str] = [row.name, "", "", row.student_id, ""]
            for lab in labs:
                grade = row.labs.get(lab)
                if grade is None:
                    cells += [""] * len(COLUMNS_PER_LAB)
                else:
                    cells += [_number(grade.auto), _number(grade.manual), _number(grade.late_penalty),
                              _number(grade.total)]
            writer.writerow(cells)
    return path


class PercentPerDayLate(LateSubmissionPlugin):
    """Take ``percent_per_day`` of the score for each started day late (at most the whole score).

    Switch it on in the course's nbgrader_config.py::

        c.AssignLatePenalties.plugin_class = "ganlab_kit.grading.export.PercentPerDayLate"
        c.PercentPerDayLate.percent_per_day = 10
    """

    percent_per_day = Float(10.0, help="percent of the score taken off per started day late").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds):
        if not total_seconds or total_seconds <= 0:
            return 0.0
        days = math.ceil(total_seconds / 86400.0)
        return round(min(float(score), float(score) * self.percent_per_day / 100.0 * days), 4)
