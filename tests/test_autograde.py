"""`ganlab autograde`: parallel workers, one gradebook writer, resume, a status per student.

The first tests use a tiny synthetic course whose submissions can never reach a kernel
(corrupt or missing notebooks), so they run in a second: statuses, the ledger, resume,
the writer's transaction. The rest grade the PyTorch GAN lab for real, once per course
(session-scoped fixtures, in the xdist group of the lab's end-to-end tests, whose course
they read: tests/pytorch_e2e.py): honest, corrupt and crashing submissions with 2 workers,
an interrupted serial run and its resume, a Dask LocalCluster run, and plain `nbgrader
autograde` recording the same rows as the writer.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganlab_kit.cli import main
from ganlab_kit.grading import autograde as autograde_module
from ganlab_kit.grading.autograde import (STATUS_ERROR, STATUS_NOT_ISOLATED, STATUS_OK, AutogradeInterrupted,
                                          GradingOutcome, NotebookGrades, autograde_course, ledger_path)

LAB = "lab"
TIMESTAMP = "2026-01-01 12:00:00"


# ---------------------------------------------------------------------------- synthetic course
@pytest.fixture(scope="session")
def synthetic_gradebook(tmp_path_factory):
    """The gradebook of a synthetic course, made once (nbgrader creates a new one slowly, through
    alembic): one assignment, one notebook with a 3-point code cell, a 2-point written answer and
    one answer cell."""
    from nbgrader.api import Gradebook

    path = tmp_path_factory.mktemp("synthetic") / "gradebook.db"
    bin_dir = os.path.dirname(sys.executable)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
        with Gradebook(f"sqlite:///{path}", course_id="synthetic") as gradebook:
            gradebook.add_assignment(LAB)
            gradebook.add_notebook(LAB, LAB)
            gradebook.add_grade_cell("part_checks", LAB, LAB, max_score=3, cell_type="code")
            gradebook.add_grade_cell("essay", LAB, LAB, max_score=2, cell_type="markdown")
            gradebook.add_solution_cell("part_answer", LAB, LAB)
    return path


def _synthetic_course(root: Path, gradebook: Path) -> Path:
    """An nbgrader course with the synthetic assignment and no submissions."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'synthetic'\n")
    (root / "source" / LAB).mkdir(parents=True)
    shutil.copyfile(gradebook, root / "gradebook.db")
    return root


def _hand_in(root: Path, student: str, text=None, assignment: str = LAB) -> Path:
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (folder / f"{assignment}.ipynb").write_text(text)
    (folder / "timestamp.txt").write_text(TIMESTAMP)
    return folder


def _gradebook_rows(root: Path, assignment: str, course_id: str):
    """student -> (timestamp, {grade: (auto_score, manual_score, needs_manual_grade)}, {comment: auto_comment},
    late penalties) of every recorded submission."""
    from nbgrader.api import Gradebook

    rows = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=course_id) as gradebook:
        for submission in gradebook.find_assignment(assignment).submissions:
            grades, comments, penalties = {}, {}, []
            for notebook in submission.notebooks:
                grades.update({grade.name: (grade.auto_score, grade.manual_score, grade.needs_manual_grade)
                               for grade in notebook.grades})
                comments.update({comment.name: comment.auto_comment for comment in notebook.comments})
                penalties.append(notebook.late_submission_penalty)
            rows[submission.student.id] = (submission.timestamp, grades, comments, penalties)
    return rows


@pytest.fixture
def broken_class(tmp_path, synthetic_gradebook):
    root = _synthetic_course(tmp_path / "course", synthetic_gradebook)
    _hand_in(root, "bad_json", '{"cells": [ not json')
    _hand_in(root, "not_a_notebook", "[1, 2, 3]")
    _hand_in(root, "no_notebook")
    return root


