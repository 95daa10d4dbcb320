"""A real course through nbgrader's exchange: ``ganlab course setup|release|collect|feedback``.

Each step is the nbgrader command an instructor would type, run by the Python that runs
``ganlab`` (so nothing has to be activated: nbgrader's helper tools and the grading kernels
come from this environment), in the course folder, with the kit's grading settings loaded
by the course's ``nbgrader_config.py``. What the kit adds:

- ``setup`` writes the course's ``nbgrader_config.py`` (course id, exchange folder, the kit's
  grading config) and ``student_nbgrader_config.py``, the file students' Jupyter reads (same
  exchange, same course, hand-in files up to the sandbox's size limit), and makes the exchange
  folder writable by every student as nbgrader expects on a shared machine (JupyterHub);
- ``release`` generates the student version, records the due date, and releases it;
- ``collect`` collects and then says, per student, which of the files the lab asks for
  (weights, runs, logs) did not arrive, so a TA can ask for them before grading;
- ``feedback`` writes the feedback pages and releases them to the students.

Autograding is ``ganlab autograde`` (sandboxed, parallel, resumable); grades for the LMS are
``ganlab course export`` (:mod:`ganlab_kit.grading.export`).
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .bridge import GradingSetupError
from .course import Course, Repository, find_repository, require_nbgrader
from .submissions import load_submission_module, load_submissions

__all__ = ["tools_on_path", "COURSE_CONFIG", "STUDENT_CONFIG", "MAX_FILE_KB", "MAX_DIR_KB", "CourseSetup", "setup_course", "open_course",
           "release", "collect", "release_feedback", "hand_in_files", "missing_files"]

PathLike = Union[str, "os.PathLike[str]"]

COURSE_CONFIG = "nbgrader_config.py"
STUDENT_CONFIG = "student_nbgrader_config.py"

#: Largest hand-in file nbgrader copies (kilobytes). nbgrader's default, 100 MB, silently drops a
#: bigger file at submit and collect; the kit allows what the grading sandbox lets a lab write.
MAX_FILE_KB = 512 * 1024
#: Largest assignment folder nbgrader submits and collects (kilobytes); its default, 100 MB, makes
#: ``nbgrader submit`` fail ("Directory size is too big") for a lab that hands in big weights.
MAX_DIR_KB = 1024 * 1024

_HEADER = "# written by `ganlab course setup`; edit freely, the kit never rewrites this file\n"


def tools_on_path() -> None:
    """Put the folder of this Python first on PATH (once): nbgrader starts ``alembic`` by name
    when it makes a gradebook, even through its Python API, and finds it only there when the
    environment is not activated."""
    folder = os.path.dirname(sys.executable)
    if folder not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")


@dataclass
class CourseSetup:
    """What ``setup_course`` made (or found already there)."""

    root: Path
    course_id: str
    exchange: Path
    labs: List[str]
    created: List[Path] = field(default_factory=list)   # files and folders written now
    kept: List[Path] = field(default_factory=list)      # already there, left as they were


def _course_config(course_id: str, root: Path, exchange: Path, repository: Repository) -> str:
    return (f'"""nbgrader settings of the course {course_id} (instructor side)."""\n{_HEADER}'
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {course_id!r}\n"
            f"c.CourseDirectory.root = {os.fspath(root)!r}\n"
            f"c.Exchange.root = {os.fspath(exchange)!r}   # the folder every student can write to\n"
            f"c.CourseDirectory.max_file_size = {MAX_FILE_KB}   # kB; nbgrader's 100 MB would drop big weights\n"
            f"c.CourseDirectory.max_dir_size = {MAX_DIR_KB}   # kB; a whole hand-in folder\n"
            "# Late penalty (nbgrader's timestamps against the due date set by `ganlab course release --due`):\n"
            "# c.AssignLatePenalties.plugin_class = 'ganlab_kit.grading.export.PercentPerDayLate'\n"
            "# c.PercentPerDayLate.percent_per_day = 10\n"
            "# the kit's grading: hidden checks, sandbox, feedback (see the file)\n"
            f"load_subconfig({os.fspath(repository.autograder / 'nbgrader_config.py')!r})  # noqa: F821\n")


def _student_config(course_id: str, exchange: Path) -> str:
    return (f'"""nbgrader settings for the students of {course_id}.\n\n'
            "Install as /etc/jupyter/nbgrader_config.py on the students' server (every student), or\n"
            "as ~/.jupyter/nbgrader_config.py of one student. It holds no grading settings.\n"
            f'"""\n{_HEADER}'
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {course_id!r}\n"
            f"c.Exchange.root = {os.fspath(exchange)!r}\n"
            f"c.CourseDirectory.max_file_size = {MAX_FILE_KB}   # kB: hand in big weights files whole\n"
            f"c.CourseDirectory.max_dir_size = {MAX_DIR_KB}   # kB: nbgrader's 100 MB refuses a folder with big weights\n")


def _make_exchange(exchange: Path) -> bool:
    """Create the exchange folder, writable by everyone (nbgrader's inbound/outbound folders
    inside it get their own modes from nbgrader); True when it was made now."""
    made = not exchange.exists()
    exchange.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(exchange.stat().st_mode)
    if mode & 0o777 != 0o777:
        try:
            os.chmod(exchange, mode | 0o777)
        except PermissionError:
            raise GradingSetupError(
                f"the exchange folder {exchange} must be writable by every student (chmod 777) "
                "and this user cannot change it; ask its owner to run: "
                f"chmod 777 {exchange}") from None
    return made


