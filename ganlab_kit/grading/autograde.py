"""``ganlab autograde``: many submissions at once, one writer owning the gradebook.

nbgrader's ``autograde`` grades one student after another, writes the course's
``gradebook.db`` from inside the grading run, and stops with an error for the whole
class when one notebook cannot be graded. Here grading and recording are split:

* **Workers** grade one student each. A worker builds a private scratch course (a
  copy of the gradebook stripped of every student, the assignment's source files and
  the one submission), runs the unchanged ``nbgrader autograde LAB --student S``
  there, and hands back plain data: the autograded files and the grade and comment
  rows nbgrader wrote into its copy. Workers never open the course's gradebook. They
  run as threads of this process (``workers=N``), each driving its own long-lived
  nbgrader process (:mod:`._autograde_worker`: nbgrader starts once per worker, not once
  per student; each student still gets a fresh sandboxed kernel and checker), or as
  tasks on a Dask distributed cluster (``scheduler=ADDRESS``: one ``nbgrader`` command
  per student).
* **The writer** (the calling process, alone) moves each autograded folder into place
  and records the rows in the course gradebook through :class:`nbgrader.api.Gradebook`
  with nbgrader's own rules (``auto_score`` per grade cell, a manual score is never
  overwritten and flags the cell for review, the submission's timestamp), one
  transaction per student. ``nbgrader generate_feedback`` and ``export`` then work as
  after a plain ``nbgrader autograde``.
* **Resume.** A ledger (``.ganlab-autograde/<assignment>.json`` in the course) lists,
  per student, the fingerprint of the submission that was recorded (its files,
  ``timestamp.txt`` included) and the outcome. It is written after the gradebook
  commit, so a run stopped anywhere (Ctrl-C, kill) is resumed by running the command
  again: recorded students are skipped, the rest graded; ``force`` regrades.
* **One submission never hurts another.** A corrupt or missing notebook, an nbgrader
  failure (a kernel that dies), a crashed worker: the student gets the status
  ``error`` with the reason and zero points for the ungradable notebook (nbgrader's
  own rule for a missing notebook); the others are graded.
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from .bridge import GradingSetupError
from .results import TIMINGS_ENV

__all__ = [
    "GradingTask", "GradingOutcome", "NotebookGrades", "AutogradeRow", "AutogradeReport",
    "AutogradeInterrupted", "AutogradeJob", "autograde_course", "autograde_courses", "grade_submission",
    "submission_fingerprint",
    "ledger_path", "remove_abandoned_scratch", "GRADING_METADATA", "STATUS_OK", "STATUS_ERROR", "STATUS_NOT_ISOLATED",
    "INSTALL_SANDBOX", "not_isolated_line",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Notebook metadata key where the grading run records ``{"isolated": bool, "problems": [str]}``.
GRADING_METADATA = "ganlab_grading"
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_NOT_ISOLATED = "not isolated"

#: Course folder (hidden) that holds the ledgers of ``ganlab autograde``.
LEDGER_DIR = ".ganlab-autograde"
_LEDGER_FORMAT = 1
#: Files nbgrader never copies from a submission (``CourseDirectory.ignore``'s default).
_IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")
_STAGING = ".ganlab-"          # prefix of the writer's temporary folders beside an autograded folder
_REASON_LENGTH = 240


# ---------------------------------------------------------------------------- data
@dataclass
class NotebookGrades:
    """What nbgrader recorded for one notebook of a submission (plain data)."""

    name: str
    grades: Dict[str, Tuple[Optional[float], bool]]   # grade cell -> (auto_score, needs_manual_grade)
    comments: Dict[str, Optional[str]]                 # solution/task cell -> auto_comment
    late_penalty: Optional[float] = None


@dataclass
class GradingTask:
    """Everything a worker needs to grade one submission, as plain data.

    It carries the files themselves, so a worker on another machine (Dask) needs only
    the kit installed, not the course folder."""

    assignment: str
    student: str
    fingerprint: str
    notebooks: List[str]                   # notebook names of the assignment (without .ipynb)
    gradebook: bytes                       # the course gradebook without any student
    source_files: Dict[str, bytes]         # source/<assignment>/ files, relative path -> bytes
    submission_files: Dict[str, bytes]     # submitted/<student>/<assignment>/ files
    course_root: str                       # where the course's nbgrader_config.py lives (writer side)
    config_text: str                       # its text, for workers that cannot see course_root
    environment: Dict[str, str] = field(default_factory=dict)  # added to the worker's environment
    followed: bool = True                  # another submission of this assignment is queued behind it


@dataclass
class GradingOutcome:
    """A worker's answer: the autograded files and rows, or why there are none."""

    student: str
    fingerprint: str
    reason: str = ""                       # empty: nbgrader graded every notebook
    timestamp: Optional[datetime] = None   # the submission's timestamp as nbgrader parsed it
    notebooks: List[NotebookGrades] = field(default_factory=list)
    files: Dict[str, Tuple[int, bytes]] = field(default_factory=dict)  # autograded files: (mode, bytes)
    seconds: float = 0.0
    isolated: Optional[bool] = None        # from the notebooks' ganlab_grading metadata
    problems: List[str] = field(default_factory=list)
    log_tail: str = ""
    stages: Dict[str, float] = field(default_factory=dict)   # seconds per stage (see _stages)

    @property
    def graded(self) -> bool:
        return bool(self.notebooks)


@dataclass
class AutogradeRow:
    """One student's line of the status table."""

    student: str
    status: str                            # ok | error | not isolated
    reason: str = ""
    points: Optional[float] = None         # autograded points recorded (code grade cells)
    max_points: Optional[float] = None
    seconds: Optional[float] = None
    problems: List[str] = field(default_factory=list)
    skipped: bool = False                  # recorded by an earlier run, not graded now

    def note(self) -> str:
        parts = []
        if self.skipped:
            parts.append("already graded (earlier run)")
        if self.reason:
            parts.append(self.reason)
        # the status column already says "not isolated"
        parts.extend(problem for problem in self.problems if not problem.startswith(STATUS_NOT_ISOLATED))
        return "; ".join(parts)


