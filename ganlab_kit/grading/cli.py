"""``ganlab demo``, ``ganlab solutions`` and ``ganlab autograde`` (instructor commands; they need nbgrader)."""
from __future__ import annotations

import argparse
import signal
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="grade a class of demo students with nbgrader, offline (make demo)",
        description="Build a throwaway nbgrader course from assignments/, hand in the reference "
                    "solution, the untouched stub and typical mistakes, autograde them, write "
                    "feedback and grades.csv, and print the grade table.")
    demo.add_argument("--course-dir", help="where to build the courses, one per lab in <course-dir>/<lab>/ "
                                           "(default: demo-course/ in the repository; a folder ganlab "
                                           "did not make is never touched)")
    demo.add_argument("--repo", help="the ganlab-kit checkout (default: found from here)")
    demo.add_argument("--assignment", default=None,
                      help="only this lab (default: every lab)")
    demo.add_argument("--students", help="comma-separated demo students (default: all)")
    demo.add_argument("--workers", type=int, default=2, metavar="N",
                      help="submissions graded at once, all labs in one queue (default: 2)")
    demo.add_argument("--timings", action="store_true",
                      help="end with the seconds of each lab's phases (course, release, hand-in, "
                           "grading, feedback, export) and how busy the workers were")
    demo.set_defaults(func=_demo)

    solutions = subparsers.add_parser(
        "solutions", help="regenerate the executed solution notebooks (make solutions)",
        description="Run nbgrader generate_solution on every assignment and write the executed, "
                    "normalised notebooks to solutions/.")
    solutions.add_argument("--output", help="folder for the notebooks (default: solutions/ in the repository)")
    solutions.add_argument("--repo", help="the ganlab-kit checkout (default: found from here)")
    solutions.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    solutions.set_defaults(func=_solutions)

    autograde = subparsers.add_parser(
        "autograde", help="autograde a lab's submissions, several at once; resumable",
        description="Grade every submission of LAB in an nbgrader course with `nbgrader autograde`, "
                    "N at once (or on a Dask cluster). One process writes the gradebook; a stopped "
                    "run resumes where it stopped; a submission that cannot be graded gets an error "
                    "status and never stops the others. Ends with a status table per student.")
    autograde.add_argument("assignment", metavar="LAB", help="the assignment to grade, e.g. pytorch_gan")
    autograde.add_argument("--course-dir", default=".", metavar="DIR", help="the nbgrader course folder (default: here)")
    autograde.add_argument("--workers", type=int, default=1, metavar="N",
                           help="submissions graded at once on this machine (default: 1; a grading "
                                "kernel uses one core)")
    autograde.add_argument("--scheduler", metavar="ADDRESS",
                           help="grade on this Dask distributed scheduler (tcp://host:8786) instead "
                                "of this machine; --workers then caps the tasks in flight")
    autograde.add_argument("--students", metavar="A,B", help="comma-separated student ids (default: every submission)")
    autograde.add_argument("--force", action="store_true",
                           help="regrade students already recorded for the same submission")
    autograde.add_argument("--retry-errors", action="store_true",
                           help="regrade students whose recorded status is an error")
    autograde.add_argument("--no-similarity", action="store_true",
                           help="skip the class similarity report written after grading")
    autograde.set_defaults(func=_autograde)

    similarity = subparsers.add_parser(
        "similarity", help="rank pairs of students by how alike their answers and files are",
        description="Compare every pair of submissions of LAB in an nbgrader course: answer cells "
                    "(fingerprints robust to renaming, reordering and comments, with the release "
                    "notebook's code and the kit's code left out) and handed-in weights, logs and "
                    "snapshots. Writes similarity.html and similarity.csv; changes no grade.")
    similarity.add_argument("assignment", metavar="LAB", help="the assignment, e.g. pytorch_gan")
    similarity.add_argument("--course-dir", default=".", metavar="DIR", help="the nbgrader course folder (default: here)")
    similarity.add_argument("--output", metavar="DIR", help="where to write the report (default: <course>/reports/LAB)")
    similarity.add_argument("--threshold", type=float, default=None, metavar="X",
                            help="code similarity (0-1) at which a pair is flagged (default: 0.6)")
    similarity.set_defaults(func=_similarity)


