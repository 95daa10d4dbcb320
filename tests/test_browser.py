"""The dashboard in a real JupyterLab, driven through headless Chromium (Debian's).

One test: start JupyterLab on a free local port with a temporary root and isolated
Jupyter directories, open a notebook whose cell trains with the dashboard, run it
with Shift+Enter, check that the curves and the sample grid render, that Pause holds
the step counter while the cell is still running, and that Stop ends the cell.
A screenshot goes to test-artifacts/dashboard-browser.png.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "ganlab-browser-test"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

CELL = """\
import torch
torch.set_num_threads(1)
from ganlab_kit.data import load_mnist
from ganlab_kit.torch_gan import Trainer, build_models
from ganlab_kit.widgets import TrainingDashboard
generator, discriminator = build_models("playground-fc")
trainer = Trainer(generator, discriminator, load_mnist(split="train"), seed=0, snapshot_every=20)
dashboard = TrainingDashboard(trainer)
history = dashboard.run(STEPS)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_notebook(path: Path, steps: int) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "train", "metadata": {},
                   "outputs": [], "source": CELL.replace("STEPS", str(steps))}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


class JupyterLabServer:
    """A JupyterLab server in its own process group, with Jupyter dirs under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home / "notebooks"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.log = home / "jupyterlab.log"

    def environment(self) -> dict:
        env = {key: value for key, value in os.environ.items()
               if key not in ("NBGRADER_EXECUTION", "GANLAB_WIDGETS", "GANLAB_MAX_STEPS")
               and not key.startswith("JUPYTER")}
        for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                          ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                          ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
                          ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces")):
            env[name] = str(self.home / sub)
        env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", JUPYTER_PLATFORM_DIRS="1")
        return env

    def write_config(self) -> None:
        """Only what the test needs: no nbgrader or language-server extensions, no news."""
        config = self.home / "config"
        config.mkdir(exist_ok=True)
        unused = {name: False for name in (
            "nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.assignment_list",
            "nbgrader.server_extensions.course_list",
            "nbgrader.server_extensions.validate_assignment", "jupyter_lsp")}
        (config / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": unused}}))
        (config / "labconfig").mkdir(exist_ok=True)  # nor nbgrader's toolbar in the page
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyter/nbgrader": True}}))
        news = self.home / "lab-settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)  # no "fetch Jupyter news?" toast, no requests
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    def start(self, timeout: float = 60.0) -> None:
        self.write_config()
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
                   "--ServerApp.allow_root=True",
                   f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=None",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self.process = subprocess.Popen(command, cwd=self.root, env=self.environment(),
                                        stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)  # the server and the kernels it started
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(5)


@contextlib.contextmanager
def chromium_page(tmp_path: Path, server: "JupyterLabServer", name: str, timeout_ms: int = 30_000,
                  viewport: tuple = (1300, 1000)):
    """A page of Debian's headless Chromium with a fresh profile under ``tmp_path``. If the block
    fails, the page's screenshot and the JupyterLab log go to test-artifacts/
    (``<name>-failure.png``, ``jupyterlab-<name>.log``)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            headless=True, viewport={"width": viewport[0], "height": viewport[1]})
        page = None
        try:
            context.set_default_timeout(timeout_ms)
            page = context.new_page()
            yield page
        except Exception:
            if page is not None:
                page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
            shutil.copy(server.log, ARTIFACTS / f"jupyterlab-{name}.log")
            raise
        finally:
            context.close()


#: true once the notebook's kernel is connected and idle (the toolbar names it), or a dialog asks
#: something. The execution indicator alone says "idle" before any kernel exists ("No Kernel", while
#: the session starts): a key press or Run All sent then was lost (15 s until the retry, each walk)
#: or brought up JupyterLab's "Select Kernel" dialog.
KERNEL_READY = ("() => document.querySelector('.jp-Dialog') !== null || (document.querySelector("
                "\".jp-Notebook-ExecutionIndicator[data-status='idle']\") !== null && !['', 'No Kernel'].includes("
                "((document.querySelector('.jp-NotebookPanel .jp-KernelName') || {}).textContent || '').trim()))")


def answer_kernel_dialog(page, seconds: float = 90.0) -> None:
    """Accept JupyterLab's "Select Kernel" dialog with the kernel it proposes (the notebook's
    own, Python 3), as a student would, until none is left; fail with the text of any other
    dialog. On a busy machine the first click may not take, or the dialog comes back once
    (a fresh-clone CI run once waited 30 s on a dialog that a single click had not closed)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    dialog = page.locator(".jp-Dialog")
    deadline = time.monotonic() + seconds
    while dialog.count():
        assert time.monotonic() < deadline, f"JupyterLab's dialog did not close in {seconds:.0f} s"
        try:
            text = " ".join(dialog.first.inner_text(timeout=5_000).split())
            assert text.startswith("Select Kernel"), f"JupyterLab shows a dialog: {text!r}"
            dialog.first.locator("button.jp-mod-accept").click(timeout=10_000)
            expect(dialog).to_have_count(0, timeout=10_000)
        except (AssertionError, PlaywrightError) as error:
            if "JupyterLab shows a dialog" in str(error):
                raise
            # the dialog went away while being read, or is still (again) there: look again


def wait_for_kernel(page, timeout_ms: int = 180_000) -> None:
    """Answer any "Select Kernel" dialog, then wait until the notebook's kernel is connected and idle."""
    for _ in range(3):
        answer_kernel_dialog(page)
        page.wait_for_function(KERNEL_READY, timeout=timeout_ms, polling=250)
        if not page.locator(".jp-Dialog").count():
            return
    answer_kernel_dialog(page)