def test_unreadable_submissions_get_an_error_status_and_zero(broken_class):
    """Does each corrupt or missing notebook get status error with its reason, zero points in the
    gradebook (nbgrader's rule for a missing notebook), and no autograded folder?"""
    report = autograde_course(broken_class, LAB, workers=2, log=lambda message: None)
    assert report.statuses() == {"bad_json": STATUS_ERROR, "not_a_notebook": STATUS_ERROR,
                                 "no_notebook": STATUS_ERROR}
    assert "lab.ipynb is not valid JSON" in report.row("bad_json").reason
    assert "not a Jupyter notebook" in report.row("not_a_notebook").reason
    assert "no lab.ipynb in the submission" in report.row("no_notebook").reason
    rows = _gradebook_rows(broken_class, LAB, "synthetic")
    assert set(rows) == {"bad_json", "not_a_notebook", "no_notebook"}
    for timestamp, grades, _, _ in rows.values():
        assert str(timestamp) == TIMESTAMP
        assert grades == {"part_checks": (0, None, False), "essay": (0, None, False)}
    assert all((row.points, row.max_points) == (0, 3) for row in report.rows)
    assert not (broken_class / "autograded").exists()
    text = report.to_text()
    assert all(name in text for name in rows) and "3 error(s)" in text


def test_interrupted_run_resumes_without_regrading(broken_class):
    """Stopped after the first student is recorded, does a rerun skip that student, grade the
    others, and lose nothing; and does --force regrade everyone?"""
    def stop_after_first(row):
        raise KeyboardInterrupt

    with pytest.raises(AutogradeInterrupted) as stopped:
        autograde_course(broken_class, LAB, workers=1, log=lambda message: None, on_recorded=stop_after_first)
    first = [row.student for row in stopped.value.report.rows]
    assert len(first) == 1
    assert set(stopped.value.report.pending) == {"bad_json", "not_a_notebook", "no_notebook"} - set(first)
    assert set(_gradebook_rows(broken_class, LAB, "synthetic")) == set(first)
    assert set(json.loads(ledger_path(broken_class, LAB).read_text())["students"]) == set(first)

    resumed = autograde_course(broken_class, LAB, workers=2, log=lambda message: None)
    assert {row.student for row in resumed.rows if row.skipped} == set(first)
    assert len(resumed.seconds_per_student()) == 2
    assert set(_gradebook_rows(broken_class, LAB, "synthetic")) == {"bad_json", "not_a_notebook", "no_notebook"}

    again = autograde_course(broken_class, LAB, log=lambda message: None)
    assert all(row.skipped for row in again.rows) and len(again.rows) == 3
    forced = autograde_course(broken_class, LAB, force=True, log=lambda message: None)
    assert not any(row.skipped for row in forced.rows) and len(forced.rows) == 3


def test_a_changed_submission_is_graded_again(broken_class):
    """Is a student whose submitted files changed since the recorded run graded again?"""
    autograde_course(broken_class, LAB, log=lambda message: None)
    _hand_in(broken_class, "bad_json", '{"cells": [ still not json, but different')
    report = autograde_course(broken_class, LAB, log=lambda message: None)
    assert {row.student: row.skipped for row in report.rows} == {
        "bad_json": False, "not_a_notebook": True, "no_notebook": True}


def test_errors_are_regraded_on_request(broken_class):
    """Does --retry-errors regrade students whose recorded status is an error, and only those?"""
    autograde_course(broken_class, LAB, students=["bad_json"], log=lambda message: None)
    report = autograde_course(broken_class, LAB, students=["bad_json"], retry_errors=True,
                              log=lambda message: None)
    assert [row.skipped for row in report.rows] == [False]


def _outcome(student, auto_score, notebook=LAB):
    return GradingOutcome(student, "fingerprint", notebooks=[NotebookGrades(
        notebook, {"part_checks": (auto_score, False), "essay": (None, True)}, {"part_answer": None})])


