"""From a notebook's grade cell to the hidden checks and back: discover -> run -> report.

A grade cell of a lab notebook holds one line in its hidden-test region::

    grade("pytorch_gan/generator", globals())

:func:`grade` finds ``$GANLAB_AUTOGRADER/pytorch_gan/test_generator.py`` (discover),
runs it with pytest in this process against the notebook's globals (run), shows the
per-check feedback and returns the points earned, which nbgrader records as the
cell's partial credit (report). The checks live only in the instructor's
``autograder/`` folder; the student package ships none of them.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, List, MutableMapping, Optional, Tuple, Union

from .results import PartResult

__all__ = ["AUTOGRADER_ENV", "GradingSetupError", "autograder_root", "discover",
           "list_checks", "run_checks", "run_checks_over", "grade"]

#: Environment variable naming the folder that holds the hidden checks.
AUTOGRADER_ENV = "GANLAB_AUTOGRADER"

PathLike = Union[str, "os.PathLike[str]"]


class GradingSetupError(RuntimeError):
    """The hidden checks cannot be found or loaded (an instructor-side problem)."""


def autograder_root(root: Optional[PathLike] = None) -> Path:
    """The folder of hidden checks: ``root``, else ``$GANLAB_AUTOGRADER``."""
    value = os.fspath(root) if root is not None else os.environ.get(AUTOGRADER_ENV, "")
    if not value:
        raise GradingSetupError(
            f"{AUTOGRADER_ENV} is not set, so the hidden checks cannot be found. Point it at "
            "the instructor's autograder/ folder (the shipped autograder/nbgrader_config.py "
            "sets it for nbgrader; `ganlab demo` sets it for its course).")
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise GradingSetupError(f"{AUTOGRADER_ENV}={value} is not a folder of hidden checks.")
    return path


def discover(part: str, root: Optional[PathLike] = None) -> Tuple[str, str, Path]:
    """``"assignment/part"`` (or a bare part name found in one assignment) ->
    ``(assignment, part, path of its check module)``."""
    base = autograder_root(root)
    if "/" in part:
        assignment, name = part.split("/", 1)
        module = base / assignment / f"test_{name}.py"
        if not module.is_file():
            raise GradingSetupError(f"no hidden checks for {part!r}: {module} does not exist.")
        return assignment, name, module
    matches = sorted(base.glob(f"*/test_{part}.py"))
    if len(matches) != 1:
        where = ", ".join(str(match.parent.name) for match in matches) or "no assignment"
        raise GradingSetupError(
            f"part {part!r} is found in {where} under {base}; name it as 'assignment/{part}'.")
    return matches[0].parent.name, part, matches[0]


@contextlib.contextmanager
def _isolated_pytest_environment() -> Iterator[None]:
    """The checks run the same inside any caller: no plugin autoloading, no outer
    PYTEST_ADDOPTS, and no assertion rewriting left installed by an enclosing pytest
    run (feedback is the plain assertion message)."""
    saved = {name: os.environ.get(name) for name in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    meta_path = list(sys.meta_path)
    sys.meta_path[:] = [finder for finder in meta_path
                        if type(finder).__name__ != "AssertionRewritingHook"]
    try:
        yield
    finally:
        sys.meta_path[:] = meta_path
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_pytest(module: Path, connection: Any, directory: Optional[PathLike],
                seed: int, collect_only: bool = False):
    """pytest.main on one check module with the grading plugin; (plugin, exit code, log).

    ``connection`` reaches the notebook (see :mod:`.remote`); None for collection only."""
    import pytest

    from .plugin import GradingPlugin
    from .remote import preserved_random_state

    base = module.parent.parent
    plugin = GradingPlugin(connection, Path(directory or os.getcwd()).resolve(), seed=seed)
    ini = base / "pytest.ini"
    arguments = [
        os.fspath(module), "-q",
        # plugins a grading run does without: no cache files in the checks folder, no
        # faulthandler (a kernel's stderr has no file descriptor), and no garbage
        # collection passes after each run (unraisableexception: slow with torch loaded)
        "-p", "no:cacheprovider", "-p", "no:stepwise", "-p", "no:faulthandler",
        "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:legacypath",
        "--assert=plain", "--capture=sys", "--import-mode=importlib",
        f"--rootdir={base}", "-c", os.fspath(ini) if ini.is_file() else os.devnull,
    ] + (["--collect-only"] if collect_only else [])
    sink = io.StringIO()
    modules_before = set(sys.modules)
    try:
        with _isolated_pytest_environment(), preserved_random_state(), warnings.catch_warnings(), \
                contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            exit_code = pytest.main(arguments, plugins=[plugin])
    finally:
        _forget_check_modules(base, modules_before)
    return plugin, exit_code, sink.getvalue()


def _forget_check_modules(base: Path, modules_before: set) -> None:
    """Drop the check modules pytest imported, so the next run reads them afresh and the
    notebook's ``sys.modules`` keeps no trace of them."""
    for name in set(sys.modules) - modules_before:
        module = sys.modules.get(name)
        locations = [getattr(module, "__file__", None)]
        search_path = getattr(module, "__path__", None)
        if isinstance(search_path, (list, tuple)) or type(search_path).__name__ == "_NamespacePath":
            locations.extend(search_path)
        if any(isinstance(location, str) and Path(location).resolve().is_relative_to(base)
               for location in locations):
            del sys.modules[name]


