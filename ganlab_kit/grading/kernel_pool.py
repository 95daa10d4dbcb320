"""One prestarted, pre-imported sandboxed kernel per submission (issue 24).

A local ``ganlab autograde`` worker grades one student after another in one long-lived
nbgrader process (:mod:`._autograde_worker`). While submission N is graded, that process
already starts the sandboxed kernel of submission N+1 and imports the lab's libraries in
it, so kernel start and ``import torch`` / TensorFlow leave the critical path:

- the writer's worker (:class:`.autograde._NbgraderWorker`) creates the NEXT scratch course
  folder ahead of time, with an empty ``autograded/`` and an empty checker socket folder,
  and names it in :data:`POOL_ENV` for run N;
- :class:`.execute.GradeExecute` of run N calls :func:`prestart` once its own kernel runs:
  a background thread starts a kernel of the same class, kernel name, configuration and
  arguments, bound to the next ``autograded/`` folder only (it holds nothing yet: nbgrader
  copies the next student's files into it later), runs the assignment's allow-listed
  imports in it silently (``silent=True, store_history=False``: no execution count, no
  history, no names left in the namespace), and parks it here;
- GradeExecute of run N+1 :func:`take` s it when the kernel's bound folder contains the
  notebook's folder and its :func:`signature` (class, kernel name, arguments, Sandbox
  settings, the kept environment, the grader's socket folder) equals the one a fresh
  kernel would have; it then hands the student's folder to the sandbox's user (root) and
  silently changes the kernel's directory to it. Otherwise it kills the parked kernel and
  starts one as before.

A parked kernel never serves two students (it is taken once, or killed), no student code
runs in it before its own notebook, and one that is not used is killed and its folder
removed (:func:`discard`, at the next run, at the worker's end). Its wall clock and CPU
limits run from its own start.
"""
from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["POOL_ENV", "PREIMPORT_ALLOWED", "preimport_modules", "preimport_code", "signature",
           "prestart", "take", "discard", "parked", "AUTOGRADED", "SOCKETS"]

#: Set by the worker for one nbgrader run: the next submission's prepared scratch folder.
POOL_ENV = "GANLAB_KERNEL_POOL_NEXT"
#: In a prepared scratch folder: the folder the kernel is bound to, and the checker's sockets.
AUTOGRADED = "autograded"
SOCKETS = ".grader-sockets"
#: Top-level packages whose import may run in a kernel before its notebook (trusted libraries).
PREIMPORT_ALLOWED = ("torch", "numpy", "matplotlib", "tensorflow", "keras", "ganlab_kit",
                     "ipywidgets", "scipy", "PIL", "pandas")
#: Seconds to wait for a parked kernel's start and imports.
PRESTART_TIMEOUT = 600.0
#: A parked kernel that used up more than this share of its wall clock (``Sandbox.wall_seconds``,
#: which runs from the kernel's start) waiting is not adopted: the student gets a fresh one.
WAITED_SHARE = 0.05


def _allowed(name: str) -> bool:
    return name.split(".")[0] in PREIMPORT_ALLOWED


def preimport_modules(notebook: Any) -> List[str]:
    """Modules the notebook's first code cell(s) import at their top level (``import x``,
    ``from x import y``), in order, restricted to :data:`PREIMPORT_ALLOWED`. The cells read are
    the code cells before the first answer (solution) cell: the assignment's setup."""
    names: List[str] = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("solution") or (meta.get("grade") and not meta.get("locked")):
            break
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        try:
            tree = ast.parse("\n".join(line for line in source.splitlines()
                                       if not line.lstrip().startswith(("%", "!"))))
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found = [node.module, *_kit_modules_behind(node.module, [alias.name for alias in node.names])]
            else:
                continue
            names.extend(name for name in found if _allowed(name) and name not in names)
    return names


