"""``ganlab demo``: grade a class of demo students end to end with nbgrader, offline.

Builds one throwaway course per lab from the repository's ``assignments/`` (in
``demo-course/<lab>/`` by default, gitignored), releases the assignment, hands in one notebook per demo
student (the reference answer, the untouched stub and typical mistakes, listed in
``autograder/<assignment>/submissions.py``), autogrades them, writes feedback and a
CSV export, and prints each student's points per part next to what the hidden checks
are expected to give.
"""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .autograde import STATUS_NOT_ISOLATED, _isolation_reason, _sandbox_problem, not_isolated_line
from .bridge import GradingSetupError, list_checks
from .course import (MARKER, Course, GradeCell, Repository, find_repository, refuse_foreign_folder,
                     require_nbgrader)
from .notebook import read_notebook, student_copy
from .submissions import Submission, answers_of, load_submission_module, load_submissions

__all__ = ["DemoRow", "DemoReport", "claim_demo_folder", "expected_points", "hand_in",
           "reference_generator_file", "reference_files", "run_demo", "run_demos"]

DEFAULT_ASSIGNMENT = "pytorch_gan"


def reference_generator_file(destination: Path) -> Path:
    """Write the kit's trained reference generator as a student would save it: a float32
    ``state_dict`` of :class:`~ganlab_kit.torch_gan.MLPGenerator` (``generator.pt``)."""
    import torch

    from ..torch_gan import MLPGenerator, load_generator
    from ..torch_gan.recipes import REFERENCE_CHECKPOINTS

    asset = REFERENCE_CHECKPOINTS["mlp"]
    if not asset.is_file():
        raise GradingSetupError(
            f"the kit's reference generator is missing ({asset}); the reference student needs "
            "it as generator.pt. It is produced by benchmarks/bench_time_to_bar.py "
            "--write-references.")
    generator = load_generator(MLPGenerator(), asset)
    destination.parent.mkdir(parents=True, exist_ok=True)
    torch.save(generator.state_dict(), destination)
    return destination


def reference_files(repository: Repository, assignment: str, folder: Path) -> Dict[str, Path]:
    """The files a lab's reference student hands in beside the notebook, written to ``folder``:
    the lab's ``reference_files`` hook in its submissions.py, else the PyTorch lab's generator.pt."""
    folder.mkdir(parents=True, exist_ok=True)
    module = load_submission_module(repository.autograder / assignment)
    hook = getattr(module, "reference_files", None)
    if hook is not None:
        return {name: Path(path) for name, path in hook(folder).items()}
    return {"generator.pt": reference_generator_file(folder / "generator.pt")}


def expected_points(submission: Submission, cells: Sequence[GradeCell],
                    catalogue: Dict[str, List[tuple]]) -> Dict[str, float]:
    """grade_id -> autograded points the hidden checks should give ``submission``."""
    expected = {}
    for cell in cells:
        if not cell.autograded:
            continue
        part = cell.part.split("/", 1)[1]
        expected[cell.grade_id] = round(sum(points for name, _, points in catalogue[cell.part]
                                            if not submission.fails(part, name)), 4)
    return expected


@dataclass
class DemoRow:
    """One demo student's result."""

    student: str
    description: str
    scores: Dict[str, Optional[float]]     # grade_id -> points (None: waits for a manual grade)
    expected: Dict[str, float]             # grade_id -> expected autograded points
    seconds: Optional[float] = None        # time nbgrader spent on the submission
    status: str = "ok"                     # ganlab autograde's status: ok | not isolated | error

    @property
    def autograded(self) -> float:
        return round(sum(self.scores.get(grade_id) or 0.0 for grade_id in self.expected), 4)

    @property
    def expected_total(self) -> float:
        return round(sum(self.expected.values()), 4)

    @property
    def as_expected(self) -> bool:
        return all(abs((self.scores.get(grade_id) or 0.0) - points) < 1e-6
                   for grade_id, points in self.expected.items())