def open_notebook(page, server: "JupyterLabServer", notebook: str) -> None:
    """Open ``notebook`` in JupyterLab and wait until its kernel is connected and idle (a
    "Select Kernel" dialog on the way is answered with :func:`answer_kernel_dialog`)."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/lab/tree/{notebook}?token={TOKEN}", timeout=180_000)
    # the first CODE cell's editor: a rendered markdown cell's editor stays hidden, and with every
    # cell in the page (windowingMode "none") the title cell's may be the first in it (CI, once)
    expect(page.locator(".jp-Notebook .jp-CodeCell .cm-content").first).to_be_visible(
        timeout=180_000)  # JupyterLab loads slowly on a busy machine
    wait_for_kernel(page)


def run_first_cell(page, server: "JupyterLabServer", notebook: str):
    """Open ``notebook`` (:func:`open_notebook`), run its first cell with Shift+Enter as a
    student would and return the cell's prompt (``[*]`` or ``[n]`` once queued).

    On a busy machine a key press sent while the page still settles can be lost, and JupyterLab
    sometimes asks which kernel to use although the notebook names one (its "Select Kernel"
    dialog, seen in a full test run with the notebook's kernel already idle); the dialog is
    answered with the kernel it proposes and the cell run again. Any other dialog fails with
    its text."""
    from playwright.sync_api import expect

    open_notebook(page, server, notebook)
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    prompt = page.locator(".jp-Notebook .jp-InputPrompt").first
    for attempt in range(3):
        wait_for_kernel(page)
        editor.click()
        page.keyboard.press("Shift+Enter")
        try:  # the prompt turns to [*] as soon as the cell is queued
            expect(prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=15_000)
            return prompt
        except AssertionError:
            if attempt == 2:
                raise


@pytest.fixture
def jupyterlab(tmp_path):
    server = JupyterLabServer(tmp_path)
    write_notebook(server.root / "dashboard.ipynb", steps=1_000_000)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def step_number(page) -> int:
    text = page.inner_text(".ganlab-step")
    match = re.match(r"step (\d+)", text)
    assert match, f"unexpected step label {text!r}"
    return int(match.group(1))


def test_dashboard_in_jupyterlab(jupyterlab, tmp_path):
    """In JupyterLab, do the curves and sample grid render, does Pause hold the step
    counter while the cell runs, and does Stop end the cell?"""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import expect

    with chromium_page(tmp_path, jupyterlab, "dashboard-browser", timeout_ms=30_000) as page:
        prompt = run_first_cell(page, jupyterlab, "dashboard.ipynb")

        # the dashboard renders: curves, a sample grid, a moving step counter
        dashboard = page.locator(".ganlab-dashboard")
        expect(dashboard).to_be_visible(timeout=60_000)
        expect(page.locator(".ganlab-step")).to_have_text(re.compile(r"step [1-9]\d* / "),
                                                          timeout=40_000)
        page.wait_for_function(
            "() => ['img.ganlab-curves', 'img.ganlab-samples'].every(s => {"
            " const image = document.querySelector(s);"
            " return image && image.complete && image.naturalWidth > 200; })")
        expect(page.locator(".ganlab-samples")).to_be_visible()
        first = step_number(page)
        page.wait_for_function(
            f"() => /step (\\d+)/.exec(document.querySelector('.ganlab-step').textContent)[1]"
            f" > {first}", timeout=20_000)

        # Pause while the cell is running: the counter holds still
        page.click(".ganlab-pause")
        expect(page.locator(".ganlab-status")).to_contain_text("paused", timeout=10_000)
        expect(page.locator(".ganlab-start")).to_have_text(re.compile("Resume"))
        time.sleep(1.0)  # the step in flight finishes and is drawn
        held = step_number(page)
        time.sleep(2.0)
        assert step_number(page) == held, "the step counter moved while paused"
        page.screenshot(path=str(ARTIFACTS / "dashboard-browser.png"), full_page=True)

        # Stop ends the cell: the kernel finishes and the prompt gets its number
        page.click(".ganlab-stop")
        expect(page.locator(".ganlab-status")).to_contain_text("stopped", timeout=20_000)
        expect(prompt).to_have_text(re.compile(r"\[1\]"), timeout=20_000)
        assert step_number(page) <= held + 1
        expect(page.locator(".ganlab-start")).to_be_enabled()
        expect(page.locator(".ganlab-pause")).to_be_disabled()