def setup_course(root: PathLike, course_id: str, exchange: PathLike,
                 labs: Optional[Sequence[str]] = None, repository: Optional[Repository] = None) -> CourseSetup:
    """Make (or complete) an nbgrader course folder at ``root`` for ``labs`` (default: all).

    Nothing already there is overwritten: an existing ``nbgrader_config.py`` or
    ``source/<lab>/`` is kept as it is (listed in ``kept``)."""
    require_nbgrader()
    repository = repository or find_repository()
    root, exchange = Path(root).resolve(), Path(exchange).resolve()
    known = repository.assignment_names()
    labs = list(labs or known)
    unknown = sorted(set(labs) - set(known))
    if unknown:
        raise GradingSetupError(f"no lab(s) {unknown} in {repository.assignments / 'source'}; "
                                f"choose from {known}")
    if not course_id or not course_id.replace("-", "").replace("_", "").isalnum():
        raise GradingSetupError(f"course id {course_id!r}: use letters, digits, - and _ only "
                                "(it names a folder in the exchange)")
    result = CourseSetup(root, course_id, exchange, labs)
    root.mkdir(parents=True, exist_ok=True)
    for name, text in ((COURSE_CONFIG, _course_config(course_id, root, exchange, repository)),
                       (STUDENT_CONFIG, _student_config(course_id, exchange))):
        path = root / name
        if path.exists():
            result.kept.append(path)
        else:
            path.write_text(text)
            result.created.append(path)
    for lab in labs:
        target = root / "source" / lab
        if target.exists():
            result.kept.append(target)
            continue
        shutil.copytree(repository.assignments / "source" / lab, target,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        result.created.append(target)
    if _make_exchange(exchange):
        result.created.append(exchange)
    return result


def open_course(root: PathLike = ".", repository: Optional[Repository] = None) -> Course:
    """The course at ``root``, read from its ``nbgrader_config.py`` (made by ``setup_course``
    or by hand: it must set ``c.CourseDirectory.course_id``)."""
    require_nbgrader()
    root = Path(root).resolve()
    config = root / COURSE_CONFIG
    if not config.is_file():
        raise GradingSetupError(f"{root} has no {COURSE_CONFIG}; make the course first: "
                                f"ganlab course setup {root} --course-id ID --exchange /srv/nbgrader/exchange")
    from traitlets.config.loader import PyFileConfigLoader

    loaded = PyFileConfigLoader(COURSE_CONFIG, path=os.fspath(root)).load_config()
    course_id = loaded.get("CourseDirectory", {}).get("course_id")
    if not isinstance(course_id, str) or not course_id:
        raise GradingSetupError(f"{config} sets no course id; add: c.CourseDirectory.course_id = 'my-course'")
    return Course(root, repository or find_repository(), course_id)


def release(course: Course, lab: str, due: Optional[str] = None, force: bool = False) -> Path:
    """``generate_assignment`` then ``release_assignment``; ``due`` ("2026-03-01 17:00:00 UTC")
    is recorded in the gradebook first, so nbgrader can tell late submissions."""
    if not (course.root / "source" / lab).is_dir():
        raise GradingSetupError(f"no source/{lab} in {course.root}; add it with "
                                f"ganlab course setup {course.root} --labs {lab} ...")
    arguments = ["db", "assignment", "add", lab] + ([f"--duedate={due}"] if due else [])
    course.nbgrader(*arguments)
    course.nbgrader("generate_assignment", lab, "--force")
    course.nbgrader("release_assignment", lab, *(["--force"] if force else []))
    return course.release_notebook(lab)


def hand_in_files(course: Course, lab: str) -> List[str]:
    """Names of the files the lab asks students to hand in beside the notebook (the files
    its reference student hands in; none for a lab that asks for the notebook only)."""
    from .demo import reference_files

    checks = course.repository.autograder / lab
    if not (checks / "submissions.py").is_file():
        return []
    module = load_submission_module(checks)
    with tempfile.TemporaryDirectory(prefix="ganlab-handin-") as scratch:
        hook = getattr(module, "submission_files", None)
        if hook is not None:
            return sorted(hook("reference", Path(scratch)))
        reference = {submission.name: submission for submission in load_submissions(checks)}.get("reference")
        if reference is None or reference.generator != "reference":
            return []
        return sorted(reference_files(course.repository, lab, Path(scratch)))


def missing_files(course: Course, lab: str, expected: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    """student -> the hand-in files absent from (or empty in) ``submitted/<student>/<lab>/``."""
    expected = hand_in_files(course, lab) if expected is None else list(expected)
    result = {}
    for student in course.students(lab):
        folder = course.root / "submitted" / student / lab
        result[student] = [name for name in expected
                           if not (folder / name).is_file() or (folder / name).stat().st_size == 0]
    return result


def collect(course: Course, lab: str) -> Dict[str, List[str]]:
    """``nbgrader collect`` (newest submission of each student; a resubmission replaces the
    older one); student -> hand-in files missing from the collected submission."""
    course.nbgrader("collect", lab, "--update")
    return missing_files(course, lab)


def release_feedback(course: Course, lab: str) -> List[str]:
    """``generate_feedback`` then ``release_feedback``; the students whose feedback was released."""
    course.nbgrader("generate_feedback", lab, "--force")
    course.nbgrader("release_feedback", lab)
    folder = course.root / "feedback"
    return sorted(path.name for path in folder.iterdir() if (path / lab).is_dir()) if folder.is_dir() else []
