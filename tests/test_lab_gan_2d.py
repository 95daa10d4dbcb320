"""The 2-D GAN lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's code cells run in this process (the training cell left
out) and the bridge runs the checks on that namespace through the same proxy as under
grading. Every check must pass the reference solution and fail at least one known-wrong
variant; each demo mistake must fail exactly the checks it lists, in its own part only.
"""
import re
from pathlib import Path

import nbformat
import pytest

from ganlab_kit.grading import list_checks, run_checks
from ganlab_kit.grading.notebook import (find_cell, nbgrader_metadata, read_notebook,
                                         run_in_process, strip_hidden_tests)
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, load_submissions

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
ASSIGNMENT = "gan_2d"
SOURCE = REPO / "assignments" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SUBMISSIONS = {submission.name: submission for submission in load_submissions(AUTOGRADER / ASSIGNMENT)}

#: Test-only wrong answers, so that every check is seen failing. (part, check) -> edits.
MUTANTS = {
    ("heatmap", "test_shape"): [Edit("heatmap_answer", "return torch.sigmoid(logits).reshape(len(ys), len(xs))",
                                     "return torch.sigmoid(logits)")],
    # meshgrid's "ij" order reshaped straight to (len(ys), len(xs)): the right shape, scrambled
    ("heatmap", "test_matches_discriminator"): [Edit("heatmap_answer", 'indexing="xy"', 'indexing="ij"')],
    ("gradients", "test_shape"): [Edit("gradients_answer", "    return gradient", "    return gradient.sum(dim=0)")],
    ("gradients", "test_matches_autograd"): [Edit(
        "gradients_answer", "g_loss = generator_loss(discriminator(points), loss, from_logits=True)",
        "g_loss = len(points) * generator_loss(discriminator(points), loss, from_logits=True)")],
}


@pytest.fixture(scope="module")
def source():
    return read_notebook(SOURCE)


def grade_cells(notebook):
    """grade_id -> part graded by the cell's hidden grade(...) line."""
    cells = {}
    for cell in notebook.cells:
        meta = nbgrader_metadata(cell)
        if meta.get("grade") and cell.cell_type == "code":
            match = re.search(r'grade\("gan_2d/(\w+)", globals\(\)\)', cell.source)
            cells[meta["grade_id"]] = match.group(1) if match else None
    return cells


@pytest.fixture(scope="module")
def parts(source):
    return list(grade_cells(source).values())


@pytest.fixture(scope="module")
def catalogue(parts):
    return {part: list_checks(f"{ASSIGNMENT}/{part}", AUTOGRADER) for part in parts}


def namespace_with(source, edits=()):
    notebook = nbformat.from_dict(source)
    answers = {}
    for edit in edits:
        answers[edit.cell] = edit.apply(answers.get(edit.cell, strip_hidden_tests(
            find_cell(source, edit.cell).source)))
    for cell_id, text in answers.items():
        find_cell(notebook, cell_id).source = text
    return run_in_process(notebook)


def grade_all(namespace, parts, directory=None):
    return {part: run_checks(f"{ASSIGNMENT}/{part}", namespace, directory, AUTOGRADER) for part in parts}


def test_every_grade_cell_runs_one_known_part(source, parts):
    """Does every autograded cell end in exactly one grade("gan_2d/<part>", globals()) line inside
    its hidden region, with a check module for that part, and is every module used?"""
    for grade_id, part in grade_cells(source).items():
        cell = find_cell(source, grade_id)
        hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*)\n### END HIDDEN TESTS", cell.source, re.S)
        assert hidden and hidden.group(1).strip().count("\n") == 0, grade_id
        assert part is not None and (AUTOGRADER / ASSIGNMENT / f"test_{part}.py").is_file(), grade_id
    modules = {path.stem[len("test_"):] for path in (AUTOGRADER / ASSIGNMENT).glob("test_*.py")}
    assert modules == set(parts) == {"heatmap", "gradients"}


