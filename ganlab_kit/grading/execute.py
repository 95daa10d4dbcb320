"""nbgrader preprocessors that grade a notebook from outside its kernel.

:class:`GradeExecute` replaces nbgrader's ``Execute`` in ``autograde``:

- the notebook runs in a sandboxed kernel (:mod:`.sandbox`; marked "not isolated"
  where the sandbox is unavailable);
- a grade cell is **not** run as written: the kernel runs a fixed one-line server
  instead, and a separate checker process (:mod:`.checker`) asks it plain-data
  questions and scores the part. Rebinding ``grade``, patching the kit or printing a
  fake score changes nothing; the cell's outputs are replaced by the checker's
  feedback and score, so a warning printed by correct code never costs points;
- a kernel that dies (segfault, ``os._exit``, memory) is restarted, the cells before
  it are replayed without their outputs, and grading goes on; each such event is a
  line in the notebook's feedback and in ``metadata["ganlab_grading"]["problems"]``;
- long outputs are cut with a note, so executed notebooks and feedback stay small.

:class:`RestoreDeletedCells` puts back read-only cells (quick checks, grade cells) a
student deleted, from the assignment's source notebook.
"""
from __future__ import annotations

import copy
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from nbformat import NotebookNode
from nbformat.v4 import new_output
from traitlets import Bool, Float, Integer, default

from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader import utils as nbgrader_utils

from . import kernel_pool
from .checker import Checker, unreachable_result
from .remote import GRADER_DIR_ENV
from .results import TIMINGS_ENV, PartResult

__all__ = ["GradeExecute", "TimedExecute", "RestoreDeletedCells", "BOOTSTRAP", "grade_part_of", "METADATA_KEY",
           "TIMINGS_ENV"]

#: What the kernel runs in place of a grade cell: answer the checker, nothing else.
BOOTSTRAP = ('__import__("ganlab_kit.grading.remote", fromlist=["connect_and_serve"])'
             '.connect_and_serve(globals())')
#: Notebook metadata key holding the grading facts (isolated, problems, parts).
METADATA_KEY = "ganlab_grading"

_GRADE_CALL = re.compile(r"""^[ \t]*grade\(\s*["']([\w./-]+)["']""", re.MULTILINE)


def grade_part_of(cell: NotebookNode) -> Optional[str]:
    """``"lab/part"`` for a code grade cell whose hidden line calls ``grade(...)``."""
    if cell.cell_type != "code" or not nbgrader_utils.is_grade(cell) or nbgrader_utils.is_solution(cell):
        return None
    match = _GRADE_CALL.search(cell.source)
    return match.group(1) if match else None


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-(limit // 8):]
    return (f"{head}\n[... {len(text) - len(head) - len(tail):,} characters cut by the grader: "
            f"print less ...]\n{tail}")




#: Libraries the checker may import before the first part (what the check modules import).
_PRELOADABLE = ("numpy", "torch", "scipy", "PIL", "ganlab_kit")


def _check_imports(nb: NotebookNode) -> List[str]:
    """Modules the hidden checks of this notebook's parts import at their top level (numpy,
    torch, the kit's modules), for the checker to import while the notebook runs."""
    import ast

    from .bridge import GradingSetupError, autograder_root

    assignments = {part.split("/", 1)[0] for part in map(grade_part_of, nb.cells) if part and "/" in part}
    try:
        root = autograder_root()
    except GradingSetupError:
        return []
    names: List[str] = []
    for assignment in sorted(assignments):
        for path in sorted((root / assignment).glob("*.py")):
            if not (path.name == "conftest.py" or path.name.startswith("test_")):
                continue
            try:
                tree = ast.parse(path.read_text())
            except (OSError, SyntaxError, ValueError):
                continue
            for node in tree.body:
                found = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                         else [])
                names.extend(name for name in found
                             if name.split(".")[0] in _PRELOADABLE and name not in names)
    return names


