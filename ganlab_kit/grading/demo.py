"""``ganlab demo``: grade a class of demo students end to end with nbgrader, offline.

Builds one throwaway course per lab from the repository's ``assignments/`` (in
``demo-course/<lab>/`` by default, gitignored), releases the assignment, hands in one notebook per demo
student (the reference answer, the untouched stub and typical mistakes, listed in
``autograder/<assignment>/submissions.py``), autogrades them, writes feedback and a
CSV export, and prints each student's points per part next to what the hidden checks
are expected to give.
"""
from __future__ import annotations

import contextlib
import os
import textwrap
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .autograde import (STATUS_NOT_ISOLATED, AutogradeJob, AutogradeReport, _isolation_reason, _sandbox_problem,
                        autograde_courses, not_isolated_line)
from .bridge import AUTOGRADER_ENV, GradingSetupError, list_checks
from .course import (MARKER, Course, GradeCell, Repository, find_repository, refuse_foreign_folder,
                     require_nbgrader)
from .notebook import read_notebook, student_copy
from .submissions import Submission, answers_of, load_submission_module, load_submissions

__all__ = ["DemoRow", "DemoReport", "DemoTimings", "LAB_WEIGHTS", "check_catalogue", "claim_demo_folder",
           "expected_points", "hand_in", "reference_generator_file", "reference_files", "run_demo", "run_demos"]

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


def check_catalogue(cells: Sequence[GradeCell], repository: Repository) -> Dict[str, List[tuple]]:
    """Part -> its hidden checks (:func:`~.bridge.list_checks`) for each autograded cell: what
    :func:`expected_points` reads."""
    return {cell.part: list_checks(cell.part, repository.autograder) for cell in cells if cell.autograded}


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


#: Seconds per demo submission of each lab (median of its demo students, 1 worker, measured on
#: the shared 2-core machine at load ~6: only their order and ratios matter). The heavier labs'
#: students are graded first, so that both workers stay busy to the end and the last students
#: graded are quick ones. A lab missing here counts as 20.
LAB_WEIGHTS = {"keras_gan": 80.0, "failure_modes": 58.0, "pytorch_gan": 34.0, "dcgan": 26.0,
               "playground": 13.0, "gan_2d": 8.0}
_DEFAULT_WEIGHT = 20.0
#: Labs whose reference student's files take long to write (keras_gan imports TensorFlow to save
#: its generator): their courses are built after the others, so grading starts sooner.
_SLOW_TO_BUILD = ("keras_gan",)


