"""Drive nbgrader for a course built from the repository's ``assignments/`` folder.

Used by ``ganlab demo`` and ``ganlab solutions`` and by the end-to-end tests. nbgrader
runs as a subprocess of this Python (so its kernels use this environment); the
gradebook is read through ``nbgrader.api``. A course folder made here carries a
marker file, and only such folders are ever rebuilt: a user's own course directory,
its student files and its gradebook are never touched.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from nbformat import NotebookNode

from .bridge import AUTOGRADER_ENV, GradingSetupError
from .notebook import nbgrader_metadata, read_notebook, write_notebook

__all__ = ["Repository", "find_repository", "require_nbgrader", "Course", "NbgraderError",
           "GradeCell", "grade_cells_of", "MARKER"]

PathLike = Union[str, "os.PathLike[str]"]

#: File that marks a folder as a course built by the kit (safe to rebuild).
MARKER = ".ganlab-course"

_GRADE_CALL = re.compile(r"""grade\(\s*["']([^"']+)["']""")


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message ends with the tail of its log."""


def require_nbgrader() -> None:
    """Raise a clear error when nbgrader (an optional dependency) is missing."""
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        raise GradingSetupError(
            "nbgrader is not installed in this environment. Install the grading extras: "
            "pip install 'ganlab-kit[grading]'") from None


@dataclass(frozen=True)
class Repository:
    """The instructor's side of the kit: the course sources and the hidden checks."""

    root: Path
    assignments: Path   # nbgrader course root holding source/<assignment>/
    autograder: Path    # hidden checks, demo submissions, nbgrader_config.py

    def assignment_names(self) -> List[str]:
        return sorted(path.name for path in (self.assignments / "source").iterdir() if path.is_dir())


def _looks_like_repository(path: Path) -> bool:
    return (path / "assignments" / "source").is_dir() and (path / "autograder").is_dir()


def find_repository(start: Optional[PathLike] = None) -> Repository:
    """Find the checkout holding ``assignments/`` and ``autograder/``.

    Looks at ``start`` (default: the working directory) and its parents, then next to
    the installed package (an editable install from a checkout).
    """
    here = Path(start or os.getcwd()).resolve()
    candidates = [here, *here.parents, Path(__file__).resolve().parents[2]]
    for candidate in candidates:
        if _looks_like_repository(candidate):
            return Repository(candidate, candidate / "assignments", candidate / "autograder")
    raise GradingSetupError(
        "the course files were not found: this command needs a ganlab-kit checkout with "
        "assignments/ (the nbgrader sources) and autograder/ (the hidden checks). Run it "
        "inside the repository or pass --repo PATH.")


@dataclass(frozen=True)
class GradeCell:
    """A graded cell of a source notebook."""

    grade_id: str
    points: float
    part: Optional[str]   # "assignment/part" named by its grade(...) call; None for written answers

    @property
    def autograded(self) -> bool:
        return self.part is not None


def grade_cells_of(notebook: NotebookNode) -> List[GradeCell]:
    """Graded cells of a source notebook, in order, with the part each one grades."""
    cells = []
    for cell in notebook.cells:
        meta = nbgrader_metadata(cell)
        if not meta.get("grade"):
            continue
        match = _GRADE_CALL.search(cell.source) if cell.cell_type == "code" else None
        cells.append(GradeCell(meta["grade_id"], float(meta.get("points", 0)),
                               match.group(1) if match else None))
    return cells


def refuse_foreign_folder(folder: Path) -> bool:
    """Raise :class:`GradingSetupError` if ``folder`` holds files and the kit did not make it
    (no ``MARKER`` file); True when it holds the kit's files, False when it is empty or absent."""
    if not folder.exists() or not any(folder.iterdir()):
        return False
    if not (folder / MARKER).is_file():
        raise GradingSetupError(
            f"{folder} exists and was not made by ganlab; it is left alone. Choose another "
            "folder (--course-dir) or remove it yourself.")
    return True


#: Long-lived nbgrader processes for the commands that run no notebook, one per environment,
#: shared by every course of this process (closed at exit; see :meth:`Course._nbgrader_quick`).
_QUICK_WORKERS: Dict[tuple, tuple] = {}
_QUICK_LOCK = threading.Lock()
#: An empty gradebook per (course id, environment), made once by nbgrader for this process: a
#: new gradebook costs nbgrader an ``alembic heads`` subprocess (seconds on a busy machine), the
#: same for every course; see :meth:`Course._seed_gradebook`.
_EMPTY_GRADEBOOKS: Dict[tuple, bytes] = {}
_EMPTY_LOCK = threading.Lock()


@atexit.register
def _close_quick_workers() -> None:
    for worker, _ in list(_QUICK_WORKERS.values()):
        worker.close()
    _QUICK_WORKERS.clear()


_LOG_FORMAT = ("--Application.log_format=%(asctime)s.%(msecs)03d [%(name)s | %(levelname)s] %(message)s",
               "--Application.log_datefmt=%H:%M:%S")


class Course:
    """An nbgrader course folder made from the repository's sources."""

    def __init__(self, root: PathLike, repository: Repository, course_id: str = "ganlab-demo") -> None:
        self.root = Path(root).resolve()
        self.repository = repository
        self.course_id = course_id
        self.autograde_report = None   # the status table of the last autograde (AutogradeReport)

    # ------------------------------------------------------------------ building
    @classmethod
    def create(cls, root: PathLike, repository: Repository, assignments: Optional[Sequence[str]] = None,
               course_id: str = "ganlab-demo") -> "Course":
        """Build a fresh course at ``root`` (rebuilt only if the kit made it before)."""
        require_nbgrader()
        root = Path(root).resolve()
        if refuse_foreign_folder(root):
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).write_text("made by ganlab-kit; `ganlab demo` may delete and rebuild this folder\n")
        names = list(assignments or repository.assignment_names())
        for name in names:
            shutil.copytree(repository.assignments / "source" / name, root / "source" / name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        grading_config = repository.autograder / "nbgrader_config.py"
        (root / "nbgrader_config.py").write_text(
            '"""Course settings written by ganlab-kit for a throwaway course."""\n'
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {course_id!r}\n"
            f"load_subconfig({os.fspath(grading_config)!r})  # noqa: F821\n")
        return cls(root, repository, course_id)

    # ------------------------------------------------------------------ nbgrader
    def environment(self) -> Dict[str, str]:
        """Environment of nbgrader and its kernels: this Python first on PATH, the checks found."""
        environment = dict(os.environ)
        bin_dir = os.path.dirname(sys.executable)
        environment["PATH"] = bin_dir + os.pathsep + environment.get("PATH", "")
        environment[AUTOGRADER_ENV] = os.fspath(self.repository.autograder)
        environment.pop("NBGRADER_EXECUTION", None)
        # kernels draw inline as in Jupyter, whatever backend the caller uses (tests set Agg)
        environment.pop("MPLBACKEND", None)
        environment.setdefault("PYTHONHASHSEED", "0")
        return environment

    def nbgrader(self, *arguments: str, check: bool = True,
                 environment: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader <arguments>`` in the course folder; raise :class:`NbgraderError` on failure."""
        command = [sys.executable, "-m", "nbgrader", *arguments, *_LOG_FORMAT]
        result = subprocess.run(command, cwd=self.root, env=environment or self.environment(),
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise NbgraderError(f"`nbgrader {' '.join(arguments)}` failed (exit {result.returncode}):\n{tail}")
        return result

    def _nbgrader_quick(self, *arguments: str, cwd: Optional[Path] = None) -> None:
        """``nbgrader <arguments>`` for a command that runs no notebook (generate_assignment,
        generate_feedback, export), in one long-lived nbgrader process per environment: the same
        command and config, without paying nbgrader's start each time. Raises :class:`NbgraderError`."""
        environment = self.environment()
        key = tuple(sorted(environment.items()))
        with _QUICK_LOCK:
            entry = _QUICK_WORKERS.get(key)
            if entry is None:
                from .autograde import _NbgraderWorker

                entry = _QUICK_WORKERS[key] = (_NbgraderWorker(environment), threading.Lock())
        worker, lock = entry
        with lock:   # one command at a time in that process (ganlab demo grades two labs at once)
            returncode, log = worker.run([*arguments, *_LOG_FORMAT], cwd or self.root, {})
        if returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-25:])
            raise NbgraderError(f"`nbgrader {' '.join(arguments)}` failed (exit {returncode}):\n{tail}")

    def generate_assignment(self, assignment: str) -> Path:
        self._seed_gradebook()
        self._nbgrader_quick("generate_assignment", assignment, "--force")
        return self.release_notebook(assignment)

    def _seed_gradebook(self) -> None:
        """Give a course without a gradebook a copy of an empty one that nbgrader made for the same
        course id in this process (``nbgrader db assignment list`` in a scratch course, once):
        nbgrader then finds its tables, alembic version and course row in place, exactly what it
        would have created, and skips the ``alembic heads`` subprocess it runs for a new gradebook."""
        database = self.root / "gradebook.db"
        if database.exists():
            return
        environment = self.environment()
        key = (self.course_id, tuple(sorted(environment.items())))
        with _EMPTY_LOCK:
            if key not in _EMPTY_GRADEBOOKS:
                with tempfile.TemporaryDirectory(prefix="ganlab-gradebook-") as scratch:
                    (Path(scratch) / "nbgrader_config.py").write_text(
                        "c = get_config()  # noqa: F821\n"
                        f"c.CourseDirectory.course_id = {self.course_id!r}\n")
                    self._nbgrader_quick("db", "assignment", "list", cwd=Path(scratch))
                    _EMPTY_GRADEBOOKS[key] = (Path(scratch) / "gradebook.db").read_bytes()
        database.write_bytes(_EMPTY_GRADEBOOKS[key])

    def validate(self, notebook: PathLike, invert: bool = False) -> Tuple[bool, str]:
        """Run ``nbgrader validate`` (``--invert``: every test cell must fail); (success, report)."""
        arguments = ["validate", os.fspath(notebook)] + (["--invert"] if invert else [])
        result = self.nbgrader(*arguments, check=False)
        report = result.stdout + result.stderr
        success = ("Success!" in report) and result.returncode == 0
        return success, report

    def autograde(self, assignment: str, students: Optional[Iterable[str]] = None, workers: int = 1,
                  force: bool = True, scheduler: object = None) -> Dict[str, float]:
        """Autograde submissions (all by default; ``force``: regrade) with ``ganlab autograde``'s
        engine; seconds per student graded. A submission that cannot be graded never raises:
        its status is in :attr:`autograde_report` (``.statuses()``, ``.to_text()``)."""
        from .autograde import autograde_course

        self.autograde_report = autograde_course(
            self.root, assignment, students=list(students or []) or None, workers=workers,
            scheduler=scheduler, force=force, log=lambda message: None,
            environment={AUTOGRADER_ENV: os.fspath(self.repository.autograder), "PYTHONHASHSEED": "0"})
        return self.autograde_report.seconds_per_student()

    def generate_feedback(self, assignment: str) -> None:
        self._nbgrader_quick("generate_feedback", assignment, "--force")

    def generate_solution(self, assignment: str, environment: Optional[Dict[str, str]] = None) -> Path:
        """Execute the source notebook with its solutions into solution/<assignment>/."""
        # generate_solution needs it in the gradebook; the long-lived nbgrader process and a seeded
        # gradebook spare a command-line nbgrader start and its alembic run (9-14 s on a loaded machine)
        self._seed_gradebook()
        self._nbgrader_quick("db", "assignment", "add", assignment)
        self.nbgrader("generate_solution", assignment, "--force", environment=environment)
        return self.root / "solution" / assignment / f"{assignment}.ipynb"

    def export_csv(self, path: Optional[PathLike] = None) -> Path:
        path = Path(path) if path else self.root / "grades.csv"
        self._nbgrader_quick("export", f"--to={os.fspath(path)}")
        return path

    # ------------------------------------------------------------------ files
    def source_notebook(self, assignment: str) -> Path:
        return self.root / "source" / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str) -> Path:
        return self.root / "release" / assignment / f"{assignment}.ipynb"

    def feedback_file(self, assignment: str, student: str) -> Path:
        return self.root / "feedback" / student / assignment / f"{assignment}.html"

    def autograded_notebook(self, assignment: str, student: str) -> Path:
        return self.root / "autograded" / student / assignment / f"{assignment}.ipynb"

    def students(self, assignment: str) -> List[str]:
        submitted = self.root / "submitted"
        if not submitted.is_dir():
            return []
        return sorted(path.name for path in submitted.iterdir() if (path / assignment).is_dir())

    def add_submission(self, assignment: str, student: str, notebook: NotebookNode,
                       files: Optional[Dict[str, PathLike]] = None) -> Path:
        """Place a student's notebook (and extra files, e.g. generator.pt) in submitted/."""
        folder = self.root / "submitted" / student / assignment
        if folder.exists():
            shutil.rmtree(folder)
        write_notebook(notebook, folder / f"{assignment}.ipynb")
        for name, source in (files or {}).items():
            shutil.copyfile(source, folder / name)
        (folder / "timestamp.txt").write_text(datetime(2026, 1, 1, 12, 0, 0).isoformat(" "))
        return folder

    # ------------------------------------------------------------------ gradebook
    def grade_cells(self, assignment: str) -> List[GradeCell]:
        """Graded cells of the course's source notebook, in order."""
        return grade_cells_of(read_notebook(self.source_notebook(assignment)))

    def scores(self, assignment: str, student: str) -> Dict[str, Optional[float]]:
        """grade_id -> points recorded by nbgrader (None: waits for a manual grade)."""
        return self.scores_of(assignment, [student])[student]

    def scores_of(self, assignment: str, students: Sequence[str]) -> Dict[str, Dict[str, Optional[float]]]:
        """student -> :meth:`scores`, read with one gradebook connection."""
        from nbgrader.api import Gradebook

        results: Dict[str, Dict[str, Optional[float]]] = {}
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", course_id=self.course_id) as gradebook:
            for student in students:
                result = results[student] = {}
                notebook = gradebook.find_submission_notebook(assignment, assignment, student)
                for grade in notebook.grades:
                    pending = grade.needs_manual_grade and grade.manual_score is None
                    result[grade.name] = None if pending else float(grade.score)
        return results

