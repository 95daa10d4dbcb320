"""`ganlab demo` end to end, and where its minutes go.

Runs the demo as `make demo` runs it after the install (`ganlab demo`, every lab, 48 demo
students, 2 workers) in a fresh process and a throwaway folder, with `--timings`, and prints:

* the wall-clock minutes from the command's start to its exit (the issue's goal: <= 5 min on an
  idle 2-core machine), and when each lab's table appeared;
* per lab, the seconds of each phase: building the course, `nbgrader generate_assignment`, the
  hand-ins, the lab's time in the grading queue, the sum of its students' nbgrader runs,
  `generate_feedback`, `export` and the table;
* how busy the grading workers were between the first and the last student (the time the
  students' nbgrader runs add up to, divided by workers x that window), and the seconds outside
  that window (start, the first course, the last lab's feedback);
* whether every demo row got the points it should (the command's exit code).

    python benchmarks/bench_demo.py                         # every lab, 2 workers
    python benchmarks/bench_demo.py --assignment dcgan      # one lab (2 workers on its students)
    python benchmarks/bench_demo.py --workers 1

On a machine shared with other work the seconds are inflated; read the phases against each
other (and the load average printed beside them).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 300.0   # issue 24: `make demo` in <= 5 minutes after the install, 2 cores, every lab
_TABLE = re.compile(r"^Autograded points per part \((\w+)\):")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", help="only this lab (default: every lab)")
    parser.add_argument("--workers", type=int, default=2, help="grading workers (default: 2)")
    parser.add_argument("--keep", action="store_true", help="keep the demo courses (printed)")
    args = parser.parse_args()

    repository = Path(__file__).resolve().parents[1]
    ganlab = Path(sys.executable).with_name("ganlab")
    command = [os.fspath(ganlab) if ganlab.exists() else sys.executable, *([] if ganlab.exists() else
               ["-m", "ganlab_kit.cli"]), "demo", "--timings", "--workers", str(args.workers)]
    if args.assignment:
        command += ["--assignment", args.assignment]
    scratch = tempfile.mkdtemp(prefix="ganlab-bench-demo-")
    command += ["--course-dir", os.path.join(scratch, "demo-course")]
    load_before = os.getloadavg()
    started = time.perf_counter()
    shown, timings, rows, unexpected = {}, [], 0, 0
    process = subprocess.Popen(command, cwd=repository, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    in_timings = False
    for line in process.stdout:
        elapsed = time.perf_counter() - started
        match = _TABLE.match(line)
        if match:
            shown[match.group(1)] = elapsed
        if line.startswith("ganlab demo timings"):
            in_timings = True
        if in_timings:
            timings.append(line.rstrip())
        elif re.search(r"\s(ok|UNEXPECTED)( \(.*\))?$", line.rstrip()):
            rows += 1
            unexpected += "UNEXPECTED" in line
        if line.startswith("ganlab demo:") and not in_timings:
            print(f"{elapsed:7.1f} {line.rstrip()}", flush=True)
    returncode = process.wait()
    wall = time.perf_counter() - started
    load_after = os.getloadavg()

    print()
    print("\n".join(timings))
    print()
    print(f"tables shown at (s from the command's start): "
          + ", ".join(f"{lab} {seconds:.1f}" for lab, seconds in shown.items()))
    print(f"demo rows: {rows}, UNEXPECTED: {unexpected}; exit code {returncode}")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min); "
          f"{os.cpu_count()} CPUs")
    verdict = "reached" if wall <= GOAL_SECONDS else "NOT reached"
    print(f"`ganlab demo` end to end: {wall:.1f} s = {wall / 60:.2f} min with {args.workers} worker(s); "
          f"goal <= {GOAL_SECONDS / 60:.0f} min on an idle 2-core machine: {verdict} "
          f"({wall / GOAL_SECONDS:.2f} x goal)")
    if args.keep:
        print(f"courses kept in {scratch}")
    else:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
