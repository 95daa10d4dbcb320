"""A long-lived nbgrader process for ``ganlab autograde``'s local workers.

``python -m nbgrader autograde ...`` per student pays nbgrader's start (Python, nbgrader,
nbconvert, jupyter_client, the kit's preprocessors: seconds on a busy machine) once per
student. This process imports them once and then runs one ``nbgrader autograde`` per
request through nbgrader's own application object, exactly as the command line would
(the same arguments, working directory and ``nbgrader_config.py``; nbgrader's test suite
drives it the same way). Nothing of a student runs here: each notebook still runs in its
own fresh sandboxed kernel, and the hidden checks in their own checker process, started by
nbgrader's Execute preprocessor for that one notebook.

While one student is graded, the kit's Execute preprocessor here starts the NEXT student's
sandboxed kernel and imports the lab's libraries in it (:mod:`.kernel_pool`): the writer names
that student's prepared scratch course in ``$GANLAB_KERNEL_POOL_NEXT``. A request for another
scratch course, and the end of this process, kill a kernel prestarted for no one.

Protocol: one JSON request per line on stdin, ``{"arguments": [...], "cwd": DIR,
"env": {NAME: VALUE}, "log": FILE}``; one reply per line on the original stdout,
``{"returncode": N}``. The request's log (stdout and stderr, at the file-descriptor level)
goes to FILE. End of stdin ends the process.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any, Dict

from . import kernel_pool


def _run_one(request: Dict[str, Any]) -> int:
    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp

    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    # a kernel prestarted for another scratch course than this run's serves no one: kill it
    kernel_pool.discard(keep_inside=request["cwd"])
    saved_env, saved_path, saved_cwd = dict(os.environ), list(sys.path), os.getcwd()
    os.environ.update(request.get("env") or {})
    os.chdir(request["cwd"])
    app = NbGraderApp.instance()
    try:
        app.initialize(list(request["arguments"]))
        app.start()
        return 0
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except NoStart:   # jupyter_core's way of saying the subcommand ran: `nbgrader` exits 0 here
        return 0
    except KeyboardInterrupt:   # Ctrl-C / the writer stopping the run: this process ends, as nbgrader would
        raise
    except BaseException:  # noqa: BLE001 - reported in the log, as the command line would
        traceback.print_exc()
        return 1
    finally:
        try:
            app.reset()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        NbGraderApp.clear_instance()
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)


def main() -> int:
    # the writer stops a run with SIGINT, even when it was started with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    # nbgrader's start, once: what `python -m nbgrader` imports, and the kit's preprocessors
    import nbgrader.apps  # noqa: F401
    import nbgrader.converters  # noqa: F401

    from . import execute, feedback  # noqa: F401

    protocol.write(json.dumps({"ready": True}) + "\n")
    try:
        for line in sys.stdin:
            try:
                request = json.loads(line)
            except ValueError:
                continue
            protocol.write(json.dumps({"returncode": _run_one(request)}) + "\n")
    finally:
        kernel_pool.discard()   # the kernel prestarted for a submission that never came
    return 0


if __name__ == "__main__":
    sys.exit(main())
