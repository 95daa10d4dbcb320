"""End to end with nbgrader: release, validate, autograde, hostile bank, feedback, export
(regrading is checked in process: tests/test_lab_pytorch_gan.py::test_grading_is_repeatable).

One course with four honest students (the reference, the stub and two typical
mistakes) and, graded after them in the same gradebook, the bank of hostile and broken
submissions of ``tests/hostile_bank.py``; built once, graded with two workers
(``tests/pytorch_e2e.py``: tests/test_autograde.py reads the same course, in the same xdist
group). Every submission runs in a fresh sandboxed kernel as it would for an instructor.
"""
import json

import nbformat
import pytest

from hostile_bank import CASES
from lab_e2e import LabEndToEnd
from pytorch_e2e import ASSIGNMENT, STUDENTS

from ganlab_kit.grading.notebook import read_notebook

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.xdist_group("nbgrader")]


class TestPytorchGanEndToEnd(LabEndToEnd):
    """The checks every lab passes, on the honest students of this course."""

    ASSIGNMENT = ASSIGNMENT
    STUDENTS = STUDENTS
    MIN_CHECK_LINES = 50
    FEEDBACK = {"wrong_target_loss": "generator_loss should fall as D(G(z)) rises",
                "no_zero_grad": "d_optimizer.zero_grad() before loss.backward()"}
    NO_TRACEBACK = ("reference", "no_zero_grad")

    @pytest.fixture(scope="class")
    def graded(self, pytorch_graded):
        return pytorch_graded


HOSTILE = [case.name for case in CASES]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_submission_gets_only_its_allowed_points(pytorch_graded, name):
    """Does each hostile or broken submission get exactly the points its honest answers earn (no more)?"""
    scores, expected = pytorch_graded["scores"][name], pytorch_graded["expected"][name]
    assert {grade_id: scores.get(grade_id) or 0.0 for grade_id in expected} == expected


def test_honest_scores_survive_the_hostile_bank(pytorch_graded):
    """Are the honest students' grades in the gradebook unchanged after the hostile bank was graded?"""
    assert pytorch_graded["honest_after"] == {name: pytorch_graded["scores"][name] for name in STUDENTS}


@pytest.mark.parametrize("name", [case.name for case in CASES if case.evidence or case.problems])
def test_hostile_behaviour_was_contained(pytorch_graded, name):
    """Does the autograded notebook show each hostile attempt blocked, and name each crash?"""
    case = pytorch_graded["hostile"][name]
    notebook = nbformat.read(pytorch_graded["course"].autograded_notebook(ASSIGNMENT, name), as_version=4)
    text = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    for evidence in case.evidence:
        assert evidence in text, (evidence, text[:3000])
    problems = notebook.metadata.get("ganlab_grading", {}).get("problems", [])
    for problem in case.problems:
        assert any(problem in line for line in problems), problems


def test_nothing_written_outside_the_submission_copies(pytorch_graded):
    """Did no hostile cell write outside its own copy (course folder, its parents, /tmp)?"""
    root = pytorch_graded["course"].root
    assert not [path for path in root.parent.rglob("pwned.txt")]


