"""The 2-D GAN lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's code cells run in this process (the training cell left
out) and the bridge runs the checks on that namespace through the same proxy as under
grading. Every check must pass the reference solution and fail at least one known-wrong
variant; each demo mistake must fail exactly the checks it lists, in its own part only.
"""
import nbformat
import pytest

from ganlab_kit.grading import run_checks
from ganlab_kit.grading.notebook import nbgrader_metadata, run_in_process
from ganlab_kit.grading.submissions import Edit
from lab_checks import (AUTOGRADER, LabChecks, grade_all, lab_fixtures, namespace_with, print_catch_rate,
                        quick_check_catch_rate, quick_check_failures,
                        quick_checks, stub_namespace, submissions_of)

ASSIGNMENT = "gan_2d"
SUBMISSIONS = submissions_of(ASSIGNMENT)
source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)

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


class TestGan2dChecks(LabChecks):
    """The checks every lab's hidden checks must pass (tests/lab_checks.py), for this lab."""

    ASSIGNMENT, SUBMISSIONS, MUTANTS = ASSIGNMENT, SUBMISSIONS, MUTANTS
    PARTS = ("heatmap", "gradients")


def test_written_answers_are_graded_by_hand(source):
    """Are the three questions manual-graded markdown answers worth 2 points each?"""
    manual = {nbgrader_metadata(cell)["grade_id"]: nbgrader_metadata(cell)["points"]
              for cell in source.cells if cell.cell_type == "markdown" and nbgrader_metadata(cell).get("grade")}
    assert manual == {"q1_answer": 2, "q2_answer": 2, "q3_answer": 2}


_G_LOSS = "g_loss = generator_loss(discriminator(points), loss, from_logits=True)"

#: Mistakes beyond the demo students whose advice issue 21 found wrong: name -> edits.
ADVICE_MISTAKES = {
    # the minimax loss written out by hand with the wrong sign; the other two losses right
    "minimax_sign_only": (Edit("gradients_answer", _G_LOSS,
                               'if loss == "minimax":\n'
                               "        g_loss = -torch.log(1 - torch.sigmoid(discriminator(points))).mean()\n"
                               "    else:\n"
                               "        " + _G_LOSS),),
    # a sigmoid on D's logits, then generator_loss(..., from_logits=True): the loss argument is passed
    "double_sigmoid": (Edit("gradients_answer", _G_LOSS,
                            "g_loss = generator_loss(torch.sigmoid(discriminator(points)), loss, from_logits=True)"),),
}

#: name -> {check: (words its feedback must say, words it must not say)}, for every check each demo
#: mistake and each advice mistake fails: every hint is derived from what the check measured.
HINTS = {
    "logit_heatmap": {"test_matches_discriminator": ("logits", None), "test_probabilities": ("apply torch.sigmoid", None)},
    "swapped_axes": {"test_matches_discriminator": ("swapped", None)},
    "discriminator_loss_arrows": {"test_matches_autograd": ("D's loss", None),
                                  "test_points_downhill": ("lower G's loss", None),
                                  "test_follows_loss_choice": ("hundreds of times smaller", "sigmoid is applied twice")},
    "flipped_sign": {"test_matches_autograd": ("return the gradient itself", None),
                     "test_points_downhill": ("not its negative", None)},
    "ignores_loss": {"test_matches_autograd": ("pass the loss argument", None),
                     "test_follows_loss_choice": ("same for both losses: pass the loss argument", None)},
    "minimax_sign_only": {"test_matches_autograd": ("sign of your minimax loss is flipped",
                                                    "the widget draws minus the gradient")},
    "double_sigmoid": {"test_matches_autograd": ("sigmoid is applied twice", "pass the loss argument"),
                       "test_follows_loss_choice": ("sigmoid is applied twice", "loss argument")},
}


