"""Where the seconds of grading a submission go, per lab: the kit against plain nbgrader.

For each lab it builds a throwaway course, hands in the lab's demo students (the reference,
the untouched stub and its typical mistakes; ``--students N`` takes the first N, ``--copies``
hands each in several times), and grades them twice on the same submissions, one after the
other in this one run:

* **kit**: ``ganlab autograde``'s engine with 1 worker (isolated: sandboxed kernel, checker
  process, one gradebook writer); then, with ``--workers 2``, again with 2 workers;
* **plain**: plain ``nbgrader autograde LAB --force`` over the same course, unisolated (nbgrader's
  own Execute in an ordinary kernel; the grade cells run as written, in the kernel).

It prints, per lab, the median seconds per submission split into stages: scratch course,
nbgrader start, kernel start, first cell (the imports), the other notebook cells, checker,
quality scoring, nbgrader's other work (its preprocessors, kernel shutdown, writing files),
collecting the results and recording them in the gradebook; then the kit / plain ratio.
Plain nbgrader starts once for all students: its start is spread over them.

    python benchmarks/bench_autograde.py                        # every lab, every demo student
    python benchmarks/bench_autograde.py --lab pytorch_gan --students 4 --workers 2
    python benchmarks/bench_autograde.py --quick                # PyTorch lab, 4 students
    python benchmarks/bench_autograde.py --lab pytorch_gan --workers 2 --copies 13 --no-plain
                                                                # 104 PyTorch-lab submissions, 2 workers

With ``--workers 2`` it also prints, for each PyTorch lab, the minutes 100 of its submissions take
with 2 workers: measured when at least 100 were graded (``--copies``), otherwise projected from
the 2-worker seconds per submission it measured (and said to be a projection).

On a machine shared with other work the absolute seconds are inflated; the ratios, measured
side by side in one run on the same submissions, are the figures to read.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

GOALS = {"keras_gan": 10.0, "failure_modes": 10.0}   # the Keras labs: s per submission, isolated, idle 2 cores
GOAL_DEFAULT = 5.0            # the PyTorch labs
CLASS_SIZE, CLASS_GOAL_MINUTES = 100, 5.0   # 100 PyTorch-lab submissions in <= 5 min with 2 workers
PLAIN_CONFIG = '''
# benchmarks/bench_autograde.py: plain nbgrader (its own Execute, no sandbox, no checker
# process) with timing marks only
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)
from ganlab_kit.grading.execute import TimedExecute
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]
c.Autograde.autograde_preprocessors = [TimedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
'''


def build_course(repository, root: Path, lab: str, students: int, copies: int):
    """A course of ``lab`` with its first ``students`` demo students, each handed in ``copies`` times."""
    from ganlab_kit.grading.course import Course
    from ganlab_kit.grading.demo import hand_in
    from ganlab_kit.grading.submissions import load_submissions

    course = Course.create(root, repository, [lab], course_id="ganlab-bench")
    course.generate_assignment(lab)
    submissions = load_submissions(repository.autograder / lab)[:students or None]
    hand_in(course, lab, submissions)
    # what the demo's table expects of each student (its copies alike): the bench checks its points
    from ganlab_kit.grading.demo import check_catalogue, expected_points

    cells = course.grade_cells(lab)
    catalogue = check_catalogue(cells, repository)
    course.expected = {}
    for submission in submissions:
        total = sum(expected_points(submission, cells, catalogue).values())
        course.expected.update({submission.name: total, **{f"{submission.name}_{copy}": total
                                                           for copy in range(1, copies)}})
    for copy in range(1, copies):
        for submission in submissions:
            source = course.root / "submitted" / submission.name / lab
            target = course.root / "submitted" / f"{submission.name}_{copy}" / lab
            target.mkdir(parents=True)
            for path in source.iterdir():
                (target / path.name).write_bytes(path.read_bytes())
    return course


def plain_run(course, lab: str, students: List[str]) -> Dict[str, object]:
    """Plain `nbgrader autograde` of every submission, serial, unisolated; its stages."""
    from ganlab_kit.grading.autograde import _stages
    from ganlab_kit.grading.results import TIMINGS_ENV

    config = course.root / "nbgrader_config.py"
    kit_config = config.read_text()
    timings = course.root / "plain-timings.jsonl"
    timings.unlink(missing_ok=True)
    environment = course.environment()
    environment[TIMINGS_ENV] = os.fspath(timings)
    config.write_text(kit_config + PLAIN_CONFIG)
    try:
        launched = time.time()
        course.nbgrader("autograde", lab, "--force", environment=environment)
        exited = time.time()
    finally:
        config.write_text(kit_config)
    lines = timings.read_text().splitlines()
    # one line per student, in grading order: each student's stages from its own line; the
    # process start and everything between notebooks is spread evenly
    per_student = []
    starts = [json.loads(line)["start"] for line in lines] + [exited]
    first_start = starts[0]
    for index, line in enumerate(lines):
        path = course.root / "plain-one.jsonl"
        path.write_text(line + "\n")
        stages = _stages(path, starts[index], starts[index + 1])
        stages["nbgrader start"] = (first_start - launched) / len(lines)
        per_student.append(stages)
    return {"wall": exited - launched, "stages": per_student, "count": len(lines)}


class CpuSampler:
    """CPU seconds of this process's descendants by kind (kernel, checker, nbgrader worker), read
    from /proc every ``interval`` s while the block runs (Linux only; nothing elsewhere). A
    process's last fraction of an interval before it exits is missed: a slight undercount."""

    KINDS = (("ipykernel", "kernels (bwrap, Python: start, imports, cells, answers)"),
             ("grading.checker", "checkers (template and forks)"),
             ("_autograde_worker", "nbgrader workers"))

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.seen: Dict[tuple, tuple] = {}   # (pid, start time) -> (CPU s, kind)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __enter__(self) -> "CpuSampler":
        self._self_start = time.process_time()
        if os.path.isdir("/proc/self"):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.self_seconds = time.process_time() - self._self_start
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _descendants(self) -> List[int]:
        children: Dict[int, List[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as stat:
                        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(parent, []).append(int(name))
        found, todo = [], [os.getpid()]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in self._descendants():
                try:
                    with open(f"/proc/{pid}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        command = cmdline.read().decode(errors="replace")
                except (OSError, IndexError):
                    continue
                seconds = (int(fields[11]) + int(fields[12])) / self._tick
                kind = next((label for key, label in self.KINDS if key in command), "other")
                key = (pid, fields[19])
                if seconds >= self.seen.get(key, (0.0, ""))[0]:
                    self.seen[key] = (seconds, kind)

    def per_kind(self) -> Dict[str, float]:
        totals: Dict[str, float] = {}
        for seconds, kind in self.seen.values():
            totals[kind] = totals.get(kind, 0.0) + seconds
        totals["the writer (this process: scratch courses, recording)"] = self.self_seconds
        return totals


def median_stages(rows: List[Dict[str, float]]) -> Dict[str, float]:
    names = {name for row in rows for name in row}
    return {name: statistics.median(row.get(name, 0.0) for row in rows) for name in names}


def lab_run(repository, scratch: Path, lab: str, args) -> Dict[str, object]:
    from ganlab_kit.grading.autograde import STAGES

    from ganlab_kit.grading import autograde

    course = build_course(repository, scratch / lab, lab, args.students, args.copies)
    students = course.students(lab)
    print(f"--- {lab}: {len(students)} submissions", flush=True)
    before = None
    if args.before:
        # the engine as it was: one `nbgrader` command per student, the checker importing at
        # the first grade cell
        config = course.root / "nbgrader_config.py"
        kit_config = config.read_text()
        config.write_text(kit_config + "c.GradeExecute.preload_checks = False\n")
        autograde.PERSISTENT_WORKERS = False
        try:
            started = time.perf_counter()
            course.autograde(lab, workers=1, force=True)
            before = {"wall": time.perf_counter() - started,
                      "stages": median_stages(list(course.autograde_report.stages.values())),
                      "points": {row.student: row.points for row in course.autograde_report.rows}}
        finally:
            autograde.PERSISTENT_WORKERS = True
            config.write_text(kit_config)
    started = time.perf_counter()
    seconds = course.autograde(lab, workers=1, force=True)
    kit_wall = time.perf_counter() - started
    report = course.autograde_report
    kit_points = {row.student: row.points for row in report.rows}
    wrong = {student: (points, course.expected.get(student)) for student, points in kit_points.items()
             if course.expected.get(student) is None or abs(points - course.expected[student]) > 1e-6}
    print("  points as in the demo's table: " + ("yes, every student" if not wrong else "NO: " + ", ".join(
        f"{student} {points:g} (expected {expected})" for student, (points, expected) in sorted(wrong.items()))),
        flush=True)
    statuses = sorted(set(report.statuses().values()))
    kit_stages = median_stages(list(report.stages.values()))
    parallel_wall = None
    if args.workers > 1:
        started = time.perf_counter()
        with CpuSampler() as cpu:
            course.autograde(lab, workers=args.workers, force=True)
        parallel_wall = time.perf_counter() - started
        same = all(course.autograde_report.row(student).points == points for student, points in kit_points.items())
        if not same:
            print("  POINTS DIFFER between the 1-worker and the parallel run", flush=True)
    plain = None if args.no_plain else plain_run(course, lab, students)

    median_kit = statistics.median(seconds.values())
    print(f"  {'stage (median s per submission)':<34} {'before':>7} {'kit':>7} {'plain':>7}")
    plain_stages = median_stages(plain["stages"]) if plain else {}
    before_stages = before["stages"] if before else {}

    def cell(value):
        return f"{'' if value is None else f'{value:7.2f}':>7}"

    for stage in STAGES:
        print(f"  {stage:<34} {cell(before_stages.get(stage))} {cell(kit_stages.get(stage))} "
              f"{cell(plain_stages.get(stage))}")
    if before:
        print(f"  before (a command per student, no checker preload): {before['wall'] / len(students):.1f} s "
              f"wall / submission; now {kit_wall / len(students):.1f} s: {before['wall'] / kit_wall:.2f}x faster; "
              f"same points: {'yes' if before['points'] == kit_points else 'NO'}")
    parts = sorted((name for name in kit_stages if name.startswith("part ")), key=lambda name: -kit_stages[name])
    print("  grade cells (median s, kit / plain): " + ", ".join(
        f"{name[5:].split('/')[-1]} {kit_stages[name]:.1f}/{plain_stages.get(name, 0.0):.1f}" for name in parts))
    per_kit = kit_wall / len(students)
    line = (f"  per submission: kit {median_kit:.1f} s median ({per_kit:.1f} s wall / submission, "
            f"1 worker, statuses {statuses})")
    if plain:
        per_plain = plain["wall"] / plain["count"]
        line += f"; plain nbgrader {per_plain:.1f} s; kit / plain = {per_kit / per_plain:.2f}"
    print(line)
    goal = GOALS.get(lab, GOAL_DEFAULT)
    print(f"  {goal_line(lab, median_kit)}")
    result = {"lab": lab, "kit": per_kit, "median": median_kit,
              "plain": plain["wall"] / plain["count"] if plain else None}
    if parallel_wall is not None:
        print(f"  {args.workers} workers: {parallel_wall:.1f} s for {len(students)} "
              f"({parallel_wall / len(students):.1f} s / submission); speed-up {kit_wall / parallel_wall:.2f}x")
        result.update(parallel=parallel_wall, count=len(students), workers=args.workers)
        # where the workers' time goes: CPU seconds per submission by process; with as many
        # workers as cores, the cores' total is the floor of the wall time
        kinds = cpu.per_kind()
        total = sum(kinds.values())
        cores = os.cpu_count() or 1
        print(f"  CPU s per submission in the {args.workers}-worker run (all processes; with {cores} cores "
              f"the wall per submission is at least total / {cores} = {total / len(students) / cores:.1f} s):")
        for kind, seconds in sorted(kinds.items(), key=lambda item: -item[1]):
            print(f"    {seconds / len(students):6.2f}  {kind}")
        print(f"    {total / len(students):6.2f}  total")
        if lab not in GOALS and args.workers == 2:
            print(f"  {class_line(parallel_wall, len(students))}")
    return result


def goal_line(lab: str, median: float) -> str:
    """The issue's per-submission goal for ``lab`` against the measured median."""
    goal = GOALS.get(lab, GOAL_DEFAULT)
    track = "Keras lab" if lab in GOALS else "PyTorch lab"
    return (f"goal <= {goal:.0f} s per isolated submission ({track}, idle 2-core machine): kit median "
            f"{median:.1f} s = {median / goal:.2f} x goal, {'reached' if median <= goal else 'NOT reached'}")


def class_line(wall: float, count: int) -> str:
    """100 PyTorch-lab submissions with 2 workers: measured, or projected from ``count`` of them."""
    if count >= CLASS_SIZE:
        minutes, how = wall / count * CLASS_SIZE / 60, f"measured on {count}, scaled to {CLASS_SIZE}"
    else:
        minutes = wall / count * CLASS_SIZE / 60
        how = (f"a PROJECTION from {count} submissions graded with 2 workers ({wall / count:.1f} s each), "
               f"not a run of {CLASS_SIZE}; --copies {-(-CLASS_SIZE // count)} grades {CLASS_SIZE} or more")
    verdict = "reached" if minutes <= CLASS_GOAL_MINUTES else "NOT reached"
    return (f"{CLASS_SIZE} PyTorch-lab submissions with 2 workers: {minutes:.1f} min ({how}); goal <= "
            f"{CLASS_GOAL_MINUTES:.0f} min: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", action="append", help="only this lab (repeatable; default: every lab)")
    parser.add_argument("--students", type=int, default=0, help="the first N demo students (default: all)")
    parser.add_argument("--copies", type=int, default=1, help="hand each demo student in N times")
    parser.add_argument("--workers", type=int, default=1, help="also grade with this many workers")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader")
    parser.add_argument("--before", action="store_true",
                        help="also time the engine as it was (a command per student, no checker preload)")
    parser.add_argument("--quick", action="store_true", help="the PyTorch lab, 4 students, 1 and 2 workers")
    args = parser.parse_args()
    if args.quick:
        args.lab, args.students = args.lab or ["pytorch_gan"], args.students or 4
        args.workers = max(args.workers, 2)   # and the 100-submission figure with 2 workers

    from ganlab_kit.grading.course import find_repository, require_nbgrader
    from ganlab_kit.grading.provenance import ALLOW_KIT_WEIGHTS_ENV

    require_nbgrader()
    # as in `ganlab demo`: the demo's reference students hand in the kit's shipped weights and runs
    # on purpose (without this, their parts that read those files score 0 and skip their work)
    os.environ.setdefault(ALLOW_KIT_WEIGHTS_ENV, "1")
    repository = find_repository(Path(__file__).resolve().parent)
    results = []
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as scratch:
        for lab in args.lab or repository.assignment_names():
            results.append(lab_run(repository, Path(scratch), lab, args))
    print(f"summary (s per submission, 1 worker; machine load inflates both columns alike; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):")
    for result in results:
        plain = result["plain"]
        print(f"  {result['lab']:<14} kit {result['kit']:6.1f}"
              + ("" if plain is None else f"  plain {plain:6.1f}  kit/plain {result['kit'] / plain:.2f}"))
    for result in results:
        print(f"  {result['lab']:<14} {goal_line(result['lab'], result['median'])}")
    for result in results:
        if result["lab"] not in GOALS and result.get("workers") == 2:
            print(f"  {result['lab']:<14} {class_line(result['parallel'], result['count'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
