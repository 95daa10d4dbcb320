"""Isolated execution of student code: a bubblewrap sandbox with resource limits, no Docker.

Every grading kernel runs in its own sandbox (Linux namespaces through Debian's
``bubblewrap``): no network, its own process tree, and a file system that holds only

- its private submission folder, read-write (the kernel's working directory, e.g. nbgrader's
  ``autograded/<student>/<lab>/``);
- read-only library paths: ``/usr``, ``/lib*``, a few files of ``/etc``, the Python prefix and
  base interpreter, the virtual environment, the kit's package folder ``ganlab_kit/`` (not the
  repository around it, which holds ``autograder/``) and :attr:`Sandbox.read_only_paths`;
- a private ``/tmp`` and ``HOME`` of bounded size, and the folder of its kernel's sockets;
- the grader's socket folder (:attr:`SandboxedKernelManager.grader_socket_dir`) at
  ``/run/ganlab-grader``.

Limits per kernel (:class:`Sandbox`): memory, CPU seconds, processes, file size, and a
wall-clock limit per submission. The sandboxed user is never root: started by root, the
sandbox runs as a fresh unprivileged uid per kernel (so RLIMIT_NPROC counts only that
sandbox's processes, which it would not for root); started by a normal user, it runs in a
user namespace where the same holds.

Where the mechanism is missing (no ``bwrap``, no user namespaces, macOS, Windows), grading
still runs with the limits but without isolation, a warning is printed once, and the kernel
manager says ``isolated = False`` so the report can mark its results "not isolated".

    c.Execute.kernel_manager_class = "ganlab_kit.grading.sandbox.SandboxedKernelManager"
    c.Sandbox.memory_mb = 4096
"""
from __future__ import annotations

import fcntl
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_core.utils import run_sync
from traitlets import Bool, Enum, HasTraits, Int, List as ListTrait, Unicode, default
from traitlets.config import Configurable

__all__ = [
    "Sandbox", "SandboxedKernelManager", "AsyncSandboxedKernelManager",
    "BlockingSandboxedKernelManager", "SandboxUnavailable",
    "isolation_status", "sandbox_command", "sandbox_env", "run_sandboxed", "SandboxUser",
    "GRADER_DIR_ENV", "SANDBOX_GRADER_DIR", "KEPT_ENV",
]

