"""Shared test settings: no GUI backends, quiet TensorFlow, a small torch thread pool."""
import os
import time

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("NBGRADER_EXECUTION", None)  # tests opt in to the grading budget explicitly
# demo students hand in the kit's shipped weights and runs (issue 22's rule is tested with it unset)
os.environ.setdefault("GANLAB_ALLOW_KIT_WEIGHTS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# pytest runs two workers on two cores: one torch thread each avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_grading_budget(monkeypatch):
    """A developer's shell may have NBGRADER_EXECUTION set; tests start without it."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("GANLAB_MAX_STEPS", raising=False)


def _wait_until(condition, timeout: float = 20.0) -> bool:
    """Poll ``condition()`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def wait_until():
    """``wait_until(condition, timeout=20.0)``: for tests that watch a training thread."""
    return _wait_until


# The PyTorch lab's graded course, shared by tests/test_grading_nbgrader.py and
# tests/test_autograde.py: registered here once, so both get the one session-scoped course.
from pytorch_e2e import pytorch_graded  # noqa: E402,F401


# ----------------------------------------------------------------------------------------------
# The CI schedule (issue 24). `make test` runs `pytest -n 2 --dist loadgroup`: xdist hands its two
# workers work units (an xdist group, whose tests share a course built once, or a single test)
# from a queue, in collection order. A long unit that starts last leaves the other worker idle,
# so under loadgroup the collection is reordered: longest units first (longest processing time
# first), the many short tests at the end fill the gaps. A module's ungrouped tests stay
# together, ranked by its longest test, so its module-scoped fixtures are not rebuilt on a
# worker for every stretch of the queue. Only the order depends on these figures: a test runs
# the same wherever it lands.

#: rough seconds of the heavy units in a fresh-clone CI on 2 cores: an xdist group, all its
#: tests; a test module, its longest test. A `-n 2` run prints the measured ones at its end.
UNIT_SECONDS = {   # the fresh-clone run of 21:08 on 7 Dec (loaded: 2,330 s per worker), times 0.7
    "nbgrader_keras_gan": 220, "nbgrader-failure-modes": 215, "course-roundtrip": 185,
    # tests/test_autograde.py's real grading joined the PyTorch e2e group (it reads that course)
    "nbgrader": 275, "nbgrader-dcgan": 135, "nbgrader-playground": 90, "nbgrader-gan-2d": 55, "keras": 65,
    "tests/test_browser_keras_lab.py": 120, "tests/test_bank_failure_modes.py": 105,
    "tests/test_lab_keras_gan.py": 100, "tests/test_browser_failure_modes.py": 70,
    "tests/test_browser_playground.py": 65, "tests/test_browser_lab.py": 65, "tests/test_browser_dcgan.py": 55,
    "tests/test_course_setup.py": 55, "tests/test_browser_formgrader.py": 35, "tests/test_kernel_pool.py": 35,
    "tests/test_browser_gan2d.py": 35, "tests/test_student_install.py": 32,
}
#: seconds of a test of a unit not listed above, by its first mark found here
MARK_SECONDS = {"grading": 30.0, "browser": 30.0, "slow": 15.0, "keras": 2.0}
UNMARKED_SECONDS = 0.5


def _group_of(nodeid):
    """The xdist group of a node id as a worker reports it under loadgroup (``...@group``), or None."""
    return nodeid.rsplit("@", 1)[1] if nodeid.rfind("@") > nodeid.rfind("]") else None


def _unit_of(item):
    """(unit, is a group): ``item``'s xdist group, else its test module."""
    names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                    for mark in item.iter_markers("xdist_group")})
    return ("_".join(names), True) if names else (item.nodeid.split("::")[0], False)


def _estimate(item):
    marks = {mark.name for mark in item.iter_markers()}
    return next((seconds for mark, seconds in MARK_SECONDS.items() if mark in marks), UNMARKED_SECONDS)


def pytest_configure(config):
    if getattr(config.option, "dist", "no") == "loadgroup":
        # xdist would sort the units by their number of tests; the order below replaces that
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)   # before xdist appends the group names to the node ids
def pytest_collection_modifyitems(config, items):
    if not (hasattr(config, "workerinput") and getattr(config.option, "loadgroup", False)):
        return   # one process (modules stay together) or another --dist: collection order
    estimate, first = {}, {}
    for index, item in enumerate(items):
        unit, group = _unit_of(item)
        first.setdefault(unit, index)
        seconds = _estimate(item)
        estimate[unit] = estimate.get(unit, 0.0) + seconds if group else max(estimate.get(unit, 0.0), seconds)
    estimate.update((unit, seconds) for unit, seconds in UNIT_SECONDS.items() if unit in estimate)
    # stable: a unit's tests, and units of equal estimate, keep their collection order
    items.sort(key=lambda item: (-estimate[_unit_of(item)[0]], first[_unit_of(item)[0]]))


# Where the workers' time went, printed after a `-n 2` run (the controller sees every report).
_BUSY, _TESTS, _STARTED = {}, {}, []


def pytest_sessionstart(session):
    _STARTED.append(time.monotonic())


def pytest_runtest_logreport(report):
    node = getattr(report, "node", None)   # set on the reports a worker sends to the controller
    if node is None:
        return
    _BUSY[node.gateway.id] = _BUSY.get(node.gateway.id, 0.0) + report.duration
    _TESTS[report.nodeid] = _TESTS.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _BUSY:
        return
    units = {}
    for nodeid, seconds in _TESTS.items():
        group = _group_of(nodeid)
        unit = group or nodeid.split("::")[0]
        units[unit] = units.get(unit, 0.0) + seconds if group else max(units.get(unit, 0.0), seconds)
    wall = time.monotonic() - _STARTED[0]
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "test workers (issue 24: CI budget)")
    write("busy: " + ", ".join(f"{worker} {seconds:.0f} s" for worker, seconds in sorted(_BUSY.items()))
          + f"; wall {wall:.0f} s from session start")
    write("heaviest units (xdist group: all its tests; module: its longest test; "
          "tests/conftest.py UNIT_SECONDS orders them):")
    for unit, seconds in sorted(units.items(), key=lambda pair: -pair[1])[:20]:
        write(f"  {seconds:6.0f} s  {unit}")
    modules = {}
    for nodeid, seconds in _TESTS.items():
        module = nodeid.split("::")[0]
        modules[module] = modules.get(module, 0.0) + seconds
    write("busiest test modules (all their tests, setup and teardown included):")
    for module, seconds in sorted(modules.items(), key=lambda pair: -pair[1])[:25]:
        write(f"  {seconds:6.0f} s  {module}")
