"""The grading sandbox: each isolation property is tried the way a student would try it.

Every probe runs twice where that is safe: in the sandbox, where it must be blocked, and
with the isolation (or the limit) switched off, where the same probe must succeed, so no
test here passes because its probe is broken. Probes are plain ``python -c`` commands run
by :func:`run_sandboxed` (fast); the kernel tests start real Jupyter kernels through
:class:`SandboxedKernelManager` (slow).
"""
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest

from ganlab_kit.grading import sandbox as sandbox_module
from ganlab_kit.grading.sandbox import (GRADER_DIR_ENV, SANDBOX_GRADER_DIR, Sandbox,
                                        SandboxUnavailable, SandboxedKernelManager, SandboxUser,
                                        BlockingSandboxedKernelManager,
                                        isolation_status, library_paths, run_sandboxed,
                                        sandbox_command, sandbox_env)

REPOSITORY = Path(__file__).resolve().parent.parent
ON_LINUX = sys.platform.startswith("linux")


@pytest.fixture(scope="session")
def isolation():
    """Isolation must work on the Linux machines the kit supports (bubblewrap installed)."""
    if not ON_LINUX:
        pytest.skip("bubblewrap sandboxes are Linux only; elsewhere grading is not isolated")
    available, reason = isolation_status()
    if not available:
        pytest.fail(f"student code cannot be isolated here: {reason}. "
                    "Install bubblewrap (apt-get install bubblewrap).")
    return reason


@pytest.fixture
def course(tmp_path):
    """A course folder as nbgrader lays it out, with the things a student must not reach."""
    root = tmp_path / "course"
    mine = root / "autograded" / "alice" / "lab"
    other = root / "autograded" / "bob" / "lab"
    for folder in (mine, other, root / "autograder"):
        folder.mkdir(parents=True)
    (root / "gradebook.db").write_text("GRADES")
    (root / "nbgrader_config.py").write_text("c = get_config()  # SECRET CONFIG\n")
    (root / "autograder" / "secret.py").write_text("HIDDEN_CHECK = 1\n")
    (other / "lab.ipynb").write_text("BOB'S ANSWERS")
    (mine / "lab.ipynb").write_text("ALICE'S ANSWERS")
    return root


def probe(code: str, workdir: Path, *, isolate: bool, timeout: float = 120, **limits):
    """Run ``code`` as a student's Python in ``workdir``; returns the completed process."""
    return run_sandboxed([sys.executable, "-c", textwrap.dedent(code)], str(workdir),
                         timeout=timeout, isolate=isolate, sandbox=Sandbox(**limits),
                         capture_output=True, text=True)


def outcome(code: str, workdir: Path, isolate: bool, **limits) -> str:
    """The last line the probe printed: ``done`` when it got what it tried, else ``blocked``."""
    done = probe(code, workdir, isolate=isolate, **limits)
    lines = done.stdout.strip().splitlines()
    assert lines, f"the probe printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    return lines[-1]


READ = """
    import sys
    try:
        text = open(sys.argv[1] if len(sys.argv) > 1 else {path!r}).read()
    except OSError:
        print("blocked")
    else:
        print("done" if {expected!r} in text else "wrong")
"""


@pytest.mark.parametrize("isolate", [True, False], ids=["sandbox", "not-isolated"])
@pytest.mark.parametrize("path, expected", [
    ("../../../gradebook.db", "GRADES"),
    ("../../../nbgrader_config.py", "SECRET CONFIG"),
    ("../../../autograder/secret.py", "HIDDEN_CHECK"),
    ("../../bob/lab/lab.ipynb", "BOB'S ANSWERS"),
], ids=["gradebook", "course-config", "course-autograder", "other-student"])
def test_student_code_cannot_read_the_course(isolation, course, isolate, path, expected):
    """Can a student's code read the gradebook, the course config, the hidden checks or
    another student's notebook from its own folder? Only without isolation."""
    mine = course / "autograded" / "alice" / "lab"
    result = outcome(READ.format(path=path, expected=expected), mine, isolate)
    assert result == ("blocked" if isolate else "done")