@dataclass
class DemoTimings:
    """Where a demo's seconds went: per lab and phase, and how busy the grading workers were."""

    workers: int = 2
    started: float = field(default_factory=time.perf_counter)
    phases: Dict[str, Dict[str, float]] = field(default_factory=dict)   # lab -> phase -> seconds
    shown: Dict[str, float] = field(default_factory=dict)               # lab -> table printed at (s)
    grading: Dict[str, Tuple[float, float]] = field(default_factory=dict)  # lab -> (first in queue, last recorded)
    submission_seconds: Dict[str, float] = field(default_factory=dict)  # lab -> sum of per-student seconds
    total: Optional[float] = None

    def now(self) -> float:
        return time.perf_counter() - self.started

    @contextlib.contextmanager
    def phase(self, lab: str, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            phases = self.phases.setdefault(lab, {})
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - began

    def to_text(self) -> str:
        names = ["course", "generate_assignment", "hand in", "checks", "feedback", "export", "table"]
        labs = list(self.phases)
        header = f"{'lab':<14} " + " ".join(f"{name[:10]:>10}" for name in names) \
            + f" {'queued-graded':>16} {'students':>9} {'shown at':>9}"
        lines = ["ganlab demo timings, seconds: each phase's wall time; queued-graded and shown at are "
                 "clock times since the demo started; students adds up the lab's nbgrader runs",
                 header, "-" * len(header)]
        for lab in labs:
            phases = self.phases[lab]
            first, last = self.grading.get(lab, (None, None))
            span = "" if first is None else f"{first:7.1f}-{last:7.1f}"
            lines.append(f"{lab:<14} " + " ".join(f"{phases.get(name, 0.0):10.1f}" for name in names)
                         + f" {span:>16} {self.submission_seconds.get(lab, 0.0):9.1f}"
                         + f" {self.shown.get(lab, 0.0):9.1f}")
        if self.grading:
            first = min(span[0] for span in self.grading.values())
            last = max(span[1] for span in self.grading.values())
            busy = sum(self.submission_seconds.values())
            window = max(last - first, 1e-9)
            lines.append(f"grading: {first:.1f}-{last:.1f} s ({last - first:.1f} s); the students' nbgrader "
                         f"runs add up to {busy:.1f} s: {self.workers} workers {busy / (self.workers * window):.0%} "
                         "busy over that window")
        if self.total is not None:
            lines.append(f"total: {self.total:.1f} s")
        return "\n".join(lines)


@dataclass
class _DemoLab:
    """A lab's demo course, built and handed in, waiting for its grades."""

    assignment: str
    course: Course
    submissions: List[Submission]
    cells: List[GradeCell] = field(default_factory=list)          # the source notebook's graded cells
    catalogue: Dict[str, List[tuple]] = field(default_factory=dict)   # part -> its checks (list_checks)


def _build_lab(course_dir: Path, repository: Repository, assignment: str,
               submissions: Sequence[Submission], log: Callable[[str], None],
               timings: Optional[DemoTimings] = None) -> _DemoLab:
    """The course of one lab: copied sources, the release (generate_assignment), the hand-ins, and
    the hidden checks' catalogue (the expected points of each demo student)."""
    timings = timings or DemoTimings()
    log(f"building the course in {course_dir / assignment}")
    with timings.phase(assignment, "course"):
        course = Course.create(course_dir / assignment, repository, [assignment])
    log("nbgrader generate_assignment (the student version)")
    with timings.phase(assignment, "generate_assignment"):
        course.generate_assignment(assignment)
    with timings.phase(assignment, "hand in"):
        hand_in(course, assignment, submissions)
    with timings.phase(assignment, "checks"):   # what each student should get, before grading
        cells = course.grade_cells(assignment)
        catalogue = check_catalogue(cells, repository)
    return _DemoLab(assignment, course, list(submissions), cells, catalogue)


def _finish_lab(lab: _DemoLab, report: AutogradeReport, log: Callable[[str], None],
                timings: Optional[DemoTimings] = None, warned: bool = False) -> DemoReport:
    """After grading: nbgrader generate_feedback and export, then the grade table."""
    timings = timings or DemoTimings()
    course, assignment = lab.course, lab.assignment
    course.autograde_report = report
    statuses = report.statuses()
    if STATUS_NOT_ISOLATED in statuses.values() and not warned:   # Sandbox.mode = 'off', ...
        log(not_isolated_line(_isolation_reason([line for row in report.rows for line in row.problems])))
    log("nbgrader generate_feedback")
    with timings.phase(assignment, "feedback"):
        course.generate_feedback(assignment)
    with timings.phase(assignment, "export"):
        csv = course.export_csv()
    with timings.phase(assignment, "table"):
        cells, catalogue = lab.cells, lab.catalogue
        seconds = report.seconds_per_student()
        demo = DemoReport(assignment, course.root, cells, csv=csv)
        scores = course.scores_of(assignment, [submission.name for submission in lab.submissions])
        for submission in lab.submissions:
            demo.rows.append(DemoRow(submission.name, submission.description, scores[submission.name],
                                     expected_points(submission, cells, catalogue),
                                     seconds.get(submission.name), statuses.get(submission.name, "error")))
    return demo


def _demo_submissions(repository: Repository, assignment: str,
                      students: Optional[Sequence[str]] = None) -> List[Submission]:
    submissions = load_submissions(repository.autograder / assignment)
    if students:
        unknown = sorted(set(students) - {submission.name for submission in submissions})
        if unknown:
            raise GradingSetupError(f"no demo student(s) {unknown}; choose from "
                                    f"{[submission.name for submission in submissions]}")
        submissions = [submission for submission in submissions if submission.name in students]
    return submissions


def run_demo(course_dir: Optional[os.PathLike] = None, repository: Optional[Repository] = None,
             students: Optional[Sequence[str]] = None, assignment: str = DEFAULT_ASSIGNMENT,
             log: Callable[[str], None] = print, workers: int = 2,
             timings: Optional[DemoTimings] = None) -> DemoReport:
    """Build the demo course, grade the demo students (``workers`` at once) and return the grade table."""
    require_nbgrader()
    repository = repository or find_repository()
    course_dir = Path(course_dir) if course_dir else repository.root / "demo-course"
    submissions = _demo_submissions(repository, assignment, students)
    timings = timings or DemoTimings(workers)
    claim_demo_folder(course_dir)
    lab = _build_lab(course_dir, repository, assignment, submissions, log, timings)
    problem = _sandbox_problem()
    if problem:
        log(not_isolated_line(problem))
    log(f"ganlab autograde ({len(submissions)} submissions, {workers} worker{'s' if workers > 1 else ''})")
    first = timings.now()
    lab.course.autograde(assignment, workers=workers)
    report = lab.course.autograde_report
    timings.grading[assignment] = (first, timings.now())
    timings.submission_seconds[assignment] = sum(report.seconds_per_student().values())
    return _finish_lab(lab, report, log, timings, warned=bool(problem))


def run_demos(course_dir: Optional[os.PathLike] = None, repository: Optional[Repository] = None,
              assignments: Optional[Sequence[str]] = None,
              log: Callable[[str], None] = print,
              on_report: Optional[Callable[[DemoReport], None]] = None,
              workers: int = 2, timings: Optional[DemoTimings] = None) -> List[DemoReport]:
    """:func:`run_demo` for every lab (or ``assignments``), each in ``<course_dir>/<lab>/``, with one
    pool of ``workers`` grading workers for all labs; ``on_report`` sees each lab's table as soon
    as that lab is graded.

    One queue holds every lab's students, the slowest lab's first (:data:`LAB_WEIGHTS`), so both
    workers stay busy to the end; the labs' courses are built while the first lab is graded, and
    a graded lab's feedback, export and table are made while the others are graded. Every student
    is still graded alone, in a fresh sandboxed kernel, with the same points."""
    require_nbgrader()
    repository = repository or find_repository()
    course_dir = Path(course_dir) if course_dir else repository.root / "demo-course"
    claim_demo_folder(course_dir)   # refuse a foreign folder before the first lab is built
    names = list(assignments or repository.assignment_names())
    timings = timings or DemoTimings(workers)
    timings.workers = workers
    submissions = {name: _demo_submissions(repository, name) for name in names}
    build_order = sorted(names, key=lambda name: (name in _SLOW_TO_BUILD,
                                                  -LAB_WEIGHTS.get(name, _DEFAULT_WEIGHT), names.index(name)))
    labs: Dict[str, _DemoLab] = {}
    prefixed = {name: (lambda message, lab=name: log(f"{lab}: {message}")) for name in names}

    def jobs() -> Iterator[AutogradeJob]:
        for name in build_order:
            labs[name] = _build_lab(course_dir, repository, name, submissions[name], prefixed[name], timings)
            prefixed[name](f"ganlab autograde ({len(submissions[name])} submissions, in the shared queue)")
            timings.grading[name] = (timings.now(), timings.now())
            yield AutogradeJob(labs[name].course.root, name, force=True,
                               weight=LAB_WEIGHTS.get(name, _DEFAULT_WEIGHT))

    from concurrent.futures import ThreadPoolExecutor

    finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganlab-demo-finish")
    finished: Dict[str, Future] = {}
    problem = _sandbox_problem()

    def finish(lab: _DemoLab, report: AutogradeReport) -> DemoReport:
        demo = _finish_lab(lab, report, prefixed[lab.assignment], timings, warned=bool(problem))
        if on_report is not None:
            on_report(demo)
        timings.shown[lab.assignment] = timings.now()
        return demo

    def on_done(report: AutogradeReport) -> None:
        name = report.assignment
        timings.grading[name] = (timings.grading[name][0], timings.now())
        timings.submission_seconds[name] = sum(report.seconds_per_student().values())
        finished[name] = finisher.submit(finish, labs[name], report)

    environment = {AUTOGRADER_ENV: os.fspath(repository.autograder), "PYTHONHASHSEED": "0"}
    try:
        autograde_courses(jobs(), workers=workers, environment=environment, on_done=on_done,
                          log=lambda message: None)
        reports = {name: finished[name].result() for name in names}
    except BaseException:   # Ctrl-C or a lab that failed: grading is stopped; no more tables
        finisher.shutdown(wait=False, cancel_futures=True)
        raise
    finisher.shutdown(wait=True)
    timings.total = timings.now()
    return [reports[name] for name in names]