def test_the_writer_records_a_student_in_one_transaction(tmp_path, synthetic_gradebook):
    """When recording a student fails half-way, is nothing of that student left in the gradebook
    (no student row, no submission), while an earlier student stays recorded?"""
    from nbgrader.api import Gradebook

    root = _synthetic_course(tmp_path / "course", synthetic_gradebook)
    database = root / "gradebook.db"
    autograde_module._record(database, "synthetic", LAB, _outcome("first", 3.0), [LAB])
    with pytest.raises(Exception):
        # a notebook the assignment does not have: fails after the student and submission rows
        autograde_module._record(database, "synthetic", LAB, _outcome("second", 3.0), [LAB, "no_such_notebook"])
    with Gradebook(f"sqlite:///{database}", course_id="synthetic") as gradebook:
        assert [student.id for student in gradebook.students] == ["first"]
    assert _gradebook_rows(root, LAB, "synthetic")["first"][1]["part_checks"] == (3.0, None, False)


def test_the_writer_keeps_a_manual_score(tmp_path, synthetic_gradebook):
    """As nbgrader's SaveAutoGrades: does a regrade keep a grader's manual score and flag the cell for
    review, while the written answer (no auto score) still waits for a manual grade?"""
    from nbgrader.api import Gradebook

    root = _synthetic_course(tmp_path / "course", synthetic_gradebook)
    database = root / "gradebook.db"
    autograde_module._record(database, "synthetic", LAB, _outcome("student", 1.0), [LAB])
    with Gradebook(f"sqlite:///{database}", course_id="synthetic") as gradebook:
        gradebook.find_grade("part_checks", LAB, LAB, "student").manual_score = 2.5
        gradebook.db.commit()
    points, maximum = autograde_module._record(database, "synthetic", LAB, _outcome("student", 3.0), [LAB])
    grades = _gradebook_rows(root, LAB, "synthetic")["student"][1]
    assert grades["part_checks"] == (3.0, 2.5, True)
    assert grades["essay"] == (None, None, True)
    assert (points, maximum) == (2.5, 3)


def test_setup_errors_exit_2(tmp_path, broken_class, capsys):
    """Do a folder that is no course, an assignment missing from the gradebook, an unknown student and
    --workers 0 end with exit code 2 and a message, and nothing graded?"""
    assert main(["autograde", LAB, "--course-dir", str(tmp_path / "nowhere")]) == 2
    assert "not an nbgrader course" in capsys.readouterr().err
    assert main(["autograde", "other_lab", "--course-dir", str(broken_class)]) == 2
    assert "nbgrader generate_assignment other_lab" in capsys.readouterr().err
    assert main(["autograde", LAB, "--course-dir", str(broken_class), "--students", "bad_json,nobody"]) == 2
    assert "nobody" in capsys.readouterr().err
    assert main(["autograde", LAB, "--course-dir", str(broken_class), "--workers", "0"]) == 2
    assert not ledger_path(broken_class, LAB).exists()


def test_a_second_writer_is_refused(broken_class):
    """While one `ganlab autograde` holds the course's assignment, is a second one refused before it
    grades or writes anything?"""
    import fcntl

    from ganlab_kit.grading import GradingSetupError

    lock = ledger_path(broken_class, LAB).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(GradingSetupError, match="another `ganlab autograde`"):
            autograde_course(broken_class, LAB, log=lambda message: None)
    assert not ledger_path(broken_class, LAB).exists()
    assert len(autograde_course(broken_class, LAB, log=lambda message: None).rows) == 3