@pytest.mark.parametrize("isolate", [True, False], ids=["sandbox", "not-isolated"])
def test_student_code_cannot_read_the_checkouts_autograder(isolation, course, isolate):
    """The kit's package folder is visible; is the checkout's autograder/ beside it hidden?"""
    checks = sorted((REPOSITORY / "autograder").glob("*/test_*.py"))
    assert checks, "the checkout has hidden checks to protect"
    code = READ.format(path=str(checks[0]), expected="def test_")
    assert outcome(code, course / "autograded" / "alice" / "lab", isolate) == (
        "blocked" if isolate else "done")


WRITE = """
    import os
    written = []
    for path in ("../../../gradebook.db", "../../bob/lab/lab.ipynb", {outside!r}):
        try:
            with open(path, "a") as handle:
                handle.write("TAMPERED")
            written.append(path)
        except OSError:
            pass
    open("answer.txt", "w").write("mine")  # its own folder stays writable
    print("done" if written else "blocked")
"""


@pytest.mark.parametrize("isolate", [True, False], ids=["sandbox", "not-isolated"])
def test_student_code_writes_only_its_own_folder(isolation, course, tmp_path, isolate):
    """Can a student's code change the gradebook, another student's notebook or a file
    elsewhere on the machine? Only without isolation; its own folder is writable always."""
    outside = tmp_path / "outside.txt"
    mine = course / "autograded" / "alice" / "lab"
    result = outcome(WRITE.format(outside=str(outside)), mine, isolate)
    assert (mine / "answer.txt").read_text() == "mine"
    tampered = ["TAMPERED" in (course / "gradebook.db").read_text(),
                "TAMPERED" in (course / "autograded" / "bob" / "lab" / "lab.ipynb").read_text(),
                outside.exists()]
    if isolate:
        assert result == "blocked" and not any(tampered)
    else:
        assert result == "done" and all(tampered)


def test_files_written_in_the_sandbox_go_back_to_their_owner(isolation, course):
    """Started by root, the sandbox writes as its own uid; afterwards the submission
    folder and what the student wrote belong to the folder's owner again."""
    mine = course / "autograded" / "alice" / "lab"
    code = "import os; open('new.txt', 'w').write('x'); print(os.getuid())"
    inside_uid = int(probe(code, mine, isolate=True).stdout.strip())
    assert inside_uid != 0
    owner = os.stat(mine.parent).st_uid
    assert {os.stat(path).st_uid for path in (mine, mine / "new.txt", mine / "lab.ipynb")} == {owner}


@pytest.mark.parametrize("isolate", [True, False], ids=["sandbox", "not-isolated"])
def test_no_network(isolation, course, isolate):
    """Can a student's code open a TCP connection to a server on this machine's loopback?"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    code = f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
        except OSError:
            print("blocked")
        else:
            print("done")
    """
    try:
        result = outcome(code, course / "autograded" / "alice" / "lab", isolate)
    finally:
        server.close()
    assert result == ("blocked" if isolate else "done")


