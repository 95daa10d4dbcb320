"""The GAN Playground in a real JupyterLab, driven through headless Chromium (Debian's).

One test: open a notebook that shows the Playground, switch both models to the fully
connected preset, remove the generator's second FC layer and read the Reshape error,
put the layer back, train a few seconds in the background, take a snapshot and pause.
The screenshot becomes docs/playground.png (the README's picture).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_browser import CHROMIUM, JupyterLabServer, chromium_page, run_first_cell  # noqa: E402

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "playground.png"
CELL = """\
import torch
torch.set_num_threads(1)
from ganlab_kit.widgets import Playground
playground = Playground()
playground
"""


def write_notebook(path: Path) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "playground", "metadata": {},
                   "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


@pytest.fixture
def jupyterlab(tmp_path):
    server = JupyterLabServer(tmp_path)
    write_notebook(server.root / "playground.ipynb")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def log_records(folder):
    """The experiment log's complete lines (a line being written is left for the next look)."""
    path = folder / "playground_log.jsonl"
    records = []
    for line in (path.read_text().splitlines() if path.is_file() else []):
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def test_playground_in_jupyterlab(jupyterlab, tmp_path):
    """In JupyterLab, can a student build the fully connected model, see the Reshape error when
    the generator's second FC layer is gone, fix it, train, snapshot and pause?"""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import expect

    with chromium_page(tmp_path, jupyterlab, "playground-browser", timeout_ms=90_000,
                       viewport=(1400, 1100)) as page:
        prompt = run_first_cell(page, jupyterlab, "playground.ipynb")
        expect(page.locator(".ganlab-playground")).to_be_visible(timeout=90_000)
        expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=60_000)  # the cell is done

        # the fully connected preset, from the Model menu
        page.locator(".ganlab-playground-preset select").select_option("Fully connected")
        generator = page.locator(".ganlab-generator-column")
        rows = generator.locator(".ganlab-layer-row")
        expect(rows).to_have_count(5)
        expect(generator).to_contain_text("Reshape")

        # remove the second FC layer: the Reshape row explains why the model breaks
        rows.nth(2).locator("button[title='remove this layer']").click()
        expect(rows).to_have_count(4)
        expect(generator).to_contain_text("[256] holds 256 values, [28, 28, 1] needs 784")
        train = page.locator(".ganlab-playground-train")
        expect(train).to_be_disabled()

        # put it back: insert below the ReLU, 784 units
        rows.nth(1).locator("button[title='insert a layer below']").click()
        expect(rows).to_have_count(5)
        units = rows.nth(2).locator("input").first
        units.fill("784")
        units.press("Enter")
        expect(generator).not_to_contain_text("holds 256 values")
        expect(train).to_be_enabled()

        # train in the background: the counter moves while the notebook is idle
        train.click()
        stats = page.locator(".ganlab-playground-stats")
        expect(stats).to_contain_text(re.compile(r"examples trained: [1-9]"), timeout=60_000)
        page.wait_for_function(
            "() => { const image = document.querySelector('img.ganlab-playground-samples');"
            " return image && image.complete && image.naturalWidth > 200; }")
        time.sleep(4)
        page.locator(".ganlab-playground-snapshot").click()
        status = page.locator(".ganlab-playground-status")
        expect(status).to_contain_text(re.compile(r"saved playground_00\d\.png"), timeout=60_000)
        # that status may be an automatic snapshot's (10,000 examples): pause only once the
        # button's own line is in the log, else a busy machine pauses before it is taken
        deadline = time.monotonic() + 60
        while not any(record["reason"] == "button" for record in log_records(jupyterlab.root)):
            assert time.monotonic() < deadline, "the Snapshot button wrote no log line in 60 s"
            time.sleep(0.5)
        page.locator(".ganlab-playground-pause").click()
        expect(status).to_contain_text("paused", timeout=30_000)
        time.sleep(1.5)  # the paused view's last redraw
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.locator(".ganlab-playground").screenshot(path=str(SCREENSHOT))


    records = log_records(jupyterlab.root)
    # the fully connected model trains fast: an automatic snapshot at 10,000 may come first
    button = [record for record in records if record["reason"] == "button"]
    assert len(button) == 1 and button[0]["examples"] > 0
    assert {record["reason"] for record in records} <= {"button", "auto 10000", "auto 25000"}
    assert all(record["generator"]["layers"][2] == {"kind": "fc", "units": 784} for record in records)
    assert all((jupyterlab.root / record["snapshot"]).is_file() for record in records)


