"""The DCGAN lab walked as a student walks it: JupyterLab in Debian's headless Chromium.

The release notebook (solutions cleared, hidden tests removed) with the reference answers typed
in; Run All Cells on the lab's fast path (``GANLAB_QUICK=1``: every training run a few dozen
steps); then nbgrader's **Validate** button (no course config). Every quick check but the two
quality ones must pass (a few dozen steps cannot draw good digits: those two only look for the
files), no cell may fail, and Validate must pass and leave ``generator.pt`` and
``fashion_generator.pt`` byte for byte as the run saved them.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_browser import CHROMIUM, TOKEN, answer_kernel_dialog, chromium_page  # noqa: E402
from test_browser_failure_modes import ValidatingJupyterLab  # noqa: E402
from test_browser_lab import PASSED, SETTLED, click_menu, save_and_read, text_of  # noqa: E402

from ganlab_kit.grading.notebook import read_notebook, write_notebook  # noqa: E402
from lab_checks import answered_release, files_under, source_notebook  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")]

ASSIGNMENT = "dcgan"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


class QuickJupyterLab(ValidatingJupyterLab):
    """The failure-modes lab's JupyterLab with the Validate button, on the DCGAN lab's fast path."""

    def environment(self) -> dict:
        env = super().environment()
        env.update(GANLAB_QUICK="1")
        return env


@pytest.fixture
def student_notebook():
    return answered_release(read_notebook(source_notebook(ASSIGNMENT)))


@pytest.fixture
def jupyterlab(tmp_path, student_notebook):
    server = QuickJupyterLab(tmp_path / "lab")
    write_notebook(student_notebook, server.root / NOTEBOOK)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def open_notebook(page, server, notebook: str) -> None:
    """test_browser.open_notebook, waiting for the first cell rather than its editor: this
    notebook starts with a rendered markdown cell, whose editor stays hidden."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/lab/tree/{notebook}?token={TOKEN}", timeout=180_000)
    expect(page.locator(".jp-Notebook .jp-CodeCell .cm-content").first).to_be_visible(timeout=180_000)
    page.wait_for_function(
        "() => document.querySelector(\".jp-Notebook-ExecutionIndicator[data-status='idle']\")"
        " || document.querySelector('.jp-Dialog')", timeout=180_000)


def test_release_notebook_runs_and_validates_in_jupyterlab(jupyterlab, student_notebook, tmp_path):
    """Run All Cells, then Validate: the quick checks pass, no cell fails, Validate says Success, and
    both generator files are byte for byte what the run saved?"""
    from playwright.sync_api import expect

    cells = student_notebook.cells
    code = [index for index, cell in enumerate(cells) if cell.cell_type == "code"]
    graded = [index for index in code if cells[index].metadata.get("nbgrader", {}).get("grade")]
    passes = {index: PASSED.findall(cells[index].source) for index in graded}
    path = jupyterlab.root / NOTEBOOK

    expect.set_options(timeout=30_000)
    with chromium_page(tmp_path, jupyterlab, "dcgan-browser", timeout_ms=90_000) as page:
        open_notebook(page, jupyterlab, NOTEBOOK)
        first = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first
        for attempt in range(2):  # a click can be lost while the page still settles
            answer_kernel_dialog(page)
            click_menu(page, "Run", "Run All Cells")
            try:
                expect(first).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=15_000)
                break
            except AssertionError:
                if attempt:
                    raise
        page.wait_for_function(SETTLED, timeout=540_000, polling=1_000)
        notebook = save_and_read(page, path, code)
        errors = {index: text_of(notebook.cells[index], "error") for index in code}
        assert not any(errors.values()), {index: text for index, text in errors.items() if text}
        counts = [notebook.cells[index].get("execution_count") for index in code]
        assert None not in counts and counts == sorted(counts), counts
        for index in graded:
            for message in passes[index]:
                assert message in text_of(notebook.cells[index], "stdout"), (index, message)
        before = files_under(jupyterlab.root)
        assert {"generator.pt", "fashion_generator.pt"} <= set(before), sorted(before)

        # nbgrader's Validate button, as a student presses it before handing in
        page.locator(".validate-button").first.click()   # nbgrader's toolbar button: saves, then validates
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        expect(dialog).to_have_count(1, timeout=600_000)
        report = " ".join(dialog.first.inner_text().split())
        assert "Success" in report, report[:2000]
        dialog.first.locator("button.jp-mod-accept").click()

    after = files_under(jupyterlab.root)
    assert sorted(after) == sorted(before), sorted(set(after) ^ set(before))
    assert [name for name in before if after[name] != before[name]] == []