@dataclass
class AutogradeReport:
    """The outcome of one ``ganlab autograde`` run."""

    assignment: str
    course: Path
    rows: List[AutogradeRow] = field(default_factory=list)
    workers: int = 1
    scheduler: Optional[str] = None
    seconds: float = 0.0
    interrupted: bool = False
    pending: List[str] = field(default_factory=list)   # not graded because the run was stopped
    stages: Dict[str, Dict[str, float]] = field(default_factory=dict)  # student -> seconds per stage

    def row(self, student: str) -> AutogradeRow:
        for row in self.rows:
            if row.student == student:
                return row
        raise KeyError(student)

    def statuses(self) -> Dict[str, str]:
        """student -> status (ok, error or not isolated)."""
        return {row.student: row.status for row in self.rows}

    def seconds_per_student(self) -> Dict[str, float]:
        """Seconds spent on each student graded in this run (skipped students left out)."""
        return {row.student: row.seconds for row in self.rows
                if not row.skipped and row.seconds is not None}

    def to_text(self) -> str:
        width = max([len(row.student) for row in self.rows + [AutogradeRow("student", "")]]
                    + [len(name) for name in self.pending])
        header = f"{'student':<{width}}  {'status':<12}  {'points':>11}  {'seconds':>7}  note"
        lines = [f"ganlab autograde {self.assignment}: {self.course}", header, "-" * len(header)]
        for row in sorted(self.rows, key=lambda row: row.student):
            points = "" if row.points is None else f"{row.points:g}/{row.max_points:g}"
            seconds = "" if row.seconds is None else f"{row.seconds:.1f}"
            lines.append(f"{row.student:<{width}}  {row.status:<12}  {points:>11}  {seconds:>7}  "
                         f"{row.note()}".rstrip())
        for name in self.pending:
            lines.append(f"{name:<{width}}  {'not graded':<12}  {'':>11}  {'':>7}  "
                         "the run was stopped; run the command again to grade it")
        counts = {status: sum(row.status == status for row in self.rows)
                  for status in (STATUS_OK, STATUS_NOT_ISOLATED, STATUS_ERROR)}
        skipped = sum(row.skipped for row in self.rows)
        where = f"scheduler {self.scheduler}" if self.scheduler else f"{self.workers} worker(s)"
        lines.append(f"{len(self.rows)} submission(s): {counts[STATUS_OK]} ok, "
                     f"{counts[STATUS_NOT_ISOLATED]} not isolated, {counts[STATUS_ERROR]} error(s); "
                     f"{skipped} already graded; {where}, {self.seconds:.1f} s"
                     + ("; INTERRUPTED" if self.interrupted else ""))
        if counts[STATUS_NOT_ISOLATED]:
            lines.append("not isolated: the student's code ran without the sandbox (see the grading "
                         "section of the README); its points are recorded all the same")
            lines.append(not_isolated_line())
        return "\n".join(lines)


#: How to make the sandbox available (printed whenever grading runs without it).
INSTALL_SANDBOX = ("install bubblewrap (sudo apt-get install bubblewrap) and allow unprivileged user "
                   "namespaces (sudo sysctl -w kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also "
                   "kernel.apparmor_restrict_unprivileged_userns=0)")


def not_isolated_line(reason: str = "") -> str:
    """The one line ``ganlab autograde`` and ``ganlab demo`` print when student code runs
    without the sandbox: what it means and the install command."""
    return ("WARNING: grading is NOT ISOLATED" + (f" ({reason})" if reason else "")
            + ": student code can read the hidden checks and the gradebook and reach the network; "
            f"to isolate it, {INSTALL_SANDBOX}")


def _sandbox_problem() -> Optional[str]:
    """Why this machine cannot sandbox student code (``Sandbox``'s defaults), or None."""
    try:
        from .sandbox import isolation_status

        isolated, reason = isolation_status()
    except Exception as error:  # noqa: BLE001 - the check itself must never stop grading
        return f"the sandbox check failed: {type(error).__name__}: {error}"
    return None if isolated else reason


def _isolation_reason(problems: Sequence[str]) -> str:
    """The reason inside a "not isolated: ... (reason)" problem line, or ""."""
    for problem in problems:
        if problem.startswith(STATUS_NOT_ISOLATED) and problem.endswith(")") and " (" in problem:
            return problem.split(" (", 1)[1][:-1]
    return ""


class AutogradeInterrupted(KeyboardInterrupt):
    """The run was stopped (Ctrl-C); ``report`` holds what was recorded before."""

    def __init__(self, report: AutogradeReport) -> None:
        super().__init__("autograde interrupted")
        self.report = report


# ---------------------------------------------------------------------------- files
def _ignored(relative: str) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in Path(relative).parts for pattern in _IGNORED)


def _read_tree(folder: Path) -> Dict[str, bytes]:
    """Files under ``folder`` (nbgrader's ignore patterns left out), relative path -> bytes."""
    files = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if path.is_file() and not _ignored(relative):
                files[relative] = path.read_bytes()
    return files


def _write_tree(folder: Path, files: Mapping[str, Union[bytes, Tuple[int, bytes]]]) -> None:
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        mode, data = content if isinstance(content, tuple) else (None, content)
        path.write_bytes(data)
        if mode is not None:
            os.chmod(path, mode)


def submission_fingerprint(folder: PathLike) -> str:
    """SHA-256 of a submission folder's files and names (``timestamp.txt`` included)."""
    digest = hashlib.sha256()
    for relative, data in _read_tree(Path(folder)).items():
        digest.update(relative.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def ledger_path(course: PathLike, assignment: str) -> Path:
    return Path(course) / LEDGER_DIR / f"{assignment}.json"


def _read_ledger(path: Path) -> Dict[str, Dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("format") != _LEDGER_FORMAT or not isinstance(data.get("students"), dict):
        return {}
    return data["students"]


def _write_ledger(path: Path, students: Mapping[str, Dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"format": _LEDGER_FORMAT, "students": dict(sorted(students.items()))},
                                    indent=1))
    os.replace(temporary, path)


def _notebook_problem(path: Path) -> Optional[str]:
    """Why nbgrader cannot read this notebook, or None."""
    import nbformat

    if not path.is_file():
        return f"no {path.name} in the submission"
    data = path.read_bytes()
    try:
        content = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return f"the notebook {path.name} is not a text file (not UTF-8)"
    except ValueError as error:
        return f"the notebook {path.name} is not valid JSON ({error})"
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list) \
            or "nbformat" not in content:
        return f"{path.name} is not a Jupyter notebook (no list of cells / nbformat version)"
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as error:  # nbformat raises many kinds for malformed notebooks
        return f"{path.name} is not a readable notebook ({type(error).__name__}: {error})"[:_REASON_LENGTH]
    return None


# ---------------------------------------------------------------------------- worker
_RUNNING: Set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()

