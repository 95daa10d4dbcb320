"""Start-up cost of the grading sandbox, as a ratio to an unsandboxed kernel.

Starts kernels alternately with jupyter_client's plain AsyncKernelManager (nbclient's
default) and with SandboxedKernelManager (which adds bubblewrap, the limits launcher, the
uid switch and ipc sockets), runs one cell in each, shuts it down, and prints the median
seconds and their ratio: for a cell that prints, for a cell that imports torch (what every
grading kernel of the labs does), and for a bare ``python -c pass`` command run with the
limits only and fully sandboxed.

    python benchmarks/bench_sandbox.py            # 5 rounds
    python benchmarks/bench_sandbox.py --rounds 3
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from ganlab_kit.grading.sandbox import (Sandbox, SandboxedKernelManager, isolation_status,
                                        run_sandboxed)


def kernel_seconds(manager_class, folder: str, source: str) -> float:
    """Seconds from starting a kernel to the end of its shutdown, one cell run in between."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    started = time.perf_counter()
    NotebookClient(notebook, kernel_manager_class=manager_class, timeout=300,
                   resources={"metadata": {"path": folder}}).execute()  # shuts the kernel down
    seconds = time.perf_counter() - started
    assert notebook.cells[0].outputs, "the cell printed nothing"
    return seconds


def command_seconds(isolate: bool, folder: str) -> float:
    started = time.perf_counter()
    if isolate is None:
        subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=folder)
    else:
        run_sandboxed([sys.executable, "-c", "pass"], folder, isolate=isolate, check=True)
    return time.perf_counter() - started


def report(name: str, plain: list, sandboxed: list) -> None:
    a, b = statistics.median(plain), statistics.median(sandboxed)
    print(f"{name:<34} plain {a:6.2f} s   sandboxed {b:6.2f} s   ratio {b / a:5.2f}"
          f"   (+{b - a:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    available, reason = isolation_status()
    if not available:
        raise SystemExit(f"no sandbox here: {reason}")
    print(f"isolation: {reason}; defaults: memory {Sandbox().memory_mb} MB, "
          f"{Sandbox().max_processes} processes; {options.rounds} rounds, alternating")
    with tempfile.TemporaryDirectory() as folder:
        for name, source in (("kernel, print(1)", "print(1)"),
                             ("kernel, import torch", "import torch; print(torch.ones(1).sum())")):
            plain, sandboxed = [], []
            for _ in range(options.rounds):
                plain.append(kernel_seconds(AsyncKernelManager, folder, source))
                sandboxed.append(kernel_seconds(SandboxedKernelManager, folder, source))
            report(name, plain, sandboxed)
        plain, limited, sandboxed = [], [], []
        for _ in range(options.rounds * 2):
            plain.append(command_seconds(None, folder))
            limited.append(command_seconds(False, folder))
            sandboxed.append(command_seconds(True, folder))
        report("python -c pass (limits only)", plain, limited)
        report("python -c pass (sandboxed)", plain, sandboxed)
    print("Wall times on a shared machine: compare the ratio, not the seconds.")


if __name__ == "__main__":
    main()
