"""A whole assignment through nbgrader's exchange, with two real Unix student accounts.

As on a JupyterHub: the instructor (root here) runs ``ganlab course setup``, ``release``,
``collect``, ``ganlab autograde`` and ``ganlab course feedback`` with the kit's ``ganlab``
and a bare PATH (nothing activated); two students, each a Unix account made with
``useradd`` for this test, fetch the PyTorch lab through a shared exchange folder, work (the
reference answers), submit, and fetch their feedback, running nbgrader as themselves with the
course's ``student_nbgrader_config.py`` as their ``~/.jupyter/nbgrader_config.py``. Alice hands
in generator.pt and a 101 MB extra weights file (bigger than nbgrader's default per-file limit,
which silently drops such a file); Bob forgets generator.pt. The accounts are removed after.
"""
from __future__ import annotations

import csv
import filecmp
import functools
import html
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ganlab_kit.grading.course import find_repository
from ganlab_kit.grading.demo import check_catalogue, expected_points, reference_files
from ganlab_kit.grading.exchange import STUDENT_CONFIG, open_course
from ganlab_kit.grading.notebook import read_notebook, student_copy, write_notebook
from ganlab_kit.grading.provenance import ALLOW_KIT_WEIGHTS_ENV
from ganlab_kit.grading.submissions import load_submissions

# one xdist group: the module-scoped term (two accounts, a whole exchange round, ~2 min) is built
# once per run, not once on each worker that picks up one of its tests
pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("course-roundtrip")]

LAB = "pytorch_gan"
COURSE_ID = "gan-course"
BIG_FILE = "generator_large.pt"
BIG_BYTES = 101 * 1000 * 1000   # nbgrader's default max_file_size is 100,000 kB
BARE_PATH = "/usr/bin:/bin"      # the instructor's shell: no virtual environment activated
BIN = Path(sys.executable).parent


def _why_no_accounts() -> str:
    if os.geteuid() != 0:
        return "needs root to create the two student accounts (useradd) and run commands as them"
    missing = [tool for tool in ("useradd", "userdel", "runuser") if not shutil.which(tool)]
    return f"needs {', '.join(missing)} to create student accounts" if missing else ""


@functools.lru_cache(maxsize=None)   # probed once per account, not before each nbgrader command
def _student_python(user: str) -> tuple:
    """The command that runs a Python with nbgrader as ``user``: this interpreter if the
    account can run it, else the system Python 3 with this environment's packages (a venv made
    under root's home is not readable by other users)."""
    for command, extra in (([sys.executable], {}),
                           (["/usr/bin/python3"], {"PYTHONPATH": _site_packages()})):
        probe = _as_user(user, [*command, "-c", "import nbgrader"], extra=extra, check=False)
        if probe.returncode == 0:
            return (*[f"{key}={value}" for key, value in extra.items()], *command)
    pytest.skip(f"no Python with nbgrader that the student account {user} can run")


def _site_packages() -> str:
    import nbgrader

    return str(Path(nbgrader.__file__).resolve().parents[1])