_KNOWN_FAILURES = (
    (re.compile(r"DeadKernelError|Kernel died", re.I), "the kernel died while running the notebook"),
    (re.compile(r"UnresponsiveKernelError|kernel became unresponsive", re.I),
     "the kernel became unresponsive and could not be interrupted"),
    (re.compile(r"CellTimeoutError|Timeout waiting for execute reply|cell timed out", re.I),
     "a cell ran past the time limit"),
)
_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit)\b.*)$")


def _failure_reason(log: str, returncode: int) -> str:
    """Short reason for a failed nbgrader run, from its log."""
    for pattern, reason in _KNOWN_FAILURES:
        if pattern.search(log):
            return reason
    if returncode < 0:
        return f"nbgrader was killed by signal {-returncode}"
    lines = [match.group(1) for match in map(_EXCEPTION_LINE.match, log.splitlines()) if match]
    lines = [line for line in lines if not line.startswith("nbgrader.converters.base.NbGraderException")]
    detail = lines[-1] if lines else f"exit code {returncode}"
    return f"nbgrader could not grade the submission: {detail}"[:_REASON_LENGTH]


def _worker_environment(overrides: Mapping[str, str]) -> Dict[str, str]:
    environment = dict(os.environ)
    environment.update(overrides)
    bin_dir = os.path.dirname(sys.executable)
    environment["PATH"] = bin_dir + os.pathsep + environment.get("PATH", "")
    environment.pop("NBGRADER_EXECUTION", None)
    environment.setdefault("PYTHONHASHSEED", "0")
    return environment


def _config_file(task: GradingTask, scratch: Path) -> None:
    """The scratch course's nbgrader_config.py: the course's own settings, loaded in place
    when this worker sees the course folder (relative paths keep working), else its text."""
    course_config = Path(task.course_root) / "nbgrader_config.py"
    try:
        same = course_config.read_text() == task.config_text
    except OSError:
        same = False
    if same:
        text = ("c = get_config()  # noqa: F821\n"
                f"load_subconfig('nbgrader_config.py', path={os.fspath(course_config.parent)!r})  # noqa: F821\n")
    else:
        text = task.config_text
    (scratch / "nbgrader_config.py").write_text(text)


def _run(command: List[str], cwd: Path, environment: Dict[str, str]) -> Tuple[int, str]:
    """Run nbgrader in its own session (Ctrl-C reaches it through the writer, not the terminal)."""
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace",
                               start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        output, _ = process.communicate()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
    return process.returncode, output


#: Local workers keep one nbgrader process each (False: one ``nbgrader`` command per student,
#: the engine before; benchmarks/bench_autograde.py compares both).
PERSISTENT_WORKERS = True
#: Such a worker starts the next submission's sandboxed kernel, and imports the lab's libraries
#: in it, while it grades the current one (:mod:`.kernel_pool`); False: each kernel starts when
#: its notebook runs.
PRESTART_KERNELS = os.environ.get("GANLAB_PRESTART_KERNELS", "1") != "0"


class _NbgraderWorker:
    """A long-lived nbgrader process (:mod:`._autograde_worker`) serving one worker thread:
    nbgrader starts once per worker instead of once per student. Every student still gets
    its own nbgrader run, scratch course, sandboxed kernel and checker process; a worker
    process that dies is started again for the next student."""

    def __init__(self, environment: Dict[str, str], prestart: Optional[bool] = None) -> None:
        self.environment = environment
        self.process: Optional[subprocess.Popen] = None
        #: prestart the next submission's kernel during this one (see kernel_pool)
        self.prestart = PRESTART_KERNELS if prestart is None else prestart
        self._prepared: Optional[Tuple[Path, Any]] = None   # the next scratch course and its lock
        self.expect_more = True   # another submission of the same assignment will follow (the backend says)

    def scratch_for(self, student: str) -> Tuple[Path, Any]:
        """The scratch course for the next submission (the prepared one, whose kernel may run
        already) and its held lock file; the caller removes the folder and closes the lock."""
        if self._prepared is not None:
            prepared, self._prepared = self._prepared, None
            return prepared
        scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{student}-"))
        return scratch, _hold(scratch / _IN_USE)

    def prepare_next(self) -> Optional[Path]:
        """Create the following submission's scratch course (an empty ``autograded/`` for its
        prestarted kernel and an empty checker socket folder); its path, or None."""
        if not self.prestart:
            return None
        if self._prepared is None:
            from .kernel_pool import AUTOGRADED, SOCKETS

            scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}next-"))
            lock = _hold(scratch / _IN_USE)
            (scratch / AUTOGRADED).mkdir(mode=0o755)
            (scratch / SOCKETS).mkdir(mode=0o755)
            self._prepared = (scratch, lock)
        return self._prepared[0]

    def _drop_prepared(self) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            shutil.rmtree(prepared[0], ignore_errors=True)
            prepared[1].close()

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "ganlab_kit.grading._autograde_worker"],
                                   env=self.environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        ready = process.stdout.readline()
        if not ready.strip():
            process.wait()
            raise OSError("the nbgrader worker process did not start")
        return process

    def run(self, arguments: List[str], cwd: Path, environment: Mapping[str, str]) -> Tuple[int, str]:
        """``nbgrader <arguments>`` in ``cwd``; (exit code, log) as :func:`_run` gives them."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        process = self.process
        log = cwd / ".nbgrader-worker.log"
        changed = {name: value for name, value in environment.items() if self.environment.get(name) != value}
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        try:
            process.stdin.write(json.dumps({"arguments": arguments, "cwd": os.fspath(cwd),
                                            "env": changed, "log": os.fspath(log)}) + "\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        except (BrokenPipeError, OSError):
            reply = ""
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
        try:
            text = log.read_text(errors="replace")
            log.unlink()
        except OSError:
            text = ""
        try:
            return int(json.loads(reply)["returncode"]), text
        except (ValueError, KeyError, TypeError):   # the process died with the student's run
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            returncode = process.wait()
            self.process = None
            return (returncode if returncode else 1), text

    def close(self) -> None:
        """End the nbgrader process (it kills a kernel prestarted for no one) and remove the
        prepared scratch course."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._drop_prepared()


def _stop_running_workers(grace: float = 10.0) -> None:
    """Interrupt every nbgrader this process started (it shuts its kernel down), then kill."""
    with _RUNNING_LOCK:
        processes = list(_RUNNING)
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def _read_grades(database: Path, assignment: str, student: str
                 ) -> Tuple[Optional[datetime], List[NotebookGrades]]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{database}") as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return None, []
        notebooks = []
        for notebook in submission.notebooks:
            notebooks.append(NotebookGrades(
                notebook.name,
                {grade.name: (None if grade.auto_score is None else float(grade.auto_score),
                              bool(grade.needs_manual_grade)) for grade in notebook.grades},
                {comment.name: comment.auto_comment for comment in notebook.comments},
                None if notebook.late_submission_penalty is None else float(notebook.late_submission_penalty)))
        return submission.timestamp, notebooks


