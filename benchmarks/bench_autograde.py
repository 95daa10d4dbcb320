"""Seconds nbgrader needs to autograde one submission of the PyTorch GAN lab.

Builds a throwaway course, hands in a few demo submissions (the reference with its
generator.pt, the untouched stub and two typical mistakes), autogrades them in one
`nbgrader autograde` run and prints the seconds spent on each, from nbgrader's own log,
as a ratio to the goal of 20 s per submission on 2 cores. It also prints how much of
that the hidden checks take, graded in process on the same answers.

    python benchmarks/bench_autograde.py            # 4 submissions through nbgrader
    python benchmarks/bench_autograde.py --quick    # seconds: the hidden checks in process only
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 20.0  # per submission, on 2 cores
STUDENTS = ("reference", "stub", "no_zero_grad", "wrong_target_loss")
ASSIGNMENT = "pytorch_gan"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the in-process checks (a few seconds)")
    args = parser.parse_args()

    from ganlab_kit.grading.course import Course, find_repository, require_nbgrader
    from ganlab_kit.grading.demo import reference_generator_file
    from ganlab_kit.grading.notebook import read_notebook, student_copy
    from ganlab_kit.grading.submissions import answers_of, load_submissions

    repository = find_repository(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as scratch:
        scratch = Path(scratch)
        generator = reference_generator_file(scratch / "generator.pt")
        (scratch / "notebook").mkdir()
        (scratch / "notebook" / "generator.pt").write_bytes(generator.read_bytes())
        in_process = checks_in_process(repository, scratch / "notebook")
        print(f"hidden checks, in process (reference answers): {in_process:.1f} s")
        if args.quick:
            return 0
        require_nbgrader()
        course = Course.create(scratch / "course", repository, [ASSIGNMENT], course_id="ganlab-bench")
        course.generate_assignment(ASSIGNMENT)
        source = read_notebook(course.source_notebook(ASSIGNMENT))
        release = read_notebook(course.release_notebook(ASSIGNMENT))
        submissions = {s.name: s for s in load_submissions(repository.autograder / ASSIGNMENT)}
        for name in STUDENTS:
            submission = submissions[name]
            notebook = release if submission.stub else student_copy(release, source, answers_of(submission, source))
            course.add_submission(ASSIGNMENT, name, notebook, {"generator.pt": generator} if submission.generator else {})
        started = time.perf_counter()
        seconds = course.autograde(ASSIGNMENT)
        wall = time.perf_counter() - started
    for name in STUDENTS:
        print(f"autograde {name:<18} {seconds[name]:6.1f} s  ({seconds[name] / GOAL_SECONDS:.2f} x the {GOAL_SECONDS:.0f} s goal)")
    mean = statistics.mean(seconds.values())
    print(f"autograde per submission, mean: {mean:.1f} s = {mean / GOAL_SECONDS:.2f} x the goal "
          f"(one nbgrader run of {wall:.1f} s for {len(STUDENTS)} submissions, start-up included: "
          f"{wall / len(STUDENTS):.1f} s each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