def test_cell_points_match_check_points(source, catalogue):
    """Are a grade cell's points the sum of its checks' points (nbgrader rejects a higher score)?"""
    for grade_id, part in grade_cells(source).items():
        points = nbgrader_metadata(find_cell(source, grade_id))["points"]
        assert points == sum(check[2] for check in catalogue[part]), grade_id


def test_written_answers_are_graded_by_hand(source):
    """Are the three questions manual-graded markdown answers worth 2 points each?"""
    manual = {nbgrader_metadata(cell)["grade_id"]: nbgrader_metadata(cell)["points"]
              for cell in source.cells if cell.cell_type == "markdown" and nbgrader_metadata(cell).get("grade")}
    assert manual == {"q1_answer": 2, "q2_answer": 2, "q3_answer": 2}


def test_reference_earns_every_point(source, parts):
    """Does the reference solution pass every hidden check?"""
    results = grade_all(namespace_with(source), parts)
    failed = {part: result.failed_checks for part, result in results.items() if result.failed_checks}
    assert not failed, {part: [c.feedback for c in results[part].checks if not c.passed] for part in failed}


@pytest.mark.parametrize("name", sorted(name for name, s in SUBMISSIONS.items()
                                        if s.edits and s.expected_failures != ALL_CHECKS))
def test_demo_mistake_fails_exactly_its_checks(name, source, parts):
    """Does each demo mistake fail exactly the checks it lists, and none in other parts, with
    feedback that names the mistake (no traceback)?"""
    submission = SUBMISSIONS[name]
    results = grade_all(namespace_with(source, submission.edits), parts)
    failed = {part: set(result.failed_checks) for part, result in results.items() if result.failed_checks}
    expected = {part: set(checks) for part, checks in submission.expected_failures.items()}
    assert failed == expected
    for result in results.values():
        for check in result.checks:
            assert check.passed or (check.feedback and "Traceback" not in check.feedback)


#: What the feedback of each demo mistake's most telling check says.
HINTS = {
    "logit_heatmap": ("heatmap", "test_matches_discriminator", "logits"),
    "swapped_axes": ("heatmap", "test_matches_discriminator", "swapped"),
    "discriminator_loss_arrows": ("gradients", "test_matches_autograd", "D's loss"),
    "flipped_sign": ("gradients", "test_matches_autograd", "opposite sign"),
    "ignores_loss": ("gradients", "test_matches_autograd", "pass the loss argument"),
}


@pytest.mark.parametrize("name", sorted(HINTS))
def test_feedback_names_the_mistake(name, source):
    """Does the feedback of a typical mistake say what went wrong in the student's words?"""
    part, check, words = HINTS[name]
    result = run_checks(f"{ASSIGNMENT}/{part}", namespace_with(source, SUBMISSIONS[name].edits), root=AUTOGRADER)
    feedback = next(c.feedback for c in result.checks if c.name == check)
    assert words in feedback, feedback


@pytest.mark.parametrize("part, check", sorted(MUTANTS))
def test_wrong_answer_fails_its_check(part, check, source):
    """Does this known-wrong answer fail the check written to catch it?"""
    result = run_checks(f"{ASSIGNMENT}/{part}", namespace_with(source, MUTANTS[part, check]),
                        root=AUTOGRADER)
    assert check in result.failed_checks
    feedback = next(c.feedback for c in result.checks if c.name == check)
    assert feedback and "Traceback" not in feedback


def test_every_check_has_a_failing_variant(catalogue):
    """Is every hidden check seen failing on at least one wrong answer (demo mistake or test mutant)?"""
    caught = set(MUTANTS)
    for submission in SUBMISSIONS.values():
        if isinstance(submission.expected_failures, dict):
            caught |= {(part, check) for part, checks in submission.expected_failures.items()
                       for check in checks}
    missing = {(part, name) for part, checks in catalogue.items() for name, _, _ in checks} - caught
    assert not missing