#: Environment variable that tells the kernel where the grader's sockets are.
GRADER_DIR_ENV = "GANLAB_GRADER_DIR"
#: Where the grader's socket folder appears inside the sandbox.
SANDBOX_GRADER_DIR = "/run/ganlab-grader"
#: Variables of the grader's environment that the kernel keeps (all others are dropped:
#: no instructor secrets, no GANLAB_AUTOGRADER, no JPY_PARENT_PID).
KEPT_ENV = ("GANLAB_MAX_STEPS", "OMP_NUM_THREADS", "NBGRADER_EXECUTION", "MPLBACKEND",
            "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "PYTHONHASHSEED")
#: The sandboxed user's name and home (inside the sandbox).
SANDBOX_USER = "student"
SANDBOX_HOME = "/tmp/home"
#: Files of /etc a Python kernel needs (the rest of /etc is not visible).
ETC_FILES = ("hosts", "nsswitch.conf", "host.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
             "localtime", "timezone", "os-release", "mime.types", "fonts", "ssl",
             "ca-certificates", "alternatives", "matplotlibrc", "gai.conf")
_LIMITS_SCRIPT = Path(__file__).with_name("_limits.py")
_KIT_DIR = Path(__file__).resolve().parent.parent  # ganlab_kit/


class SandboxUnavailable(RuntimeError):
    """``Sandbox.mode = "require"`` but this machine cannot isolate student code."""


class Sandbox(Configurable):
    """Isolation and resource limits of each grading kernel (``c.Sandbox.<name>``)."""

    mode = Enum(["auto", "require", "off"], default_value="auto", config=True, help=(
        "'auto': isolate student code where bubblewrap and user namespaces work, else grade "
        "without isolation and warn; 'require': refuse to grade without isolation; 'off': "
        "never isolate (results are marked 'not isolated')."))
    memory_mb = Int(4096, config=True, help=(
        "Memory of each sandboxed process in MB (RLIMIT_DATA: heap, stacks and private "
        "mappings; its address space is capped at this plus 4 GB). 0 = unlimited."))
    cpu_seconds = Int(1800, config=True, help=(
        "CPU seconds the kernel may use over the whole submission (RLIMIT_CPU); it is "
        "killed past them. 0 = unlimited."))
    max_processes = Int(512, config=True, help=(
        "Processes and threads the sandbox may run at once (RLIMIT_NPROC, counted for the "
        "sandbox's own user): stops a fork bomb. Leave room for library threads. 0 = unlimited."))
    max_file_mb = Int(512, config=True, help=(
        "Largest file the kernel may write, in MB (RLIMIT_FSIZE). 0 = unlimited."))
    wall_seconds = Int(3600, config=True, help=(
        "Wall-clock seconds per submission: the kernel and everything it started are killed "
        "this long after it started (restarts included). 0 = unlimited."))
    tmp_mb = Int(512, config=True, help=(
        "Size in MB of the sandbox's private /tmp (which also holds its HOME) and /dev/shm. "
        "They live in memory."))
    read_only_paths = ListTrait(Unicode(), config=True, help=(
        "More host folders the kernel may read (data sets outside /usr, another library "
        "prefix). They are refused if they contain the hidden checks."))
    keep_env = ListTrait(Unicode(), config=True, help=(
        "More environment variables passed to the kernel, besides " + ", ".join(KEPT_ENV) + "."))
    bwrap = Unicode("bwrap", config=True, help="The bubblewrap program (name on PATH or path).")
    uid_base = Int(2_000_000_000, config=True, help=(
        "Started as root, each sandbox runs as its own unused uid from uid_base up to "
        "uid_base + 9999 (no such user exists on the machine)."))

    def limit_arguments(self, relative_processes: bool = False) -> List[str]:
        """Command-line options of the launcher (``_limits.py``) for these limits."""
        arguments = ["--memory-mb", str(self.memory_mb), "--cpu-seconds", str(self.cpu_seconds),
                     "--max-processes", str(self.max_processes),
                     "--max-file-mb", str(self.max_file_mb)]
        if relative_processes:
            arguments.append("--relative-processes")
        return arguments


# --------------------------------------------------------------------------- availability

_WARNED: set = set()


def _warn_once(message: str) -> None:
    """Print ``message`` to stderr once per process (the same reason is not repeated)."""
    if message in _WARNED:
        return
    _WARNED.add(message)
    print(f"ganlab: WARNING: {message}", file=sys.stderr, flush=True)


def not_isolated_warning(reason: str) -> str:
    """The one-time warning printed when student code runs without isolation."""
    return (f"student code runs NOT ISOLATED ({reason}). It can read and change whatever this "
            "user can (the hidden checks, other students' files, the gradebook) and reach the "
            "network; results are marked 'not isolated'. On Linux, install bubblewrap "
            "(apt-get install bubblewrap) to isolate grading; set Sandbox.mode = 'require' to "
            "refuse grading without it.")


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@functools.lru_cache(maxsize=None)
def _bwrap_features(bwrap: str) -> Tuple[Optional[str], bool]:
    """``(path of bwrap or None, whether it knows --disable-userns)``."""
    path = shutil.which(bwrap)
    if path is None:
        return None, False
    try:
        text = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return path, "--disable-userns" in text


@functools.lru_cache(maxsize=None)
def _probe(bwrap: str) -> Tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap sandboxes need Linux, this is {sys.platform}"
    path, _ = _bwrap_features(bwrap)
    if path is None:
        return False, f"{bwrap!r} (bubblewrap) is not installed"
    with tempfile.TemporaryDirectory(prefix="ganlab-probe-") as folder:
        command = _bwrap_prefix(bwrap, folder, uid=_PROBE_UID if _running_as_root() else None,
                                tmp_mb=16)
        command += ["--", "/bin/sh", "-c", "exit 0"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30,
                                  env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.SubprocessError) as error:
            return False, f"bubblewrap could not start: {error}"
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return False, f"bubblewrap cannot create a sandbox here (user namespaces off?): {detail}"
    return True, f"bubblewrap sandbox ({path})"


_PROBE_UID = 2_000_009_999


def isolation_status(bwrap: str = "bwrap") -> Tuple[bool, str]:
    """``(True, what isolates)`` when student code can be sandboxed here, else
    ``(False, why not)``. Checked once per process by starting an empty sandbox."""
    return _probe(bwrap)


# --------------------------------------------------------------------------- the command

def _unique_roots(paths: Iterable[str]) -> List[str]:
    """Existing real paths, without those inside another one of the list, in order."""
    real = []
    for path in paths:
        if not path:
            continue
        resolved = os.path.realpath(path)
        if os.path.exists(resolved) and resolved not in real:
            real.append(resolved)
    return [path for path in real
            if not any(other != path and _is_within(path, other) for other in real)]


def _is_within(path: str, folder: str) -> bool:
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


def protected_paths() -> List[str]:
    """Host paths no sandbox may see: the hidden checks (``$GANLAB_AUTOGRADER`` and the
    checkout's ``autograder/``)."""
    paths = [os.environ.get("GANLAB_AUTOGRADER", ""), str(_KIT_DIR.parent / "autograder")]
    return [os.path.realpath(path) for path in paths if path and os.path.exists(path)]


def _check_exposure(folders: Iterable[str], protected: Sequence[str]) -> None:
    for folder in folders:
        for secret in protected:
            if _is_within(secret, os.path.realpath(folder)):
                raise ValueError(f"refusing to show {folder} to student code: it contains "
                                 f"{secret} (hidden checks)")


def library_paths(python: Optional[str] = None, extra: Iterable[str] = ()) -> List[str]:
    """Read-only host folders a sandboxed Python kernel needs: the Python prefixes (the
    venv and its base interpreter), the kit's package folder and ``extra``; folders
    already inside ``/usr`` are left out (``/usr`` is bound whole)."""
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
                  str(_KIT_DIR)]
    if python:
        for candidate in (python, os.path.realpath(python)):
            candidates.append(os.path.dirname(os.path.dirname(os.path.abspath(candidate))))
    candidates += list(extra)
    paths = [path for path in _unique_roots(candidates)
             if not _is_within(path, "/usr") and path != "/"]
    _check_exposure(paths, protected_paths())
    return paths


