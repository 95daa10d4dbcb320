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
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, MutableMapping, Optional, Sequence

from .remote import SOCKET_NAME, SocketConnection, serve_connection
from .results import CheckResult, PartResult

__all__ = ["Checker", "check_in_subprocess", "unreachable_result", "main"]

#: Seconds the checker waits for a grade cell's kernel to connect.
ACCEPT_TIMEOUT = 60.0
#: Seconds one request to the notebook may take (a call of the student's code).
REQUEST_TIMEOUT = 120.0


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
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o666)  # a sandboxed kernel may run as another user
    listener.listen(4)
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


# --------------------------------------------------------------------------- parent side
class Checker:
    """A running checker process for one notebook, and its socket folder."""

    def __init__(self, directory: os.PathLike, autograder: Optional[str] = None,
                 socket_dir: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                 preload: Sequence[str] = ()) -> None:
        self.socket_dir = socket_dir or tempfile.mkdtemp(prefix="ganlab-grader-")
        self._own_dir = socket_dir is None
        os.chmod(self.socket_dir, 0o755)
        command = [sys.executable, "-m", "ganlab_kit.grading.checker",
                   "--socket-dir", self.socket_dir, "--directory", os.fspath(directory)]
        if autograder:
            command += ["--autograder", os.fspath(autograder)]
        if preload:
            command += ["--preload", ",".join(preload)]
        environment = dict(os.environ if env is None else env)
        environment.setdefault("OMP_NUM_THREADS", "1")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env=environment)
        self._replies: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next(60.0)
        if not ready or not ready.get("ready"):
            self.close()
            raise RuntimeError("the checker process did not start")

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
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def request(self, part: str, seed: int = 0, **options: Any) -> None:
        """Ask for ``part``; the kernel connects next; :meth:`result` reads the outcome."""
        self.send({"part": part, "seed": seed, **options})

    def cancel(self, reason: str) -> None:
        self.send({"cancel": True, "reason": reason})

    def result(self, part: str, timeout: float = 3600.0) -> PartResult:
        reply = self._next(timeout)
        if not reply or "result" not in reply:
            return unreachable_result(part, "The checker process stopped unexpectedly.")
        return PartResult.from_dict(reply["result"])

    def close(self) -> None:
        if self.process.poll() is None:
            self.send({"exit": True})
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
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
        checker = _LOCAL[os.fspath(folder)] = Checker(folder)
    checker.request(part)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(checker.socket_path)
        serve_connection(sock, namespace)
    finally:
        sock.close()
    return checker.result(part)


if __name__ == "__main__":
    sys.exit(main())
