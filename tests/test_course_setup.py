"""``ganlab course setup`` and the shipped config run by an nbgrader nobody activated."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from ganlab_kit.grading.bridge import GradingSetupError  # noqa: E402
from ganlab_kit.grading.course import find_repository  # noqa: E402
from ganlab_kit.grading.exchange import (COURSE_CONFIG, MAX_DIR_KB, MAX_FILE_KB, STUDENT_CONFIG,  # noqa: E402
                                         open_course, setup_course)
from ganlab_kit.grading.formgrader import read_guides, written_answer_cells  # noqa: E402
from ganlab_kit.grading.notebook import read_notebook  # noqa: E402

BIN = Path(sys.executable).parent


def test_setup_writes_both_configs_and_an_open_exchange(tmp_path):
    """Does setup write the course's and the students' nbgrader config (same course and exchange,
    big hand-in files allowed), copy the labs, and make the exchange writable by everyone?"""
    made = setup_course(tmp_path / "course", "gan-2026", tmp_path / "exchange", ["gan_2d"])
    course = open_course(tmp_path / "course")
    assert course.course_id == "gan-2026"
    assert (tmp_path / "course" / "source" / "gan_2d" / "gan_2d.ipynb").is_file()
    assert not (tmp_path / "course" / "source" / "pytorch_gan").exists()
    assert stat.S_IMODE((tmp_path / "exchange").stat().st_mode) & 0o777 == 0o777
    student = (tmp_path / "course" / STUDENT_CONFIG).read_text()
    instructor = (tmp_path / "course" / COURSE_CONFIG).read_text()
    for text in (student, instructor):
        assert "'gan-2026'" in text and repr(str(tmp_path / "exchange")) in text
        assert f"max_file_size = {MAX_FILE_KB}" in text and f"max_dir_size = {MAX_DIR_KB}" in text
    assert "load_subconfig" in instructor and "autograder" not in student   # no grading settings
    assert len(made.created) == 4 and not made.kept


def test_setup_never_overwrites(tmp_path):
    """Is an edited config or lab kept when setup runs again?"""
    setup_course(tmp_path / "course", "gan-2026", tmp_path / "exchange", ["gan_2d"])
    config = tmp_path / "course" / COURSE_CONFIG
    config.write_text(config.read_text() + "# my edit\n")
    again = setup_course(tmp_path / "course", "gan-2026", tmp_path / "exchange", ["gan_2d"])
    assert config.read_text().endswith("# my edit\n")
    assert len(again.kept) == 3 and not again.created


@pytest.mark.parametrize("labs, course_id, message", [(["no_such_lab"], "gan", "no lab"),
                                                      (["gan_2d"], "gan course/1", "course id")])
def test_setup_refuses_bad_input(tmp_path, labs, course_id, message):
    """Is an unknown lab or a course id that cannot name a folder refused with the fix?"""
    with pytest.raises(GradingSetupError, match=message):
        setup_course(tmp_path / "course", course_id, tmp_path / "exchange", labs)
    assert not (tmp_path / "course").exists()


def test_open_course_without_config_says_how(tmp_path):
    """Does a course command outside a course folder name the setup command?"""
    with pytest.raises(GradingSetupError, match="ganlab course setup"):
        open_course(tmp_path)


def test_every_written_answer_has_a_grading_guide():
    """Does each lab's grading_guide.md have a section for every written answer, and no other?"""
    repository = find_repository()
    for lab in repository.assignment_names():
        cells = written_answer_cells(read_notebook(repository.assignments / "source" / lab / f"{lab}.ipynb"))
        guides = read_guides(repository.autograder / lab / "grading_guide.md")
        assert set(guides) == set(cells), lab
        assert all(len(text) > 80 for text in guides.values()), lab


@pytest.mark.grading
def test_release_without_activated_environment(tmp_path):
    """Does `ganlab course release` (nbgrader generate_assignment + release) work from a shell
    whose PATH has no virtual environment (nbgrader needs `alembic` from it), and does the
    bare `.venv/bin/nbgrader` work there too?"""
    environment = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    course = tmp_path / "course"
    setup = subprocess.run([str(BIN / "ganlab"), "course", "setup", str(course), "--course-id", "gan",
                            "--exchange", str(tmp_path / "exchange"), "--labs", "gan_2d"],
                           env=environment, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr
    release = subprocess.run([str(BIN / "ganlab"), "course", "release", "gan_2d"], cwd=course,
                             env=environment, capture_output=True, text=True)
    assert release.returncode == 0, release.stdout + release.stderr
    assert (tmp_path / "exchange" / "gan" / "outbound" / "gan_2d" / "gan_2d.ipynb").is_file()
    fresh = tmp_path / "fresh"   # no gradebook yet: nbgrader makes one, which runs `alembic`
    setup_course(fresh, "gan", tmp_path / "exchange", ["gan_2d"])
    added = subprocess.run([str(BIN / "nbgrader"), "db", "student", "add", "ada"], cwd=fresh,
                           env=environment, capture_output=True, text=True)
    assert added.returncode == 0 and "alembic" not in added.stderr, added.stderr
    assert (fresh / "gradebook.db").is_file()