def _repository(args: argparse.Namespace):
    from .course import find_repository

    return find_repository(args.repo) if args.repo else find_repository()


def _demo(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .course import NbgraderError
    from .demo import DemoTimings, run_demo, run_demos

    import os

    from .provenance import ALLOW_KIT_WEIGHTS_ENV

    # the demo's reference students hand in the kit's shipped weights and runs on purpose
    os.environ.setdefault(ALLOW_KIT_WEIGHTS_ENV, "1")
    students = [name.strip() for name in args.students.split(",")] if args.students else None
    if students and not args.assignment:
        print("ganlab demo: --students needs --assignment (student names differ between labs)",
              file=sys.stderr)
        return 2
    if args.workers < 1:
        print("ganlab demo: --workers must be at least 1", file=sys.stderr)
        return 2
    log = lambda message: print(f"ganlab demo: {message}", flush=True)  # noqa: E731
    timings = DemoTimings(args.workers)
    try:
        show = lambda report: print(report.to_text() + "\n", flush=True)  # noqa: E731
        if args.assignment:
            reports = [run_demo(args.course_dir, _repository(args), students, args.assignment, log=log,
                                workers=args.workers, timings=timings)]
            show(reports[0])
            timings.shown[args.assignment] = timings.total = timings.now()
        else:
            reports = run_demos(args.course_dir, _repository(args), log=log, on_report=show,
                                workers=args.workers, timings=timings)
    except (GradingSetupError, NbgraderError) as error:
        print(f"ganlab demo: {error}", file=sys.stderr)
        return 2
    if args.timings:
        print(timings.to_text(), flush=True)
    if not all(report.ok for report in reports):
        print("ganlab demo: some students did not get the points their mistakes should cost "
              "(rows marked UNEXPECTED)", file=sys.stderr)
        return 1
    return 0


def _solutions(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .course import NbgraderError
    from .solutions import generate_solutions

    try:
        paths = generate_solutions(args.output, _repository(args), args.assignment,
                                   log=lambda message: print(f"ganlab solutions: {message}", flush=True))
    except (GradingSetupError, NbgraderError) as error:
        print(f"ganlab solutions: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    from .autograde import AutogradeInterrupted, autograde_course
    from .bridge import GradingSetupError

    def stop(number, frame):   # `kill` stops the run as Ctrl-C does: workers interrupted, scratch removed
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    students = [name.strip() for name in args.students.split(",") if name.strip()] if args.students else None
    try:
        report = autograde_course(args.course_dir, args.assignment, students=students, workers=args.workers,
                                  scheduler=args.scheduler, force=args.force, retry_errors=args.retry_errors,
                                  log=lambda message: print(f"ganlab autograde: {message}", flush=True))
    except GradingSetupError as error:
        print(f"ganlab autograde: {error}", file=sys.stderr)
        return 2
    except AutogradeInterrupted as interrupted:
        print(interrupted.report.to_text())
        print("ganlab autograde: interrupted; run the same command again to grade the rest", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(report.to_text())
    if not getattr(args, "no_similarity", False):  # issue 22: flags pairs for a person; no grade changes
        try:
            from .similarity import similarity_for_course

            similarity_for_course(args.course_dir, args.assignment,
                                  log=lambda message: print(f"ganlab autograde: {message}", flush=True))
        except Exception as error:  # the report is an extra: grading already succeeded
            print(f"ganlab autograde: no similarity report ({type(error).__name__}: {error})", file=sys.stderr)
    return 0


def _similarity(args: argparse.Namespace) -> int:
    from .similarity import THRESHOLD, similarity_for_course

    try:
        report = similarity_for_course(args.course_dir, args.assignment, args.output,
                                       THRESHOLD if args.threshold is None else args.threshold,
                                       log=lambda message: print(f"ganlab similarity: {message}", flush=True))
    except FileNotFoundError as error:
        print(f"ganlab similarity: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"ganlab similarity: {error}; install the grading extra: pip install 'ganlab-kit[grading]'",
              file=sys.stderr)
        return 2
    print(report.to_text())
    return 0