def _timestamp(text: Optional[bytes]) -> Optional[datetime]:
    """The submission time in ``timestamp.txt``, parsed as nbgrader does (naive UTC)."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text.decode("utf-8").strip()) if text else None
    except (ValueError, OverflowError, UnicodeDecodeError):
        return None


def _grading_facts(folder: Path, notebooks: Sequence[str]) -> Tuple[Optional[bool], List[str]]:
    """Isolation and problems that the grading run left in the autograded notebooks' metadata."""
    isolated: Optional[bool] = None
    problems: List[str] = []
    for name in notebooks:
        path = folder / f"{name}.ipynb"
        try:
            facts = json.loads(path.read_text()).get("metadata", {}).get(GRADING_METADATA)
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(facts, dict):
            continue
        if "isolated" in facts:
            isolated = bool(facts["isolated"]) if isolated is None else (isolated and bool(facts["isolated"]))
        problems.extend(str(problem) for problem in facts.get("problems") or [])
    return isolated, problems


def grade_submission(task: GradingTask, worker: Optional[_NbgraderWorker] = None) -> GradingOutcome:
    """Grade one submission in a private scratch course (runs in a worker thread or a Dask task),
    with ``nbgrader autograde`` run by ``worker`` (a long-lived nbgrader process) or, without
    one, as a command.

    Never raises for a bad submission: the outcome's ``reason`` says what went wrong."""
    started = time.perf_counter()
    outcome = GradingOutcome(task.student, task.fingerprint)
    if worker is not None:   # perhaps the folder prepared during the last submission, its kernel running
        scratch, in_use = worker.scratch_for(task.student)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{task.student}-"))
        in_use = _hold(scratch / _IN_USE)   # a later run may remove this folder once the lock is free
    try:
        (scratch / "gradebook.db").write_bytes(task.gradebook)
        _write_tree(scratch / "source" / task.assignment, task.source_files)
        submitted = scratch / "submitted" / task.student / task.assignment
        submitted.mkdir(parents=True)
        _write_tree(submitted, task.submission_files)
        outcome.timestamp = _timestamp(task.submission_files.get("timestamp.txt"))
        problems = {}
        for name in task.notebooks:
            problem = _notebook_problem(submitted / f"{name}.ipynb")
            if problem:
                problems[name] = problem
                # nbgrader grades a missing notebook 0 and goes on with the others;
                # a corrupt one would stop it, so it goes missing here.
                (submitted / f"{name}.ipynb").unlink(missing_ok=True)
        outcome.reason = "; ".join(problems.values())
        if len(problems) == len(task.notebooks):
            return outcome
        _config_file(task, scratch)
        database = scratch / "gradebook.db"
        arguments = ["autograde", task.assignment, "--force",
                     f"--CourseDirectory.student_id={task.student}",
                     f"--CourseDirectory.root={scratch}",
                     f"--CourseDirectory.db_url=sqlite:///{database}"]
        environment = _worker_environment(task.environment)
        environment[TIMINGS_ENV] = os.fspath(scratch / "timings.jsonl")
        following = worker.prepare_next() if worker is not None and worker.expect_more else None
        if following is not None:
            from .kernel_pool import POOL_ENV

            environment[POOL_ENV] = os.fspath(following)
        launched = time.time()
        outcome.stages["scratch course"] = round(time.perf_counter() - started, 3)
        if worker is not None:
            returncode, log = worker.run(arguments, scratch, environment)
        else:
            returncode, log = _run([sys.executable, "-m", "nbgrader", *arguments], scratch, environment)
        outcome.stages.update(_stages(scratch / "timings.jsonl", launched, time.time()))
        outcome.log_tail = "\n".join(log.strip().splitlines()[-40:])
        autograded = scratch / "autograded" / task.student / task.assignment
        graded = [name for name in task.notebooks if name not in problems]
        if returncode != 0 or not all((autograded / f"{name}.ipynb").is_file() for name in graded):
            outcome.reason = "; ".join(filter(None, [outcome.reason, _failure_reason(log, returncode)]))
            return outcome
        timestamp, outcome.notebooks = _read_grades(database, task.assignment, task.student)
        outcome.timestamp = timestamp or outcome.timestamp
        if not outcome.notebooks:
            outcome.reason = "; ".join(filter(None, [outcome.reason, "nbgrader recorded no grades"]))
            return outcome
        for path in sorted(autograded.rglob("*")):
            if path.is_file():
                outcome.files[path.relative_to(autograded).as_posix()] = (
                    path.stat().st_mode & 0o777, path.read_bytes())
        outcome.isolated, outcome.problems = _grading_facts(autograded, graded)
        return outcome
    except Exception as error:  # a worker bug or a full disk must not stop the class
        outcome.reason = f"the grading worker failed: {type(error).__name__}: {error}"[:_REASON_LENGTH]
        return outcome
    finally:
        outcome.seconds = round(time.perf_counter() - started, 2)
        if outcome.stages:
            outcome.stages["results"] = round(outcome.seconds - sum(
                value for name, value in outcome.stages.items() if name in STAGES), 3)
        shutil.rmtree(scratch, ignore_errors=True)
        in_use.close()


#: Stages of one submission's grading, in order (benchmarks/bench_autograde.py prints them).
STAGES = ("scratch course", "nbgrader start", "kernel start", "first cell (imports)", "notebook cells",
          "checker", "quality scoring", "nbgrader other", "results", "recording")
_QUALITY_PARTS = ("quality", "coverage")


def _stages(path: Path, launched: float, exited: float) -> Dict[str, float]:
    """Seconds per stage of one nbgrader run, from the timings its notebooks wrote (TIMINGS_ENV)."""
    try:
        notebooks = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return {}
    if not notebooks:
        return {}
    stages = dict.fromkeys(STAGES[1:8], 0.0)
    details: Dict[str, float] = {}   # seconds per grade cell ("part lab/name"), not a stage
    stages["nbgrader start"] = notebooks[0]["start"] - launched
    for notebook in notebooks:
        checker = notebook.get("checker_start", 0.0) + notebook.get("checker_close", 0.0)
        stages["checker"] += checker
        ready = notebook.get("kernel_ready", notebook["end"])
        stages["kernel start"] += ready - notebook["start"] - notebook.get("checker_start", 0.0)
        first = True
        for kind, part, seconds in notebook["cells"]:
            if kind == "grade":
                quality = part and part.rsplit("/", 1)[-1].endswith(_QUALITY_PARTS)
                stages["quality scoring" if quality else "checker"] += seconds
                details[f"part {part}"] = details.get(f"part {part}", 0.0) + seconds
            elif first:
                stages["first cell (imports)"] += seconds
                first = False
            else:
                stages["notebook cells"] += seconds
    # the rest of the nbgrader process: its other preprocessors, kernel shutdown, writing files
    stages["nbgrader other"] = (exited - launched) - sum(stages.values())
    return {name: round(value, 3) for name, value in {**stages, **details}.items()}


