"""Seconds to autograde submissions of the PyTorch GAN lab, and what parallel workers gain.

Builds a throwaway course, hands in N submissions (the demo students in turn: the
reference with its generator.pt, the untouched stub, typical mistakes), and grades
them all with `ganlab autograde`'s engine twice, side by side: with 1 worker, then again
(regrading) with 2. Prints the seconds per submission (each worker's own time: scratch
course, nbgrader, kernel), the wall time of both runs and their ratio against the goal
of 1.7x on 2 cores, and the in-process time of the hidden checks alone. ``--plain``
also times plain `nbgrader autograde` on the same submissions (the engine's overhead).

    python benchmarks/bench_autograde.py                   # 100 submissions (long: about 1.5 h here)
    python benchmarks/bench_autograde.py --submissions 10
    python benchmarks/bench_autograde.py --quick           # 4 submissions

On a machine shared with other work the absolute seconds are inflated; the ratio of the
two runs, measured one after the other on the same submissions, is the figure to read.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 20.0   # per submission, on 2 cores
GOAL_SPEEDUP = 1.7    # 2 workers against 1, on 2 cores
ASSIGNMENT = "pytorch_gan"
ROTATION = ("reference", "stub", "no_zero_grad", "wrong_target_loss")


def checks_in_process(repository, directory: Path) -> float:
    """Seconds to run every hidden check of the lab on the reference answers, in this process."""
    import torch

    from ganlab_kit.grading import run_checks
    from ganlab_kit.grading.course import grade_cells_of
    from ganlab_kit.grading.notebook import read_notebook, run_in_process

    torch.set_num_threads(1)
    source = read_notebook(repository.assignments / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    namespace = run_in_process(source)
    parts = [cell.part for cell in grade_cells_of(source) if cell.autograded]
    started = time.perf_counter()
    for part in parts:
        run_checks(part, namespace, directory, repository.autograder)
    return time.perf_counter() - started


def build_course(repository, root: Path, count: int, generator: Path):
    from ganlab_kit.grading.course import Course
    from ganlab_kit.grading.notebook import read_notebook, student_copy
    from ganlab_kit.grading.submissions import answers_of, load_submissions

    course = Course.create(root, repository, [ASSIGNMENT], course_id="ganlab-bench")
    course.generate_assignment(ASSIGNMENT)
    source = read_notebook(course.source_notebook(ASSIGNMENT))
    release = read_notebook(course.release_notebook(ASSIGNMENT))
    demo = {submission.name: submission for submission in load_submissions(repository.autograder / ASSIGNMENT)}
    for index in range(count):
        submission = demo[ROTATION[index % len(ROTATION)]]
        notebook = release if submission.stub else student_copy(release, source, answers_of(submission, source))
        course.add_submission(ASSIGNMENT, f"s{index:03d}_{submission.name}", notebook,
                              {"generator.pt": generator} if submission.generator else {})
    return course


def timed_run(course, workers: int):
    started = time.perf_counter()
    seconds = course.autograde(ASSIGNMENT, workers=workers, force=True)
    return time.perf_counter() - started, seconds, course.autograde_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=100, help="submissions to grade (default 100)")
    parser.add_argument("--quick", action="store_true", help="4 submissions")
    parser.add_argument("--plain", action="store_true",
                        help="also time plain `nbgrader autograde` on the same submissions")
    args = parser.parse_args()
    count = 4 if args.quick else args.submissions
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from ganlab_kit.grading.course import find_repository, require_nbgrader
    from ganlab_kit.grading.demo import reference_generator_file

    require_nbgrader()
    repository = find_repository(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as scratch:
        scratch = Path(scratch)
        generator = reference_generator_file(scratch / "generator.pt")
        (scratch / "notebook").mkdir()
        (scratch / "notebook" / "generator.pt").write_bytes(generator.read_bytes())
        in_process = checks_in_process(repository, scratch / "notebook")
        print(f"hidden checks, in process (reference answers): {in_process:.1f} s")

        course = build_course(repository, scratch / "course", count, generator)
        print(f"grading {count} submissions with 1 worker, then again with 2 ...", flush=True)
        serial_wall, serial_seconds, serial_report = timed_run(course, 1)
        parallel_wall, parallel_seconds, parallel_report = timed_run(course, 2)
        plain_wall = None
        if args.plain:
            started = time.perf_counter()
            course.nbgrader("autograde", ASSIGNMENT, "--force")
            plain_wall = time.perf_counter() - started

    same = all(serial_report.row(row.student).points == row.points for row in parallel_report.rows)
    by_kind = {}
    for student, seconds in serial_seconds.items():
        by_kind.setdefault(student.split("_", 1)[1], []).append(seconds)
    for kind, values in sorted(by_kind.items()):
        print(f"  {kind:<18} {statistics.mean(values):6.1f} s per submission (1 worker)")
    mean = statistics.mean(serial_seconds.values())
    print(f"seconds per submission, 1 worker: {mean:.1f} s = {mean / GOAL_SECONDS:.2f} x the "
          f"{GOAL_SECONDS:.0f} s goal; with 2 workers: {statistics.mean(parallel_seconds.values()):.1f} s each")
    print(f"{count} submissions: 1 worker {serial_wall:.1f} s, 2 workers {parallel_wall:.1f} s; "
          f"speed-up {serial_wall / parallel_wall:.2f}x (goal {GOAL_SPEEDUP}x on 2 cores); "
          f"same points in both runs: {'yes' if same else 'NO'}")
    if plain_wall is not None:
        print(f"plain `nbgrader autograde` of the same {count}: {plain_wall:.1f} s; ganlab autograde with "
              f"1 worker takes {serial_wall / plain_wall:.2f}x that")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