#: Other correct ways to write the answers: each must keep every point.
VALID_VARIANTS = {
    "ij_grid_transposed": [Edit("heatmap_answer", 'indexing="xy"', 'indexing="ij"'), Edit(
        "heatmap_answer", "reshape(len(ys), len(xs))", "reshape(len(xs), len(ys)).T")],
    "loops_and_numpy": [Edit(
        "heatmap_answer",
        '    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")  # each (len(ys), len(xs))\n'
        "    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)  # (len(ys) * len(xs), 2)\n"
        "    with torch.no_grad():\n"
        "        logits = discriminator(points)  # (len(ys) * len(xs), 1)\n"
        "    return torch.sigmoid(logits).reshape(len(ys), len(xs))",
        "    import numpy as np\n"
        "    heat = np.zeros((len(ys), len(xs)), dtype=np.float32)\n"
        "    for i, y in enumerate(ys):\n"
        "        row = torch.stack([xs, torch.full_like(xs, float(y))], dim=1)\n"
        "        heat[i] = torch.sigmoid(discriminator(row)).detach().numpy()[:, 0]\n"
        "    return heat")],
    "backward_and_grad": [Edit(
        "gradients_answer", "    (gradient,) = torch.autograd.grad(g_loss, points)  # (N, 2)\n    return gradient",
        "    g_loss.backward()\n    return points.grad")],
}


@pytest.mark.parametrize("name", sorted(VALID_VARIANTS))
def test_valid_variants_keep_every_point(name, source, parts):
    """Do other correct styles (an "ij" grid transposed; a loop over rows returning NumPy;
    .backward() and .grad, which also fills D's weight gradients) keep every point?"""
    results = grade_all(namespace_with(source, VALID_VARIANTS[name]), parts)
    assert {part: result.failed_checks for part, result in results.items()} == {part: () for part in parts}


def test_stub_fails_every_check(source, parts):
    """Does the release version (solutions replaced by NotImplementedError) earn nothing?"""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    namespace = run_in_process(release, allow_errors=True)
    results = grade_all(namespace, parts)
    assert {part: result.score for part, result in results.items()} == {part: 0 for part in parts}
    messages = [check.feedback for result in results.values() for check in result.checks]
    assert any("NotImplementedError" in message for message in messages)


def test_quick_checks_pass_reference_and_mistakes_but_not_stub(source):
    """Do the visible quick checks pass the reference and every demo mistake (so a mistake only
    costs its hidden checks' points) and fail on the unanswered stub?"""
    from nbgrader.preprocessors import ClearSolutions

    quick = {grade_id: strip_hidden_tests(find_cell(source, grade_id).source)
             for grade_id in grade_cells(source)}
    for name, submission in SUBMISSIONS.items():
        if submission.stub:
            continue
        namespace = namespace_with(source, submission.edits)
        for grade_id, code in quick.items():
            exec(compile(code, grade_id, "exec"), namespace)
    stub, _ = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    namespace = run_in_process(stub, allow_errors=True)
    for grade_id, code in quick.items():
        with pytest.raises(Exception):
            exec(compile(code, grade_id, "exec"), namespace)


def test_widget_uses_the_students_functions(source):
    """Does the notebook's widget draw with the student's own heat map and arrows, and show (not
    raise) the error of an unanswered stub?"""
    from nbgrader.preprocessors import ClearSolutions

    namespace = namespace_with(source)
    session = namespace["lab"].session
    assert session.heatmap_fn is namespace["discriminator_heatmap"]
    assert session.gradient_fn is namespace["fake_point_gradients"]
    stub, _ = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    view = run_in_process(stub, allow_errors=True)["lab"].view()
    assert set(view.errors) == {"heatmap", "gradients"} and "NotImplementedError" in view.errors["heatmap"]


def test_training_cell_fast_path(source, monkeypatch):
    """Does the training cell's fast path (GANLAB_GAN2D_STEPS) train that many steps, and none
    under nbgrader?"""
    notebook = nbformat.from_dict(source)
    monkeypatch.setenv("GANLAB_GAN2D_STEPS", "4")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("GANLAB_WIDGETS", "static")
    namespace = run_in_process(notebook, skip_tags=())
    assert namespace["STEPS"] == 4 and namespace["trained"].session.iterations == 4
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    namespace = run_in_process(notebook, skip_tags=())
    assert namespace["STEPS"] == 0 and namespace["trained"].session.iterations == 0
