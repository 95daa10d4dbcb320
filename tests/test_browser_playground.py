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
        page.locator(".ganlab-playground-pause").click()
        expect(status).to_contain_text("paused", timeout=30_000)
        time.sleep(1.5)  # the paused view's last redraw
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.locator(".ganlab-playground").screenshot(path=str(SCREENSHOT))


    records = [json.loads(line) for line in
               (jupyterlab.root / "playground_log.jsonl").read_text().splitlines()]
    # the fully connected model trains fast: an automatic snapshot at 10,000 may come first
    button = [record for record in records if record["reason"] == "button"]
    assert len(button) == 1 and button[0]["examples"] > 0
    assert {record["reason"] for record in records} <= {"button", "auto 10000", "auto 25000"}
    assert all(record["generator"]["layers"][2] == {"kind": "fc", "units": 784} for record in records)
    assert all((jupyterlab.root / record["snapshot"]).is_file() for record in records)
