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
from test_browser import CHROMIUM, chromium_page  # noqa: E402
from test_browser_failure_modes import NOISE, ValidatingJupyterLab  # noqa: E402
from test_browser_lab import PASSED, press_validate, run_all_cells  # noqa: E402

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
    """The release with the reference answers, TRAINING_STEPS set to ten times LAB_STEPS (the lab's
    2000 at the default): SAMPLE_INTERVAL is then LAB_STEPS, one sample grid per training run."""
    notebook = answered_release(read_notebook(source_notebook(ASSIGNMENT)))
    cell = next(cell for cell in notebook.cells if re.search(r"^TRAINING_STEPS = \d+$", cell.source, re.M))
    cell.source = re.sub(r"^TRAINING_STEPS = \d+$", f"TRAINING_STEPS = {10 * LAB_STEPS}", cell.source, flags=re.M)
    return notebook


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
    assert sum(len(PASSED.findall(cells[index].source)) == 1 for index in graded) == len(graded) - 1
    trainings = sum("LiveTraining(" in cells[index].source for index in code)

    expect.set_options(timeout=30_000)
    with chromium_page(tmp_path, jupyterlab, "keras-lab-browser", timeout_ms=90_000) as page:
        # the quality cell has no quick check of its own: it prints that the file is there
        run_all_cells(page, jupyterlab, NOTEBOOK, student_notebook, noise=NOISE,
                      printed=lambda cell: PASSED.findall(cell.source) or ["generator.weights.h5: found"])
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
        assert "generator.weights.h5" in before and len(grids) == 3, sorted(before)

        press_validate(page)  # as a student presses it before handing in

    after = files_under(jupyterlab.root)
    assert sorted(after) == sorted(before), sorted(set(after) ^ set(before))
    assert [name for name in before if after[name] != before[name]] == []
