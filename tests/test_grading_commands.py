"""`ganlab demo` / `ganlab solutions` plumbing that needs no nbgrader run, and the wheel."""
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from ganlab_kit.cli import main
from ganlab_kit.grading import GradingSetupError
from ganlab_kit.grading import course as course_module
from ganlab_kit.grading.solutions import normalize_notebook

REPO = Path(__file__).resolve().parents[1]


def test_demo_leaves_a_foreign_folder_alone(tmp_path, capsys):
    """Does `ganlab demo` refuse to build in a folder it did not make, and leave its files untouched?"""
    (tmp_path / "gradebook.db").write_text("a real course's grades")
    assert main(["demo", "--course-dir", str(tmp_path)]) == 2
    assert "was not made by ganlab" in capsys.readouterr().err
    assert (tmp_path / "gradebook.db").read_text() == "a real course's grades"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gradebook.db"]


def test_demo_names_unknown_students(tmp_path, capsys):
    """Does asking for a demo student who does not exist list the ones that do, before building anything?"""
    assert main(["demo", "--assignment", "pytorch_gan", "--students", "nobody",
                 "--course-dir", str(tmp_path / "course")]) == 2
    error = capsys.readouterr().err
    assert "nobody" in error and "reference" in error
    assert not (tmp_path / "course").exists()


def test_demo_students_need_a_lab(tmp_path, capsys):
    """Does `--students` without `--assignment` explain that student names belong to one lab?"""
    assert main(["demo", "--students", "reference", "--course-dir", str(tmp_path / "course")]) == 2
    assert "--assignment" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()


def test_missing_nbgrader_says_what_to_install(monkeypatch, capsys):
    """Without nbgrader, do the commands say to install the grading extras?"""
    monkeypatch.setitem(sys.modules, "nbgrader", None)  # import nbgrader now raises ImportError
    with pytest.raises(GradingSetupError, match=r"pip install 'ganlab-kit\[grading\]'"):
        course_module.require_nbgrader()
    assert main(["solutions", "--output", "unused"]) == 2
    assert "ganlab-kit[grading]" in capsys.readouterr().err


def test_missing_checkout_is_explained(monkeypatch, tmp_path):
    """Outside a checkout, is the error about the missing assignments/ and autograder/ folders?"""
    monkeypatch.setattr(course_module, "_looks_like_repository", lambda path: False)
    with pytest.raises(GradingSetupError, match="assignments/.*autograder/"):
        course_module.find_repository(tmp_path)


def test_cli_module_imports_light():
    """Does `ganlab` load the grading commands without importing torch, nbgrader or pytest?"""
    code = ("import sys, ganlab_kit.grading.cli; "
            "print(sorted(m for m in ('torch', 'nbgrader', 'pytest', 'tensorflow') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_normalize_drops_run_to_run_noise():
    """Does normalising an executed notebook drop timestamps, widget state and widget views only?"""
    cell = nbformat.v4.new_code_cell("x")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    cell.metadata["tags"] = ["training"]
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc"}, "image/png": "AAAA"}),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "d"}}),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
    ]
    kernelspec = {"name": "python3", "display_name": "Python 3"}
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": {"state": {}}, "kernelspec": kernelspec})
    normalize_notebook(notebook)
    assert "widgets" not in notebook.metadata and "kernelspec" in notebook.metadata
    assert cell.metadata == {"tags": ["training"]}
    assert len(cell.outputs) == 2
    assert sorted(cell.outputs[0].data) == ["image/png"] and cell.outputs[1].text == "kept\n"