def _kit_modules_behind(package: str, names: Sequence[str]) -> List[str]:
    """The kit's sub-modules that ``from <package> import <names>`` loads beyond the package
    itself: a name that is a sub-module (``from ganlab_kit.keras_gan import failure``) or one of
    a lazy package's names (``from ganlab_kit.widgets import Playground`` imports
    ``ganlab_kit.widgets.playground``, and torch with it: 2.5 s of the Playground's first cell
    otherwise). Read from the kit's files, nothing imported here; only ``ganlab_kit`` packages."""
    parts = package.split(".")
    if parts[0] != "ganlab_kit":
        return []
    folder = Path(__file__).resolve().parents[1].joinpath(*parts[1:])
    if not (folder / "__init__.py").is_file():
        return []
    lazy: Dict[str, str] = {}
    try:   # the package's `_NAMES = {public name: sub-module}` of ganlab_kit._lazy
        for node in ast.parse((folder / "__init__.py").read_text()).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                    and any(isinstance(target, ast.Name) and target.id == "_NAMES" for target in node.targets)):
                lazy = {key.value: value.value for key, value in zip(node.value.keys, node.value.values)
                        if isinstance(key, ast.Constant) and isinstance(value, ast.Constant)}
    except (OSError, SyntaxError, ValueError):
        lazy = {}
    found: List[str] = []
    for name in names:
        if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
            found.append(f"{package}.{name}")
        elif isinstance(lazy.get(name), str):
            found.append(f"{package}.{lazy[name]}")
    return found


def preimport_code(modules: Sequence[str]) -> str:
    """The silent cell that imports ``modules``: no name is left in the kernel's namespace,
    a failing import is skipped (the notebook's own cell reports it). The Keras labs load
    Keras through the kit's :func:`require_tensorflow_backend` (the notebooks do the same)."""
    modules = [name for name in modules if _allowed(name)]
    if not modules:
        return ""
    if any(name.split(".")[0] == "torch" for name in modules) and "torch._dynamo" not in modules:
        # the first torch.optim optimizer a process builds imports torch._dynamo (~1.5 s idle):
        # the notebook's make_optimizers would pay it in its grade cell
        modules = [*modules, "torch._dynamo"]
    keras = any(name.split(".")[0] in ("keras", "tensorflow") or name.startswith("ganlab_kit.keras_gan")
                for name in modules)
    lines = ["for __ganlab_preimport in " + repr(tuple(modules)) + ":",
             "    try:",
             "        __import__('importlib').import_module(__ganlab_preimport)",
             "    except BaseException:",
             "        pass"]
    if keras:
        lines[0:0] = ["try:",
                      "    __import__('ganlab_kit.keras_gan._backend', fromlist=['x'])"
                      ".require_tensorflow_backend()",
                      "except BaseException:",
                      "    pass"]
    lines.append("del __ganlab_preimport")
    return "\n".join(lines) + "\n"


def signature(km: Any, extra_arguments: Sequence[str], environ: Optional[Dict[str, str]] = None) -> Tuple:
    """What a kernel started by ``km`` depends on: it may be adopted only by a notebook whose
    fresh kernel manager has the same signature."""
    from .sandbox import KEPT_ENV

    environ = dict(os.environ if environ is None else environ)
    sandbox = getattr(km, "sandbox", None)
    settings: Tuple = ()
    keep: Sequence[str] = ()
    if sandbox is not None:
        settings = tuple(sorted((name, json.dumps(getattr(sandbox, name), default=str))
                                for name in sandbox.trait_names(config=True)))
        keep = list(sandbox.keep_env)
    try:
        argv = tuple(km.kernel_spec.argv) if km.kernel_spec is not None else ()
    except Exception:  # noqa: BLE001 - no such kernel: never matches a started one
        argv = ("?",)
    return (type(km).__module__, type(km).__qualname__, getattr(km, "kernel_name", ""),
            tuple(getattr(km, "kernel_cmd", None) or ()), argv, tuple(extra_arguments),
            getattr(km, "transport", ""), settings,
            tuple((name, environ.get(name)) for name in (*KEPT_ENV, *keep)))


@dataclass
class _Parked:
    km: Any
    folder: str                  # the bound folder: <next scratch>/autograded
    socket_dir: str              # the checker's socket folder bound into the kernel
    signature: Tuple
    modules: List[str]
    thread: Optional[threading.Thread] = None
    error: Optional[str] = None
    started: float = field(default_factory=time.time)
    seconds: Dict[str, float] = field(default_factory=dict)


_LOCK = threading.Lock()
_PARKED: Optional[_Parked] = None


def parked() -> Optional[_Parked]:
    """The parked kernel, if any (tests)."""
    return _PARKED


