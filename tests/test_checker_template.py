"""The checker template (issue 24): one pre-imported process per worker forks each notebook's
checker. These tests hold it to what a fresh checker process gives: the same results, no state
carried from one notebook to the next, and no process left behind."""
from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from ganlab_kit.grading import checker as checker_module
from ganlab_kit.grading.checker import Checker, close_templates, warm_template
from ganlab_kit.grading.notebook import read_notebook
from lab_checks import AUTOGRADER, namespace_with, source_notebook, submissions_of

#: what the PyTorch lab's checks import (execute._check_imports of its notebook)
#: a kit module the template imports and the state check changes (light: no torch)
LIGHT = "ganlab_kit.grading.results"
PYTORCH_PRELOAD = ["torch", "ganlab_kit.torch_gan", "ganlab_kit.grading.safe_load", "ganlab_kit.scoring"]

STATE_CHECK = '''
"""A hidden check that leaves state behind in its checker, and fails where it finds some."""
import os
import sys

import pytest

import ganlab_kit.grading.results as kit_module   # preloaded into the template


@pytest.mark.points(1)
def test_starts_clean(nb):
    """Does this checker start without another notebook's state?"""
    seen = (getattr(kit_module, "_left_by_a_check", None), os.environ.get("GANLAB_LEFT_BY_A_CHECK"),
            "ganlab_left_by_a_check" in sys.modules)
    kit_module._left_by_a_check = nb.MARK
    os.environ["GANLAB_LEFT_BY_A_CHECK"] = str(nb.MARK)
    sys.modules["ganlab_left_by_a_check"] = sys.modules["os"]
    assert seen == (None, None, False), f"found state left by an earlier run: {seen}"
'''


@pytest.fixture
def fresh_templates():
    close_templates()
    yield
    close_templates()


@pytest.fixture
def state_root(tmp_path, monkeypatch):
    root = tmp_path / "autograder"
    (root / "statelab").mkdir(parents=True)
    (root / "statelab" / "test_state.py").write_text(textwrap.dedent(STATE_CHECK))
    (root / "pytest.ini").write_text((AUTOGRADER / "pytest.ini").read_text())
    monkeypatch.setenv("GANLAB_AUTOGRADER", str(root))
    return root


def _grade(checker, part, namespace):
    return checker.grade(part, namespace, timeout=300)


def _one_notebook(directory, part, namespace, preload=(LIGHT,), **options):
    checker = Checker(directory, preload=preload, **options)
    try:
        result = _grade(checker, part, namespace)   # a deferred fork happens at the request
        return checker.forked, result
    finally:
        checker.close()


def _template():
    (template,) = checker_module._TEMPLATES.values()
    return template