_SCRATCH_PREFIX = "ganlab-autograde-"
_IN_USE = ".in-use"


def _hold(path: Path):
    """Create ``path`` and hold an exclusive lock on it while the returned file stays open."""
    handle = open(path, "w")
    with contextlib.suppress(ImportError, OSError):
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def remove_abandoned_scratch(minimum_age: float = 60.0) -> List[Path]:
    """Remove the scratch courses of workers that are gone (a writer killed with SIGKILL leaves
    them): those whose lock file nobody holds. Returns the folders removed."""
    try:
        import fcntl
    except ImportError:
        return []
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*"):
        lock = folder / _IN_USE
        try:
            if time.time() - folder.stat().st_mtime < minimum_age or not lock.is_file():
                continue
            with open(lock) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError:   # held by a running worker, or gone meanwhile
            continue
    return removed


# ---------------------------------------------------------------------------- writer
@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block ends (main thread only), so a student is recorded whole."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _one_transaction(gradebook) -> Iterator[None]:
    """Turn the commits of nbgrader's Gradebook API into flushes: the block commits once,
    or rolls back as a whole."""
    session = gradebook.db
    commit = session.commit
    session.commit = session.flush
    try:
        yield
    except BaseException:
        del session.commit
        session.rollback()
        raise
    del session.commit
    commit()


def _replace_folder(target: Path, files: Mapping[str, Tuple[int, bytes]]) -> None:
    """Put ``files`` at ``target`` (or remove ``target`` when there are none), swapping whole folders."""
    if not files and not target.exists():
        return
    tag = f"{_STAGING}{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = target.parent / f"{tag}.new"
    old = target.parent / f"{tag}.old"
    if files:
        _write_tree(staging, files)
    if target.exists():
        os.rename(target, old)
    if files:
        os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_staging(autograded: Path) -> None:
    if not autograded.is_dir():
        return
    for student in autograded.iterdir():
        if student.is_dir():
            for leftover in student.glob(f"{_STAGING}*"):
                shutil.rmtree(leftover, ignore_errors=True)


def _record(database: Path, course_id: str, assignment: str, outcome: GradingOutcome,
            notebook_names: Sequence[str]) -> Tuple[float, float]:
    """Write one student's rows in one transaction; (autograded points, their maximum)."""
    from nbgrader.api import Gradebook, MissingEntry

    from sqlalchemy.exc import SAWarning

    with Gradebook(f"sqlite:///{database}", course_id=course_id) as gradebook, \
            warnings.catch_warnings():
        # nbgrader's add_submission builds rows that autoflush before they join the session;
        # SQLAlchemy warns and the rows are saved all the same (plain nbgrader prints it too)
        warnings.simplefilter("ignore", SAWarning)
        with _one_transaction(gradebook):
            try:
                gradebook.find_student(outcome.student)
            except MissingEntry:
                gradebook.add_student(outcome.student)
            if outcome.timestamp is not None:
                gradebook.update_or_create_submission(assignment, outcome.student, timestamp=outcome.timestamp)
            else:
                gradebook.update_or_create_submission(assignment, outcome.student)
            recorded = {notebook.name: notebook for notebook in outcome.notebooks}
            for name in notebook_names:
                notebook = gradebook.find_submission_notebook(name, assignment, outcome.student)
                rows = recorded.get(name)
                if rows is None:   # not gradable: nbgrader's rule for a missing notebook
                    for grade in notebook.grades:
                        grade.auto_score = 0
                        grade.needs_manual_grade = False
                    notebook.late_submission_penalty = None
                    continue
                for grade in notebook.grades:
                    if grade.name in rows.grades:
                        auto_score, needs_manual_grade = rows.grades[grade.name]
                        grade.auto_score = auto_score
                        # SaveAutoGrades: a manual score is kept and the cell flagged for review
                        grade.needs_manual_grade = needs_manual_grade or grade.manual_score is not None
                for comment in notebook.comments:
                    if comment.name in rows.comments:
                        comment.auto_comment = rows.comments[comment.name]
                notebook.late_submission_penalty = rows.late_penalty
            gradebook.db.commit()
        submission = gradebook.find_submission(assignment, outcome.student)
        return float(submission.code_score), float(submission.assignment.max_code_score)


def _status(outcome: GradingOutcome) -> str:
    if outcome.reason:
        return STATUS_ERROR
    if outcome.isolated is False:
        return STATUS_NOT_ISOLATED
    return STATUS_OK


# ---------------------------------------------------------------------------- backends
class _LocalBackend:
    """Workers as threads of this process, each driving an nbgrader subprocess."""

    def __init__(self, workers: int, environment: Optional[Dict[str, str]] = None) -> None:
        self.capacity = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ganlab-autograde")
        # one long-lived nbgrader process per worker thread (None: a command per student)
        self.environment = environment
        self.local = threading.local()
        self.workers: List[_NbgraderWorker] = []
        self.workers_lock = threading.Lock()

    def _worker(self) -> Optional[_NbgraderWorker]:
        """This thread's long-lived nbgrader worker (made on first use; None: a command per student)."""
        worker = getattr(self.local, "worker", None)
        if worker is None and self.environment is not None:
            worker = self.local.worker = _NbgraderWorker(self.environment)
            with self.workers_lock:
                self.workers.append(worker)
        return worker

    def _grade(self, task: GradingTask) -> GradingOutcome:
        worker = self._worker()
        if worker is not None:
            # prestart a kernel for this assignment only while another of its submissions waits
            # (a queue of several labs: a kernel prestarted for the next lab would be killed)
            worker.expect_more = task.followed
        return grade_submission(task, worker)

    def start(self) -> None:
        """Start the workers' nbgrader processes now, in the background: nbgrader's imports then
        overlap whatever the caller does before the first submission (``ganlab demo`` builds its
        first course). Each thread starts its own; a worker process that died is started again at
        its next student, as always."""
        def start_one() -> None:
            worker = self._worker()
            if worker is not None and worker.process is None:
                with contextlib.suppress(OSError):
                    worker.process = worker._start()

        for _ in range(self.capacity):
            self.pool.submit(start_one)

    def submit(self, task: GradingTask) -> Future:
        return self.pool.submit(self._grade, task)

    def wait_any(self, pending: Set[Any]) -> Set[Any]:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        return done

    @staticmethod
    def result(future: Future) -> GradingOutcome:
        return future.result()

    def close(self, stop: bool) -> None:
        if stop:
            self.pool.shutdown(wait=False, cancel_futures=True)
            _stop_running_workers()
        self.pool.shutdown(wait=True)
        for worker in self.workers:
            worker.close()