def test_environment_is_minimal(isolation, course, monkeypatch):
    """Does the kernel see instructor secrets or where the hidden checks are? It keeps only
    the allow-listed settings."""
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "s3cret")
    monkeypatch.setenv("GANLAB_AUTOGRADER", str(course / "autograder"))
    monkeypatch.setenv("GANLAB_MAX_STEPS", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    import json

    for isolate in (True, False):
        env = json.loads(probe(code, course / "autograded" / "alice" / "lab",
                               isolate=isolate).stdout.strip().splitlines()[-1])
        assert "INSTRUCTOR_TOKEN" not in env and "GANLAB_AUTOGRADER" not in env
        assert env["GANLAB_MAX_STEPS"] == "0" and env["OMP_NUM_THREADS"] == "1"
    assert sandbox_env({"GANLAB_AUTOGRADER": "/x", "PYTHONHASHSEED": "0", "SSH_AUTH_SOCK": "/s"},
                       grader_dir="/host/grader") == {
        **sandbox_env({}), "PYTHONHASHSEED": "0", GRADER_DIR_ENV: SANDBOX_GRADER_DIR}


@pytest.mark.parametrize("limited", [True, False], ids=["limited", "unlimited"])
def test_memory_hog_is_stopped(isolation, course, limited):
    """Does a process that allocates 600 MB past a 200 MB limit fail (MemoryError), while
    the same allocation succeeds without the limit?"""
    code = """
        try:
            hog = bytearray(600 * 1024 * 1024)
        except MemoryError:
            print("blocked")
        else:
            print("done")
    """
    result = outcome(code, course / "autograded" / "alice" / "lab", True,
                     memory_mb=200 if limited else 0)
    assert result == ("blocked" if limited else "done")


FORK_BOMB = """
    import os, time
    children, refused = [], 0
    deadline = time.monotonic() + 3
    while len(children) + refused < 60 and time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError:
            refused += 1
            time.sleep(0.01)
            continue
        if pid == 0:
            time.sleep(1.5)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    print(len(children))
"""


@pytest.mark.parametrize("isolate", [True, False], ids=["sandbox", "not-isolated"])
def test_fork_bomb_is_limited(isolation, course, isolate):
    """A fork loop (60 children at most, each gone after 1.5 s) under max_processes = 12:
    does the sandbox stop it at 12? Without isolation, started by root, nothing limits it
    (RLIMIT_NPROC does not apply to root), which is why the sandbox runs as its own uid."""
    forked = int(outcome(FORK_BOMB, course / "autograded" / "alice" / "lab", isolate,
                         max_processes=12))
    if isolate:
        assert forked < 12
    elif os.geteuid() == 0:
        assert forked == 60
    else:
        assert forked < 60  # a normal user: counted from the processes it runs already


@pytest.mark.parametrize("limited", [True, False], ids=["limited", "unlimited"])
def test_cpu_time_is_limited(isolation, course, limited):
    """Is a process that spins for 3 CPU seconds killed at a 1-second CPU limit?"""
    code = """
        import time
        deadline = time.monotonic() + 60
        while time.process_time() < 3 and time.monotonic() < deadline:
            pass
        print("done")
    """
    done = probe(code, course / "autograded" / "alice" / "lab", isolate=True,
                 cpu_seconds=1 if limited else 0)
    if limited:
        assert done.returncode != 0 and "done" not in done.stdout
    else:
        assert done.returncode == 0 and done.stdout.strip() == "done"


@pytest.mark.parametrize("limited", [True, False], ids=["limited", "unlimited"])
def test_file_size_is_limited(isolation, course, limited):
    """Can a student's code write a 5 MB file under a 1 MB file-size limit?"""
    code = """
        try:
            with open("big.bin", "wb") as handle:
                handle.write(bytes(5 * 1024 * 1024))
        except OSError:
            print("blocked")
        else:
            print("done")
    """
    result = outcome(code, course / "autograded" / "alice" / "lab", True,
                     max_file_mb=1 if limited else 0)
    assert result == ("blocked" if limited else "done")


ESCAPEE = """
    import os, sys, time
    if os.fork() == 0:
        os.setsid()                      # leaves the process group the grader kills
        if os.fork() == 0:
            deadline = time.monotonic() + {lifetime}
            while time.monotonic() < deadline:
                with open("heartbeat", "w") as handle:
                    handle.write(str(time.monotonic()))
                time.sleep(0.05)
        os._exit(0)
    time.sleep(60)
"""


@pytest.mark.parametrize("isolate", [True, False], ids=["sandbox", "not-isolated"])
def test_killing_the_sandbox_kills_everything_in_it(isolation, course, tmp_path, isolate, wait_until):
    """A student's process that starts its own session survives a kill of the grader's
    process group, unless the PID namespace takes it down with the sandbox."""
    mine = course / "autograded" / "alice" / "lab"
    heartbeat = mine / "heartbeat"
    state = tmp_path / "state"
    state.mkdir()
    with SandboxUser([str(mine), str(state)] if isolate else []) as user:
        command = sandbox_command([sys.executable, "-c", textwrap.dedent(ESCAPEE.format(lifetime=20))],
                                  str(mine), isolate=isolate, uid=user.uid, state_dir=str(state))
        process = subprocess.Popen(command, env=sandbox_env(isolated=isolate),
                                   start_new_session=True, stdout=subprocess.DEVNULL)
        try:
            assert wait_until(heartbeat.exists, timeout=60), "the escapee never started"
            sandbox_module._kill_group(process.pid)  # what the kernel manager does
            process.wait(timeout=30)
            time.sleep(0.5)
            before = heartbeat.read_text()
            time.sleep(0.6)
            still_running = heartbeat.read_text() != before
        finally:
            sandbox_module._kill_group(process.pid)
        assert still_running == (not isolate)
        if not isolate:  # let the escapee (bounded at 20 s) finish before tmp_path goes
            assert wait_until(lambda: time.monotonic() - float(heartbeat.read_text() or 0) > 1,
                              timeout=30)


def test_bound_paths_never_include_the_hidden_checks(tmp_path, monkeypatch):
    """Is a read-only path or a working folder that contains the hidden checks refused?"""
    checks = tmp_path / "checkout" / "autograder"
    checks.mkdir(parents=True)
    monkeypatch.setenv("GANLAB_AUTOGRADER", str(checks))
    with pytest.raises(ValueError, match="hidden checks"):
        library_paths(extra=[str(tmp_path / "checkout")])
    with pytest.raises(ValueError, match="hidden checks"):
        sandbox_command(["true"], str(tmp_path), state_dir=str(tmp_path), uid=2_000_000_000)
    monkeypatch.delenv("GANLAB_AUTOGRADER")
    shown = library_paths()
    assert str(sandbox_module._KIT_DIR) in shown  # the kit's package folder ...
    assert not any(str(REPOSITORY / "autograder").startswith(path) for path in shown)  # ... only


def test_user_namespace_flavour_isolates_too(isolation, course, monkeypatch):
    """Started by a normal user, the sandbox maps its user through a user namespace
    (no uid switch). Is the course still hidden and the network still off?"""
    monkeypatch.setattr(sandbox_module, "_running_as_root", lambda: False)
    mine = course / "autograded" / "alice" / "lab"
    code = """
        import os, socket
        seen = [p for p in ("../../../gradebook.db", "../../bob/lab/lab.ipynb") if os.path.exists(p)]
        open("answer.txt", "w").write("mine")
        print(os.getuid(), len(seen), os.path.exists("/work") and sorted(os.listdir("/")))
    """
    done = probe(code, mine, isolate=True)
    uid, seen = done.stdout.split()[:2]
    assert done.returncode == 0, done.stderr
    assert (uid, seen) == ("1000", "0") and (mine / "answer.txt").exists()


# --------------------------------------------------------------------------- fallback

def test_required_isolation_refuses_without_bubblewrap(tmp_path):
    """With Sandbox.mode = 'require' and no bubblewrap, does the kernel manager refuse?"""
    from traitlets.config import Config

    manager = BlockingSandboxedKernelManager(config=Config(
        {"Sandbox": {"mode": "require", "bwrap": "no-such-bwrap-program"}}))
    with pytest.raises(SandboxUnavailable, match="not installed"):
        manager.start_kernel(cwd=str(tmp_path))
    assert manager.isolated is False


def test_missing_bubblewrap_is_reported():
    """Does isolation_status say why isolation is unavailable?"""
    available, reason = isolation_status("no-such-bwrap-program")
    assert available is False and "not installed" in reason


# --------------------------------------------------------------------------- kernels

def notebook_client(workdir: Path, *sources: str, timeout: float = 120, config=None, **traits):
    """An nbclient for ``sources`` as cells, with a SandboxedKernelManager (as nbgrader makes
    it: from the config) whose traits are set to ``traits``; returns (client, manager)."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = NotebookClient(notebook, kernel_manager_class=SandboxedKernelManager,
                            timeout=timeout, allow_errors=True, config=Config(config or {}),
                            resources={"metadata": {"path": str(workdir)}})
    manager = client.create_kernel_manager()
    for name, value in traits.items():
        setattr(manager, name, value)
    return client, manager


def run_cells(workdir: Path, *sources: str, **options):
    """Execute ``sources`` in a sandboxed kernel; returns (texts of the cells' outputs, manager)."""
    client, manager = notebook_client(workdir, *sources, **options)
    client.execute()
    texts = ["".join(output.get("text", "") or "\n".join(output.get("traceback", []))
                     for output in cell.outputs) for cell in client.nb.cells]
    return texts, manager


@pytest.mark.slow
def test_sandboxed_kernel_runs_in_the_submission_folder(isolation, course, tmp_path):
    """Does a kernel of SandboxedKernelManager run code in the submission folder, over
    unix sockets, with the course hidden and the grader's folder at $GANLAB_GRADER_DIR,
    where it can connect to the grader's socket?"""
    grader = tmp_path / "grader"
    grader.mkdir()
    (grader / "ready").write_text("grader here")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(grader / "checker.sock"))
    os.chmod(grader / "checker.sock", 0o666)  # as the checker does
    listener.listen(1)
    received = []

    def accept():
        listener.settimeout(120)
        connection, _ = listener.accept()
        received.append(connection.recv(100))
        connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    mine = course / "autograded" / "alice" / "lab"
    outputs, manager = run_cells(
        mine,
        "import os; print(os.getcwd()); print(os.environ['GANLAB_GRADER_DIR'])",
        "print(open(os.path.join(os.environ['GANLAB_GRADER_DIR'], 'ready')).read())",
        "open('from_kernel.txt', 'w').write('written'); print(os.path.exists('../../../gradebook.db'))",
        "import socket\nsock = socket.socket(socket.AF_UNIX)\n"
        "sock.connect(os.path.join(os.environ['GANLAB_GRADER_DIR'], 'checker.sock'))\n"
        "sock.sendall(b'plain data'); sock.close()",
        grader_socket_dir=str(grader))
    thread.join(timeout=30)
    listener.close()
    assert manager.isolated is True and manager.transport == "ipc"
    assert outputs[0].split() == [str(mine.resolve()), SANDBOX_GRADER_DIR]
    assert outputs[1].strip() == "grader here"
    assert outputs[2].strip() == "False"
    assert (mine / "from_kernel.txt").read_text() == "written"
    assert received == [b"plain data"], outputs[3]


@pytest.mark.slow
def test_kernel_cell_can_be_interrupted(isolation, course):
    """nbgrader interrupts a cell past its timeout: does SIGINT reach the sandboxed kernel,
    and does the kernel run the next cell?"""
    client, manager = notebook_client(course / "autograded" / "alice" / "lab",
                                      "import time; time.sleep(120)", "print('next')", timeout=10)
    client.interrupt_on_timeout = True
    notebook = client.nb
    started = time.monotonic()
    client.execute()
    assert time.monotonic() - started < 100
    assert "KeyboardInterrupt" in "".join(notebook.cells[0].outputs[0].get("ename", ""))
    assert notebook.cells[1].outputs[0]["text"].strip() == "next"


@pytest.mark.slow
def test_kernel_memory_hog_fails_and_kernel_survives(isolation, course):
    """A cell that allocates 2 GB under a 512 MB limit (set as nbgrader's config would:
    c.Sandbox.memory_mb) gets a MemoryError; the kernel lives on."""
    outputs, _ = run_cells(course / "autograded" / "alice" / "lab",
                           "hog = bytearray(2 * 1024 ** 3)", "print('alive')",
                           config={"Sandbox": {"memory_mb": 512}})
    assert "MemoryError" in outputs[0] and outputs[1].strip() == "alive"


@pytest.mark.slow
def test_wall_clock_kills_the_submission(isolation, course):
    """Is a kernel killed at Sandbox.wall_seconds, whatever its cell does? (On a loaded
    machine the kernel may not even have started by then: that counts too.)"""
    from nbclient.exceptions import DeadKernelError

    client, manager = notebook_client(course / "autograded" / "alice" / "lab",
                                      "import time\nwhile True: time.sleep(0.1)", timeout=120,
                                      config={"Sandbox": {"wall_seconds": 8}})
    started = time.monotonic()
    with pytest.raises((DeadKernelError, RuntimeError), match="[Kk]ernel died"):
        client.execute()
    assert manager.wall_clock_expired is True
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_torch_imports_under_the_default_limits(isolation, course):
    """Does the lab's stack (torch, the kit) import and run in a sandboxed kernel with the
    shipped default limits?"""
    outputs, manager = run_cells(course / "autograded" / "alice" / "lab",
                                 "import torch, ganlab_kit.torch_gan\ntorch.set_num_threads(1)\n"
                        "print(float(torch.ones(3, 3).sum()))")
    assert manager.isolated is True
    assert outputs[0].strip() == "9.0"


@pytest.mark.slow
@pytest.mark.keras
def test_tensorflow_imports_under_the_default_limits(isolation, course):
    """Does Keras on TensorFlow import and build a model in a sandboxed kernel with the
    shipped default limits?"""
    outputs, manager = run_cells(course / "autograded" / "alice" / "lab",
                                 "import os; os.environ['KERAS_BACKEND'] = 'tensorflow'\n"
                        "import keras, tensorflow as tf\n"
                        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])\n"
                        "print(tuple(model(tf.zeros((2, 4))).shape))", timeout=300)
    assert manager.isolated is True
    assert outputs[0].strip().splitlines()[-1] == "(2, 3)"


