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
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_browser import CHROMIUM, chromium_page  # noqa: E402
from test_browser_failure_modes import ValidatingJupyterLab  # noqa: E402
from test_browser_lab import press_validate, run_all_cells  # noqa: E402

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


def test_release_notebook_runs_and_validates_in_jupyterlab(jupyterlab, student_notebook, tmp_path):
    """Run All Cells, then Validate: the quick checks pass, no cell fails, Validate says Success, and
    both generator files are byte for byte what the run saved?"""
    with chromium_page(tmp_path, jupyterlab, "dcgan-browser", timeout_ms=90_000) as page:
        run_all_cells(page, jupyterlab, NOTEBOOK, student_notebook)
        before = files_under(jupyterlab.root)
        assert {"generator.pt", "fashion_generator.pt"} <= set(before), sorted(before)
        press_validate(page)  # as a student presses it before handing in

    after = files_under(jupyterlab.root)
    assert sorted(after) == sorted(before), sorted(set(after) ^ set(before))
    assert [name for name in before if after[name] != before[name]] == []
