"""Launcher of sandboxed student code: set the resource limits, drop to the sandbox's user,
then ``exec`` the real command (a Jupyter kernel, or any plain command).

It runs *inside* the sandbox, as its first process after bubblewrap's own init, so every
limit is inherited by the kernel and by whatever the kernel starts. It imports nothing from
the kit (it runs as ``python -I -S _limits.py``: no site, no environment variables read).

    python -I -S _limits.py --memory-mb 4096 --cpu-seconds 1800 --max-processes 64 \\
        --max-file-mb 256 [--setuid UID --setgid GID] [--relative-processes] \\
        [--chdir DIR] [--clearenv] [--setenv NAME=VALUE ...] -- COMMAND [ARG ...]

``--memory-mb`` sets RLIMIT_DATA (heap, thread stacks and private writable mappings: what
numpy, torch and TensorFlow allocate) and RLIMIT_AS to that plus ADDRESS_SLACK_MB, so that
shared anonymous mappings, which RLIMIT_DATA does not count, are bounded too, while the
address space libraries reserve without using still fits (a TensorFlow + Keras kernel
reserves about 1.6 GB more than its data). 0 means unlimited, for every option.
"""
import argparse
import os
import resource
import sys

MB = 1024 * 1024
#: RLIMIT_AS is the memory limit plus this: code, and address space libraries reserve but
#: never touch (allocator arenas, TensorFlow).
ADDRESS_SLACK_MB = 4096


def processes_of(uid: int) -> int:
    """How many processes (threads count too, as RLIMIT_NPROC does) ``uid`` runs now."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
        except (OSError, KeyError, ValueError):
            continue  # the process ended while we looked
    return count


def set_limit(which: int, value: int) -> None:
    """Lower soft and hard limit to ``value`` (never raise one the caller already lowered)."""
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def apply_limits(options: argparse.Namespace) -> None:
    if options.memory_mb:
        set_limit(resource.RLIMIT_DATA, options.memory_mb * MB)
        set_limit(resource.RLIMIT_AS, (options.memory_mb + ADDRESS_SLACK_MB) * MB)
    if options.cpu_seconds:
        set_limit(resource.RLIMIT_CPU, options.cpu_seconds)
    if options.max_file_mb:
        set_limit(resource.RLIMIT_FSIZE, options.max_file_mb * MB)
    set_limit(resource.RLIMIT_CORE, 0)  # a segfault leaves no core file in the submission
    if options.max_processes:
        uid = options.setuid if options.setuid is not None else os.getuid()
        extra = processes_of(uid) if options.relative_processes else 0
        set_limit(resource.RLIMIT_NPROC, options.max_processes + extra)


def drop_user(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` for good (root-started sandboxes); fail loudly if that did not work."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise SystemExit("ganlab sandbox: could not drop privileges")
    with open("/proc/self/status") as status:
        capabilities = [line.split()[1] for line in status if line.startswith(("CapEff", "CapPrm"))]
    if any(int(value, 16) for value in capabilities):
        raise SystemExit("ganlab sandbox: capabilities left after dropping privileges")
    try:
        os.setuid(0)
    except OSError:
        return
    raise SystemExit("ganlab sandbox: privileges could be regained; refusing to run")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        raise SystemExit("usage: _limits.py [options] -- COMMAND [ARG ...]")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="_limits.py")
    for name in ("--memory-mb", "--cpu-seconds", "--max-processes", "--max-file-mb"):
        parser.add_argument(name, type=int, default=0)
    parser.add_argument("--setuid", type=int, default=None)
    parser.add_argument("--setgid", type=int, default=None)
    parser.add_argument("--relative-processes", action="store_true",
                        help="limit processes to those the user runs now plus --max-processes")
    parser.add_argument("--chdir", default=None)
    parser.add_argument("--clearenv", action="store_true")
    parser.add_argument("--setenv", action="append", default=[], metavar="NAME=VALUE")
    options = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        raise SystemExit("_limits.py: no command to run")
    apply_limits(options)
    if options.setuid is not None:
        drop_user(options.setuid, options.setgid if options.setgid is not None else options.setuid)
    if options.chdir:
        os.chdir(options.chdir)
    env = {} if options.clearenv else dict(os.environ)
    for item in options.setenv:
        name, _, value = item.partition("=")
        env[name] = value
    home = env.get("HOME")
    if home and not os.path.isdir(home):
        os.makedirs(home, mode=0o700, exist_ok=True)  # the sandbox's private HOME, in its /tmp
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()