def test_several_courses_are_graded_from_one_queue(tmp_path, synthetic_gradebook, monkeypatch):
    """Does `autograde_courses` grade several courses from one queue -- a job that arrives while the
    first is graded joins it, the heavier job's students go first, each job's together -- record each
    course in its own gradebook, hand each report over as soon as its last student is recorded, return
    the reports in the order the jobs came, and stop with the error of a job that cannot be made?"""
    import threading

    from ganlab_kit.grading import GradingSetupError
    from ganlab_kit.grading.autograde import AutogradeJob, autograde_courses

    courses = {}
    for name in ("light", "heavy"):
        courses[name] = _synthetic_course(tmp_path / name, synthetic_gradebook)
        _hand_in(courses[name], "bad_json", '{"cells": [ not json')
        _hand_in(courses[name], "no_notebook")
    started, first_started, heavy_queued = [], threading.Event(), threading.Event()
    grade = autograde_module.grade_submission

    def watched(task, worker=None):
        started.append((Path(task.course_root).name, task.student))
        first_started.set()
        assert heavy_queued.wait(30)   # the first student is graded while the next course arrives
        return grade(task, worker)

    def jobs():
        yield AutogradeJob(courses["light"], LAB, weight=1.0)
        assert first_started.wait(30)
        yield AutogradeJob(courses["heavy"], LAB, weight=5.0)
        heavy_queued.set()   # runs once the writer's reader has queued the heavy job

    monkeypatch.setattr(autograde_module, "grade_submission", watched)
    done = []
    reports = autograde_courses(jobs(), workers=1, log=lambda message: None,
                                on_done=lambda report: done.append((report.course.name, len(report.rows))))
    assert started == [("light", "bad_json"), ("heavy", "bad_json"), ("heavy", "no_notebook"),
                       ("light", "no_notebook")]
    assert done == [("heavy", 2), ("light", 2)]
    assert [report.course.name for report in reports] == ["light", "heavy"]
    for report in reports:
        assert report.statuses() == {"bad_json": STATUS_ERROR, "no_notebook": STATUS_ERROR}
        assert set(_gradebook_rows(report.course, LAB, "synthetic")) == {"bad_json", "no_notebook"}

    def broken_jobs():
        yield AutogradeJob(courses["light"], LAB, force=True)
        raise GradingSetupError("the second course could not be built")

    monkeypatch.setattr(autograde_module, "grade_submission", grade)
    with pytest.raises(GradingSetupError, match="could not be built"):
        autograde_courses(broken_jobs(), workers=2, log=lambda message: None)