@pytest.mark.parametrize("name", sorted(HINTS))
def test_feedback_names_the_mistake(name, source):
    """Does every failed check of each demo mistake (and of the mistakes whose advice was wrong,
    issue 21) say what went wrong, and never another mistake's advice?"""
    edits = SUBMISSIONS[name].edits if name in SUBMISSIONS else ADVICE_MISTAKES[name]
    results = grade_all(ASSIGNMENT, namespace_with(source, edits), ("heatmap", "gradients"))
    failed = {check.name: check.feedback for result in results.values() for check in result.checks
              if not check.passed}
    assert set(failed) == set(HINTS[name]), failed
    for check, (words, wrong) in HINTS[name].items():
        assert words in failed[check], (check, failed[check])
        assert wrong is None or wrong not in failed[check], (check, failed[check])


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
    results = grade_all(ASSIGNMENT, namespace_with(source, VALID_VARIANTS[name]), parts)
    assert {part: result.failed_checks for part, result in results.items()} == {part: () for part in parts}


def test_quick_checks_pass_reference_and_valid_variants_but_not_stub(source):
    """Do the visible quick checks pass the reference and every other correct style, and fail on the
    unanswered stub?"""
    quick = quick_checks(source, ASSIGNMENT)
    for name, edits in [("reference", ())] + sorted(VALID_VARIANTS.items()):
        assert quick_check_failures(quick, namespace_with(source, edits)) == {}, name
    assert set(quick_check_failures(quick, stub_namespace(source))) == set(quick)


def known_bugs():
    """name -> (part, edits): every demo mistake, test mutant and advice mistake (the known bugs)."""
    bugs = {f"{name}/{part}": (part, submission.edits) for name, submission in SUBMISSIONS.items()
            if submission.edits and isinstance(submission.expected_failures, dict)
            for part in submission.expected_failures}
    bugs.update({f"{part}/{check}": (part, edits) for (part, check), edits in MUTANTS.items()})
    bugs.update({name: ("gradients", edits) for name, edits in ADVICE_MISTAKES.items()})
    return bugs


def test_quick_checks_catch_the_labs_signature_mistakes(source, capsys):
    """What share of each part's known bugs does its visible quick check already catch, where the
    student is, with a message? Printed per part; every one of them here."""
    rates = quick_check_catch_rate(source, ASSIGNMENT, known_bugs())
    with capsys.disabled():
        print_catch_rate("2-D GAN quick-check catch rate per part (demo mistakes + test mutants + advice mistakes):", rates)
    assert {part: names for part, (_, _, names) in rates.items() if names} == {}


def test_widget_uses_the_students_functions(source):
    """Does the notebook's widget draw with the student's own heat map and arrows, and show (not
    raise) the error of an unanswered stub?"""
    namespace = namespace_with(source)
    session = namespace["lab"].session
    assert session.heatmap_fn is namespace["discriminator_heatmap"]
    assert session.gradient_fn is namespace["fake_point_gradients"]
    view = stub_namespace(source)["lab"].view()
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


@pytest.mark.slow
def test_nbgrader_validate_without_course_config_keeps_every_hand_in_file(source, tmp_path, monkeypatch):
    """After a student's short run of the release notebook with the reference answers, does `nbgrader
    validate` without any course config (the Validate button) pass and leave the folder's files as
    they were (the lab hands in only the notebook, so its cells write no file at all)?"""
    from lab_checks import answered_release, files_under, validate_without_course_config

    student = answered_release(source)
    folder = tmp_path / "student"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GANLAB_GAN2D_STEPS", "3")
    monkeypatch.setenv("GANLAB_WIDGETS", "static")
    run_in_process(student, skip_tags=())
    nbformat.write(student, folder / f"{ASSIGNMENT}.ipynb")
    before = files_under(folder)
    passed, report = validate_without_course_config(folder / f"{ASSIGNMENT}.ipynb", timeout=600)
    assert passed, report[-3000:]
    after = files_under(folder)
    assert after == before, sorted(set(after) ^ set(before))
