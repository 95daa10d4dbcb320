"""Tests of the widgets inside a real Jupyter kernel (no browser).

* A notebook executed headless (nbclient, as nbconvert and nbgrader do) must leave
  static PNGs, no widget views, and stay small.
* In a live kernel, a Pause / Stop click must act while the training cell still runs
  (the click is sent the way JupyterLab sends it: a comm_msg on the shell channel).
"""
from __future__ import annotations

import os
import queue
import time

import nbformat
import pytest

SETUP = """\
import torch
torch.set_num_threads(1)
from ganlab_kit.data import load_mnist
from ganlab_kit.torch_gan import Trainer, build_models
from ganlab_kit.widgets import NoiseViewer, SampleGrid, TrainingDashboard
digits = load_mnist(digits=[0, 1, 7], split="train")
generator, discriminator = build_models("playground-fc")
trainer = Trainer(generator, discriminator, digits, seed=0, batch_size=32, snapshot_every=10)
"""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def kernel_env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("NBGRADER_EXECUTION", "GANLAB_WIDGETS", "GANLAB_MAX_STEPS")}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", **extra)
    return env


def execute(notebook, tmp_path, env: dict):
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


@pytest.mark.parametrize("nbgrader", [False, True], ids=["nbclient", "nbgrader"])
def test_executed_notebook_keeps_static_pngs_and_stays_small(tmp_path, nbgrader):
    """Executed headless (detected from nbclient itself, or from NBGRADER_EXECUTION), do the
    dashboard, SampleGrid and NoiseViewer leave image/png outputs, no widget views, and a
    small notebook, while run() still returns the trained History?"""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("dashboard = TrainingDashboard(trainer)\n"
                                  "history = dashboard.run(30)"),
        nbformat.v4.new_code_cell("print(len(history), trainer.step)"),
        nbformat.v4.new_code_cell("SampleGrid(generator, discriminator, digits, n=4)"),
        nbformat.v4.new_code_cell("NoiseViewer(generator, n=10)"),
    ])
    env = kernel_env(NBGRADER_EXECUTION="autograde") if nbgrader else kernel_env()
    execute(notebook, tmp_path, env)
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)

    outputs = [cell.get("outputs", []) for cell in notebook.cells]
    for index in (1, 3, 4):
        kinds = [output.get("output_type") for output in outputs[index]]
        assert kinds == ["display_data"] and "image/png" in outputs[index][0]["data"], (
            index, outputs[index])
    assert outputs[2][0]["text"].split() == ["30", "30"]
    text = path.read_text()
    assert WIDGET_VIEW not in text and WIDGET_STATE not in text
    assert path.stat().st_size < 300_000


def comm_click(client, comm_id: str) -> None:
    """Send what JupyterLab sends when a Button is clicked."""
    content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
    client.session.send(client.shell_channel.socket, "comm_msg", content)


@pytest.mark.slow
def test_pause_and_stop_clicks_act_while_the_training_cell_runs():
    """In a live kernel, does a Pause click hold the step count and a Stop click end
    dashboard.run() while that cell is still executing?"""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env=kernel_env())  # detects live
    try:
        client.execute_interactive(
            SETUP + "dashboard = TrainingDashboard(trainer, refresh_seconds=0.2)", timeout=120)
        run_id = client.execute("history = dashboard.run(1_000_000)")
        classes, step_labels, finished = {}, [], False
        paused_at = stopped_at = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not finished:
            try:
                message = client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None:
                content = message["content"]
                state = content.get("data", {}).get("state", {}) if "comm_id" in content else {}
                for name in state.get("_dom_classes", []):
                    classes[name] = content["comm_id"]
                if "value" in state and content["comm_id"] == classes.get("ganlab-step"):
                    step_labels.append((time.monotonic(), state["value"]))
                finished = (message["msg_type"] == "status"
                            and message["parent_header"].get("msg_id") == run_id
                            and content["execution_state"] == "idle")
            labels_with_steps = [label for _, label in step_labels if " / " in label]
            if paused_at is None and len(labels_with_steps) >= 3:
                comm_click(client, classes["ganlab-pause"])
                paused_at = time.monotonic()
            elif paused_at is not None and stopped_at is None and time.monotonic() > paused_at + 2.5:
                during_pause = [label for moment, label in step_labels if moment > paused_at + 0.8]
                comm_click(client, classes["ganlab-stop"])
                stopped_at = time.monotonic()
        assert finished, "the training cell did not end after Stop"
        assert paused_at is not None and stopped_at is not None
        assert during_pause == [], f"the step label kept changing while paused: {during_pause}"
        printed = []
        client.execute_interactive(
            "print(len(history), dashboard.state.status)", timeout=30,
            output_hook=lambda message: printed.append(message["content"].get("text", "")))
        count, status = "".join(printed).split()
        assert status == "stopped" and 3 <= int(count) < 1_000_000
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