class _Timings:
    """Wall-clock marks of one notebook's execution: start, kernel ready, each code cell."""

    def __init__(self) -> None:
        self.path = os.environ.get(TIMINGS_ENV)
        self.data: Dict[str, Any] = {"start": time.time(), "cells": []}

    def cell(self, kind: str, part: Optional[str], started: float) -> None:
        if self.path:
            self.data.setdefault("kernel_ready", started)   # the first cell waits for the kernel
            self.data["cells"].append([kind, part, round(time.time() - started, 4)])

    def write(self, **extra: Any) -> None:
        if self.path:
            self.data.update(extra, end=time.time())
            with open(self.path, "a") as handle:
                handle.write(json.dumps(self.data) + "\n")


class TimedExecute(Execute):
    """nbgrader's own Execute, unchanged, that also writes :data:`TIMINGS_ENV` timings: the
    benchmark's plain-nbgrader side (grade cells run as written, in the kernel)."""

    def preprocess(self, nb: NotebookNode, resources: Dict, retries: Optional[int] = None):
        self._timings = _Timings()
        try:
            return super().preprocess(nb, resources, retries)
        finally:
            self._timings.write()

    def preprocess_cell(self, cell: NotebookNode, resources: Dict, index: int):
        started = time.time()
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            if cell.cell_type == "code":
                self._timings.cell("grade" if grade_part_of(cell) else "code", grade_part_of(cell), started)