# --------------------------------------------------------------------------- the lab as a student walks it
def _hand_in_files(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())
            if path.is_file() and (path.name.endswith(".png") or path.name.endswith(".jsonl"))}


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab with nbgrader's Validate button (no course config), the release notebook with
    the reference answers typed in, and the reference log and snapshots beside it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lab_checks import AUTOGRADER, answered_release, load_module, source_notebook
    from test_browser_failure_modes import ValidatingJupyterLab

    from ganlab_kit.grading.notebook import read_notebook, write_notebook as write_ipynb

    server = ValidatingJupyterLab(tmp_path / "lab")
    notebook = answered_release(read_notebook(source_notebook("playground")))
    write_ipynb(notebook, server.root / "playground.ipynb")
    load_module(AUTOGRADER / "playground" / "submissions.py", "playground_submissions").reference_files(server.root)
    try:
        server.start()
        yield server, notebook
    finally:
        server.stop()


@pytest.mark.slow
def test_lab_notebook_walked_and_validated_in_jupyterlab(lab_server, tmp_path):
    """The release notebook with the reference answers (and the reference log beside it): Run All
    Cells; in the Playground, Train, Pause, then Model: Fully connected (the notebook's order: the
    rows become the FC model, no error line, Train enabled), Train, Snapshot, Pause; the log's quick
    check passes again; then nbgrader's Validate button says Success and leaves the log and every
    snapshot byte for byte as the Playground wrote them."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import expect
    from test_browser import answer_kernel_dialog, open_notebook, wait_for_kernel
    from test_browser_lab import SETTLED, click_menu, save_and_read, text_of

    server, notebook = lab_server
    code = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    expect.set_options(timeout=30_000)
    with chromium_page(tmp_path, server, "playground-lab-browser", timeout_ms=90_000,
                       viewport=(1400, 1100)) as page:
        open_notebook(page, server, "playground.ipynb")
        for attempt in range(3):  # a click, or a run queued while JupyterLab swaps kernels, can be lost
            wait_for_kernel(page)
            click_menu(page, "Run", "Run All Cells")
            page.wait_for_timeout(3_000)
            answer_kernel_dialog(page)
            page.wait_for_function(SETTLED, timeout=300_000, polling=1_000)
            ran = save_and_read(page, server.root / "playground.ipynb", code)
            if all(ran.cells[index].get("execution_count") for index in code):
                break
        else:
            raise AssertionError("Run All Cells did not run every cell")
        errors = {index: text_of(ran.cells[index], "error") for index in code}
        assert not any(errors.values()), {index: text for index, text in errors.items() if text}
        assert "each with its picture" in "".join(text_of(ran.cells[index], "stdout") for index in code)

        widget = page.locator(".ganlab-playground")
        expect(widget).to_be_visible(timeout=60_000)
        train = page.locator(".ganlab-playground-train")
        pause = page.locator(".ganlab-playground-pause")
        status = page.locator(".ganlab-playground-status")
        stats = page.locator(".ganlab-playground-stats")
        error_line = page.locator(".ganlab-playground-error")
        # Problem 1's start: Train, and Pause after a few steps
        train.click()
        expect(stats).to_contain_text(re.compile(r"examples trained: [1-9]"), timeout=90_000)
        pause.click()
        expect(status).to_contain_text("paused", timeout=30_000)
        # Section 2: Model: Fully connected while the run is paused (issue 26's crash)
        page.locator(".ganlab-playground-preset select").select_option("Fully connected")
        rows = page.locator(".ganlab-generator-column .ganlab-layer-row")
        expect(rows).to_have_count(5)
        expect(rows.nth(2)).to_contain_text("→ [784]")   # the FC model's shapes in the FC rows
        expect(rows.nth(4)).to_contain_text("→ [28, 28, 1]")
        expect(error_line).to_have_text("")
        expect(train).to_be_enabled()
        expect(page.locator(".ganlab-playground-preset select")).to_be_enabled()
        # train the FC model, snapshot, pause
        train.click()
        expect(stats).to_contain_text(re.compile(r"examples trained: [1-9]"), timeout=60_000)
        page.locator(".ganlab-playground-snapshot").click()
        expect(status).to_contain_text(re.compile(r"saved playground_0\d\d\.png"), timeout=60_000)
        pause.click()
        expect(status).to_contain_text("paused", timeout=30_000)
        expect(error_line).to_have_text("")
        page.locator(".ganlab-playground-reset").click()  # the run ends: nothing trains while validating
        expect(train).to_have_text(re.compile("Train"))
        before = _hand_in_files(server.root)
        assert "playground_007.png" in before, sorted(before)  # the reference's six and the new one

        # nbgrader's Validate button, as a student presses it before handing in
        page.locator(".validate-button").first.click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        expect(dialog).to_have_count(1, timeout=600_000)
        report = " ".join(dialog.first.inner_text().split())
        assert "Success" in report, report[:2000]
        dialog.first.locator("button.jp-mod-accept").click()

    after = _hand_in_files(server.root)
    assert sorted(after) == sorted(before)
    assert [name for name in before if after[name] != before[name]] == []
    from ganlab_kit.widgets import ExperimentLog

    assert ExperimentLog(server.root / "playground_log.jsonl").problems(rescore=True) == []