@pytest.mark.slow
def test_isolation_off_warns_once_and_marks_the_kernel(course, capfd, monkeypatch):
    """With Sandbox.mode = 'off', does grading still run, print one clear warning for any
    number of kernels, and say isolated = False (the gradebook is then readable)?"""
    monkeypatch.setattr(sandbox_module, "_WARNED", set())
    mine = course / "autograded" / "alice" / "lab"
    for _ in range(2):
        outputs, manager = run_cells(mine, "import os; print(os.path.exists('../../../gradebook.db'))",
                                     config={"Sandbox": {"mode": "off"}})
        assert manager.isolated is False and "switched off" in manager.isolation_reason
        assert outputs[0].strip() == "True"
    assert capfd.readouterr().err.count("NOT ISOLATED") == 1


def test_missing_bubblewrap_falls_back_with_a_warning(capfd, monkeypatch):
    """In the default mode, without bubblewrap, does the kernel manager still run the kernel
    unsandboxed, say isolated = False with the reason, and warn once?"""
    from traitlets.config import Config

    monkeypatch.setattr(sandbox_module, "_WARNED", set())
    for _ in range(2):
        manager = SandboxedKernelManager(config=Config({"Sandbox": {"bwrap": "no-such-bwrap-program"}}))
        manager._decide_isolation()
        assert manager.isolated is False and "not installed" in manager.isolation_reason
    err = capfd.readouterr().err
    assert err.count("NOT ISOLATED") == 1 and "bubblewrap" in err


