"""The failure-modes lab walked as a student walks it: JupyterLab in Debian's headless Chromium.

The release notebook (solutions cleared, hidden tests removed) with the reference answers typed
in; Run All Cells with every run capped at a few turns (``GANLAB_MAX_STEPS``, the lab's own fast
path); then nbgrader's **Validate** button (its validate server extension and toolbar button, no
course config). Every quick check must pass, no cell may fail or print a TensorFlow/absl warning,
and Validate must pass and leave every hand-in file (the runs' histories and sample snapshots)
byte for byte as the run wrote it.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_browser import CHROMIUM, JupyterLabServer, chromium_page  # noqa: E402
from test_browser_lab import press_validate, run_all_cells  # noqa: E402

from ganlab_kit.grading.notebook import read_notebook, write_notebook  # noqa: E402
from lab_checks import source_notebook  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.keras, pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")]

ASSIGNMENT = "failure_modes"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
MAX_STEPS = int(os.environ.get("GANLAB_BROWSER_MAX_STEPS", "4"))  # turns and pre-training steps per run
#: what must never reach a student's cell outputs
NOISE = re.compile(r"WARNING|absl|UserWarning|DeprecationWarning|np\.(int|float|bool_?)\d*\(")


class ValidatingJupyterLab(JupyterLabServer):
    """JupyterLab with nbgrader's Validate button (and nothing else of nbgrader), runs capped at
    MAX_STEPS turns, every cell kept in the page."""

    def environment(self) -> dict:
        env = super().environment()
        env.update(GANLAB_MAX_STEPS=str(MAX_STEPS), KERAS_BACKEND="tensorflow")
        return env

    def write_config(self) -> None:
        super().write_config()
        config = self.home / "config"
        settings = json.loads((config / "jupyter_server_config.json").read_text())
        settings["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.validate_assignment"] = True
        (config / "jupyter_server_config.json").write_text(json.dumps(settings))
        (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {
            f"@jupyter/nbgrader:{plugin}": True for plugin in (
                "assignment-list", "course-list", "create-assignment", "formgrader", "menu")}}))
        tracker = self.home / "lab-settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)  # cells off screen stay in the page too
        (tracker / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none", "scrollPastEnd": False}))


@pytest.fixture
def student_notebook():
    from lab_checks import answered_release

    return answered_release(read_notebook(source_notebook(ASSIGNMENT)))


@pytest.fixture
def jupyterlab(tmp_path, student_notebook):
    server = ValidatingJupyterLab(tmp_path / "lab")
    write_notebook(student_notebook, server.root / NOTEBOOK)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def hand_in_files(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())
            if path.is_file() and path.name.endswith(("_history.json", "_samples.npy"))}


def test_release_notebook_runs_and_validates_in_jupyterlab(jupyterlab, student_notebook, tmp_path):
    """Run All Cells, then Validate: every quick check passes, no cell fails or prints a warning,
    Validate says Success, and every hand-in file is byte for byte what the run saved?"""
    with chromium_page(tmp_path, jupyterlab, "failure-modes-browser", timeout_ms=90_000) as page:
        run_all_cells(page, jupyterlab, NOTEBOOK, student_notebook, noise=NOISE)
        before = hand_in_files(jupyterlab.root)
        assert len(before) == 8, sorted(before)  # healthy, overpowered, collapsed and the fix tried
        press_validate(page)  # as a student presses it before handing in

    after = hand_in_files(jupyterlab.root)
    assert sorted(after) == sorted(before)
    assert [name for name in before if after[name] != before[name]] == []