def test_a_gradebook_that_cannot_be_written_stops_the_run_cleanly(broken_class, monkeypatch, capsys):
    """When the writer cannot record a student (say the gradebook is locked), does the command stop
    with exit code 2 and a message naming the student, instead of a traceback?"""
    def locked(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(autograde_module, "_record", locked)
    assert main(["autograde", LAB, "--course-dir", str(broken_class)]) == 2
    error = capsys.readouterr().err
    assert "could not record bad_json" in error and "database is locked" in error


def test_abandoned_scratch_courses_are_removed(tmp_path, monkeypatch):
    """Is a worker's scratch course left by a killed run (its lock free) removed by the next run,
    while one whose worker still holds the lock, or a fresh one, is kept?"""
    import fcntl

    monkeypatch.setattr(autograde_module.tempfile, "gettempdir", lambda: str(tmp_path))
    folders = {}
    for name in ("abandoned", "running", "fresh"):
        folders[name] = tmp_path / f"ganlab-autograde-{name}-x"
        folders[name].mkdir()
        (folders[name] / ".in-use").write_text("")
    for name in ("abandoned", "running"):
        os.utime(folders[name], (time.time() - 3600, time.time() - 3600))
    with open(folders["running"] / ".in-use") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert autograde_module.remove_abandoned_scratch() == [folders["abandoned"]]
    assert not folders["abandoned"].exists() and folders["running"].exists() and folders["fresh"].exists()


def test_command_prints_the_status_table(broken_class, capsys):
    """Does `ganlab autograde` exit 0 when every submission was processed, errors included, and print
    one status line per student?"""
    assert main(["autograde", LAB, "--course-dir", str(broken_class), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    for student in ("bad_json", "not_a_notebook", "no_notebook"):
        line = next(line for line in out.splitlines() if line.startswith(student + " "))
        assert " error " in line and "0/3" in line
    assert "3 submission(s): 0 ok, 0 not isolated, 3 error(s)" in out


def test_grading_facts_come_from_the_notebook_metadata(tmp_path):
    """Are the isolation flag and the problems the grading run leaves in an autograded notebook's
    metadata read back, and does "not isolated" become the status?"""
    notebook = {"cells": [], "metadata": {"ganlab_grading": {"isolated": False, "problems": ["kernel died in part x"]}},
                "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "lab.ipynb").write_text(json.dumps(notebook))
    isolated, problems = autograde_module._grading_facts(tmp_path, ["lab"])
    assert (isolated, problems) == (False, ["kernel died in part x"])
    outcome = GradingOutcome("s", "f", isolated=isolated, problems=problems)
    assert autograde_module._status(outcome) == STATUS_NOT_ISOLATED
    outcome.isolated = True
    assert autograde_module._status(outcome) == STATUS_OK


# ---------------------------------------------------------------------------- real grading
ASSIGNMENT = "pytorch_gan"
HONEST = ("reference", "no_zero_grad", "stub")
BROKEN = ("corrupt", "crasher")   # a notebook that is not JSON; one whose kernel dies (os._exit, segfault)


@pytest.fixture(scope="session")
def parallel(pytorch_graded):
    """The PyTorch lab's end-to-end course (tests/pytorch_e2e.py, shared with the lab's end-to-end
    tests rather than graded twice) as Course.autograde left it: the honest demo students graded
    with 2 workers, then, with 2 workers, the hostile bank with the corrupt notebook and the
    crasher, whose kernel dies (os._exit, a segfault) in cells of its own."""
    course = pytorch_graded["course"]
    reports = {**{name: pytorch_graded["honest_report"] for name in HONEST},
               **{name: pytorch_graded["hostile_report"] for name in BROKEN}}
    return {"course": course, "report_of": reports, "seconds": pytorch_graded["seconds"],
            "scores": pytorch_graded["scores"], "rows": _gradebook_rows(course.root, ASSIGNMENT, "ganlab-test"),
            "expected": pytorch_graded["expected"], "root": pytorch_graded["root"], "csv": pytorch_graded["csv"],
            "students": course.students(ASSIGNMENT)}


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
@pytest.mark.parametrize("student", HONEST)
def test_parallel_scores_are_the_expected_ones(parallel, student):
    """Graded 2 at a time, does each honest student get exactly the points its mistakes leave, in the
    gradebook and the status table, and status ok (or not isolated, where the sandbox is unavailable)?"""
    scores = parallel["scores"][student]
    expected = parallel["expected"][student]
    assert {grade_id: scores[grade_id] for grade_id in expected} == expected
    row = parallel["report_of"][student].row(student)
    assert row.status in (STATUS_OK, STATUS_NOT_ISOLATED)
    assert row.points == sum(expected.values())


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_broken_submissions_get_clear_statuses(parallel):
    """Do the corrupt notebook and the one whose kernel dies get a status line saying what happened,
    without stopping the class (Course.autograde returned, seconds for every student)?"""
    corrupt = parallel["report_of"]["corrupt"].row("corrupt")
    assert corrupt.status == STATUS_ERROR and "not valid JSON" in corrupt.reason
    assert parallel["scores"]["corrupt"] == {grade_id: 0.0 for grade_id in parallel["scores"]["corrupt"]}
    dead = parallel["report_of"]["crasher"].row("crasher")
    assert "kernel" in dead.note().lower() and "die" in dead.note().lower(), dead.note()
    assert set(parallel["seconds"]) == set(parallel["students"]) >= set(HONEST + BROKEN)
    assert all(0 <= seconds < 600 for seconds in parallel["seconds"].values())


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_gradebook_holds_every_student(parallel):
    """Does the one gradebook hold every student's submission with its timestamp, and an autograded
    notebook for each honest student?"""
    rows = parallel["rows"]
    assert set(rows) == set(parallel["students"]) >= set(HONEST + BROKEN)
    assert {str(timestamp) for timestamp, *_ in rows.values()} == {TIMESTAMP}
    course = parallel["course"]
    for student in HONEST:
        assert course.autograded_notebook(ASSIGNMENT, student).is_file()
    assert not course.autograded_notebook(ASSIGNMENT, "corrupt").exists()


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_feedback_and_export_work_afterwards(parallel):
    """Did `nbgrader generate_feedback` and `nbgrader export` (run by the course's fixture) work on the
    result as after a plain `nbgrader autograde`: a feedback page per graded student, the recorded
    points in the CSV?"""
    import csv

    course = parallel["course"]
    for student in HONEST + ("crasher",):
        assert course.feedback_file(ASSIGNMENT, student).is_file()
    with open(parallel["csv"], newline="") as handle:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(handle)}
    assert set(exported) == set(parallel["students"])
    for student in HONEST + ("crasher",):
        assert exported[student] == parallel["report_of"][student].row(student).points
    assert exported["corrupt"] == 0


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_rerun_skips_everyone(parallel, capsys):
    """Does running `ganlab autograde` again skip every recorded student, change no grade and no
    autograded file, and still print the whole status table?"""
    course = parallel["course"]
    notebook = course.autograded_notebook(ASSIGNMENT, "reference")
    written = notebook.stat().st_mtime_ns
    assert main(["autograde", ASSIGNMENT, "--course-dir", str(course.root), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    for student in parallel["students"]:
        line = next(line for line in out.splitlines() if line.startswith(student + " "))
        assert "already graded" in line
    assert f"{len(parallel['students'])} already graded" in out
    assert _gradebook_rows(course.root, ASSIGNMENT, "ganlab-test") == parallel["rows"]
    assert notebook.stat().st_mtime_ns == written


SERIAL = {"b_no_zero_grad": "no_zero_grad", "b_stub": "stub"}


def _wait_for_ledger(path, count, process, timeout=1200):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if len(json.loads(path.read_text())["students"]) >= count:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)


def _nbgrader_of(student, grace=10.0):
    """Processes still running a scratch course of ``student`` after ``grace`` seconds: its nbgrader
    (named on the command line) and its kernel (working directory inside the scratch course)."""
    marker = f"ganlab-autograde-{student}-"
    deadline = time.monotonic() + grace
    while True:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if marker in cmdline or marker in cwd:
                found.append(int(pid))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _default_ctrl_c():
    """In the child before it starts: Ctrl-C (SIGINT) acts as in a terminal. A test run started in
    the background (``pytest ... &``, nohup) ignores SIGINT, children inherit that, and Python then
    never raises KeyboardInterrupt: the command would grade on instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session")
def interrupted(parallel):
    """Two students graded one at a time by `ganlab autograde` in a subprocess, which gets Ctrl-C
    (SIGINT) as soon as the first is recorded; then the same command again, resuming on a Dask
    LocalCluster (2 worker processes) through --scheduler."""
    from distributed import LocalCluster

    from ganlab_kit.grading.course import Course

    # a second course with the first one's release and gradebook (no students): no second
    # generate_assignment run
    first = parallel["course"]
    course = Course.create(parallel["root"] / "serial", first.repository, [ASSIGNMENT], course_id="ganlab-test")
    shutil.copytree(first.root / "release", course.root / "release")
    autograde_module._gradebook_snapshot(first.root / "gradebook.db", course.root, "ganlab-test")
    for name, demo_name in SERIAL.items():
        shutil.copytree(first.root / "submitted" / demo_name, course.root / "submitted" / name)

    command = [sys.executable, "-m", "ganlab_kit.cli", "autograde", ASSIGNMENT, "--course-dir", str(course.root)]
    process = subprocess.Popen(command + ["--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=course.environment(), start_new_session=True,
                               preexec_fn=_default_ctrl_c)
    _wait_for_ledger(ledger_path(course.root, ASSIGNMENT), 1, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=300)
    stopped = {"returncode": process.returncode, "output": output, "left_running": _nbgrader_of("b_stub"),
               "rows": _gradebook_rows(course.root, ASSIGNMENT, "ganlab-test"),
               "ledger": json.loads(ledger_path(course.root, ASSIGNMENT).read_text())["students"]}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="4GiB") as cluster:
        resumed = subprocess.run(command + ["--scheduler", cluster.scheduler_address], capture_output=True,
                                 text=True, env=course.environment())
    return {"course": course, "stopped": stopped, "resumed": resumed,
            "scores": {name: course.scores(ASSIGNMENT, name) for name in SERIAL}}


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_ctrl_c_keeps_what_was_recorded(interrupted):
    """Stopped with Ctrl-C after the first student, does the command exit 130 with the table, keep the
    first student recorded whole, leave no trace of the second, and stop its nbgrader?"""
    stopped = interrupted["stopped"]
    assert stopped["returncode"] == 130, stopped["output"][-3000:]
    assert set(stopped["rows"]) == set(stopped["ledger"]) == {"b_no_zero_grad"}
    assert "b_stub" in stopped["output"] and "not graded" in stopped["output"]
    assert not list((interrupted["course"].root / "autograded").glob("*/.ganlab-*"))
    assert stopped["left_running"] == []


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_resumed_run_on_dask_grades_the_rest(interrupted, parallel):
    """Run again with --scheduler (a Dask LocalCluster), does the command skip the recorded student,
    grade the other on the cluster with the one writer recording it, and give both exactly the points
    the same submissions got with 2 local workers (serial = parallel = Dask)?"""
    resumed = interrupted["resumed"]
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "on the Dask cluster at tcp://" in resumed.stdout
    line = next(line for line in resumed.stdout.splitlines() if line.startswith("b_no_zero_grad "))
    assert "already graded" in line
    line = next(line for line in resumed.stdout.splitlines() if line.startswith("b_stub "))
    assert "already graded" not in line and (" ok " in line or " not isolated " in line)
    for name, demo_name in SERIAL.items():
        assert interrupted["scores"][name] == parallel["scores"][demo_name]
    assert interrupted["course"].autograded_notebook(ASSIGNMENT, "b_stub").is_file()


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_plain_nbgrader_records_the_same_rows(interrupted):
    """Does plain `nbgrader autograde` (the shipped config) still work on the course, and record
    exactly the rows the writer recorded: auto scores, review flags, comments, timestamp, penalty?"""
    course = interrupted["course"]
    before = _gradebook_rows(course.root, ASSIGNMENT, "ganlab-test")["b_stub"]
    autograded = course.autograded_notebook(ASSIGNMENT, "b_stub")
    ours = json.loads(autograded.read_text())
    course.nbgrader("autograde", ASSIGNMENT, "--force", "--CourseDirectory.student_id=b_stub")
    after = _gradebook_rows(course.root, ASSIGNMENT, "ganlab-test")["b_stub"]
    assert after == before
    theirs = json.loads(autograded.read_text())
    assert [cell["source"] for cell in theirs["cells"]] == [cell["source"] for cell in ours["cells"]]


def test_an_unavailable_sandbox_is_said_before_grading_and_in_the_table(broken_class, capsys, monkeypatch):
    """Where the sandbox is unavailable (simulated: the machine's check says bubblewrap is missing),
    does `ganlab autograde` print one line saying grading is not isolated, with the install command,
    and say nothing of the kind where the sandbox works?"""
    from ganlab_kit.grading.sandbox import isolation_status

    missing = "'bwrap' (bubblewrap) is not installed"
    monkeypatch.setattr(autograde_module, "_sandbox_problem", lambda: missing)
    assert main(["autograde", LAB, "--course-dir", str(broken_class), "--force"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "NOT ISOLATED" in line]
    assert len(warnings) == 1
    assert missing in warnings[0] and "apt-get install bubblewrap" in warnings[0]
    assert "user namespaces" in warnings[0]
    monkeypatch.undo()
    if isolation_status()[0]:
        assert main(["autograde", LAB, "--course-dir", str(broken_class), "--force"]) == 0
        assert "NOT ISOLATED" not in capsys.readouterr().out


def test_not_isolated_rows_carry_a_status_and_the_install_command():
    """Does a row graded without the sandbox show it in both tables (autograde's status column,
    the demo's verdict) with the install command under the table, while an isolated class's
    demo table stays as it was?"""
    from ganlab_kit.grading.autograde import AutogradeReport, AutogradeRow, _isolation_reason
    from ganlab_kit.grading.course import GradeCell
    from ganlab_kit.grading.demo import DemoReport, DemoRow

    problem = "not isolated: the notebook ran without the sandbox (bubblewrap cannot create a sandbox here (x))"
    assert _isolation_reason([problem]) == "bubblewrap cannot create a sandbox here (x)"
    report = AutogradeReport(LAB, Path("/course"), [AutogradeRow("s", STATUS_NOT_ISOLATED, points=3,
                                                                 max_points=3, seconds=1.0,
                                                                 problems=[problem])])
    text = report.to_text()
    assert any(line.split()[:3] == ["s", "not", "isolated"] for line in text.splitlines())
    assert "apt-get install bubblewrap" in text

    cells = [GradeCell("part_checks", 3, "lab/part")]
    rows = [DemoRow("good", "reference", {"part_checks": 3}, {"part_checks": 3}, 1.0)]
    isolated = DemoReport(LAB, Path("/course"), cells, rows).to_text()
    assert "NOT ISOLATED" not in isolated and isolated.splitlines()[3].split()[-1] == "ok"
    rows[0].status = STATUS_NOT_ISOLATED
    text = DemoReport(LAB, Path("/course"), cells, rows).to_text()
    assert text.splitlines()[3].endswith("ok (not isolated)")
    assert "apt-get install bubblewrap" in text


def test_a_long_lived_nbgrader_worker_runs_commands_and_survives_its_death(tmp_path):
    """Does the long-lived nbgrader process give a command's exit code and log as the command line
    would (0 and nbgrader's own error for an unknown assignment), and is it started again for the
    next command after it was killed mid-way?"""
    from ganlab_kit.grading.autograde import _NbgraderWorker, _worker_environment

    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    worker = _NbgraderWorker(_worker_environment({}))
    try:
        code, log = worker.run(["--version"], tmp_path, {})
        assert code == 0
        code, log = worker.run(["generate_feedback", "no_such_lab"], tmp_path, {})
        assert code == 1 and "No notebooks were matched" in log
        first = worker.process
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        code, log = worker.run(["generate_feedback", "no_such_lab"], tmp_path, {})
        assert code == 1 and worker.process is not first and "No notebooks were matched" in log
        assert not (tmp_path / ".nbgrader-worker.log").exists()
    finally:
        worker.close()
    assert worker.process is None


def test_stages_add_up_to_the_nbgrader_run(tmp_path):
    """Are the timing marks a graded notebook leaves split into the benchmark's stages (kernel start,
    first cell, other cells, checker, quality scoring), adding up to the nbgrader run?"""
    marks = {"start": 100.0, "kernel_ready": 103.0, "end": 120.0, "checker_start": 0.5, "checker_close": 0.1,
             "cells": [["code", None, 4.0], ["code", None, 2.0], ["grade", "lab/noise", 3.0],
                       ["grade", "lab/quality", 5.0]]}
    path = tmp_path / "timings.jsonl"
    path.write_text(json.dumps(marks) + "\n")
    stages = autograde_module._stages(path, launched=98.0, exited=121.0)
    assert stages["nbgrader start"] == 2.0 and stages["kernel start"] == 2.5
    assert stages["first cell (imports)"] == 4.0 and stages["notebook cells"] == 2.0
    assert stages["checker"] == 3.6 and stages["quality scoring"] == 5.0
    assert abs(sum(value for name, value in stages.items() if not name.startswith("part ")) - 23.0) < 1e-6
    assert stages["part lab/quality"] == 5.0