class GradeExecute(Execute):
    """nbgrader's Execute, with grade cells graded from outside the (sandboxed) kernel."""

    max_stream_chars = Integer(20_000, help=(
        "Longest text output (print, warnings) kept per cell output in the graded notebook; "
        "the rest is cut with a note.")).tag(config=True)
    max_data_bytes = Integer(2_000_000, help=(
        "Largest rich output (an image, HTML) kept per output; larger ones are replaced "
        "by a note.")).tag(config=True)
    max_notebook_output_bytes = Integer(20_000_000, help=(
        "Outputs kept per notebook in all; later outputs are replaced by a note.")).tag(config=True)
    part_timeout = Float(600.0, help=(
        "Seconds the checks of one part may take in all (the checker's answer).")).tag(config=True)
    preload_checks = Bool(True, help=(
        "Let the checker process import what the hidden checks import (pytest, torch, the kit) "
        "while the notebook's kernel starts and runs, instead of at the first grade cell.")).tag(config=True)
    max_restarts = Integer(3, help=(
        "Kernel restarts per notebook after a crash; after that the remaining cells are "
        "not run.")).tag(config=True)

    prestarted_kernels = Bool(True, help=(
        "Under `ganlab autograde`'s local workers: adopt the kernel the worker prestarted (and "
        "pre-imported the lab's libraries in) for this submission, and prestart the next "
        "submission's while this one is graded. One fresh kernel per submission either way.")).tag(config=True)

    @default("shutdown_kernel")
    def _default_shutdown_kernel(self) -> str:
        # the sandbox is killed as a whole; every output has arrived when the last cell ended
        return "immediate"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from .sandbox import AsyncSandboxedKernelManager

        kwargs.setdefault("kernel_manager_class", AsyncSandboxedKernelManager)
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ notebook
    def preprocess(self, nb: NotebookNode, resources: Dict, retries: Optional[int] = None):
        directory = (resources.get("metadata") or {}).get("path") or os.getcwd()
        self._timings = _Timings()
        self._directory = os.fspath(Path(directory).resolve())
        # a kernel prestarted for this submission: the checker listens where that kernel looks
        self._pool_sockets = kernel_pool.socket_dir_for(self._directory) if self.prestarted_kernels else None
        self._pool_modules = self._source_modules(resources) if self._pool_sockets else []
        self._prestart_done = not (self.prestarted_kernels and os.environ.get(kernel_pool.POOL_ENV))
        self._checker = Checker(Path(directory).resolve(), socket_dir=self._pool_sockets,
                                preload=_check_imports(nb) if self.preload_checks else ())
        checker_seconds = time.time() - self._timings.data["start"]
        self._facts: Dict[str, Any] = {"isolated": None, "problems": [], "parts": {}}
        self._restarts = 0
        self._gave_up: Optional[str] = None
        self._output_bytes = 0
        self._executed: List[int] = []   # indexes of code cells run in the current kernel
        self._crashed: List[int] = []
        saved = os.environ.get(GRADER_DIR_ENV)
        os.environ[GRADER_DIR_ENV] = self._checker.socket_dir  # an unsandboxed kernel reads it here
        self._prestarting = None
        try:
            nb, resources = super().preprocess(nb, resources, retries)
        finally:
            if self._prestarting is not None:
                self._prestarting.join()
            closing = time.time()
            self._checker.close()
            self._timings.write(checker_start=round(checker_seconds, 4),
                                checker_close=round(time.time() - closing, 4))
            if saved is None:
                os.environ.pop(GRADER_DIR_ENV, None)
            else:
                os.environ[GRADER_DIR_ENV] = saved
        nb.metadata[METADATA_KEY] = self._facts
        return nb, resources

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if hasattr(km, "grader_socket_dir"):
            km.grader_socket_dir = self._checker.socket_dir
        if getattr(self, "_pool_sockets", None):
            self._pool_sockets = None   # the first kernel only: a restart starts a fresh one
            adopted = kernel_pool.take(self._directory, kernel_pool.signature(km, self._kernel_arguments(km)),
                                       modules=self._pool_modules, log=self.log)
            self._timings.data["kernel_adopted"] = adopted is not None
            if adopted is not None:
                self.km = km = adopted
        return km

    def _kernel_arguments(self, km: Any) -> List[str]:
        """The kernel's extra arguments as nbclient's ``async_start_new_kernel`` passes them."""
        arguments = list(self.extra_arguments)
        if (getattr(km, "ipykernel", False) and self.ipython_hist_file
                and not any(arg.startswith("--HistoryManager.hist_file") for arg in arguments)):
            arguments.append(f"--HistoryManager.hist_file={self.ipython_hist_file}")
        return arguments

    def _source_modules(self, resources: Dict) -> List[str]:
        """What a kernel for this assignment's notebook pre-imports (from its source notebook)."""
        try:
            source = RestoreDeletedCells(config=self.config)._source_notebook(resources)
        except Exception:  # noqa: BLE001 - no source notebook: nothing to pre-import
            return []
        return kernel_pool.preimport_modules(source) if source is not None else []

    def _prestart_next(self, resources: Dict) -> None:
        """Start the next submission's kernel (see :mod:`.kernel_pool`), once per run, from a
        background thread (its set-up stays off this notebook's path; :meth:`preprocess` waits
        for the thread before it returns, so the kernel is parked before the next run)."""
        import threading

        self._prestart_done = True
        next_scratch = os.environ.get(kernel_pool.POOL_ENV)
        if not next_scratch:
            return
        self._prestarting = threading.Thread(target=self._prestart_in_background, name="ganlab-prestart-setup",
                                             args=(resources, next_scratch, dict(os.environ)), daemon=True)
        self._prestarting.start()

    def _prestart_in_background(self, resources: Dict, next_scratch: str, environ: Dict[str, str]) -> None:
        try:
            modules = self._source_modules(resources)
            if self.kernel_name:
                km = self.kernel_manager_class(kernel_name=self.kernel_name, config=self.config)
            else:
                km = self.kernel_manager_class(config=self.config)
            kernel_pool.prestart(km, next_scratch, self._kernel_arguments(km), modules, env=environ)
        except Exception as error:  # noqa: BLE001 - the next submission starts its kernel as before
            self.log.warning("could not prestart the next kernel: %s", error)

    def _note_isolation(self) -> None:
        if self._facts["isolated"] is None and self.km is not None:
            isolated = getattr(self.km, "isolated", None)
            self._facts["isolated"] = bool(isolated) if isolated is not None else False
            reason = getattr(self.km, "isolation_reason", "")
            if not self._facts["isolated"]:
                self._facts["problems"].append(
                    "not isolated: the notebook ran without the sandbox"
                    + (f" ({reason})" if reason else ""))

    # ------------------------------------------------------------------ cells
    def preprocess_cell(self, cell: NotebookNode, resources: Dict, index: int):
        self._note_isolation()
        if cell.cell_type != "code":
            return cell, resources
        part = grade_part_of(cell)
        started = time.time()
        try:
            return self._preprocess_code_cell(cell, resources, index, part)
        finally:
            self._timings.cell("grade" if part else "code", part, started)
            if not self._prestart_done:   # after this notebook's first cell (its imports)
                self._prestart_next(resources)

    def _preprocess_code_cell(self, cell: NotebookNode, resources: Dict, index: int, part: Optional[str]):
        if self._gave_up:
            cell.outputs = []
            if part:
                self._record(cell, unreachable_result(part, self._gave_up))
            return cell, resources
        if part:
            self._grade(cell, resources, index, part)
            return cell, resources
        try:
            super().preprocess_cell(cell, resources, index)
            self._executed.append(index)
        except Exception as error:  # DeadKernelError and friends: this cell took the kernel down
            if not self._kernel_died(error):
                raise
            self._crashed.append(index)
            cell.outputs.append(self._error_output(
                "KernelDied", f"the kernel died while running this cell ({self._death_reason()}); "
                "the grader restarted it and went on without this cell's results"))
            self._revive(resources)
        self._limit_outputs(cell)
        return cell, resources

    def _grade(self, cell: NotebookNode, resources: Dict, index: int, part: str) -> None:
        self._checker.request(part, seed=0, request_timeout=min(self.part_timeout, self.timeout or 600))
        original = cell.source
        cell.source = BOOTSTRAP
        died = False
        try:
            super().preprocess_cell(cell, resources, index)
        except Exception as error:
            if not self._kernel_died(error):
                raise
            died = True
        finally:
            cell.source = original
        # The cell is over: if the kernel never connected (an error, a crash, a notebook that
        # broke the server line), the checker stops waiting now; otherwise this is ignored.
        self._checker.cancel("The notebook's kernel did not answer the checker"
                             + (" (it died during the checks)." if died else
                                " (the notebook broke or replaced the grader's server line)."))
        result = self._checker.result(part, timeout=self.part_timeout)
        self._record(cell, result)
        if died:
            self._revive(resources)

    def _record(self, cell: NotebookNode, result: PartResult) -> None:
        display = new_output("display_data", data={"text/plain": result.to_text(),
                                                   "text/html": result.to_html()})
        score = new_output("execute_result", data={"text/plain": repr(float(result.score))},
                           execution_count=cell.get("execution_count"))
        cell.outputs = [display, score]
        self._facts["parts"][f"{result.assignment}/{result.part}"] = {
            "score": result.score, "max_score": result.max_score, "failed": list(result.failed_checks),
            "error": result.error}

    # ------------------------------------------------------------------ crashes
    @staticmethod
    def _kernel_died(error: BaseException) -> bool:
        from nbclient.exceptions import DeadKernelError

        return isinstance(error, DeadKernelError) or "Kernel died" in str(error)

    def _death_reason(self) -> str:
        if self.km is not None and getattr(self.km, "wall_clock_expired", False):
            return "the submission used up its time"
        return "a crash, os._exit, or too much memory"

    def _revive(self, resources: Dict) -> None:
        """Restart the kernel and replay the cells that ran before, without their outputs."""
        self._facts["problems"].append(f"the kernel died ({self._death_reason()}) and was restarted")
        if self._restarts >= self.max_restarts or (self.km is not None
                                                   and getattr(self.km, "wall_clock_expired", False)):
            self._gave_up = ("The notebook's kernel died too often (or ran out of time); the "
                             "cells after it were not run.")
            return
        self._restarts += 1
        from nbclient.util import run_sync

        try:
            run_sync(self._async_cleanup_kernel)()
            self.km = None
            self.create_kernel_manager()
            run_sync(self.async_start_new_kernel)()
            run_sync(self.async_start_new_kernel_client)()
        except Exception as error:  # the kernel will not come back: grade the rest as missing
            self._gave_up = f"The notebook's kernel could not be restarted ({type(error).__name__})."
            return
        replay, self._executed = self._executed, []
        for index in replay:
            ghost = copy.deepcopy(self.nb.cells[index])
            try:
                super().preprocess_cell(ghost, resources, index)
                self._executed.append(index)
            except Exception as error:
                if not self._kernel_died(error):
                    raise
                self._gave_up = "The notebook's kernel died again while its cells were replayed."
                return

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _error_output(name: str, message: str) -> NotebookNode:
        return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])

    def _limit_outputs(self, cell: NotebookNode) -> None:
        kept = []
        for output in cell.get("outputs", []):
            if self._output_bytes > self.max_notebook_output_bytes:
                if not kept or kept[-1].get("name") != "ganlab-cut":
                    kept.append(new_output("stream", name="stdout", text=(
                        "[outputs cut by the grader: this notebook printed more than "
                        f"{self.max_notebook_output_bytes:,} bytes]\n")))
                    kept[-1]["name"] = "stdout"
                continue
            if output.output_type == "stream":
                output.text = _cut(output.text, self.max_stream_chars)
                self._output_bytes += len(output.text)
            elif output.output_type in ("display_data", "execute_result"):
                for mime, value in list(output.get("data", {}).items()):
                    size = len(value) if isinstance(value, str) else len(str(value))
                    if size > self.max_data_bytes:
                        del output.data[mime]
                        output.data["text/plain"] = (f"[a {mime} output of {size:,} bytes, cut by "
                                                     "the grader]")
                    else:
                        self._output_bytes += size
            elif output.output_type == "error":
                output.traceback = [_cut(line, 2000) for line in output.traceback[-30:]]
            kept.append(output)
        cell.outputs = kept


