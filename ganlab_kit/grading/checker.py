"""The checker process: runs hidden checks outside the notebook's process.

Started once per notebook under grading (``python -m ganlab_kit.grading.checker``), it
listens on a unix socket in a private folder and reads one JSON request per line on
its standard input::

    {"part": "pytorch_gan/generator", "seed": 0}   grade this part
    {"cancel": true}                               the grade cell will not connect
    {"exit": true}                                 finish

For each part it waits for the notebook's kernel to connect to the socket
(:func:`.remote.connect_and_serve` in the kernel), runs the part's pytest module with
a :class:`.remote.RemoteNamespace` over that connection, tells the kernel it is done,
and writes ``{"result": PartResult.to_dict()}`` as one line on its original standard
output. Only plain data crosses the socket; the checks' source never enters the
notebook's process or its sandbox.

:class:`Checker` is the parent's side; :func:`check_in_subprocess` lets a grade cell
run outside nbgrader's autograde (``nbgrader validate``, ``ganlab solutions``) use the
same separate process.

**The template** (issue 24). A fresh checker pays ~2 s of CPU for its imports (pytest, torch,
the kit). :class:`Checker` therefore forks each notebook's checker from a long-lived
*template* process per (preload list, autograder root, environment), started by the process
that creates the Checkers (nbgrader's worker, which grades one notebook after another). The
template imports the preload modules once, never runs a check and never receives a student's
data (only folder paths and the environment), and is single-threaded when it forks (it checks
``/proc/self/task`` before every fork and refuses otherwise). Each child is exactly the
checker above for one notebook: it gets its own stdin/stdout pipes (passed with
``socket.send_fds``), its own socket folder and environment, imports the hidden check modules
itself after the fork, and is killed at :meth:`Checker.close` through a pidfd (no pid reuse);
the template reaps it. What a check changes in a child (module attributes, the environment,
``sys.modules``) dies with the child and never reaches the next notebook. When the template is
not ready, unavailable or dead, the checker is started as a fresh process as before (and the
template is started, or restarted, for the next notebook). ``GANLAB_CHECKER_TEMPLATE=0`` turns
the template off.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, MutableMapping, Optional, Sequence, Tuple

from .kernel_pool import POOL_ENV
from .remote import SOCKET_NAME, SocketConnection, serve_connection, unix_socket_at
from .results import TIMINGS_ENV, CheckResult, PartResult

__all__ = ["Checker", "check_in_subprocess", "close_templates", "warm_template", "unreachable_result", "main"]

#: Seconds the checker waits for a grade cell's kernel to connect.
ACCEPT_TIMEOUT = 60.0
#: Seconds one request to the notebook may take (a call of the student's code).
REQUEST_TIMEOUT = 120.0
#: Seconds the first request waits for a template that is still importing (then a fresh checker).
TEMPLATE_WAIT = 60.0
#: Seconds :meth:`Checker.close` waits for the checker to finish before it kills it.
CLOSE_TIMEOUT = 10.0
#: Environment variable: "0" makes every checker a fresh process (no template).
TEMPLATE_ENV = "GANLAB_CHECKER_TEMPLATE"
#: Templates kept at once in one process (one per preload list and environment).
MAX_TEMPLATES = 2
#: Seconds a template may take to fork a child and answer.
FORK_TIMEOUT = 15.0


def unreachable_result(part: str, reason: str, root: Optional[str] = None) -> PartResult:
    """Every check of ``part`` failed with ``reason`` (the notebook could not be asked)."""
    from .bridge import GradingSetupError, list_checks

    assignment, _, name = part.partition("/")
    try:
        catalogue = list_checks(part, root)
    except GradingSetupError as error:
        return PartResult(assignment, name, [], error=str(error))
    return PartResult(assignment, name, [CheckResult(check, question, points, False, reason)
                                         for check, question, points in catalogue])


# --------------------------------------------------------------------------- child side
def _stdin_lines(lines: "queue.Queue[Optional[Dict[str, Any]]]") -> None:
    for line in sys.stdin:
        try:
            lines.put(json.loads(line))
        except ValueError:
            continue
    lines.put(None)


def _grade_one(listener: socket.socket, request: Dict[str, Any],
               lines: "queue.Queue[Optional[Dict[str, Any]]]", args: argparse.Namespace) -> PartResult:
    from .bridge import GradingSetupError, run_checks_over

    part = str(request["part"])
    deadline = time.monotonic() + float(request.get("accept_timeout", args.accept_timeout))
    listener.settimeout(0.1)
    connection = None
    while connection is None:
        try:
            connection, _ = listener.accept()
        except socket.timeout:
            try:
                message = lines.get_nowait()
            except queue.Empty:
                message = {}
            if message is None or message.get("cancel"):
                return unreachable_result(part, request.get("reason") or (message or {}).get(
                    "reason", "The grade cell did not reach the checker."), args.autograder)
            if time.monotonic() > deadline:
                return unreachable_result(
                    part, "The notebook's kernel never answered the checker (it crashed, or "
                          "was busy or blocked).", args.autograder)
    channel = SocketConnection(connection, timeout=float(request.get("request_timeout",
                                                                     args.request_timeout)))
    try:
        return run_checks_over(part, channel, args.directory, args.autograder,
                               int(request.get("seed", 0)))
    except GradingSetupError as error:
        assignment, _, name = part.partition("/")
        return PartResult(assignment, name, [], error=str(error))
    finally:
        channel.close()


def _preload(modules: str) -> None:
    import importlib

    for name in ["pytest", "ganlab_kit.grading.bridge", "ganlab_kit.grading.plugin",
                 *filter(None, modules.split(","))]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the checks import it again and report what fails
            continue


def main(argv: Optional[list] = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] == ["--template"]:
        return _template_main((sys.argv[1:] if argv is None else argv)[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket-dir", required=True, help="folder for the listening socket")
    parser.add_argument("--directory", required=True, help="the submission's folder (its files)")
    parser.add_argument("--autograder", default=None, help="folder of hidden checks "
                                                           "(default: $GANLAB_AUTOGRADER)")
    parser.add_argument("--accept-timeout", type=float, default=ACCEPT_TIMEOUT)
    parser.add_argument("--request-timeout", type=float, default=REQUEST_TIMEOUT)
    parser.add_argument("--preload", default="", help="comma-separated modules the checks import, "
                                                      "imported while the notebook runs")
    args = parser.parse_args(argv)

    # the protocol owns the original stdout; anything else printed goes to stderr
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    path = os.path.join(args.socket_dir, SOCKET_NAME)
    try:
        listener = unix_socket_at(path, listen=4)
        os.chmod(path, 0o666)  # a sandboxed kernel may run as another user
    except OSError as error:
        protocol.write(json.dumps({"ready": False, "error": f"cannot listen at {path}: {error}"}) + "\n")
        return 1
    protocol.write(json.dumps({"ready": True}) + "\n")
    # the checks' imports (pytest, torch, ...) while the notebook's kernel starts and runs its
    # cells; the first part waits for them, so no import ever runs in two threads at once
    preloading = threading.Thread(target=_preload, args=(args.preload,), daemon=True)
    preloading.start()

    lines: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
    threading.Thread(target=_stdin_lines, args=(lines,), daemon=True).start()
    while True:
        request = lines.get()
        if request is None or request.get("exit"):
            break
        if "part" not in request:
            continue  # a late cancel
        preloading.join()
        result = _grade_one(listener, request, lines, args)
        protocol.write(json.dumps({"result": result.to_dict()}) + "\n")
    listener.close()
    return 0


# --------------------------------------------------------------------------- template side
def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _reap(signum: int = 0, frame: Any = None) -> None:
    """SIGCHLD in the template: wait for every child that has ended (no zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _run_child(request: Dict[str, Any], fds: List[int], control: socket.socket, started_in: str) -> int:
    """In a forked child of the template: become the checker of one notebook."""
    control.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.dup2(fds[0], 0)
    os.dup2(fds[1], 1)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    if sys.path and sys.path[0] == started_in:   # `python -m` puts its working folder first
        sys.path[0] = request["cwd"]
    sys.argv[1:] = request["argv"]
    return main(list(request["argv"]))


def _template_main(argv: List[str]) -> int:
    """The template: import the preload modules once, then fork one checker per request."""
    parser = argparse.ArgumentParser(description="checker template")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--preload", default="")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C in the worker: its checkers stop, not this
    control = socket.socket(fileno=args.control_fd)
    started_in = os.getcwd()
    _preload(args.preload)
    signal.signal(signal.SIGCHLD, _reap)
    control.sendall(json.dumps({"ready": True, "threads": _thread_count()}).encode())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        except OSError:
            break
        if not data:
            break   # the process that made the Checkers has gone
        try:
            request = json.loads(data)
        except ValueError:
            request = None
        threads = _thread_count()
        if not isinstance(request, dict) or len(fds) != 2 or threads != 1:
            for fd in fds:
                os.close(fd)
            reason = (f"the template runs {threads} threads: fork is unsafe" if threads != 1
                      else "bad request")
            control.sendall(json.dumps({"error": reason}).encode())
            if threads != 1:
                break
            continue
        # SIGCHLD waits until the child's pidfd is open: the child cannot be reaped before
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        try:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = _run_child(request, fds, control, started_in)
                except SystemExit as stop:
                    code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
                except BaseException:  # noqa: BLE001 - a child never returns into the template's loop
                    code = 1
                finally:
                    try:
                        atexit._run_exitfuncs()   # what a fresh process runs at its exit
                        sys.stdout.flush()
                        sys.stderr.flush()
                    finally:
                        os._exit(code)
            for fd in fds:
                os.close(fd)
            pidfd = os.pidfd_open(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        try:
            socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
        except OSError:
            os.kill(pid, signal.SIGKILL)
            break
        finally:
            os.close(pidfd)
    return 0


# --------------------------------------------------------------------------- parent side
class _ForkedChild:
    """A checker forked by a template: what :class:`Checker` uses of ``subprocess.Popen``.

    Not this process's child, so it is watched and killed through a pidfd (which names this
    one process even after its pid is reused); its parent, the template, reaps it."""

    def __init__(self, pid: int, pidfd: int, stdin: int, stdout: int) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.stdin = os.fdopen(stdin, "w")
        self.stdout = os.fdopen(stdout, "r")
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        return self.wait(0.0) if self.returncode is None else self.returncode

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if self.returncode is None:
            ready, _, _ = select.select([self.pidfd], [], [], timeout)
            if not ready:
                if timeout:
                    raise subprocess.TimeoutExpired("checker", timeout)
                return None
            self.returncode = 0   # ended; its status is its parent's (the template's) to read
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def release(self) -> None:
        """Close the pidfd and the pipe to the child (after it has ended); its output pipe
        is the reader thread's, which ends at its end of file."""
        try:
            self.stdin.close()
        except OSError:
            pass
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class _Template:
    """A template process (see the module's docstring) and the control socket to it."""

    def __init__(self, preload: Sequence[str], environment: Dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [sys.executable, "-m", "ganlab_kit.grading.checker", "--template",
                   "--control-fd", str(theirs.fileno()), "--preload", ",".join(preload)]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=environment,
                                            pass_fds=[theirs.fileno()])
        finally:
            theirs.close()
        self.control = ours
        self.ready = False
        self.broken = False
        self.threaded = False   # its imports started a thread: never forked

    def usable(self, wait: float = 0.0) -> bool:
        """Ready to fork (waiting up to ``wait`` seconds for its imports)."""
        if self.broken or self.process.poll() is not None:
            self.broken = True
            return False
        if not self.ready:
            self.control.settimeout(wait)
            try:
                reply = json.loads(self.control.recv(1 << 16) or b"null")
            except (socket.timeout, BlockingIOError):
                return False
            except (OSError, ValueError):
                reply = None
            if not isinstance(reply, dict) or not reply.get("ready") or reply.get("threads") != 1:
                self.broken = True   # it ended, or it started threads while importing
                self.threaded = isinstance(reply, dict) and bool(reply.get("ready"))
                return False
            self.ready = True
        return True

    def fork(self, argv: List[str], environment: Dict[str, str], cwd: str) -> _ForkedChild:
        """A checker child for ``argv`` (raises OSError when the template cannot make one)."""
        to_child, from_parent = os.pipe()[::-1]
        from_child, to_parent = os.pipe()
        request = {"argv": argv, "env": environment, "cwd": cwd}
        try:
            self.control.settimeout(FORK_TIMEOUT)
            socket.send_fds(self.control, [json.dumps(request).encode()], [from_parent, to_parent])
            data, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 1)
            reply = json.loads(data or b"null")
            if not isinstance(reply, dict) or "pid" not in reply or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                raise OSError(f"the checker template did not fork: {reply}")
        except BaseException:
            self.broken = True
            os.close(to_child)
            os.close(from_child)
            raise
        finally:
            os.close(from_parent)
            os.close(to_parent)
        return _ForkedChild(int(reply["pid"]), fds[0], to_child, from_child)

    def close(self) -> None:
        self.broken = True
        self.control.close()   # the template ends at the end of its control socket
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_TEMPLATES: Dict[Tuple[Any, ...], _Template] = {}
_TEMPLATES_LOCK = threading.Lock()
#: Keys whose template started threads while importing: their checkers are fresh processes.
_THREADED: set = set()
#: Variables that change from one notebook to the next and that no import reads: a template
#: serves notebooks that differ only in these (each child gets its notebook's own values).
#: (The kernel pool's next scratch folder changes with every run of a long-lived nbgrader worker:
#: with it in the key, each notebook started a new template and paid its imports again.)
_PER_NOTEBOOK_ENV = (TIMINGS_ENV, "GANLAB_GRADER_DIR", POOL_ENV)


def _template_key(preload: Sequence[str], autograder: Optional[str],
                  environment: Dict[str, str]) -> Tuple[Any, ...]:
    steady = tuple(sorted((name, value) for name, value in environment.items()
                          if name not in _PER_NOTEBOOK_ENV))
    return (sys.executable, tuple(preload), autograder, steady)


#: :func:`_fork_checker`'s answer while the template still imports.
STARTING = "starting"


def _start_template(key: Tuple[Any, ...], preload: Sequence[str], environment: Dict[str, str]) -> "_Template":
    """Start the template of ``key``, ending the oldest one first when MAX_TEMPLATES run (the
    caller holds _TEMPLATES_LOCK)."""
    while len(_TEMPLATES) >= MAX_TEMPLATES:
        _TEMPLATES.pop(next(iter(_TEMPLATES))).close()
    template = _TEMPLATES[key] = _Template(preload, environment)
    return template


def _fork_checker(argv: List[str], preload: Sequence[str], autograder: Optional[str],
                  environment: Dict[str, str], cwd: str, wait: float = 0.0) -> Any:
    """A checker forked from this environment's template (waiting up to ``wait`` seconds for
    its imports); :data:`STARTING` while the template imports (one is started, or restarted,
    when there is none); None when there is no usable template."""
    key = _template_key(preload, autograder, environment)
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
        if template is not None and not template.usable(wait):
            if not template.broken:
                return STARTING
            if template.threaded:
                _THREADED.add(key)
            _TEMPLATES.pop(key).close()
            template = None
        if key in _THREADED:
            return None
        if template is None:
            try:
                _start_template(key, preload, environment)
            except OSError:
                return None
            return STARTING
        try:
            return template.fork(argv, environment, cwd)
        except (OSError, ValueError):
            _TEMPLATES.pop(key).close()
            return None


def warm_template(preload: Sequence[str] = (), autograder: Optional[str] = None,
                  env: Optional[Dict[str, str]] = None, wait: float = 60.0) -> bool:
    """Start the template a :class:`Checker` with these arguments would fork from (if it is
    not running) and wait up to ``wait`` seconds for its imports; whether it is ready."""
    environment = dict(os.environ if env is None else env)
    environment.setdefault("OMP_NUM_THREADS", "1")
    key = _template_key(preload, autograder and os.fspath(autograder), environment)
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
        if template is not None and template.broken:
            _TEMPLATES.pop(key).close()
            template = None
        if key in _THREADED:
            return False
        if template is None:
            template = _start_template(key, preload, environment)
        if template.usable(wait):
            return True
        if template.threaded:
            _THREADED.add(key)
            _TEMPLATES.pop(key).close()
        return False


def close_templates() -> None:
    """End every checker template of this process (they also end with it)."""
    with _TEMPLATES_LOCK:
        _THREADED.clear()
        while _TEMPLATES:
            _TEMPLATES.popitem()[1].close()


atexit.register(close_templates)


class Checker:
    """A running checker process for one notebook, and its socket folder."""

    def __init__(self, directory: os.PathLike, autograder: Optional[str] = None,
                 socket_dir: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                 preload: Sequence[str] = (), template: Optional[bool] = None) -> None:
        """``template``: fork the checker from this process's template (see the module's
        docstring); None: unless ``$GANLAB_CHECKER_TEMPLATE`` is "0"."""
        self.socket_dir = socket_dir or tempfile.mkdtemp(prefix="ganlab-grader-")
        self._own_dir = socket_dir is None
        os.chmod(self.socket_dir, 0o755)
        arguments = ["--socket-dir", self.socket_dir, "--directory", os.fspath(directory)]
        if autograder:
            arguments += ["--autograder", os.fspath(autograder)]
        if preload:
            arguments += ["--preload", ",".join(preload)]
        environment = dict(os.environ if env is None else env)
        environment.setdefault("OMP_NUM_THREADS", "1")
        if template is None:
            template = environment.get(TEMPLATE_ENV, "1") != "0"
        self._launch = (arguments, list(preload), autograder and os.fspath(autograder),
                        environment, os.getcwd(), template)
        self.forked = False
        self.process: Any = None
        self._replies: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        if not template or not self._start(0.0, deferred=True):
            if self.process is None:
                self._start(0.0)
            ready = self._next(60.0)
            if not ready or not ready.get("ready"):
                self.close()
                raise RuntimeError("the checker process did not start"
                                   + (f" ({ready['error']})" if ready and ready.get("error") else ""))

    def _start(self, wait: float, deferred: bool = False) -> bool:
        """Fork the checker from the template, else start a fresh process. ``deferred``: the
        template is still importing, so the fork waits for the first request (no second copy
        of the imports runs meanwhile): True then, and no process yet."""
        arguments, preload, autograder, environment, cwd, template = self._launch
        forked = _fork_checker(arguments, preload, autograder, environment, cwd, wait) if template else None
        if forked == STARTING:
            if deferred:
                return True
            forked = None
        self.forked = forked is not None
        self.process = forked or subprocess.Popen(
            [sys.executable, "-m", "ganlab_kit.grading.checker", *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=environment, cwd=cwd)
        threading.Thread(target=self._read, daemon=True).start()
        return False

    def _ensure_started(self) -> None:
        """The checker of a deferred fork, at the first request."""
        if self.process is None:
            self._start(TEMPLATE_WAIT)
            ready = self._next(60.0)
            if not ready or not ready.get("ready"):
                self.send({"exit": True})   # the results read "stopped unexpectedly"

    @property
    def socket_path(self) -> str:
        return os.path.join(self.socket_dir, SOCKET_NAME)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                continue
        self._replies.put(None)

    def _next(self, timeout: float) -> Optional[Dict[str, Any]]:
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            return None

    def send(self, message: Dict[str, Any]) -> None:
        if self.process is None:
            return   # no checker yet: a cancel before any request
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def request(self, part: str, seed: int = 0, **options: Any) -> None:
        """Ask for ``part``; the kernel connects next; :meth:`result` reads the outcome."""
        self._ensure_started()
        self.send({"part": part, "seed": seed, **options})

    def cancel(self, reason: str) -> None:
        self.send({"cancel": True, "reason": reason})

    def result(self, part: str, timeout: float = 3600.0) -> PartResult:
        reply = self._next(timeout) if self.process is not None else None
        if not reply or "result" not in reply:
            return unreachable_result(part, "The checker process stopped unexpectedly.")
        return PartResult.from_dict(reply["result"])

    def grade(self, part: str, namespace: MutableMapping[str, Any], timeout: float = 3600.0) -> PartResult:
        """Grade ``part`` of the notebook whose globals are ``namespace``, served from this
        process (a grade cell run outside autograde, or a test): request, serve, result."""
        self.request(part)
        sock = unix_socket_at(self.socket_path)
        try:
            serve_connection(sock, namespace)
        finally:
            sock.close()
        return self.result(part, timeout=timeout)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.send({"exit": True})
            try:
                self.process.wait(timeout=CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.forked:
            self.process.release()
        if self._own_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


_LOCAL: Dict[str, Checker] = {}


def check_in_subprocess(part: str, namespace: MutableMapping[str, Any],
                        directory: Optional[os.PathLike] = None) -> PartResult:
    """Grade ``part`` of the notebook whose globals are ``namespace`` (a grade cell run
    outside autograde): a checker process, started once per kernel, asks the questions."""
    folder = Path(directory or os.getcwd()).resolve()
    checker = _LOCAL.get(os.fspath(folder))
    if checker is None or checker.process.poll() is not None:
        # one checker per kernel and folder: a template would not be used again here
        checker = _LOCAL[os.fspath(folder)] = Checker(folder, template=False)
    return checker.grade(part, namespace)


if __name__ == "__main__":
    sys.exit(main())
