"""A student's JupyterLab after ``ganlab course student-setup``: nbgrader's Assignments list and
Validate stay, the instructor's formgrader, course list and Create Assignment panel are gone.

Two servers of the same environment, each with its own Jupyter config folder: the instructor's
(nothing changed: formgrader answers) and the student's (``student_setup(level="user")`` run in
that folder). The student's page is opened in headless Chromium and its Nbgrader menu read.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from test_browser import TOKEN, JupyterLabServer, chromium_page  # noqa: E402

from ganlab_kit.grading.student import INSTRUCTOR_LAB_PLUGINS, STUDENT_LAB_PLUGINS, student_setup

pytestmark = [pytest.mark.browser]


class NbgraderLab(JupyterLabServer):
    """JupyterLab with nbgrader's parts as installed (the shared helper switches them off)."""

    def write_config(self) -> None:
        if (self.home / "config" / "jupyter_server_config.json").exists():
            return   # written once, then changed by student_setup: start() must not undo that
        super().write_config()
        (self.home / "config" / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_lsp": False}}}))
        (self.home / "config" / "labconfig" / "page_config.json").unlink()


def _status(server, path: str) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}{path}?token={TOKEN}", timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def _disabled_plugins(server) -> dict:
    with urllib.request.urlopen(f"{server.url}/lab?token={TOKEN}", timeout=60) as reply:
        page = reply.read().decode()
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    return config.get("disabledExtensions", [])


def test_student_jupyterlab_has_no_instructor_tools(tmp_path):
    """Does student-setup leave the Assignments list and Validate, and remove formgrader, the
    course list and Create Assignment (menu, panel and server pages), where an instructor's
    install has them?"""
    instructor = NbgraderLab(tmp_path / "instructor")
    try:
        instructor.start()
        assert _status(instructor, "/formgrader") == 200
        assert _status(instructor, "/formgraders") == 200
        assert not set(INSTRUCTOR_LAB_PLUGINS) & set(_disabled_plugins(instructor))
    finally:
        instructor.stop()

    student = NbgraderLab(tmp_path / "student")
    student.write_config()
    done = student_setup("user", environment=student.environment())
    assert len(done) == len(INSTRUCTOR_LAB_PLUGINS) + 1
    try:
        student.start()
        assert _status(student, "/formgrader") == 404
        assert _status(student, "/formgraders") == 404              # the course list
        assert _status(student, "/assignments") != 404          # the Assignments list answers (400: no course set up here)
        disabled = set(_disabled_plugins(student))
        assert set(INSTRUCTOR_LAB_PLUGINS) <= disabled and not set(STUDENT_LAB_PLUGINS) & disabled
        with chromium_page(tmp_path, student, "student-lab") as page:
            from playwright.sync_api import expect

            page.goto(f"{student.url}/lab?token={TOKEN}", timeout=180_000)
            menu = page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
            expect(menu).to_be_visible(timeout=180_000)
            menu.click()
            items = page.locator(".lm-Menu-content .lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel")
            expect(items.first).to_be_visible()
            labels = [text.strip() for text in items.all_inner_texts() if text.strip()]
            assert "Assignment List" in labels, labels
            assert not {"Course List", "Formgrader", "Create Assignment"} & set(labels), labels
            page.keyboard.press("Escape")
            assert not page.locator("#jp-right-stack .lm-TabBar-tab[title*='Create Assignment'], "
                                    ".nbgrader-create-assignment").count()
    finally:
        student.stop()