@dataclass
class DemoReport:
    """The grade table of a demo run."""

    assignment: str
    course: Path
    cells: List[GradeCell]
    rows: List[DemoRow] = field(default_factory=list)
    csv: Optional[Path] = None

    @property
    def ok(self) -> bool:
        return all(row.as_expected for row in self.rows)

    def to_text(self) -> str:
        auto = [cell for cell in self.cells if cell.autograded]
        manual = [cell for cell in self.cells if not cell.autograded]
        width = max([len(row.student) for row in self.rows] + [7])
        header = (f"{'student':<{width}} " + " ".join(f"{index:>4}" for index in range(1, len(auto) + 1))
                  + f"  {'auto':>7}  {'expected':>8}  {'manual':>7}  {'seconds':>7}")
        lines = [f"Autograded points per part ({self.assignment}):", header, "-" * len(header)]
        for row in self.rows:
            parts = " ".join(f"{_points(row.scores.get(cell.grade_id)):>4}" for cell in auto)
            manual_scores = [row.scores.get(cell.grade_id) for cell in manual]
            manual_text = ("pending" if any(score is None for score in manual_scores)
                           else _points(sum(manual_scores)))
            seconds = "" if row.seconds is None else f"{row.seconds:.1f}"
            verdict = "ok" if row.as_expected else "UNEXPECTED"
            if row.status != "ok":   # not isolated, error: said in the row, not only in a log line
                verdict += f" ({row.status})"
            lines.append(f"{row.student:<{width}} {parts}  {_points(row.autograded):>7}  "
                         f"{_points(row.expected_total):>8}  {manual_text:>7}  {seconds:>7}  {verdict}")
        total_auto = sum(cell.points for cell in auto)
        total_manual = sum(cell.points for cell in manual)
        lines.append("")
        lines.extend(textwrap.wrap("parts: " + ", ".join(
            f"{index} {cell.part.split('/', 1)[1]} ({_points(cell.points)})"
            for index, cell in enumerate(auto, 1)), width=100, subsequent_indent="       "))
        lines.append(f"autograded: {_points(total_auto)} points; written answers (graded by hand): "
                     f"{_points(total_manual)} points")
        lines.append("students:")
        lines.extend(f"  {row.student:<{width}} {row.description}" for row in self.rows)
        if any(row.status == "not isolated" for row in self.rows):
            lines.append(not_isolated_line())
        lines.append(f"course: {self.course} (feedback in feedback/, grades in "
                     f"{self.csv.name if self.csv else 'grades.csv'})")
        return "\n".join(lines)


def _points(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:g}"


def claim_demo_folder(course_dir: Path) -> None:
    """Make ``course_dir`` the demo's folder (one course per lab inside it), or refuse a folder
    that holds files the kit did not make, before anything in it is touched."""
    course_dir = Path(course_dir)
    refuse_foreign_folder(course_dir)
    course_dir.mkdir(parents=True, exist_ok=True)
    (course_dir / MARKER).write_text("made by ganlab-kit: `ganlab demo` builds one course per lab "
                                     "in here and may delete and rebuild them\n")


def hand_in(course: Course, assignment: str, submissions: Sequence[Submission]) -> Dict[str, Path]:
    """Hand in each demo student of a released ``assignment`` into ``course``: the release
    notebook for the stub, else the release with the student's answers, and beside it the
    files the lab's demo students hand in. Returns the reference student's files (written
    under ``<course>/reference/``; empty when no student hands in the reference's files)."""
    repository = course.repository
    source = read_notebook(course.source_notebook(assignment))
    release = read_notebook(course.release_notebook(assignment))
    handed_in: Dict[str, Path] = {}
    # a lab whose demo students hand in different files (the Playground's experiment logs)
    # says which: submission_files(name, folder) -> {file name: path} in its submissions.py
    files_of = getattr(load_submission_module(repository.autograder / assignment),
                       "submission_files", None)
    for submission in submissions:
        files: Dict[str, Path] = {}
        if files_of is not None:
            files.update(files_of(submission.name, course.root / "files" / submission.name))
        elif submission.generator == "reference":
            handed_in = handed_in or reference_files(repository, assignment, course.root / "reference")
            files.update(handed_in)
        notebook = release if submission.stub else student_copy(release, source,
                                                                answers_of(submission, source))
        course.add_submission(assignment, submission.name, notebook, files)
    return handed_in


