"""A TA grades the written answers in formgrader, in headless Chromium.

One course of the 2-D GAN lab with one student (the reference answers, the lab's example
written answers), autograded; Jupyter Server runs in the course folder with nbgrader's
formgrader extension and the course's config (which loads the kit's). The TA opens the
student's submission from formgrader's gradebook, sees a grading guide under each written
answer (from ``autograder/gan_2d/grading_guide.md``), gives the first answer 1.5 of 2 points
with a comment and the second full marks. The test then checks the gradebook, the student's
feedback page (the points and the comment, no guide) and the LMS export (manual 3.5).
The page is saved as docs/formgrader.png.
"""
from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path

import pytest

from test_browser import TOKEN, JupyterLabServer, chromium_page  # noqa: E402

from ganlab_kit.grading.course import Course, find_repository
from ganlab_kit.grading.demo import hand_in
from ganlab_kit.grading.export import write_lms_csv
from ganlab_kit.grading.formgrader import GUIDE_CLASS, read_guides
from ganlab_kit.grading.submissions import load_submissions

pytestmark = [pytest.mark.browser, pytest.mark.grading]

LAB = "gan_2d"
STUDENT = "reference"
COMMENT = "Right about the non-saturating arrows; for minimax say why the curve is flat near D(G(z)) = 0."
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "formgrader.png"


class FormgraderServer(JupyterLabServer):
    """Jupyter Server in a course folder with nbgrader's formgrader extension only."""

    def write_config(self) -> None:
        super().write_config()
        extensions = {name: False for name in (
            "nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.course_list",
            "nbgrader.server_extensions.validate_assignment", "jupyter_lsp")}
        extensions["nbgrader.server_extensions.formgrader"] = True
        (self.home / "config" / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": extensions}}))


def _manual_grades(course: Course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course_id=course.course_id) as gradebook:
        notebook = gradebook.find_submission_notebook(LAB, LAB, STUDENT)
        grades = {grade.name: grade.manual_score for grade in notebook.grades}
        comments = {comment.name: comment.manual_comment for comment in notebook.comments}
        return {"grades": grades, "comments": comments, "id": notebook.id}


def _wait_for(condition, timeout: float = 30.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


def test_ta_grades_written_answers_in_formgrader(tmp_path):
    """Does a TA see the grading guides in formgrader, and do the points and comment they enter
    reach the gradebook, the student's feedback (without the guide) and the LMS export?"""
    repository = find_repository()
    server = FormgraderServer(tmp_path)
    course = Course.create(server.root, repository, [LAB], course_id="gan-course")
    course.generate_assignment(LAB)
    reference = [s for s in load_submissions(repository.autograder / LAB) if s.name == STUDENT]
    hand_in(course, LAB, reference)
    course.autograde(LAB)
    before = _manual_grades(course)
    assert before["grades"]["q1_answer"] is None   # waits for a TA
    guides = read_guides(repository.autograder / LAB / "grading_guide.md")
    assert set(guides) == {"q1_answer", "q2_answer", "q3_answer"}

    try:
        server.start()
        with chromium_page(tmp_path, server, "formgrader", viewport=(1300, 900)) as page:
            from playwright.sync_api import expect

            # log in as JupyterLab does (the token sets the session cookie formgrader's API calls use)
            page.goto(f"{server.url}/lab?token={TOKEN}", wait_until="commit", timeout=120_000)
            page.goto(f"{server.url}/formgrader/gradebook/{LAB}/{LAB}", timeout=120_000)
            # the TA opens the (only) submission from the gradebook's list
            page.locator("a[href*='/formgrader/submissions/']").first.click(timeout=120_000)
            expect(page.locator("input.score#q1_answer")).to_be_visible(timeout=60_000)
            guide = page.locator(f".{GUIDE_CLASS}")
            expect(guide).to_have_count(3)
            for grade_id in ("q1_answer", "q2_answer", "q3_answer"):
                block = page.locator(f".{GUIDE_CLASS}[data-grade-id='{grade_id}'] + blockquote")
                expect(block).to_contain_text("Grading guide (TAs only")
                first_line = guides[grade_id].splitlines()[0].strip("*- ")
                expect(block).to_contain_text(first_line[:40])
            # formgrader saves a field on change (when it loses focus): one field at a time, each
            # saved before the next, as a TA tabs through (filling all three at once lost q1's
            # score once on a busy machine)
            for selector, value, stored in (
                    ("input.score#q1_answer", "1.5", lambda now: now["grades"]["q1_answer"] == 1.5),
                    ("textarea#q1_answer-comment", COMMENT, lambda now: COMMENT in now["comments"].values()),
                    ("input.score#q2_answer", "2", lambda now: now["grades"]["q2_answer"] == 2)):
                page.locator(selector).fill(value)
                page.locator(selector).press("Tab")
                _wait_for(lambda: stored(_manual_grades(course)), timeout=60.0)
            def graded():
                now = _manual_grades(course)
                return (now["grades"]["q1_answer"] == 1.5 and now["grades"]["q2_answer"] == 2
                        and COMMENT in now["comments"].values())

            saved = _wait_for(graded)
            page.locator("input.score#q1_answer").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "formgrader.png"))
    finally:
        server.stop()
    after = _manual_grades(course)
    assert saved, after
    assert after["grades"]["q1_answer"] == 1.5 and after["grades"]["q2_answer"] == 2
    assert after["grades"]["q3_answer"] is None
    assert COMMENT in after["comments"].values()
    shutil.copyfile(tmp_path / "formgrader.png", SCREENSHOT)

    course.generate_feedback(LAB)
    page_text = html.unescape(course.feedback_file(LAB, STUDENT).read_text())
    assert COMMENT in page_text
    assert "Grading guide" not in page_text and GUIDE_CLASS not in page_text
    assert guides["q1_answer"].splitlines()[-1] not in page_text

    path = write_lms_csv(course.root, course.course_id, tmp_path / "grades.csv")
    row = {row["SIS Login ID"]: row for row in csv.DictReader(path.open())}[STUDENT]
    assert float(row[f"{LAB} manual"]) == 3.5
    assert float(row[f"{LAB} total"]) == float(row[f"{LAB} auto"]) + 3.5