def _as_user(user: str, command: list, cwd: Path = None, extra: dict = None, check: bool = True):
    home = Path(pwd.getpwnam(user).pw_dir)
    environment = [f"HOME={home}", f"USER={user}", f"LOGNAME={user}", f"PATH={BARE_PATH}",
                   *[f"{key}={value}" for key, value in (extra or {}).items()]]
    result = subprocess.run(["runuser", "-u", user, "--", "env", "-i", *environment, *command],
                            cwd=cwd or home, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} as {user} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _instructor(*arguments: str, cwd: Path, extra: dict = None) -> str:
    """``ganlab ...`` as the instructor types it, without the environment activated."""
    environment = {"HOME": os.environ.get("HOME", "/root"), "PATH": BARE_PATH, "LANG": "C.UTF-8", **(extra or {})}
    result = subprocess.run([str(BIN / "ganlab"), *arguments], cwd=cwd, capture_output=True, text=True,
                            env=environment, timeout=900)
    assert result.returncode == 0, f"ganlab {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def term():
    reason = _why_no_accounts()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="ganlab-term-", dir="/tmp"))
    os.chmod(base, 0o755)   # students reach the exchange and their homes below it
    suffix = str(os.getpid() % 100000)
    students = {"alice": f"alice{suffix}", "bob": f"bob{suffix}"}
    made = []
    try:
        for user in students.values():
            subprocess.run(["useradd", "--create-home", "--home-dir", str(base / "home" / user),
                            "--no-user-group", "--shell", "/bin/sh", user], check=True, capture_output=True)
            made.append(user)
        yield _run_term(base, students)
    finally:
        for user in made:
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)   # only this test's accounts
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _run_term(base: Path, students: dict) -> dict:
    course_dir, exchange, handout = base / "course", base / "exchange", base / "handout"
    setup = _instructor("course", "setup", str(course_dir), "--course-id", COURSE_ID,
                        "--exchange", str(exchange), "--labs", LAB, cwd=base)
    released = _instructor("course", "release", LAB, "--due", "2099-01-01 00:00:00 UTC", cwd=course_dir)
    course = open_course(course_dir)

    # what the students will type in: the reference answers, the reference generator, a big file
    handout.mkdir()
    source = read_notebook(course.source_notebook(LAB))
    write_notebook(student_copy(read_notebook(course.release_notebook(LAB)), source, {}),
                   handout / f"{LAB}.ipynb")
    files = reference_files(course.repository, LAB, handout / "files")
    with open(handout / BIG_FILE, "wb") as handle:
        handle.write(os.urandom(BIG_BYTES))
    for path in handout.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(handout, 0o755)

    fetched, submitted = {}, {}
    for name, user in students.items():
        home = Path(pwd.getpwnam(user).pw_dir)
        python = _student_python(user)
        config = home / ".jupyter"
        config.mkdir()
        shutil.copyfile(course_dir / STUDENT_CONFIG, config / "nbgrader_config.py")
        shutil.chown(config, user)
        shutil.chown(config / "nbgrader_config.py", user)
        fetched[name] = _as_user(user, [*python, "-m", "nbgrader", "fetch_assignment", LAB]).stderr
        work = home / LAB
        _as_user(user, ["cp", str(handout / f"{LAB}.ipynb"), str(work / f"{LAB}.ipynb")])
        if name == "alice":   # Bob forgets generator.pt
            _as_user(user, ["cp", str(files["generator.pt"]), str(handout / BIG_FILE), str(work)])
        submitted[name] = _as_user(user, [*python, "-m", "nbgrader", "submit", LAB]).stderr

    collected = _instructor("course", "collect", LAB, cwd=course_dir)
    # Alice's generator.pt is the kit's own reference generator (a real student trains one); the
    # kit gives shipped weights 0 points unless told otherwise, as `ganlab demo` tells it
    graded = _instructor("autograde", LAB, "--workers", "2", cwd=course_dir, extra={ALLOW_KIT_WEIGHTS_ENV: "1"})
    feedback = _instructor("course", "feedback", LAB, cwd=course_dir)
    exported = _instructor("course", "export", cwd=course_dir)
    pages = {}
    for name, user in students.items():
        python = _student_python(user)
        _as_user(user, [*python, "-m", "nbgrader", "fetch_feedback", LAB])
        found = sorted(Path(pwd.getpwnam(user).pw_dir, LAB, "feedback").glob(f"*/{LAB}.html"))
        pages[name] = html.unescape(found[-1].read_text()) if found else None
    return dict(base=base, course=course, students=students, exchange=exchange, handout=handout, files=files,
                setup=setup, released=released, fetched=fetched, submitted=submitted, collected=collected,
                graded=graded, feedback=feedback, exported=exported, pages=pages)


