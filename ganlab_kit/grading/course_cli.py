"""``ganlab course ...``: a term with nbgrader's exchange, one command per step.

Every step runs nbgrader with the Python that runs ``ganlab`` (no environment to activate);
docs/running_a_course.md walks the term.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["register"]

_STEPS = """steps of a term (run in the course folder, or pass --course-dir):
  ganlab course setup COURSE --course-id ID --exchange /srv/nbgrader/exchange
  ganlab course release LAB --due "2026-03-01 17:00:00 UTC"
  ganlab course collect LAB          # then: ganlab autograde LAB --workers N
  (TAs grade the written answers in formgrader)
  ganlab course feedback LAB
  ganlab course export --to grades.csv
  ganlab course student-setup        # in the students' environment: no instructor tools
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    course = subparsers.add_parser(
        "course", help="run a course: setup, release, collect, feedback, export (nbgrader's exchange)",
        description="Run a course through nbgrader's exchange. " + _STEPS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = course.add_subparsers(dest="step", metavar="STEP")

    def step(name, help_text, function):
        parser = steps.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(func=function)
        return parser

    setup = step("setup", "make the course folder, its nbgrader_config.py, the students' config "
                          "and the exchange folder", _setup)
    setup.add_argument("course_dir", metavar="COURSE", help="the course folder (made if absent)")
    setup.add_argument("--course-id", required=True, help="the course's id (letters, digits, - and _)")
    setup.add_argument("--exchange", required=True, metavar="DIR",
                       help="the exchange folder every student can write to, e.g. /srv/nbgrader/exchange")
    setup.add_argument("--labs", metavar="A,B", help="comma-separated labs to copy (default: all)")
    setup.add_argument("--repo", help="the ganlab-kit checkout (default: found from here)")

    for name, text, function in (
            ("release", "generate the student version of LAB and release it to the exchange", _release),
            ("collect", "collect LAB's submissions and list the hand-in files each student forgot", _collect),
            ("feedback", "write LAB's feedback pages and release them to the students", _feedback)):
        parser = step(name, text, function)
        parser.add_argument("lab", metavar="LAB")
        parser.add_argument("--course-dir", default=".", metavar="DIR", help="the course folder (default: here)")
        if name == "release":
            parser.add_argument("--due", metavar="WHEN", help='due date, e.g. "2026-03-01 17:00:00 UTC"')
            parser.add_argument("--force", action="store_true", help="replace a release already in the exchange")

    export = step("export", "write the course's grades as one CSV an LMS imports (Canvas, Moodle)", _export)
    export.add_argument("--course-dir", default=".", metavar="DIR", help="the course folder (default: here)")
    export.add_argument("--to", metavar="FILE", help="the CSV file (default: COURSE/grades_lms.csv)")
    student = step("student-setup", "switch off nbgrader's instructor tools (formgrader, course list, "
                                    "Create Assignment) in the students' Jupyter", _student_setup)
    student.add_argument("--level", default="sys-prefix", choices=["sys-prefix", "user", "system"],
                         help="which Jupyter configuration: the students' environment (default), "
                              "this account, or the whole machine")
    course.set_defaults(func=lambda args: (course.print_help(), 0)[1])


def _fail(error: Exception) -> int:
    print(f"ganlab course: {error}", file=sys.stderr)
    return 2


def _setup(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .course import find_repository
    from .exchange import STUDENT_CONFIG, setup_course

    labs = [lab.strip() for lab in args.labs.split(",") if lab.strip()] if args.labs else None
    try:
        repository = find_repository(args.repo) if args.repo else find_repository()
        made = setup_course(args.course_dir, args.course_id, args.exchange, labs, repository)
    except GradingSetupError as error:
        return _fail(error)
    for path in made.created:
        print(f"made {path}")
    for path in made.kept:
        print(f"kept {path} (already there)")
    print(f"students: install {made.root / STUDENT_CONFIG} as /etc/jupyter/nbgrader_config.py "
          "on their server (see docs/running_a_course.md)")
    return 0


def _open(args: argparse.Namespace):
    from .exchange import open_course

    return open_course(args.course_dir)


def _release(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .course import NbgraderError
    from .exchange import release

    try:
        notebook = release(_open(args), args.lab, due=args.due, force=args.force)
    except (GradingSetupError, NbgraderError) as error:
        return _fail(error)
    print(f"released {args.lab} ({notebook}); students fetch it from the Assignments tab "
          f"or with: nbgrader fetch_assignment {args.lab}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .course import NbgraderError
    from .exchange import collect

    try:
        missing = collect(_open(args), args.lab)
    except (GradingSetupError, NbgraderError) as error:
        return _fail(error)
    if not missing:
        print(f"no submissions of {args.lab} yet")
        return 0
    for student, files in sorted(missing.items()):
        if files:
            print(f"{student}: MISSING {', '.join(files)} (the lab asks for it beside the notebook; "
                  "the checks that need it will score 0; ask the student to submit again)")
        else:
            print(f"{student}: notebook and every hand-in file collected")
    print(f"next: ganlab autograde {args.lab} --course-dir {args.course_dir} --workers N")
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .course import NbgraderError
    from .exchange import release_feedback

    try:
        students = release_feedback(_open(args), args.lab)
    except (GradingSetupError, NbgraderError) as error:
        return _fail(error)
    print(f"feedback of {args.lab} released to {len(students)} student(s); they fetch it from the "
          f"Assignments tab or with: nbgrader fetch_feedback {args.lab}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .bridge import GradingSetupError
    from .export import write_lms_csv

    try:
        course = _open(args)
        path = write_lms_csv(course.root, course.course_id, args.to)
    except (GradingSetupError, FileNotFoundError) as error:
        return _fail(error)
    print(f"wrote {path} (one row per student; per lab: auto, manual, late penalty, total)")
    return 0


def _student_setup(args: argparse.Namespace) -> int:
    from .student import student_setup

    try:
        for line in student_setup(args.level):
            print(line)
    except RuntimeError as error:
        return _fail(error)
    print("students keep the Assignments list (fetch, submit, feedback) and the Validate button")
    return 0