def test_flood_and_deleted_cell(pytorch_graded):
    """Is a 50 MB print cut to a small notebook and feedback, and a deleted quick-check cell restored?"""
    course = pytorch_graded["course"]
    notebook_path = course.autograded_notebook(ASSIGNMENT, "noisy")
    assert notebook_path.stat().st_size < 3_000_000
    assert course.feedback_file(ASSIGNMENT, "noisy").stat().st_size < 3_000_000
    notebook = nbformat.read(notebook_path, as_version=4)
    ids = [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    assert "noise_checks" in ids
    assert "characters cut by the grader" in notebook_path.read_text()


def test_every_submission_has_a_status(pytorch_graded):
    """Does the run end with a status per student: ok for the hostile ones, a named error for the corrupt file?"""
    statuses = pytorch_graded["hostile_report"].statuses()
    assert statuses["corrupt"] == "error" and "notebook" in pytorch_graded["hostile_report"].row("corrupt").note()
    assert all(statuses[name] in ("ok", "not isolated") for name in HOSTILE if name != "corrupt")


@pytest.mark.browser
def test_feedback_page_reads_well_offline_in_chromium(pytorch_graded):
    """Opened from disk in headless Chromium with every network request refused, does a student's
    feedback page show rendered maths (no raw $G$), name each part in its summary, show no bare
    score echo, keep the check tables' columns apart, and let no request leave the machine?"""
    import os
    import re
    import shutil
    from pathlib import Path

    from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    from ganlab_kit.grading.feedback import part_names

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    course = pytorch_graded["course"]
    page_file = course.feedback_file(ASSIGNMENT, "wrong_target_loss")
    parts = [name for _, name in part_names(read_notebook(course.release_notebook(ASSIGNMENT)))]
    refused, finished = [], []

    def local_files_only(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", local_files_only)
            page.on("requestfinished", lambda request: finished.append(request.url))
            page.goto(page_file.as_uri())
            visible = page.inner_text("body")

            # maths: MathML that Chromium draws itself, and no TeX left between dollar signs
            sizes = page.eval_on_selector_all("math", "all => all.map(m => {"
                                              " const box = m.getBoundingClientRect();"
                                              " return [m.textContent, box.width, box.height]; })")
            assert len(sizes) >= 10, sizes
            assert all(width > 0 and height > 0 for _, width, height in sizes), sizes
            assert {"G", "D", "z"} <= {text for text, _, _ in sizes}
            raw = re.findall(r"\$[^$\n]{1,80}\$", visible)
            assert not raw, f"maths left as TeX: {raw[:5]}"

            # the summary names each graded part; nbgrader's "Test cell" label is not drawn
            summary = page.eval_on_selector_all(
                "li > a[href]", "links => links.map(a => [a.getAttribute('href'),"
                " getComputedStyle(a).fontSize, getComputedStyle(a, '::after').content,"
                " a.getBoundingClientRect().width])")
            named = {href: (size, content, width) for href, size, content, width in summary}
            assert parts and len(named) == len(parts), summary
            for (href, (size, content, width)), part in zip(named.items(), parts):
                assert size == "0px" and content == f'"{part}"' and width > 50, (href, size, content, part)
            assert named["#generator_loss_checks"][1] == '"6. Losses · generator loss (checks)"'
            scores = pytorch_graded["scores"]["wrong_target_loss"]
            for cell in pytorch_graded["cells"]:  # each line still shows the part's points
                if cell.autograded:
                    line = page.inner_text(f'li:has(> a[href="#{cell.grade_id}"])')
                    assert f"(Score: {scores[cell.grade_id]:.1f} / {cell.points:.1f})" in line, line
            assert scores["generator_loss_checks"] == 0.0

            # no score echo under a grade cell; the points stay in the checker's tables
            assert "Out[" not in visible
            tables = page.locator(".ganlab-grade table")
            assert tables.count() == sum(part.endswith("(checks)") for part in parts)
            assert "generator_loss should fall as D(G(z)) rises" in visible

            # every check table's header: "points" and "check" apart, not run together
            headers = page.eval_on_selector_all(
                ".ganlab-grade thead", "heads => heads.map(head => {"
                " const [, points, check] = head.querySelectorAll('th');"
                " const drawn = th => { const range = document.createRange();"
                "   range.selectNodeContents(th); return range.getBoundingClientRect(); };"
                " return [points.textContent, check.textContent, drawn(check).left - drawn(points).right]; })")
            assert len(headers) == tables.count(), headers
            for points, check, gap in headers:
                assert (points, check) == ("points", "check") and gap >= 8, headers

            page.screenshot(path=str(ARTIFACTS / "feedback-browser.png"))
        finally:
            browser.close()
    shutil.copyfile(ARTIFACTS / "feedback-browser.png", Path(__file__).resolve().parent.parent
                    / "docs" / "feedback_offline.png")

    # nothing left the machine: only nbgrader's MathJax script was asked for, and it was refused
    assert all(re.match(r"https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/", url) for url in refused), refused
    assert all(url.startswith("file:") for url in finished), finished