class _DaskBackend:
    """Each student a task on a Dask distributed cluster; results come back to this writer."""

    def __init__(self, address: Any, workers: Optional[int]) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise GradingSetupError("--scheduler needs Dask distributed: pip install distributed") from None
        try:
            self.client = address if hasattr(address, "submit") else Client(address, timeout="30s")
        except OSError as error:
            raise GradingSetupError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        self.owned = not hasattr(address, "submit")
        threads = sum(self.client.nthreads().values()) or 1
        self.capacity = workers or threads

    def submit(self, task: GradingTask):
        # the task holds the submission's files: scattered, not embedded in the task graph
        data = self.client.scatter(task, hash=False)
        return self.client.submit(grade_submission, data, pure=False,
                                  key=f"ganlab-autograde-{task.student}-{uuid.uuid4().hex}")

    def wait_any(self, pending: Set[Any]) -> Set[Any]:
        from distributed import wait as dask_wait

        done, _ = dask_wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done)

    @staticmethod
    def result(future) -> GradingOutcome:
        return future.result()

    def close(self, stop: bool) -> None:
        if self.owned:
            self.client.close()


# ---------------------------------------------------------------------------- the run
def _gradebook_snapshot(database: Path, scratch: Path, course_id: str) -> bytes:
    """The gradebook with every student removed: the assignment's structure only."""
    from nbgrader.api import Gradebook

    copy = scratch / "gradebook.db"
    with contextlib.closing(sqlite3.connect(database)) as source, \
            contextlib.closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    with Gradebook(f"sqlite:///{copy}", course_id=course_id) as gradebook:
        for student in list(gradebook.students):
            gradebook.remove_student(student.id)
    with contextlib.closing(sqlite3.connect(copy)) as connection:
        connection.execute("VACUUM")
    return copy.read_bytes()


def _assignment_facts(database: Path, assignment: str) -> Tuple[str, List[str], Set[str]]:
    """(course id, notebook names, students with a recorded submission) of ``assignment``."""
    from nbgrader.api import Gradebook

    # The course id comes from the gradebook itself: Gradebook(url) alone would add a
    # "default_course" row to the instructor's database.
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            row = connection.execute("SELECT course_id FROM assignment WHERE name = ?", (assignment,)).fetchone()
    except sqlite3.Error as error:
        raise GradingSetupError(f"cannot read the gradebook {database}: {error}") from None
    if row is None:
        raise GradingSetupError(
            f"{assignment} is not in the gradebook {database}: run `nbgrader generate_assignment "
            f"{assignment}` first")
    with Gradebook(f"sqlite:///{database}", course_id=row[0]) as gradebook:
        record = gradebook.find_assignment(assignment)
        names = [notebook.name for notebook in record.notebooks]
        recorded = {submission.student.id for submission in record.submissions}
        return row[0], names, recorded


def _submitted_students(root: Path, assignment: str) -> List[str]:
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(path.name for path in submitted.iterdir()
                  if (path / assignment).is_dir() and not path.name.startswith("."))


def _skip(entry: Optional[Dict[str, Any]], fingerprint: str, recorded: bool, autograded: Path,
          retry_errors: bool) -> bool:
    if not entry or entry.get("fingerprint") != fingerprint or not recorded:
        return False
    if entry.get("status") == STATUS_ERROR:
        return not retry_errors
    return autograded.is_dir()


@dataclass
class AutogradeJob:
    """One assignment of one course for :func:`autograde_courses`."""

    course: PathLike
    assignment: str
    students: Optional[Sequence[str]] = None   # None: every submission
    force: bool = False                         # regrade students already recorded
    retry_errors: bool = False                  # regrade students whose recorded status is an error
    weight: float = 0.0                         # expected seconds per submission: heavier jobs go first


def autograde_course(course: PathLike, assignment: str, *, students: Optional[Sequence[str]] = None,
                     workers: int = 1, scheduler: Any = None, force: bool = False,
                     retry_errors: bool = False, environment: Optional[Mapping[str, str]] = None,
                     log: Callable[[str], None] = print,
                     on_recorded: Optional[Callable[[AutogradeRow], None]] = None) -> AutogradeReport:
    """Autograde the submissions of ``assignment`` in the nbgrader course at ``course``.

    ``workers`` submissions are graded at once on this machine, or on the Dask cluster
    at ``scheduler`` (an address, or a ``distributed.Client``). Students whose same
    submission is already recorded are skipped unless ``force``; recorded errors are
    retried with ``retry_errors``. ``environment`` is added to the workers' environment.
    ``on_recorded`` is called after each student is recorded (tests use it to stop a run).

    Raises :class:`GradingSetupError` when the course cannot be graded at all, and
    :class:`AutogradeInterrupted` (a KeyboardInterrupt carrying the report) on Ctrl-C.
    """
    started = time.perf_counter()
    with contextlib.ExitStack() as locks:
        run = _CourseRun(AutogradeJob(course, assignment, students, force, retry_errors), locks, started,
                         workers=workers, scheduler=scheduler, log=log)
        if not run.todo:
            run.finish()
            return run.report
        backend: Union[_LocalBackend, _DaskBackend]
        backend = _DaskBackend(scheduler, workers if workers > 1 else None) if scheduler is not None \
            else _LocalBackend(min(workers, len(run.todo)),
                               _worker_environment(environment or {}) if PERSISTENT_WORKERS else None)
        problem = _sandbox_problem() if scheduler is None else None
        if problem:
            log(not_isolated_line(problem))
            run.warned = True
        log(f"grading {len(run.todo)} submission(s) of {assignment} "
            + (f"on the Dask cluster at {scheduler}" if scheduler is not None
               else f"with {backend.capacity} worker(s)")
            + (f"; {len(run.report.rows)} already graded" if run.report.rows else ""))
        _grade_runs(backend, _Arrivals([run]), environment, on_recorded=on_recorded)
        return run.report


