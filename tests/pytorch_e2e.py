"""The PyTorch lab's end-to-end course, graded once per test run and shared by two modules.

``tests/test_grading_nbgrader.py`` (the lab's end-to-end checks and the hostile bank) and
``tests/test_autograde.py`` (``ganlab autograde``'s 2 workers, statuses, rerun, Ctrl-C and
resume, Dask) read the same course: the four honest demo students autograded with 2 workers,
then the hostile and broken submissions of ``tests/hostile_bank.py`` graded with 2 workers in
the same gradebook (a corrupt notebook and kernels that die among them), feedback written,
grades exported. ``tests/conftest.py`` registers :func:`pytorch_graded` once, so both modules
get the one course (a fixture imported into each test module would be built once per module);
their tests share the xdist group ``nbgrader``, so one worker builds it once per run.
"""
import tempfile

import pytest

ASSIGNMENT = "pytorch_gan"
STUDENTS = ("reference", "stub", "no_zero_grad", "wrong_target_loss")
#: the course's id (its gradebook is copied by tests/test_autograde.py's interrupted run)
COURSE_ID = "ganlab-test"


@pytest.fixture(scope="session")
def pytorch_graded(tmp_path_factory):
    """A course whose four demo students have been autograded, then the hostile bank, with
    feedback and a CSV export.

    Session-scoped: under xdist other modules' tests may run between this module's tests,
    and a module-scoped fixture would then be built again."""
    from hostile_bank import CASES, build_notebook

    from ganlab_kit.grading.course import Course, find_repository
    from ganlab_kit.grading.demo import check_catalogue, expected_points, hand_in
    from ganlab_kit.grading.notebook import read_notebook, student_copy
    from ganlab_kit.grading.submissions import answers_of, load_submissions

    repository = find_repository()
    root = tmp_path_factory.mktemp("nbgrader")
    course = Course.create(root / "course", repository, [ASSIGNMENT], course_id=COURSE_ID)
    course.generate_assignment(ASSIGNMENT)
    source = read_notebook(course.source_notebook(ASSIGNMENT))
    release = read_notebook(course.release_notebook(ASSIGNMENT))
    submissions = {s.name: s for s in load_submissions(repository.autograder / ASSIGNMENT)}
    handed_in = hand_in(course, ASSIGNMENT, [submissions[name] for name in STUDENTS])
    generator = handed_in["generator.pt"]
    seconds = course.autograde(ASSIGNMENT, workers=2)
    scores = {name: course.scores(ASSIGNMENT, name) for name in STUDENTS}
    honest_report = course.autograde_report

    # The hostile bank, graded after the honest students, in the same course and gradebook.
    # the looper costs one cell timeout of busy CPU: 40 s instead of the shipped 300 s (the
    # slowest honest cell here, importing torch in a fresh sandboxed kernel, takes a few seconds)
    with open(course.root / "nbgrader_config.py", "a") as handle:
        handle.write("\nc.Execute.timeout = 40\n")
    hostile = {}
    for case in CASES:
        base = submissions[case.base]
        notebook = release if base.stub else student_copy(release, source, answers_of(base, source))
        notebook = build_notebook(case, notebook, str(repository.autograder))
        files = {}
        if case.generator is not None:
            files["generator.pt"] = root / f"{case.name}-generator.pt"
            case.generator(str(files["generator.pt"]))
        elif base.generator:
            files["generator.pt"] = generator
        folder = course.add_submission(ASSIGNMENT, case.name, notebook, files)
        if case.corrupt:
            (folder / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ this is not JSON')
        hostile[case.name] = case
    outside = tempfile.gettempdir()
    seconds.update(course.autograde(ASSIGNMENT, students=list(hostile), workers=2))
    hostile_report = course.autograde_report
    for name in hostile:
        scores[name] = course.scores(ASSIGNMENT, name)
    course.generate_feedback(ASSIGNMENT)
    csv_path = course.export_csv()
    cells = course.grade_cells(ASSIGNMENT)
    catalogue = check_catalogue(cells, repository)
    expected = {name: expected_points(submissions[name], cells, catalogue) for name in STUDENTS}
    for name, case in hostile.items():
        if case.points == "zero":
            expected[name] = {cell.grade_id: 0.0 for cell in cells if cell.autograded}
            continue
        points = dict(expected_points(submissions[case.base], cells, catalogue))
        for cell in cells:
            if cell.autograded and cell.part.split("/", 1)[1] in case.also_fails:
                lost = case.also_fails[cell.part.split("/", 1)[1]]
                points[cell.grade_id] = round(points[cell.grade_id] - sum(
                    p for check, _, p in catalogue[cell.part] if check in lost
                    and not submissions[case.base].fails(cell.part.split("/", 1)[1], check)), 4)
        expected[name] = points
    return {"course": course, "scores": scores, "expected": expected, "seconds": seconds,
            "csv": csv_path, "cells": cells, "generator": generator, "root": root, "files": handed_in,
            "report": honest_report,
            "honest_after": {name: course.scores(ASSIGNMENT, name) for name in STUDENTS},
            "hostile": hostile, "honest_report": honest_report, "hostile_report": hostile_report,
            "outside": outside}