def _gone(pid, timeout=10.0):
    """The process has ended and been reaped (no zombie left in /proc)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_checks_state_does_not_reach_the_next_notebook(fresh_templates, state_root, tmp_path):
    assert warm_template([LIGHT])
    for mark in (1, 2, 3):   # three notebooks, one after another, from one template
        forked, result = _one_notebook(tmp_path, "statelab/state", {"MARK": mark})
        assert forked
        assert result.passed, result.to_text()
    # the check does see state where it is left: the same checker asked twice
    checker = Checker(tmp_path, preload=[LIGHT])
    try:
        assert checker.forked
        assert _grade(checker, "statelab/state", {"MARK": 4}).passed
        again = _grade(checker, "statelab/state", {"MARK": 5})
    finally:
        checker.close()
    assert not again.passed and "found state left by an earlier run: (4, '4', True)" in again.to_text()
    assert "GANLAB_LEFT_BY_A_CHECK" not in os.environ


def test_a_killed_checker_does_not_break_the_next(fresh_templates, state_root, tmp_path):
    assert warm_template([LIGHT])
    checker = Checker(tmp_path, preload=[LIGHT])
    assert checker.forked
    checker.request("statelab/state", accept_timeout=300)
    checker.process.kill()   # e.g. killed for memory while it waits for the notebook
    lost = checker.result("statelab/state", timeout=30)
    checker.close()
    assert not lost.passed and "stopped unexpectedly" in lost.to_text()
    assert _gone(checker.process.pid)
    forked, result = _one_notebook(tmp_path, "statelab/state", {"MARK": 1})
    assert forked and result.passed


def test_the_template_is_restarted_after_it_dies(fresh_templates, state_root, tmp_path):
    assert warm_template([LIGHT])
    first = _template().process
    first.kill()
    first.wait()
    forked, result = _one_notebook(tmp_path, "statelab/state", {"MARK": 1})
    assert result.passed
    assert _template().process.pid != first.pid and _template().ready
    assert forked   # the first request waited for the new template's imports


def test_a_template_still_importing_at_the_first_request_is_not_waited_for(
        fresh_templates, state_root, tmp_path, monkeypatch):
    """Past TEMPLATE_WAIT the notebook gets a fresh checker process, as before the template."""
    (tmp_path / "ganlab_slow_import.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(checker_module, "TEMPLATE_WAIT", 0.0)
    checker = Checker(tmp_path, preload=["ganlab_slow_import", LIGHT])
    assert checker.process is None   # deferred: the template imports until the first request
    try:
        result = _grade(checker, "statelab/state", {"MARK": 1})
    finally:
        checker.close()
    assert not checker.forked and result.passed


def test_checkers_are_reaped_and_killed_on_close(fresh_templates, state_root, tmp_path, monkeypatch):
    assert warm_template([LIGHT])
    template = _template().process.pid
    checker = Checker(tmp_path, preload=[LIGHT])
    child = checker.process.pid
    assert checker.forked and os.path.exists(f"/proc/{child}")
    os.kill(child, signal.SIGSTOP)   # a checker that no longer answers: close kills it
    monkeypatch.setattr(checker_module, "CLOSE_TIMEOUT", 0.5)
    checker.close()
    assert _gone(child), f"checker {child} still exists (a zombie or alive) after close"
    assert not os.path.exists(checker.socket_dir)
    with open(f"/proc/{template}/task/{template}/children") as handle:
        assert handle.read().split() == []


def test_a_template_with_threads_is_not_forked(fresh_templates, state_root, tmp_path, monkeypatch):
    """fork copies only the calling thread: a template whose imports started a thread is not used."""
    (tmp_path / "ganlab_starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    preload = ["ganlab_starts_a_thread", LIGHT]
    assert not warm_template(preload)
    assert not checker_module._TEMPLATES   # and it is not started again for every notebook
    forked, result = _one_notebook(tmp_path, "statelab/state", {"MARK": 1}, preload=preload)
    assert not forked and result.passed
    assert not checker_module._TEMPLATES


@pytest.mark.parametrize("template", [True, False])
def test_a_socket_folder_deeper_than_a_socket_address_holds(fresh_templates, state_root, tmp_path, template):
    """A deep $TMPDIR (a CI runner's, a test's temporary folder) puts the checker's socket past the
    107 bytes a Unix socket address holds: the checker still listens there and the notebook's side
    still reaches it (a CI run graded every pooled submission "error: the checker process did not
    start" when the path was 111 bytes)."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    assert len(os.fsencode(os.path.join(deep, "grader.sock"))) > 107
    if template:
        assert warm_template([LIGHT])
    checker = Checker(tmp_path, preload=[LIGHT], socket_dir=os.fspath(deep), template=template)
    try:
        assert checker.forked is template
        result = _grade(checker, "statelab/state", {"MARK": 1})
    finally:
        checker.close()
    assert result.passed, result.to_text()


@pytest.fixture(scope="module")
def pytorch_namespaces():
    source = read_notebook(source_notebook("pytorch_gan"))
    wrong = submissions_of("pytorch_gan")["wrong_target_loss"]
    return {"reference": namespace_with(source), "wrong_target_loss": namespace_with(source, wrong.edits)}


PARTS = ("pytorch_gan/generator_loss",)


def test_forked_checkers_grade_as_fresh_processes(fresh_templates, pytorch_namespaces, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_AUTOGRADER", str(AUTOGRADER))
    assert warm_template(PYTORCH_PRELOAD)
    results = {}
    for name, namespace in pytorch_namespaces.items():
        for template in (False, True):
            for part in PARTS:
                forked, result = _one_notebook(tmp_path, part, namespace, PYTORCH_PRELOAD, template=template)
                assert forked is template
                results[name, template, part] = result.to_dict()
    for key, result in results.items():
        name, template, part = key
        assert result == results[name, False, part], key
    for part in PARTS:
        checks = results["reference", True, part]["checks"]
        assert checks and all(passed for _, _, _, passed, _ in checks), part
    wrong = {name for name, _, _, passed, _ in results["wrong_target_loss", True, "pytorch_gan/generator_loss"]["checks"]
             if not passed}
    assert wrong == set(submissions_of("pytorch_gan")["wrong_target_loss"].expected_failures["generator_loss"])


def test_one_template_serves_every_run_of_a_worker():
    """Do the notebooks of one long-lived nbgrader worker share a template? Each run sets its own
    timings file, grader socket folder and next prestarted scratch folder; any other variable
    (one an import could read) still asks for a template of its own."""
    from ganlab_kit.grading.checker import _template_key
    from ganlab_kit.grading.kernel_pool import POOL_ENV
    from ganlab_kit.grading.results import TIMINGS_ENV

    def key(run, **extra):
        environment = {"PATH": "/usr/bin", TIMINGS_ENV: f"/tmp/s{run}/timings.jsonl",
                       "GANLAB_GRADER_DIR": f"/tmp/s{run}/sockets", POOL_ENV: f"/tmp/s{run + 1}", **extra}
        return _template_key(["torch"], "/checks", environment)

    assert key(1) == key(2) == key(3)
    assert key(1) != key(2, OMP_NUM_THREADS="4")