def autograde_courses(jobs: Iterable[AutogradeJob], *, workers: int = 2,
                      environment: Optional[Mapping[str, str]] = None,
                      log: Callable[[str], None] = print,
                      on_done: Optional[Callable[[AutogradeReport], None]] = None) -> List[AutogradeReport]:
    """Autograde several courses' assignments with one pool of ``workers`` local workers.

    Every submission of every job waits in one queue, the heaviest job's (``weight``) first,
    a job's students together and in order, so that no worker idles while another job still has
    students and each worker keeps one lab's libraries warm. ``jobs`` may be a generator that
    builds the next course while the first ones are graded: it is read in a thread of its own,
    and a job's students join the queue as soon as it is yielded. ``on_done`` gets each job's
    report as soon as its last student is recorded (in the writer's thread: hand slow work on).
    Each job is graded exactly as :func:`autograde_course` grades it (same workers, writer,
    ledger and resume rules); ``log`` lines name the assignment. Returns the reports in the
    order the jobs came. Raises what ``jobs`` raises, after stopping the grading under way.
    """
    if workers < 1:
        raise GradingSetupError("--workers must be at least 1")
    started = time.perf_counter()
    arrivals = _Arrivals()

    def read_jobs() -> None:
        try:
            for job in jobs:
                arrivals.put(job)
        except BaseException as error:  # noqa: BLE001 - raised again in the writer's thread
            arrivals.close(error)
        else:
            arrivals.close()

    reader = threading.Thread(target=read_jobs, name="ganlab-autograde-jobs", daemon=True)
    problem = _sandbox_problem()
    if problem:
        log(not_isolated_line(problem))
    with contextlib.ExitStack() as locks:
        def open_run(job: AutogradeJob) -> _CourseRun:
            run = _CourseRun(job, locks, time.perf_counter(),
                             workers=workers, scheduler=None,
                             log=lambda message, lab=job.assignment: log(f"{lab}: {message}"))
            run.warned = bool(problem)
            return run

        arrivals.opener = open_run
        backend = _LocalBackend(workers, _worker_environment(environment or {}) if PERSISTENT_WORKERS else None)
        backend.start()   # nbgrader starts in the workers while the first job's course is made
        reader.start()
        runs = _grade_runs(backend, arrivals, environment, on_done=on_done)
    log(f"graded {sum(len(run.report.rows) for run in runs)} submission(s) of {len(runs)} assignment(s) "
        f"with {workers} worker(s) in {time.perf_counter() - started:.1f} s")
    return [run.report for run in runs]


@contextlib.contextmanager
def _writer_lock(ledger_file: Path) -> Iterator[None]:
    """One writer per course and assignment: a second ``ganlab autograde`` stops at once."""
    try:
        import fcntl
    except ImportError:   # Windows: no advisory locks; one run at a time is up to the user
        yield
        return
    ledger_file.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger_file.with_suffix(".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise GradingSetupError(
                f"another `ganlab autograde` is grading {ledger_file.stem} in this course; wait for it "
                "(or stop it) first") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _CourseRun:
    """The writer's side of grading one assignment of one course: the course's gradebook,
    ledger (its writer lock held in ``locks``) and report, and the students left to grade."""

    def __init__(self, job: AutogradeJob, locks: contextlib.ExitStack, started: float, *, workers: int,
                 scheduler: Any, log: Callable[[str], None]) -> None:
        root = Path(job.course).resolve()
        database = root / "gradebook.db"
        assignment = job.assignment
        if not (root / "nbgrader_config.py").is_file() or not database.is_file():
            raise GradingSetupError(
                f"{root} is not an nbgrader course with a gradebook (nbgrader_config.py and gradebook.db); "
                "run it in the course folder or pass --course-dir, after `nbgrader generate_assignment`")
        if workers < 1:
            raise GradingSetupError("--workers must be at least 1")
        course_id, notebook_names, recorded = _assignment_facts(database, assignment)
        submitted = _submitted_students(root, assignment)
        if job.students:
            unknown = sorted(set(job.students) - set(submitted))
            if unknown:
                raise GradingSetupError(f"no submission of {assignment} from {unknown} in {root / 'submitted'}")
            submitted = [name for name in submitted if name in set(job.students)]
        self.root, self.database, self.assignment, self.course_id = root, database, assignment, course_id
        self.notebook_names, self.weight, self.started, self.log = notebook_names, job.weight, started, log
        self.ledger_file = ledger_path(root, assignment)
        locks.enter_context(_writer_lock(self.ledger_file))
        self.warned = False     # the not-isolated line was printed
        self.done = False       # every student recorded (or skipped), report finished
        _remove_stale_staging(root / "autograded")
        remove_abandoned_scratch()
        self.ledger = _read_ledger(self.ledger_file)
        self.report = AutogradeReport(assignment, root, workers=workers,
                                      scheduler=None if scheduler is None else str(scheduler))
        self.todo: List[Tuple[str, str]] = []
        for student in submitted:
            fingerprint = submission_fingerprint(root / "submitted" / student / assignment)
            entry = self.ledger.get(student)
            if not job.force and _skip(entry, fingerprint, student in recorded,
                                       root / "autograded" / student / assignment, job.retry_errors):
                self.report.rows.append(AutogradeRow(student, entry["status"], entry.get("reason", ""),
                                                     entry.get("points"), entry.get("max_points"),
                                                     entry.get("seconds"), list(entry.get("problems", [])),
                                                     skipped=True))
            else:
                self.todo.append((student, fingerprint))
        self.fingerprints = dict(self.todo)
        self.left = len(self.todo)     # students not recorded yet
        if self.todo:
            with tempfile.TemporaryDirectory(prefix="ganlab-gradebook-") as scratch:
                self.snapshot = _gradebook_snapshot(database, Path(scratch), course_id)
            self.source_files = _read_tree(root / "source" / assignment)
            self.config_text = (root / "nbgrader_config.py").read_text()

    def task(self, student: str, environment: Optional[Mapping[str, str]]) -> GradingTask:
        return GradingTask(self.assignment, student, self.fingerprints[student], self.notebook_names,
                           self.snapshot, self.source_files,
                           _read_tree(self.root / "submitted" / student / self.assignment),
                           os.fspath(self.root), self.config_text, dict(environment or {}))

    def record(self, student: str, result: Callable[[], GradingOutcome]) -> AutogradeRow:
        """Record one student's outcome (``result()`` gives it, or raises for a crashed worker)."""
        fingerprint = self.fingerprints[student]
        try:
            outcome = result()
        except Exception as error:  # a worker process died (Dask: KilledWorker), ...
            outcome = GradingOutcome(student, fingerprint,
                                     reason=f"the grading worker crashed: {type(error).__name__}: "
                                            f"{error}"[:_REASON_LENGTH])
        try:
            recording = time.perf_counter()
            with _deferred_interrupt():
                row = _record_outcome(self.root, self.database, self.course_id, self.assignment, outcome,
                                      self.notebook_names, self.ledger, self.ledger_file)
            self.report.stages[student] = dict(outcome.stages,
                                               recording=round(time.perf_counter() - recording, 3))
        except Exception as error:  # the gradebook is locked, the disk is full, ...
            raise GradingSetupError(
                f"could not record {student} in {self.database} ({type(error).__name__}: {error}); the "
                "students recorded before are kept, run the command again to resume") from error
        self.report.rows.append(row)
        self.left -= 1
        if row.status == STATUS_NOT_ISOLATED and not self.warned:
            self.warned = True   # Sandbox.mode = 'off', another bwrap in the course config, ...
            self.log(not_isolated_line(_isolation_reason(row.problems)))
        self.log(f"{row.student}: {row.status}"
                 + (f" {row.points:g}/{row.max_points:g}" if row.points is not None else "")
                 + f" in {row.seconds:.1f} s" + (f" ({row.note()})" if row.note() else ""))
        return row

    def finish(self) -> None:
        self.done = True
        self.report.seconds = round(time.perf_counter() - self.started, 2)