def sandbox_env(environ: Optional[Mapping[str, str]] = None, *, keep: Iterable[str] = (),
                grader_dir: Optional[str] = None, python: Optional[str] = None,
                isolated: bool = True) -> Dict[str, str]:
    """The kernel's whole environment: the allow-listed variables of ``environ`` (by
    default this process's), a private HOME, a plain PATH and ``GANLAB_GRADER_DIR``."""
    environ = os.environ if environ is None else environ
    bin_dir = os.path.dirname(os.path.abspath(python or sys.executable))
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([bin_dir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "LANG": "C.UTF-8",
    }
    if isolated:
        env.update(HOME=SANDBOX_HOME, USER=SANDBOX_USER, LOGNAME=SANDBOX_USER, TMPDIR="/tmp")
    else:
        for name in ("HOME", "USER", "LOGNAME", "TMPDIR", "SYSTEMROOT"):
            if name in environ:
                env[name] = environ[name]
    for name in (*KEPT_ENV, *keep):
        if name in environ and name != "GANLAB_AUTOGRADER":
            env[name] = environ[name]
    if grader_dir:
        env[GRADER_DIR_ENV] = SANDBOX_GRADER_DIR if isolated else os.path.abspath(grader_dir)
    return env


def _user_files(uid: int, gid: int) -> Tuple[str, str]:
    """A minimal /etc/passwd and /etc/group naming the sandbox's user."""
    passwd = (f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
              f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    group = "root:x:0:\nnogroup:x:65534:\n"
    if uid not in (0, 65534):
        passwd += f"{SANDBOX_USER}:x:{uid}:{gid}:{SANDBOX_USER}:{SANDBOX_HOME}:/bin/sh\n"
    if gid not in (0, 65534):
        group += f"{SANDBOX_USER}:x:{gid}:\n"
    return passwd, group


def _bwrap_prefix(bwrap: str, state_dir: str, *, uid: Optional[int], tmp_mb: int,
                  new_session: bool = True) -> List[str]:
    """bubblewrap's options up to the file system: namespaces, users, /usr, /etc, /dev,
    /proc, /tmp. ``uid``: the host uid to run as when started by root (None otherwise)."""
    path, disable_userns = _bwrap_features(bwrap)
    command = [path or bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--hostname", "sandbox"]
    if new_session:
        command.append("--new-session")
    if uid is not None:
        # Root: no user namespace (its processes would still count as host root, which
        # RLIMIT_NPROC does not limit); keep only the capability to drop to ``uid``.
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        sandbox_uid = sandbox_gid = uid
    else:
        sandbox_uid = sandbox_gid = 1000
        command += ["--unshare-user", "--uid", str(sandbox_uid), "--gid", str(sandbox_gid)]
        if disable_userns:
            command.append("--disable-userns")
    command += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            command += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            command += ["--ro-bind", host, host]
    for name in ETC_FILES:
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    passwd, group = _user_files(sandbox_uid, sandbox_gid)
    for name, text in (("passwd", passwd), ("group", group)):
        file = os.path.join(state_dir, name)
        with open(file, "w") as handle:
            handle.write(text)
        os.chmod(file, 0o644)
        command += ["--ro-bind", file, f"/etc/{name}"]
    size = str(max(tmp_mb, 1) * 1024 * 1024)
    # /tmp is world-writable and sticky as usual; the launcher makes HOME (/tmp/home) as
    # the sandbox's user. Both tmpfs live in memory, hence their size.
    command += ["--proc", "/proc", "--dev", "/dev",
                "--size", size, "--perms", "1777", "--tmpfs", "/dev/shm",
                "--size", size, "--perms", "1777", "--tmpfs", "/tmp"]
    return command


def sandbox_command(argv: Sequence[str], workdir: str, *, sandbox: Optional[Sandbox] = None,
                    isolate: bool = True, uid: Optional[int] = None,
                    state_dir: Optional[str] = None, grader_socket_dir: Optional[str] = None,
                    read_write: Iterable[str] = (), env: Optional[Mapping[str, str]] = None,
                    python: Optional[str] = None, new_session: bool = True) -> List[str]:
    """The command line that runs ``argv`` in ``workdir`` sandboxed, with the limits of
    ``sandbox`` (defaults: a fresh :class:`Sandbox`).

    ``isolate=False`` gives the same command without bubblewrap (limits only). Started by
    root, pass ``uid`` (see :class:`SandboxUser`): the sandbox runs as that uid. ``state_dir``
    (a private host folder) receives the sandbox's passwd/group files and is bound
    read-write at its own path, like ``read_write`` (e.g. the kernel's socket folder).
    ``grader_socket_dir`` appears at ``/run/ganlab-grader``. ``env`` is the whole
    environment of ``argv`` (default :func:`sandbox_env`).
    """
    sandbox = sandbox or Sandbox()
    python = python or sys.executable
    workdir = os.path.realpath(workdir)
    grader_dir = os.path.realpath(grader_socket_dir) if grader_socket_dir else None
    if env is None:
        env = sandbox_env(keep=sandbox.keep_env, grader_dir=grader_dir, python=python,
                          isolated=isolate)
    launcher = [python, "-I", "-S", str(_LIMITS_SCRIPT),
                *sandbox.limit_arguments(relative_processes=not isolate),
                "--chdir", workdir, "--clearenv"]
    launcher += [f"--setenv={name}={value}" for name, value in env.items()]
    if not isolate:
        return [*launcher, "--", *argv]
    if _running_as_root() and uid is None:
        raise ValueError("started as root, a sandbox needs its own uid (see SandboxUser)")
    protected = protected_paths()
    _check_exposure([workdir, *read_write, *([grader_dir] if grader_dir else [])], protected)
    if state_dir is None:
        raise ValueError("sandbox_command needs a private state_dir")
    command = _bwrap_prefix(sandbox.bwrap, state_dir, uid=uid if _running_as_root() else None,
                            tmp_mb=sandbox.tmp_mb, new_session=new_session)
    for path in library_paths(python, sandbox.read_only_paths):
        command += ["--ro-bind", path, path]
    if not any(_is_within(str(_LIMITS_SCRIPT), path) for path in library_paths(python)):
        command += ["--ro-bind", str(_LIMITS_SCRIPT), str(_LIMITS_SCRIPT)]
    for path in [state_dir, *read_write]:
        command += ["--bind", os.path.realpath(path), os.path.realpath(path)]
    command += ["--bind", workdir, workdir]
    if grader_dir:
        command += ["--bind", grader_dir, SANDBOX_GRADER_DIR]
    # bubblewrap makes the folders leading to a bound path private (0700) when root runs
    # it; the sandbox's user must pass through them (they hold nothing but the path).
    command += [item for folder in _ancestors(command) for item in ("--chmod", "0755", folder)]
    # Nothing else may be created: the root and /dev become read-only (their tmpfs would
    # otherwise be an unbounded place to fill memory).
    # (No --chdir: bubblewrap itself has no right to enter a folder of the sandbox's user;
    # the launcher changes to ``workdir`` once it is that user.)
    command += ["--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for name, value in env.items():
        command += ["--setenv", name, value]
    if _running_as_root():
        launcher[4:4] = ["--setuid", str(uid), "--setgid", str(uid)]
    return [*command, "--", *launcher, "--", *argv]


def _ancestors(command: Sequence[str]) -> List[str]:
    """Folders bubblewrap creates on the way to the bind destinations of ``command``."""
    destinations = [command[index + 2] for index, item in enumerate(command)
                    if item in ("--bind", "--ro-bind", "--ro-bind-try") and index + 2 < len(command)]
    mounts = set(destinations) | {"/", "/tmp", "/dev", "/proc", "/dev/shm"}
    folders: List[str] = []
    for destination in destinations:
        parent = os.path.dirname(destination)
        while (parent not in mounts and parent not in folders and parent != "/"
               and not any(_is_within(parent, mount) for mount in destinations)):
            folders.append(parent)
            parent = os.path.dirname(parent)
    return sorted(folders, key=lambda folder: folder.count("/"))


# --------------------------------------------------------------------------- users

class SandboxUser:
    """Started as root, a sandbox runs as a uid of its own: this picks a free one (a lock
    file held while the sandbox lives), hands it the folders the sandbox may write, and
    gives them back to their owner on :meth:`release`. Started by a normal user, it does
    nothing (``uid`` is None): the user namespace maps the sandbox to that user."""

    def __init__(self, writable: Iterable[str] = (), uid_base: int = 2_000_000_000,
                 lock_dir: Optional[str] = None) -> None:
        self.uid: Optional[int] = None
        self._lock = None
        self._owners: Dict[str, Tuple[int, int]] = {}
        if not _running_as_root():
            return
        lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), "ganlab-sandbox-uids")
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        for offset in range(10_000):
            handle = open(os.path.join(lock_dir, f"{uid_base + offset}.lock"), "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.uid, self._lock = uid_base + offset, handle
            break
        else:
            raise RuntimeError(f"no free sandbox uid from {uid_base}")
        for folder in writable:
            self.give(folder)

    def give(self, folder: str) -> None:
        """Make ``folder`` (recursively) the sandbox user's; remembered for :meth:`release`."""
        if self.uid is None or not folder:
            return
        folder = os.path.realpath(folder)
        info = os.stat(folder)
        self._owners.setdefault(folder, (info.st_uid, info.st_gid))
        _chown_tree(folder, self.uid, self.uid)

    def release(self) -> None:
        """Give the folders back to their owners and free the uid."""
        for folder, (owner, group) in self._owners.items():
            if os.path.exists(folder):
                _chown_tree(folder, owner, group)
        self._owners.clear()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "SandboxUser":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _chown_tree(folder: str, uid: int, gid: int) -> None:
    try:
        os.chown(folder, uid, gid, follow_symlinks=False)
    except FileNotFoundError:
        return  # removed meanwhile (a grader's temporary folder)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
            except FileNotFoundError:
                continue


def run_sandboxed(argv: Sequence[str], workdir: str, *, timeout: Optional[float] = None,
                  sandbox: Optional[Sandbox] = None, isolate: Optional[bool] = None,
                  grader_socket_dir: Optional[str] = None,
                  **run_options) -> subprocess.CompletedProcess:
    """Run a plain command sandboxed (a test, a script) and return its completed process.
    ``isolate=None`` isolates when :func:`isolation_status` allows; ``timeout`` kills the
    whole sandbox."""
    sandbox = sandbox or Sandbox()
    check = run_options.pop("check", False)
    if isolate is None:
        isolate = sandbox.mode != "off" and isolation_status(sandbox.bwrap)[0]
    with tempfile.TemporaryDirectory(prefix="ganlab-sandbox-") as state_dir:
        user = SandboxUser([workdir, state_dir], uid_base=sandbox.uid_base) if isolate else SandboxUser()
        with user:
            command = sandbox_command(argv, workdir, sandbox=sandbox, isolate=isolate,
                                      uid=user.uid, state_dir=state_dir,
                                      grader_socket_dir=grader_socket_dir)
            process = subprocess.Popen(command, env=sandbox_env(isolated=isolate),
                                       start_new_session=True, **_popen_options(run_options))
            try:
                out, err = process.communicate(run_options.get("input"), timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                try:  # unsandboxed, a process that left the group may hold the pipes open
                    out, err = process.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    out = err = None
                    process.wait()
                raise subprocess.TimeoutExpired(command, timeout, out, err) from None
            if check and process.returncode:
                raise subprocess.CalledProcessError(process.returncode, command, out, err)
            return subprocess.CompletedProcess(command, process.returncode, out, err)


def _popen_options(options: dict) -> dict:
    options = dict(options)
    if "input" in options:
        options.pop("input")
        options["stdin"] = subprocess.PIPE
    if options.pop("capture_output", False):
        options.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return options


def _sandboxed_processes(bwrap_pid: int) -> List[int]:
    """Host pids of the processes bubblewrap ``bwrap_pid`` runs (its descendants, without
    bubblewrap's own monitor and init processes)."""
    children: Dict[int, List[int]] = {}
    names: Dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:]
        parent = int(rest.split()[1])
        children.setdefault(parent, []).append(int(entry))
        names[int(entry)] = name
    found, queue = [], [bwrap_pid]
    while queue:
        pid = queue.pop()
        for child in children.get(pid, []):
            queue.append(child)
            if names.get(child) != "bwrap":
                found.append(child)
    return found


def _kill_group(pid: int) -> None:
    """SIGKILL the process group of ``pid`` (bubblewrap and, with it, its PID namespace)."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


# --------------------------------------------------------------------------- kernels

class _SandboxedKernelMixin(HasTraits):
    """What :class:`SandboxedKernelManager` adds to a jupyter_client kernel manager."""

    grader_socket_dir = Unicode("", config=True, help=(
        "Host folder bound read-write at /run/ganlab-grader inside the sandbox, for the "
        "grader's RPC sockets; the kernel finds it in $GANLAB_GRADER_DIR. Its permissions "
        "still apply: started by root, the sandbox's user can use a socket there only if "
        "it is writable for others (0666). Empty: none."))
    isolated = Bool(False, help="Whether the running kernel is sandboxed (set when it starts).")
    isolation_reason = Unicode("", help="What isolates the kernel, or why it is not isolated.")
    wall_clock_expired = Bool(False, help="Whether the kernel was killed at Sandbox.wall_seconds.")
    give_workdir = Bool(True, help=(
        "Started by root: hand the working directory to the sandbox's user. A prestarted kernel "
        "(kernel_pool) keeps its bound folder root's and is given the student's folder at adoption."))

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"  # unix sockets: the sandbox has no network to carry tcp

    @property
    def sandbox(self) -> Sandbox:
        if getattr(self, "_sandbox", None) is None:
            self._sandbox = Sandbox(parent=self)
        return self._sandbox

    def _decide_isolation(self) -> None:
        mode = self.sandbox.mode
        if mode == "off":
            self.isolated, self.isolation_reason = False, "isolation switched off (Sandbox.mode = 'off')"
        else:
            self.isolated, self.isolation_reason = isolation_status(self.sandbox.bwrap)
            if not self.isolated and mode == "require":
                raise SandboxUnavailable(
                    f"Sandbox.mode = 'require' but student code cannot be isolated: "
                    f"{self.isolation_reason}")
        if not self.isolated:
            _warn_once(not_isolated_warning(self.isolation_reason))
            self.log.debug("grading kernel is not isolated: %s", self.isolation_reason)

    def _prepare_state(self) -> None:
        """The kernel's private host folder: connection file, ipc sockets, passwd."""
        if getattr(self, "_state_dir", None) is None:
            self._state_dir = tempfile.mkdtemp(prefix="ganlab-kernel-")
            if self.transport == "ipc":
                self.ip = os.path.join(self._state_dir, "kernel")
            self.connection_file = os.path.join(self._state_dir, "kernel.json")

    async def _async_pre_start_kernel(self, **kw):  # type: ignore[override]
        grader_dir = kw.pop("grader_socket_dir", None)
        if grader_dir is not None:
            self.grader_socket_dir = grader_dir
        first_start = getattr(self, "_deadline", None) is None
        if first_start:
            self._decide_isolation()
            if self.isolated and self.transport != "ipc":
                raise ValueError("a sandboxed kernel has no network: use transport = 'ipc'")
        self._prepare_state()
        workdir = kw.get("cwd") or self._empty_workdir()
        kw["cwd"] = workdir
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)  # type: ignore[misc]
        python = kernel_cmd[0] if kernel_cmd and "python" in os.path.basename(kernel_cmd[0]) else None
        grader_dir = self.grader_socket_dir or None
        env = sandbox_env(kw.get("env") or os.environ, keep=self.sandbox.keep_env,
                          grader_dir=grader_dir, python=python, isolated=self.isolated)
        if self.isolated and getattr(self, "_sandbox_user", None) is None:
            # The grader's folder is not handed over: the kernel connects to the sockets
            # there (the checker makes them 0666) but cannot replace them.
            self._sandbox_user = SandboxUser([workdir, self._state_dir] if self.give_workdir
                                             else [self._state_dir], uid_base=self.sandbox.uid_base)
            if self._sandbox_user.uid is not None:
                os.chown(self.connection_file, self._sandbox_user.uid, self._sandbox_user.uid)
        uid = self._sandbox_user.uid if self.isolated else None
        kernel_cmd = sandbox_command(kernel_cmd, workdir, sandbox=self.sandbox,
                                     isolate=self.isolated, uid=uid, state_dir=self._state_dir,
                                     grader_socket_dir=grader_dir, env=env, python=python)
        kw["env"] = sandbox_env(kw.get("env") or os.environ, isolated=self.isolated)
        if first_start:
            self._deadline = (time.monotonic() + self.sandbox.wall_seconds
                              if self.sandbox.wall_seconds else float("inf"))
        return kernel_cmd, kw

    def _empty_workdir(self) -> str:
        """No working directory given: an empty private one (never the grader's own)."""
        path = os.path.join(self._state_dir, "work")
        os.makedirs(path, exist_ok=True)
        return path

    async def _async_post_start_kernel(self, **kw):  # type: ignore[override]
        await super()._async_post_start_kernel(**kw)  # type: ignore[misc]
        self._start_wall_clock()

    def _start_wall_clock(self) -> None:
        self._stop_wall_clock()
        remaining = self._deadline - time.monotonic()
        if remaining == float("inf"):
            return
        timer = threading.Timer(max(remaining, 0.0), self._wall_clock_reached)
        timer.daemon = True
        timer.start()
        self._wall_timer = timer

    def _stop_wall_clock(self) -> None:
        timer = getattr(self, "_wall_timer", None)
        if timer is not None:
            timer.cancel()
            self._wall_timer = None

    def _wall_clock_reached(self) -> None:
        process = getattr(self.provisioner, "process", None)
        if process is None or process.poll() is not None:
            return
        self.wall_clock_expired = True
        self.log.warning("kernel killed: the submission ran past Sandbox.wall_seconds = %s",
                         self.sandbox.wall_seconds)
        _kill_group(process.pid)

    async def _async_signal_kernel(self, signum: int) -> None:  # type: ignore[override]
        """Signals other than SIGKILL go to the processes inside the sandbox: sent to the
        process group as jupyter_client does, SIGINT (an interrupt) would end bubblewrap
        itself and, with it, the whole sandbox."""
        process = getattr(self.provisioner, "process", None)
        if not self.isolated or process is None or signum == signal.SIGKILL:
            await super()._async_signal_kernel(signum)  # type: ignore[misc]
            return
        for pid in _sandboxed_processes(process.pid):
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    async def _async_kill_kernel(self, restart: bool = False) -> None:  # type: ignore[override]
        process = getattr(self.provisioner, "process", None)
        await super()._async_kill_kernel(restart=restart)  # type: ignore[misc]
        if process is not None:
            _kill_group(process.pid)  # bubblewrap's group: the whole sandbox goes

    async def _async_cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        await super()._async_cleanup_resources(restart=restart)  # type: ignore[misc]
        if not restart:
            self._release_sandbox()

    def _release_sandbox(self) -> None:
        self._stop_wall_clock()
        user = getattr(self, "_sandbox_user", None)
        if user is not None:
            user.release()
            self._sandbox_user = None
        state = getattr(self, "_state_dir", None)
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
            self._state_dir = None

    def __del__(self) -> None:
        try:
            self._release_sandbox()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
        parent_del = getattr(super(), "__del__", None)
        if parent_del is not None:
            parent_del()


class SandboxedKernelManager(_SandboxedKernelMixin, AsyncKernelManager):
    """A jupyter_client kernel manager whose kernel runs in a :class:`Sandbox`: the class for
    ``c.Execute.kernel_manager_class`` / ``c.ExecutePreprocessor.kernel_manager_class`` and
    nbclient (which needs an asyncio manager: with a blocking one it waits forever on a
    kernel that died). ``isolated`` tells whether the running kernel is sandboxed."""

    cleanup_resources = _SandboxedKernelMixin._async_cleanup_resources


#: The same class under the name of its asyncio flavour.
AsyncSandboxedKernelManager = SandboxedKernelManager


class BlockingSandboxedKernelManager(_SandboxedKernelMixin, KernelManager):
    """:class:`SandboxedKernelManager` with jupyter_client's blocking API (``start_kernel()``
    returns when the kernel runs), for scripts; not for nbclient."""

    cleanup_resources = run_sync(_SandboxedKernelMixin._async_cleanup_resources)
