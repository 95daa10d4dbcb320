"""The pytest plugin that runs hidden checks against a notebook's namespace.

Checks are plain pytest functions in the instructor's ``autograder/`` folder. They
receive the notebook through the ``nb`` fixture, declare their worth with
``@pytest.mark.points(n)`` (1 point when absent) and state their question in the
docstring. A failing check's feedback is its assertion message, written for
students; other exceptions become one line naming the exception, never a traceback.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, MutableMapping, Tuple

import pytest

from .remote import ConnectionLost, MissingAnswer, RemoteError, RemoteNamespace, seed_everything
from .results import CheckResult

__all__ = ["MissingAnswer", "GradingPlugin", "failure_feedback", "seed_everything"]

#: Longest feedback message kept for one check (characters).
MAX_FEEDBACK = 400


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_FEEDBACK else text[:MAX_FEEDBACK - 3] + "..."


def failure_feedback(error: BaseException) -> str:
    """Student-facing words for an exception raised while a check ran."""
    if isinstance(error, AssertionError):
        return _shorten(str(error)) or "This check failed."
    if isinstance(error, NotImplementedError):
        return "Not answered yet: the code still raises NotImplementedError."
    if isinstance(error, ConnectionLost):
        return _shorten(f"The check could not finish: {error}")
    if isinstance(error, RemoteError):
        message = error.remote_message.strip().splitlines()[0] if error.remote_message.strip() else ""
        return _shorten(f"Your code raised {error.type_name}" + (f": {message}" if message else "."))
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return _shorten(f"Your code raised {type(error).__name__}" + (f": {message}" if message else "."))


def _question(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    first = " ".join(doc.split("\n\n")[0].split())
    return first or item.name.replace("test_", "", 1).replace("_", " ")


class GradingPlugin:
    """Collects one :class:`CheckResult` per check while pytest runs a check module."""

    def __init__(self, connection: Any, directory: Path, seed: int = 0) -> None:
        self.notebook = RemoteNamespace(connection, directory) if connection is not None else None
        self.seed = seed
        self._order: List[str] = []
        self._info: Dict[str, Tuple[str, str, float]] = {}   # nodeid -> (name, question, points)
        self._failures: Dict[str, str] = {}                  # nodeid -> feedback
        self._passed: Dict[str, bool] = {}
        self.collection_errors: List[str] = []
        self.interrupted = False  # Ctrl-C or a cell timeout stopped the run

    # ------------------------------------------------------------------ hooks
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(value): points the check is worth (default 1)")

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        # pytest also stops this way after collection errors (Session.Interrupted)
        if not isinstance(excinfo.value, pytest.Session.Interrupted):
            self.interrupted = True

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_collection_modifyitems(self, items: List[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("points")
            points = float(marker.args[0]) if marker and marker.args else 1.0
            self._order.append(item.nodeid)
            self._info[item.nodeid] = (item.name, _question(item), points)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if report.failed and item.nodeid not in self._failures:
            error = call.excinfo.value if call.excinfo is not None else None
            self._failures[item.nodeid] = (failure_feedback(error) if error is not None
                                           else "This check failed.")
        if report.when == "call" and report.passed:
            self._passed[item.nodeid] = True
        return report

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture(scope="session")
    def nb(self) -> RemoteNamespace:
        """The notebook under grading (its objects live in the notebook's process)."""
        return self.notebook

    @pytest.fixture(autouse=True)
    def _seeded(self) -> None:
        seed_everything(self.seed)
        if self.notebook is not None:
            self.notebook.seed(self.seed)

    # ------------------------------------------------------------------ results
    def catalogue(self) -> List[Tuple[str, str, float]]:
        """``(name, question, points)`` of every collected check, in order."""
        return [self._info[nodeid] for nodeid in self._order]

    def results(self) -> List[CheckResult]:
        checks = []
        for nodeid in self._order:
            name, question, points = self._info[nodeid]
            passed = self._passed.get(nodeid, False) and nodeid not in self._failures
            feedback = "" if passed else self._failures.get(nodeid, "This check did not run.")
            checks.append(CheckResult(name, question, points, passed, feedback))
        return checks