def run_demo(course_dir: Optional[os.PathLike] = None, repository: Optional[Repository] = None,
             students: Optional[Sequence[str]] = None, assignment: str = DEFAULT_ASSIGNMENT,
             log: Callable[[str], None] = print, workers: int = 2) -> DemoReport:
    """Build the demo course, grade the demo students (``workers`` at once) and return the grade table."""
    require_nbgrader()
    repository = repository or find_repository()
    course_dir = Path(course_dir) if course_dir else repository.root / "demo-course"
    submissions = load_submissions(repository.autograder / assignment)
    if students:
        unknown = sorted(set(students) - {submission.name for submission in submissions})
        if unknown:
            raise GradingSetupError(f"no demo student(s) {unknown}; choose from "
                                    f"{[submission.name for submission in submissions]}")
        submissions = [submission for submission in submissions if submission.name in students]

    claim_demo_folder(course_dir)
    log(f"building the course in {course_dir / assignment}")
    course = Course.create(course_dir / assignment, repository, [assignment])
    log("nbgrader generate_assignment (the student version)")
    course.generate_assignment(assignment)
    hand_in(course, assignment, submissions)
    problem = _sandbox_problem()
    if problem:
        log(not_isolated_line(problem))
    log(f"ganlab autograde ({len(submissions)} submissions, {workers} worker{'s' if workers > 1 else ''})")
    seconds = course.autograde(assignment, workers=workers)
    statuses = course.autograde_report.statuses()
    if STATUS_NOT_ISOLATED in statuses.values() and not problem:   # Sandbox.mode = 'off', ...
        log(not_isolated_line(_isolation_reason([line for row in course.autograde_report.rows
                                                 for line in row.problems])))
    log("nbgrader generate_feedback")
    course.generate_feedback(assignment)
    csv = course.export_csv()

    cells = course.grade_cells(assignment)
    catalogue = {cell.part: list_checks(cell.part, repository.autograder)
                 for cell in cells if cell.autograded}
    report = DemoReport(assignment, course.root, cells, csv=csv)
    for submission in submissions:
        report.rows.append(DemoRow(submission.name, submission.description,
                                   course.scores(assignment, submission.name),
                                   expected_points(submission, cells, catalogue),
                                   seconds.get(submission.name), statuses.get(submission.name, "error")))
    return report


def run_demos(course_dir: Optional[os.PathLike] = None, repository: Optional[Repository] = None,
              assignments: Optional[Sequence[str]] = None,
              log: Callable[[str], None] = print,
              on_report: Optional[Callable[[DemoReport], None]] = None,
              labs_at_once: int = 2) -> List[DemoReport]:
    """:func:`run_demo` for every lab (or ``assignments``), each in ``<course_dir>/<lab>/``,
    ``labs_at_once`` labs at a time (one grading worker each); ``on_report`` sees each lab's
    table as soon as it is graded."""
    repository = repository or find_repository()
    course_dir = Path(course_dir) if course_dir else repository.root / "demo-course"
    claim_demo_folder(course_dir)   # refuse a foreign folder before the first lab is built
    names = list(assignments or repository.assignment_names())
    if labs_at_once <= 1 or len(names) == 1:
        reports = []
        for assignment in names:
            log(f"--- {assignment} ---")
            reports.append(run_demo(course_dir, repository, None, assignment, log=log))
            if on_report is not None:
                on_report(reports[-1])
        return reports
    # Labs side by side, one worker each: while one lab builds its course, writes feedback or
    # waits for its last student, the other lab's grading keeps the second core busy. Every
    # student is still graded alone in a fresh sandboxed kernel, the same points as 2 workers.
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from .autograde import _stop_running_workers

    done: Dict[str, DemoReport] = {}
    pool = ThreadPoolExecutor(max_workers=labs_at_once, thread_name_prefix="ganlab-demo")
    futures = {pool.submit(run_demo, course_dir, repository, None, assignment,
                           lambda message, lab=assignment: log(f"{lab}: {message}"), 1): assignment
               for assignment in names}
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda future: names.index(futures[future])):
                done[futures[future]] = future.result()
                if on_report is not None:
                    on_report(done[futures[future]])
    except BaseException:   # Ctrl-C or a lab that failed: stop the grading under way, then stop
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_running_workers()
        raise
    pool.shutdown(wait=True)
    return [done[assignment] for assignment in names]