UNPRIVILEGED_PROBE = """
    import os, socket, time
    seen = os.path.exists("../../../gradebook.db")
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=2).close()
        network = True
    except OSError:
        network = False
    children = []
    for _ in range(40):
        try:
            pid = os.fork()
        except OSError:
            continue
        if pid == 0:
            time.sleep(1)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    open("answer.txt", "w").write("mine")
    print(seen, network, len(children))
"""


def test_an_unprivileged_instructor_gets_the_same_sandbox(isolation, monkeypatch):
    """Started by a normal user (here `nobody`, through setpriv), with no root anywhere: is
    the course hidden, the network off, and a fork loop stopped at max_processes? (The
    kernel's Python is Debian's /usr/bin/python3: this checkout's interpreter may lie in a
    folder that user cannot enter.)"""
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs root (to become another user with setpriv) and /usr/bin/python3")
    monkeypatch.setattr(sandbox_module, "_running_as_root", lambda: False)
    monkeypatch.setattr(sandbox_module, "library_paths", lambda *a, **k: [str(sandbox_module._KIT_DIR)])
    root = Path(tempfile.mkdtemp(prefix="ganlab-unprivileged-"))
    try:
        mine = root / "course" / "autograded" / "alice" / "lab"
        mine.mkdir(parents=True)
        (root / "state").mkdir()
        (root / "course" / "gradebook.db").write_text("GRADES")
        subprocess.run(["chown", "-R", "65534:65534", str(root)], check=True)
        root.chmod(0o755)
        command = sandbox_command(["/usr/bin/python3", "-c", textwrap.dedent(UNPRIVILEGED_PROBE)],
                                  str(mine), sandbox=Sandbox(max_processes=12),
                                  state_dir=str(root / "state"), python="/usr/bin/python3")
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                               *command], capture_output=True, text=True, timeout=120, cwd="/",
                              env=sandbox_env(isolated=True))
        assert done.returncode == 0, done.stderr
        seen, network, forked = done.stdout.split()
        assert (seen, network) == ("False", "False") and int(forked) < 12
        assert (mine / "answer.txt").stat().st_uid == 65534  # written as the instructor
    finally:
        shutil.rmtree(root, ignore_errors=True)