class _Arrivals:
    """Course runs for the writer: given at once (``runs``), or as jobs that another thread
    puts while the first ones are graded (:func:`autograde_courses`); ``wake`` is a future that
    completes when something arrives, so the writer can wait for it beside its workers."""

    def __init__(self, runs: Sequence[_CourseRun] = ()) -> None:
        self.lock = threading.Lock()
        self.items: List[Any] = list(runs)
        self.closed = bool(runs)
        self.error: Optional[BaseException] = None
        self.wake: Future = Future()
        self.opener: Callable[[AutogradeJob], _CourseRun] = lambda job: job

    def _signal(self) -> None:
        if not self.wake.done():
            self.wake.set_result(None)

    def put(self, job: AutogradeJob) -> None:
        with self.lock:
            self.items.append(job)
            self._signal()

    def close(self, error: Optional[BaseException] = None) -> None:
        with self.lock:
            self.closed, self.error = True, error
            self._signal()

    def take(self) -> Tuple[List[_CourseRun], bool]:
        """(the runs that arrived since the last call, whether no more will come); raises what the
        jobs' reader raised."""
        with self.lock:
            items, self.items = self.items, []
            closed, error = self.closed, self.error
            if self.wake.done() and not closed:
                self.wake = Future()
        if error is not None and not items:
            raise error
        return [self.opener(item) for item in items], closed and error is None

    def wait(self) -> None:
        self.wake.result()


def _grade_runs(backend: Union["_LocalBackend", "_DaskBackend"], arrivals: _Arrivals,
                environment: Optional[Mapping[str, str]], *,
                on_recorded: Optional[Callable[[AutogradeRow], None]] = None,
                on_done: Optional[Callable[[AutogradeReport], None]] = None) -> List[_CourseRun]:
    """The writer's loop: keep ``backend``'s workers busy with the queued students of every run
    (heaviest run first, each run's students together), record each outcome as it comes, finish
    a run when its last student is recorded. Stopped (Ctrl-C): every unfinished run's report
    says so and :class:`AutogradeInterrupted` carries the first one."""
    runs: List[_CourseRun] = []
    queue: List[Tuple[Tuple[float, int, int], _CourseRun, str]] = []
    running: Dict[Any, Tuple[_CourseRun, str]] = {}
    finished = False
    try:
        closed = False
        while True:
            if not closed:
                arrived, closed = arrivals.take()
                for run in arrived:
                    runs.append(run)
                    queue.extend(((-run.weight, len(runs), index), run, student)
                                 for index, (student, _) in enumerate(run.todo))
                    if not run.todo:
                        run.finish()
                        if on_done:
                            on_done(run.report)
                queue.sort(key=lambda item: item[0])
            if not queue and not running:
                if closed:
                    break
                arrivals.wait()
                continue
            while queue and len(running) < backend.capacity:
                _, run, student = queue.pop(0)
                task = run.task(student, environment)
                task.followed = any(other is run for _, other, _ in queue)   # workers prestart for it
                running[backend.submit(task)] = (run, student)
            for future in backend.wait_any(set(running) | (set() if closed else {arrivals.wake})):
                if future not in running:
                    continue
                run, student = running.pop(future)
                row = run.record(student, lambda: backend.result(future))
                if on_recorded:
                    on_recorded(row)
                if not run.left:
                    run.finish()
                    if on_done:
                        on_done(run.report)
        finished = True
    except KeyboardInterrupt:
        stopped = [run for run in runs if not run.done]
        for run in stopped:
            run.report.interrupted = True
            run.report.pending = sorted({student for other, student in running.values() if other is run}
                                        | {student for _, other, student in queue if other is run})
            run.log("stopping: the students recorded so far are kept; run the command again to grade the rest")
            run.report.seconds = round(time.perf_counter() - run.started, 2)
        interrupted = AutogradeInterrupted(stopped[0].report if stopped else runs[0].report)
        interrupted.reports = [run.report for run in runs]
        raise interrupted from None
    finally:
        backend.close(stop=not finished)   # stopped or failed: interrupt the running workers
    return runs


def _record_outcome(root: Path, database: Path, course_id: str, assignment: str,
                    outcome: GradingOutcome, notebook_names: Sequence[str],
                    ledger: Dict[str, Dict[str, Any]], ledger_file: Path) -> AutogradeRow:
    """The writer's step for one student: files, then gradebook (one transaction), then ledger."""
    _replace_folder(root / "autograded" / outcome.student / assignment, outcome.files)
    points, max_points = _record(database, course_id, assignment, outcome, notebook_names)
    row = AutogradeRow(outcome.student, _status(outcome), outcome.reason, round(points, 4),
                       round(max_points, 4), outcome.seconds, list(outcome.problems))
    entry = asdict(row)
    del entry["student"], entry["skipped"]
    entry.update(fingerprint=outcome.fingerprint, isolated=outcome.isolated,
                 recorded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    ledger[outcome.student] = entry
    _write_ledger(ledger_file, ledger)
    return row