def test_split_prints_are_merged():
    """Does normalising merge a print that arrived in several messages (as on a loaded machine)?"""
    cell = nbformat.v4.new_code_cell("print('a'); print('b')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="b\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="c\n")]
    notebook = normalize_notebook(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [("stdout", "a\nb\n"), ("stderr", "c\n")]


@pytest.mark.slow
def test_wheel_ships_no_hidden_checks(tmp_path):
    """Does the student-installable wheel leave out the hidden checks, demo mistakes and course sources?"""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path, capture_output=True)
    wheel, = tmp_path.glob("ganlab_kit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(name.startswith("ganlab_kit/grading/bridge.py") for name in names)
    check_files = {path.name for path in (REPO / "autograder").rglob("test_*.py")}
    leaked = [name for name in names if name.startswith(("autograder/", "assignments/", "solutions/"))
              or Path(name).name in check_files or name.endswith(".ipynb")]
    assert not leaked


def test_grade_table_flags_unexpected_points():
    """Does the demo's grade table show points per part and mark a student whose points differ
    from what the expected failures leave?"""
    from ganlab_kit.grading.course import GradeCell
    from ganlab_kit.grading.demo import DemoReport, DemoRow

    cells = [GradeCell("noise_checks", 3, "lab/noise"), GradeCell("steps_checks", 4, "lab/steps"),
             GradeCell("essay", 2, None)]
    rows = [DemoRow("good", "as planned", {"noise_checks": 3, "steps_checks": 3, "essay": None},
                    {"noise_checks": 3, "steps_checks": 3}, 9.5),
            DemoRow("odd", "lost too much", {"noise_checks": 0, "steps_checks": 3, "essay": 0},
                    {"noise_checks": 3, "steps_checks": 3})]
    report = DemoReport("lab", Path("/course"), cells, rows)
    text = report.to_text()
    assert not report.ok and rows[0].as_expected and not rows[1].as_expected
    good, odd = (line.split() for line in text.splitlines() if line.startswith(("good ", "odd ")))
    assert good == ["good", "3", "3", "6", "6", "pending", "9.5", "ok"]
    assert odd == ["odd", "0", "3", "3", "6", "0", "UNEXPECTED"]
    assert "1 noise (3), 2 steps (4)" in text


def test_demo_grades_every_lab_from_one_queue_and_shows_each_table_when_ready(tmp_path, monkeypatch):
    """Does `run_demos` build the quick-to-build labs first, put every lab into one grading queue
    with its expected seconds per student, hand each lab's table over as soon as that lab is graded
    (a quick lab before a slow one), return the tables in lab order, and stop with the error of a
    lab whose course cannot be built?"""
    from types import SimpleNamespace

    from ganlab_kit.grading import demo as demo_module
    from ganlab_kit.grading.autograde import AutogradeReport
    from ganlab_kit.grading.course import find_repository

    built, queued = [], []

    def fake_build(course_dir, repository, assignment, submissions, log, timings=None):
        if assignment == "broken":
            raise GradingSetupError("broken lab")
        built.append(assignment)
        return demo_module._DemoLab(assignment, SimpleNamespace(root=tmp_path / assignment), [])

    def fake_autograde_courses(jobs, workers, environment, on_done, log):
        for job in jobs:   # graded in the order of their weight; the lightest is done first
            queued.append((job.assignment, job.weight, workers))
        for assignment, _, _ in sorted(queued, key=lambda item: item[1]):
            on_done(AutogradeReport(assignment, tmp_path / assignment))

    monkeypatch.setattr(demo_module, "_build_lab", fake_build)
    monkeypatch.setattr(demo_module, "_demo_submissions", lambda repository, name: [])
    monkeypatch.setattr(demo_module, "autograde_courses", fake_autograde_courses)
    monkeypatch.setattr(demo_module, "_finish_lab", lambda lab, report, log, timings, warned: lab.assignment)
    shown = []
    labs = ["keras_gan", "gan_2d", "pytorch_gan"]
    reports = demo_module.run_demos(tmp_path / "demo", find_repository(), labs, log=lambda message: None,
                                    on_report=shown.append)
    assert reports == labs
    assert built == ["pytorch_gan", "gan_2d", "keras_gan"]   # keras_gan imports TensorFlow to hand in
    weights = demo_module.LAB_WEIGHTS
    assert queued == [(name, weights[name], 2) for name in built]
    assert shown == sorted(labs, key=weights.get)
    with pytest.raises(GradingSetupError, match="broken lab"):
        demo_module.run_demos(tmp_path / "demo", find_repository(), ["gan_2d", "broken"], log=lambda message: None)


def test_demo_timings_say_where_the_seconds_went():
    """Does `ganlab demo --timings` list each lab's phases, when its table was shown, and how busy the
    workers were between the first student queued and the last one recorded?"""
    from ganlab_kit.grading.demo import DemoTimings

    timings = DemoTimings(workers=2)
    timings.phases = {"dcgan": {"course": 0.5, "generate_assignment": 2.0, "feedback": 3.0},
                      "gan_2d": {"hand in": 1.0}}
    timings.grading = {"dcgan": (10.0, 70.0), "gan_2d": (12.0, 110.0)}
    timings.submission_seconds = {"dcgan": 100.0, "gan_2d": 80.0}
    timings.shown, timings.total = {"dcgan": 74.0, "gan_2d": 115.0}, 116.0
    text = timings.to_text()
    dcgan = next(line for line in text.splitlines() if line.startswith("dcgan")).split()
    assert dcgan[1:4] == ["0.5", "2.0", "0.0"] and dcgan[-2:] == ["100.0", "74.0"]
    assert "10.0-110.0 s (100.0 s)" in text and "2 workers 90% busy" in text and "total: 116.0 s" in text