class RestoreDeletedCells(NbGraderPreprocessor):
    """Put back read-only cells (locked or grade cells without an answer) that a student
    deleted, taking them from the assignment's source notebook, each after the cell that
    precedes it there. nbgrader restores edited read-only cells but not deleted ones."""

    def preprocess(self, nb: NotebookNode, resources: Dict) -> Tuple[NotebookNode, Dict]:
        source = self._source_notebook(resources)
        if source is None:
            return nb, resources
        present = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        restored = []
        position = {}
        for cell in nb.cells:
            cell_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell_id:
                position[cell_id] = cell
        previous_id = None
        for cell in source.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            cell_id = meta.get("grade_id")
            read_only = meta.get("locked") or (meta.get("grade") and not meta.get("solution"))
            if cell_id and read_only and cell_id not in present:
                clone = copy.deepcopy(cell)
                clone.pop("outputs", None)
                if clone.cell_type == "code":
                    clone.outputs, clone.execution_count = [], None
                anchor = position.get(previous_id) if previous_id else None
                at = nb.cells.index(anchor) + 1 if anchor is not None else 0
                nb.cells.insert(at, clone)
                position[cell_id] = clone
                restored.append(cell_id)
            if cell_id:
                previous_id = cell_id
        if restored:
            nb.metadata.setdefault(METADATA_KEY, {}).setdefault("restored_cells", restored)
            self.log.warning("restored deleted read-only cells: %s", ", ".join(restored))
        return nb, resources

    def _source_notebook(self, resources: Dict) -> Optional[NotebookNode]:
        import nbformat
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        assignment, notebook = info.get("assignment"), info.get("notebook")
        if not assignment or not notebook:
            return None
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook}.ipynb"
        if not path.is_file():
            return None
        return nbformat.read(os.fspath(path), as_version=4)
