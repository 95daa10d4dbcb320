"""The 2-D GAN widget in a real JupyterLab, driven through headless Chromium (Debian's).

One test: open a notebook that shows the widget on the ring, step D and G one at a time,
switch the loss and back, play in the background (the notebook stays idle) until the fakes
spread, pause and check that the counters hold. The screenshot becomes docs/gan2d.png (the
README's picture).
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

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "gan2d.png"
CELL = """\
import torch
torch.set_num_threads(1)
from ganlab_kit.widgets.gan2d import GAN2DLab
lab = GAN2DLab("ring")
lab
"""
#: D steps to play before the screenshot: the fakes have left the centre for the ring.
PLAY_UNTIL = 700


def write_notebook(path: Path) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "gan2d", "metadata": {},
                   "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


@pytest.fixture
def jupyterlab(tmp_path):
    server = JupyterLabServer(tmp_path)
    write_notebook(server.root / "gan2d.ipynb")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def counters(page):
    text = page.inner_text(".ganlab-gan2d-status")
    match = re.search(r"D steps (\d+) · G steps (\d+)", text)
    assert match, f"unexpected status {text!r}"
    return int(match.group(1)), int(match.group(2))


def test_gan2d_in_jupyterlab(jupyterlab, tmp_path):
    """In JupyterLab, do Step D / Step G move one counter each, does the loss menu reach the
    session, does Play train in the background (new frames, the cell finished) and Pause hold?"""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    with chromium_page(tmp_path, jupyterlab, "gan2d-browser", timeout_ms=90_000,
                       viewport=(1400, 1100)) as page:
        prompt = run_first_cell(page, jupyterlab, "gan2d.ipynb")
        expect(page.locator(".ganlab-gan2d")).to_be_visible(timeout=90_000)
        expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=60_000)  # the cell is done
        status = page.locator(".ganlab-gan2d-status")
        expect(status).to_contain_text("ready")
        page.wait_for_function(
            "() => ['img.ganlab-gan2d-plane', 'img.ganlab-gan2d-curves'].every(s => {"
            " const image = document.querySelector(s);"
            " return image && image.complete && image.naturalWidth > 300; })")

        # one network at a time
        page.locator(".ganlab-gan2d-step-d").click()  # the first step builds the trainer (Adam)
        expect(status).to_contain_text("D steps 1 · G steps 0", timeout=120_000)
        page.locator(".ganlab-gan2d-step-g").click()
        expect(status).to_contain_text("D steps 1 · G steps 1")
        page.locator(".ganlab-gan2d-loss select").select_option("minimax")
        expect(status).to_contain_text("minimax")
        page.locator(".ganlab-gan2d-loss select").select_option("non-saturating")  # the label
        expect(status).to_contain_text("non-saturating")

        # Play trains in the background: new frames arrive while the notebook is idle
        first = page.get_attribute("img.ganlab-gan2d-plane", "src")
        page.locator(".ganlab-gan2d-play").click()
        expect(status).to_contain_text("playing", timeout=30_000)
        expect(prompt).to_have_text(re.compile(r"\[1\]"))
        page.wait_for_function(
            "(first) => document.querySelector('img.ganlab-gan2d-plane').src !== first",
            arg=first, timeout=30_000)
        page.wait_for_function(
            "(until) => { const m = /D steps (\\d+)/.exec("
            "document.querySelector('.ganlab-gan2d-status').textContent);"
            " return m && Number(m[1]) >= until; }", arg=PLAY_UNTIL, timeout=240_000)
        page.locator(".ganlab-gan2d-pause").click()
        expect(status).to_contain_text("paused", timeout=30_000)
        held = counters(page)
        time.sleep(2.0)
        assert counters(page) == held, "the counters moved while paused"
        assert held[0] == held[1] >= PLAY_UNTIL
        time.sleep(0.5)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.locator(".ganlab-gan2d").screenshot(path=str(SCREENSHOT))

