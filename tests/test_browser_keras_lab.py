"""The Keras GAN lab walked as a student walks it: JupyterLab in Debian's headless Chromium.

The release notebook (solutions cleared, hidden tests removed) with the reference answers typed
in; Run All Cells on the lab's fast path (``GANLAB_LAB_STEPS``: each of the three training runs
200 steps, one sample grid each) with the live dashboard; then nbgrader's **Validate** button,
with no course config (nbgrader's own grading budget of 200 steps, the case that once wrote a
200-step generator over the student's). Every quick check must pass, no cell may fail or print a
TensorFlow/absl warning or a NumPy scalar repr, each training cell must show a finished dashboard,
and Validate must pass and leave ``generator.weights.h5`` and every sample grid byte for byte.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_browser import CHROMIUM, answer_kernel_dialog, chromium_page, open_notebook  # noqa: E402
from test_browser_failure_modes import NOISE, ValidatingJupyterLab  # noqa: E402
from test_browser_lab import PASSED, SETTLED, click_menu, save_and_read, text_of  # noqa: E402

from ganlab_kit.grading.notebook import read_notebook, write_notebook  # noqa: E402
from lab_checks import answered_release, files_under, source_notebook  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.keras, pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")]

ASSIGNMENT = "keras_gan"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
LAB_STEPS = int(os.environ.get("GANLAB_BROWSER_LAB_STEPS", "200"))  # steps of each training run


class KerasLabJupyterLab(ValidatingJupyterLab):
    """JupyterLab with the Validate button; the lab's runs on its fast path, live dashboards, and
    no grading budget of ours: Validate meets nbgrader's default, as on a student's machine."""

    def environment(self) -> dict:
        env = super().environment()
        env.pop("GANLAB_MAX_STEPS", None)
        env.update(GANLAB_LAB_STEPS=str(LAB_STEPS), GANLAB_WIDGETS="live")
        return env


@pytest.fixture
def student_notebook():
    return answered_release(read_notebook(source_notebook(ASSIGNMENT)))


@pytest.fixture
def jupyterlab(tmp_path, student_notebook):
    server = KerasLabJupyterLab(tmp_path / "lab")
    write_notebook(student_notebook, server.root / NOTEBOOK)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_release_notebook_runs_and_validates_in_jupyterlab(jupyterlab, student_notebook, tmp_path):
    """Run All Cells, then Validate: the quick checks pass, no cell fails or shows a warning, three
    dashboards finish, Validate says Success, and every hand-in file is what the run saved?"""
    from playwright.sync_api import expect

    cells = student_notebook.cells
    code = [index for index, cell in enumerate(cells) if cell.cell_type == "code"]
    graded = [index for index in code if cells[index].metadata.get("nbgrader", {}).get("grade")]
    passes = {index: PASSED.findall(cells[index].source) for index in graded}
    assert sum(len(messages) == 1 for messages in passes.values()) == len(graded) - 1  # the quality cell: "found"
    trainings = sum("LiveTraining(" in cells[index].source for index in code)
    path = jupyterlab.root / NOTEBOOK

    expect.set_options(timeout=30_000)
    with chromium_page(tmp_path, jupyterlab, "keras-lab-browser", timeout_ms=90_000) as page:
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
        noisy = {index: NOISE.findall(text_of(notebook.cells[index], "stdout", "stderr", "result")) for index in code}
        assert not any(noisy.values()), {index: found for index, found in noisy.items() if found}
        counts = [notebook.cells[index].get("execution_count") for index in code]
        assert None not in counts and counts == sorted(counts), counts
        for index in graded:
            for message in passes[index] or ["generator.weights.h5: found"]:
                assert message in text_of(notebook.cells[index], "stdout"), (index, message)

        boards = page.locator(".ganlab-dashboard")
        expect(boards).to_have_count(trainings)
        for board in boards.all():
            expect(board.locator(".ganlab-status")).to_contain_text("finished")
            step = re.search(r"step (\d+) / (\d+)", board.locator(".ganlab-step").inner_text())
            assert step and int(step[1]) == int(step[2]) == LAB_STEPS, step
            for image in ("img.ganlab-curves", "img.ganlab-samples"):
                assert board.locator(image).evaluate("image => image.complete && image.naturalWidth > 200"), image
        before = files_under(jupyterlab.root)
        grids = [name for name in before if name.startswith("samples/")]
        assert "generator.weights.h5" in before and len(grids) == 3 * (LAB_STEPS // 200), sorted(before)

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