def _raise_for_setup_problems(module: Path, plugin: Any, exit_code: Any, log: str) -> None:
    import pytest

    if plugin.interrupted:
        raise KeyboardInterrupt  # an interrupted run must not count as a partial score
    if plugin.collection_errors or exit_code in (pytest.ExitCode.INTERNAL_ERROR,
                                                 pytest.ExitCode.USAGE_ERROR,
                                                 pytest.ExitCode.NO_TESTS_COLLECTED):
        detail = "; ".join(plugin.collection_errors) or log.strip()[-500:] or "no checks found"
        raise GradingSetupError(f"the hidden checks in {module} could not run: {detail}")


def list_checks(part: str, root: Optional[PathLike] = None) -> List[Tuple[str, str, float]]:
    """``(name, question, points)`` of every check of ``part``, in order, without running them."""
    _, _, module = discover(part, root)
    plugin, exit_code, log = _run_pytest(module, None, None, 0, collect_only=True)
    _raise_for_setup_problems(module, plugin, exit_code, log)
    return plugin.catalogue()


def run_checks(part: str, namespace: MutableMapping[str, Any],
               directory: Optional[PathLike] = None, root: Optional[PathLike] = None,
               seed: int = 0) -> PartResult:
    """Run the hidden checks of ``part`` against ``namespace``; never raises for student bugs.

    Args:
        part: ``"assignment/part"``, e.g. ``"pytorch_gan/generator"``.
        namespace: the notebook's globals (``globals()`` in a grade cell).
        directory: the notebook's folder, where files such as ``generator.pt`` lie
            (default: the working directory).
        root: the folder of hidden checks (default: ``$GANLAB_AUTOGRADER``).
        seed: seeds Python, NumPy and torch before every check.

    Raises:
        GradingSetupError: the checks are missing or do not import.
    """
    from .remote import InProcessConnection, NotebookServer

    connection = InProcessConnection(NotebookServer(namespace))
    try:
        return run_checks_over(part, connection, directory, root, seed)
    finally:
        connection.close()


def run_checks_over(part: str, connection: Any, directory: Optional[PathLike] = None,
                    root: Optional[PathLike] = None, seed: int = 0) -> PartResult:
    """Run the hidden checks of ``part`` against a notebook reached through ``connection``
    (:class:`~.remote.InProcessConnection` or :class:`~.remote.SocketConnection`)."""
    from .provenance import apply_delegation, apply_kit_files, kit_answers_of, kit_files_in

    assignment, name, module = discover(part, root)
    watched = kit_answers_of(f"{assignment}/{name}")
    if watched:  # issue 22: the kit's reference answer is not the student's work
        _ask_plainly(connection, {"op": "watch", "paths": list(watched)})
    plugin, exit_code, log = _run_pytest(module, connection, directory, seed)
    _raise_for_setup_problems(module, plugin, exit_code, log)
    checks = plugin.results()
    if not checks:
        raise GradingSetupError(f"{module} holds no checks")
    result = PartResult(assignment=assignment, part=name, checks=checks)
    if watched:
        hits = _ask_plainly(connection, {"op": "watched"})
        if isinstance(hits, list):
            result = apply_delegation(result, [str(hit)[:200] for hit in hits[:20]])
    found = kit_files_in(f"{assignment}/{name}", directory, module.parent)
    if found:  # the kit's shipped weights or runs, handed in as the student's own
        result = apply_kit_files(result, found)
    return result


def _ask_plainly(connection: Any, header: dict) -> Any:
    """One plain-data request outside the checks (None when the notebook cannot answer)."""
    from .remote import ConnectionLost, ProtocolError, decode

    try:
        reply, buffers = connection.request(header, [])
        return decode(reply["ok"], buffers) if isinstance(reply, dict) and "ok" in reply else None
    except (ConnectionLost, ProtocolError, KeyError, TypeError, ValueError):
        return None


def _show(result: PartResult) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        print(result.to_text())
        return
    if get_ipython() is None:
        print(result.to_text())
    else:
        display({"text/plain": result.to_text(), "text/html": result.to_html()}, raw=True)


def grade(part: str, namespace: MutableMapping[str, Any],
          directory: Optional[PathLike] = None) -> float:
    """Grade one part of a notebook: show the feedback and return the points earned.

    Used as the last line of a grade cell; nbgrader reads the returned number as the
    cell's (partial) credit. The checks run in a separate checker process that asks this
    notebook questions (:mod:`.remote`); under ``nbgrader autograde`` with the kit's
    config the grade cell is not run at all: the kit's Execute preprocessor grades the
    part from outside the (sandboxed) kernel.
    """
    from .checker import check_in_subprocess

    assignment, name, _ = discover(part)  # setup errors here, before a process starts
    result = check_in_subprocess(f"{assignment}/{name}", namespace, directory)
    _show(result)
    return result.score