def _start(entry: _Parked, env: Dict[str, str], extra_arguments: List[str], code: str) -> None:
    began = time.time()
    try:
        _in_new_loop(lambda: _astart(entry, env, extra_arguments))
        entry.seconds["kernel start"] = round(time.time() - began, 3)
        if code:
            _run_silently(entry.km, code, PRESTART_TIMEOUT)
        entry.seconds["imports"] = round(time.time() - began - entry.seconds["kernel start"], 3)
    except BaseException as error:  # noqa: BLE001 - reported as "not adopted"; a fresh kernel starts
        entry.error = f"{type(error).__name__}: {error}"


_LOOP: Optional[asyncio.AbstractEventLoop] = None
_LOOP_LOCK = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """This process's pool thread: an event loop in a thread that lives as long as the process.
    Kernels are launched from it because bubblewrap's ``--die-with-parent`` ends a sandbox when
    the *thread* that started it ends (PR_SET_PDEATHSIG), not only the process."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="ganlab-kernel-pool", daemon=True).start()
            _LOOP = loop
        return _LOOP


def _in_new_loop(function: Any) -> None:
    """Run the coroutine function ``function`` to its end in the pool thread's event loop
    (callers may be inside nbclient's running loop)."""
    asyncio.run_coroutine_threadsafe(function(), _loop()).result()


async def _astart(entry: _Parked, env: Dict[str, str], extra_arguments: List[str]) -> None:
    result = entry.km.start_kernel(extra_arguments=list(extra_arguments), cwd=entry.folder, env=env)
    if asyncio.iscoroutine(result):
        await result


def _run_silently(km: Any, code: str, timeout: float) -> Dict[str, Any]:
    """Run ``code`` in ``km``'s kernel with ``silent=True, store_history=False`` and return the
    reply's content; raises when the kernel dies, does not answer in ``timeout`` seconds or the
    code fails. (No heartbeat channel: a kernel busy importing at start misses its 1 s beat and
    jupyter_client would call it dead; the process itself is watched instead.)"""
    import queue

    from jupyter_client.blocking import BlockingKernelClient

    client = BlockingKernelClient()
    client.load_connection_info(km.get_connection_info())
    client.start_channels(hb=False)
    deadline = time.monotonic() + timeout

    def reply_to(msg_id: str) -> Dict[str, Any]:
        while True:
            if not _alive(km):
                raise RuntimeError("the kernel died")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not answer in {timeout:.0f} s")
            try:
                reply = client.get_shell_msg(timeout=0.5)
            except queue.Empty:
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return reply

    try:
        reply_to(client.kernel_info())   # answered: the kernel is ready (zmq queues the request till then)
        content = reply_to(client.execute(code, silent=True, store_history=False, allow_stdin=False))["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")
        return content
    finally:
        client.stop_channels()


def prestart(km: Any, next_scratch: str, extra_arguments: Sequence[str], modules: Sequence[str],
             env: Optional[Dict[str, str]] = None) -> bool:
    """Start ``km`` (a fresh, configured kernel manager) in the background for the next
    submission, bound to ``<next_scratch>/autograded`` with the checker sockets in
    ``<next_scratch>/.grader-sockets``, and import ``modules`` in it. False when nothing was
    started (the folder is not prepared, or a kernel is parked already)."""
    global _PARKED
    folder = os.path.join(next_scratch, AUTOGRADED)
    sockets = os.path.join(next_scratch, SOCKETS)
    if not (os.path.isdir(folder) and os.path.isdir(sockets)) or os.listdir(folder) or os.listdir(sockets):
        return False
    env = dict(os.environ if env is None else env)
    with _LOCK:
        if _PARKED is not None:
            return False
        if hasattr(km, "grader_socket_dir"):
            km.grader_socket_dir = sockets
        if hasattr(km, "give_workdir"):
            km.give_workdir = False   # root: the bound folder stays root's; the student's is given at adoption
        entry = _Parked(km, os.path.realpath(folder), os.path.realpath(sockets),
                        signature(km, extra_arguments, env), list(modules))
        entry.thread = threading.Thread(target=_start, name="ganlab-prestart", daemon=True,
                                        args=(entry, env, list(extra_arguments), preimport_code(modules)))
        _PARKED = entry
        entry.thread.start()
    return True


def socket_dir_for(directory: str) -> Optional[str]:
    """The socket folder of the parked kernel that could serve a notebook in ``directory``."""
    entry = _PARKED
    if entry is not None and _within(os.path.realpath(directory), entry.folder) \
            and os.path.realpath(directory) != entry.folder:
        return entry.socket_dir
    return None


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def take(directory: str, wanted: Tuple, modules: Optional[Sequence[str]] = None,
         log: Any = None) -> Optional[Any]:
    """The parked kernel's manager for a notebook in ``directory`` whose fresh kernel manager
    has the signature ``wanted``, started, with its working directory changed to ``directory``
    (given to the sandbox's user first). ``modules``: what this notebook's kernel would
    pre-import (another assignment's kernel is not adopted). None when no kernel is parked for ``directory``'s
    submission (a kernel parked for another one stays parked); a kernel parked for it that
    does not fit (another signature, failed to start, died) is killed, and None."""
    global _PARKED
    directory = os.path.realpath(directory)
    with _LOCK:
        entry = _PARKED
        if entry is None or not _within(directory, entry.folder) or directory == entry.folder:
            return None   # another submission's kernel (the next one): left parked
        _PARKED = None
    why = ""
    if entry.signature != wanted:
        why = "the kernel, sandbox settings or environment changed"
    elif modules is not None and list(modules) != entry.modules:
        why = "it was prestarted for another assignment"
    elif _wall_clock_spent(entry.km) > WAITED_SHARE:
        why = "it waited too long (its wall clock runs from its start)"
    else:
        if entry.thread is not None:
            entry.thread.join(PRESTART_TIMEOUT)
        if entry.thread is not None and entry.thread.is_alive():
            why = "it did not start in time"
        elif entry.error:
            why = f"it failed to start ({entry.error})"
        elif not _alive(entry.km):
            why = "it died"
    if not why:
        try:
            user = getattr(entry.km, "_sandbox_user", None)
            if user is not None and user.uid is not None:
                user.give(directory)
            _run_silently(entry.km, _chdir_code(directory), 60.0)
        except BaseException as error:  # noqa: BLE001
            why = f"it could not enter the notebook's folder ({type(error).__name__}: {error})"
    if why:
        if log is not None:
            log.info("prestarted kernel not used: %s", why)
        _kill(entry)
        return None
    if log is not None:
        log.info("adopted the prestarted kernel (start %.2f s, imports %.2f s: %s)",
                 entry.seconds.get("kernel start", 0.0), entry.seconds.get("imports", 0.0),
                 ", ".join(entry.modules) or "none")
    return entry.km


def _wall_clock_spent(km: Any) -> float:
    """The share of ``Sandbox.wall_seconds`` the kernel has used up (0 without that limit)."""
    deadline = getattr(km, "_deadline", None)
    seconds = getattr(getattr(km, "sandbox", None), "wall_seconds", 0)
    if not seconds or deadline is None or deadline == float("inf"):
        return 0.0
    return 1.0 - (deadline - time.monotonic()) / seconds


def _chdir_code(directory: str) -> str:
    return (f"__import__('os').chdir({directory!r}); __import__('importlib').invalidate_caches()\n")


def _alive(km: Any) -> bool:
    try:
        provisioner = getattr(km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return process is not None and process.poll() is None
    except Exception:  # noqa: BLE001
        return False


def _kill(entry: _Parked) -> None:
    if entry.thread is not None:
        entry.thread.join(PRESTART_TIMEOUT)
    km = entry.km
    try:
        async def stop() -> None:
            if km.has_kernel:
                result = km.shutdown_kernel(now=True)
                if asyncio.iscoroutine(result):
                    await result
            result = km.cleanup_resources()
            if asyncio.iscoroutine(result):
                await result
        _in_new_loop(stop)
    except BaseException:  # noqa: BLE001 - kill what is left below
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None:
            from .sandbox import _kill_group

            _kill_group(process.pid)
        release = getattr(km, "_release_sandbox", None)
        if release is not None:
            release()


def discard(keep_inside: Optional[str] = None, remove_folder: bool = True) -> bool:
    """Kill the parked kernel unless its folder is inside ``keep_inside`` (the next run's
    scratch course); with ``remove_folder``, remove its prepared scratch course too. True when
    a kernel was killed."""
    global _PARKED
    with _LOCK:
        entry = _PARKED
        if entry is None or (keep_inside and _within(entry.folder, os.path.realpath(keep_inside))):
            return False
        _PARKED = None
    _kill(entry)
    if remove_folder:
        scratch = str(Path(entry.folder).parent)
        shutil.rmtree(os.path.join(scratch, AUTOGRADED), ignore_errors=True)
        shutil.rmtree(os.path.join(scratch, SOCKETS), ignore_errors=True)
    return True