def test_students_fetch_the_release_as_themselves(term):
    """Does each student get the release notebook, owned by their own account, from the exchange?"""
    course = term["course"]
    for name, user in term["students"].items():
        notebook = Path(pwd.getpwnam(user).pw_dir, LAB, f"{LAB}.ipynb")
        assert notebook.is_file(), term["fetched"][name]
        assert notebook.stat().st_uid == pwd.getpwnam(user).pw_uid
    assert (term["exchange"] / COURSE_ID / "outbound" / LAB / f"{LAB}.ipynb").read_bytes() == \
        course.release_notebook(LAB).read_bytes()


def test_hand_in_files_survive_byte_for_byte(term):
    """Do Alice's generator.pt and her 101 MB file arrive in submitted/ and autograded/ unchanged?"""
    course = term["course"]
    alice = term["students"]["alice"]
    for folder in ("submitted", "autograded"):
        where = course.root / folder / alice / LAB
        assert filecmp.cmp(term["files"]["generator.pt"], where / "generator.pt", shallow=False), folder
        assert (where / BIG_FILE).stat().st_size == BIG_BYTES, folder
        assert filecmp.cmp(term["handout"] / BIG_FILE, where / BIG_FILE, shallow=False), folder


def test_collect_names_the_forgotten_file(term):
    """Does `ganlab course collect` say, in one line, that Bob did not hand in generator.pt?"""
    lines = term["collected"].splitlines()
    alice, bob = term["students"]["alice"], term["students"]["bob"]
    assert f"{alice}: notebook and every hand-in file collected" in lines, term["collected"]
    bob_line = [line for line in lines if line.startswith(f"{bob}:")]
    assert len(bob_line) == 1 and "MISSING generator.pt" in bob_line[0], term["collected"]


def test_grades_and_feedback_reach_the_students(term):
    """Does Alice earn every autograded point, Bob lose points only in the quality part, and does
    each student fetch their own feedback page?"""
    course = term["course"]
    repository = find_repository()
    reference = {submission.name: submission for submission in load_submissions(repository.autograder / LAB)}
    cells = course.grade_cells(LAB)
    catalogue = check_catalogue(cells, repository)
    expected = expected_points(reference["reference"], cells, catalogue)
    alice, bob = term["students"]["alice"], term["students"]["bob"]
    scores = {user: course.scores(LAB, user) for user in (alice, bob)}
    assert {grade_id: scores[alice][grade_id] for grade_id in expected} == expected, term["graded"]
    quality = [cell.grade_id for cell in cells if cell.autograded and cell.part.endswith("/quality")]
    assert quality and all(scores[bob][grade_id] < expected[grade_id] for grade_id in quality), term["graded"]
    assert all(scores[bob][grade_id] == expected[grade_id] for grade_id in expected if grade_id not in quality)
    for name, user in term["students"].items():
        assert term["pages"][name], term["feedback"]
        assert term["pages"][name] == html.unescape(course.feedback_file(LAB, user).read_text())  # their own
        assert "test_quality" not in term["pages"][name]    # no hidden check leaks to a student
    assert "there is no generator.pt next to the notebook" not in term["pages"]["alice"]


def test_feedback_names_the_forgotten_file(term):
    """Does Bob's feedback say that there is no generator.pt next to his notebook?"""
    assert "there is no generator.pt next to the notebook" in term["pages"]["bob"]


def test_export_has_a_row_per_student(term):
    """Does the LMS export hold both students with the autograded points of the gradebook?"""
    course = term["course"]
    path = course.root / "grades_lms.csv"
    rows = {row["SIS Login ID"]: row for row in csv.DictReader(path.open())}
    for user in term["students"].values():
        recorded = course.scores(LAB, user)
        written = {cell.grade_id for cell in course.grade_cells(LAB) if not cell.autograded}
        auto = sum(score for grade_id, score in recorded.items() if grade_id not in written)
        assert float(rows[user][f"{LAB} auto"]) == pytest.approx(auto)
        assert float(rows[user][f"{LAB} manual"]) == 0   # nobody graded the written answers yet
        assert float(rows[user][f"{LAB} total"]) == pytest.approx(auto)
