"""The PyTorch GAN lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's answer cells are executed in this process (training
cells left out) and the bridge runs the checks on that namespace. Every check must
pass the reference solution and fail at least one known-wrong variant; each demo
mistake must fail exactly the checks it lists, in its own part only.
"""
import re

import nbformat
import pytest
import torch

from ganlab_kit.grading import run_checks
from ganlab_kit.grading.notebook import run_in_process
from ganlab_kit.grading.submissions import Edit
from lab_checks import (AUTOGRADER, LabChecks, copy_files, grade_cells, lab_fixtures, load_module,
                        namespace_with, quick_checks, stub_namespace, submissions_of)

ASSIGNMENT = "pytorch_gan"
SUBMISSIONS = submissions_of(ASSIGNMENT)
source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)

#: Test-only wrong answers, so that every check is seen failing. (part, check) -> edits.
MUTANTS = {
    ("noise", "test_shape"): [Edit("noise_answer", "torch.randn(batch_size, latent_dim)",
                                   "torch.randn(batch_size, 100)")],
    ("noise", "test_standard_normal"): [Edit("noise_answer", "torch.randn(", "torch.rand(")],
    ("noise", "test_fresh_and_reproducible"): [Edit(
        "noise_answer", "torch.randn(batch_size, latent_dim)",
        "torch.from_numpy(__import__('numpy').random.randn(batch_size, latent_dim)).float()")],
    ("generator", "test_output_shape"): [Edit("generator_answer", "self.net(z).view(-1, 1, 28, 28)",
                                              "self.net(z)")],
    ("generator", "test_architecture"): [Edit("generator_answer", "nn.Linear(512, 1024),         # (B, 1024)\n"
                                              "            nn.LeakyReLU(0.2),",
                                              "nn.Linear(512, 1024),         # (B, 1024)\n"
                                              "            nn.ReLU(),")],
    # an extra layer with weights of its own: the kit's weights fit neither by name nor by order
    ("generator", "test_reference_layout"): [Edit("generator_answer", "nn.Linear(256, 512),          # (B, 512)",
                                                  "nn.Linear(256, 512), nn.LayerNorm(512),")],
    ("reshape", "test_general_cases"): [Edit("reshape_answer", "math.prod(in_shape) == math.prod(out_shape)",
                                             "in_shape[0] == math.prod(out_shape)")],
    ("reshape", "test_hint_answers"): [Edit("reshape_constants", "RESHAPE_800_TO_20_10_4 = True",
                                            "RESHAPE_800_TO_20_10_4 = False")],
    ("reshape", "test_last_layer_units"): [Edit("reshape_constants", "GENERATOR_LAST_FC_UNITS = 784",
                                                "GENERATOR_LAST_FC_UNITS = 256")],
    ("discriminator", "test_output_shape"): [Edit("discriminator_answer", "self.net(x.view(x.shape[0], -1))",
                                                  "self.net(x.view(x.shape[0], -1)).squeeze(1)")],
    ("discriminator", "test_output_range"): [Edit("discriminator_answer",
                                                  "            nn.Sigmoid(),                 # a probability in (0, 1)\n",
                                                  "")],
    ("optimizers", "test_adam"): [Edit("optimizers_answer", "d_optimizer = torch.optim.Adam(",
                                       "d_optimizer = torch.optim.RAdam(")],
    ("optimizers", "test_settings"): [Edit("optimizers_answer", "torch.optim.Adam(generator.parameters(), lr=1e-3",
                                           "torch.optim.Adam(generator.parameters(), lr=4e-4")],
    ("optimizers", "test_each_on_its_own_network"): [Edit("optimizers_answer", "Adam(discriminator.parameters()",
                                                          "Adam(generator.parameters()")],
    ("discriminator_loss", "test_matches_reference"): [Edit(
        "discriminator_loss_answer", "return real_loss + fake_loss", "return (real_loss + fake_loss) / 2")],
    ("discriminator_loss", "test_direction"): [Edit(
        "discriminator_loss_answer", "return real_loss + fake_loss",
        "return bce(d_real, torch.zeros_like(d_real)) + bce(d_fake, torch.ones_like(d_fake))")],
    ("discriminator_loss", "test_scalar_tensor_with_gradient"): [Edit(
        "discriminator_loss_answer", "return real_loss + fake_loss", "return (real_loss + fake_loss).item()")],
    ("generator_loss", "test_matches_reference"): [Edit(
        "generator_loss_answer", "return nn.BCELoss()(d_fake, torch.ones_like(d_fake))",
        "return -nn.BCELoss()(d_fake, torch.zeros_like(d_fake))")],
    ("train_discriminator", "test_returns_loss"): [Edit("train_discriminator_answer", "return loss.item()",
                                                        "return loss")],
    ("train_discriminator", "test_updates_and_improves"): [Edit("train_discriminator_answer",
                                                                "    d_optimizer.step()\n", "")],
    ("train_discriminator", "test_no_gradient_into_generator"): [Edit(
        "train_discriminator_answer", "discriminator(fake_images.detach())", "discriminator(fake_images)")],
    ("train_generator", "test_returns_loss"): [Edit("train_generator_answer", "return loss.item()", "return loss")],
    ("train_generator", "test_updates_only_generator"): [Edit("train_generator_answer",
                                                              "    g_optimizer.step()\n", "")],
    ("train_generator", "test_raises_d_of_g"): [Edit(
        "train_generator_answer", "loss = generator_loss(discriminator(fake_images))",
        "loss = -generator_loss(discriminator(fake_images))")],
    ("train_generator", "test_batch_and_latent_size"): [Edit(
        "train_generator_answer", "sample_noise(batch_size, latent_dim)", "sample_noise(batch_size)")],
    ("train_generator", "test_clears_old_gradients"): [Edit("train_generator_answer",
                                                            "    g_optimizer.zero_grad()\n", "")],
}


class TestPytorchGanChecks(LabChecks):
    """The checks every lab's hidden checks must pass (tests/lab_checks.py), for this lab."""

    ASSIGNMENT, SUBMISSIONS, MUTANTS = ASSIGNMENT, SUBMISSIONS, MUTANTS
    CAUGHT_ELSEWHERE = ("quality",)  # see the quality tests
    STUB_FEEDBACK = ("NotImplementedError", "RESHAPE_600_TO_20_20_2")

    @pytest.fixture
    def hand_in(self, reference_generator_file):
        """Every demo student hands in the kit's trained generator.pt."""
        return lambda name, folder: copy_files({"generator.pt": reference_generator_file}, folder)


def quick_check_fails(code, grade_id, namespace):
    """The quick check's message when it fails on ``namespace``, else None."""
    try:
        exec(compile(code, grade_id, "exec"), dict(namespace))
    except Exception as error:  # an assertion or an error the student's code raised
        return f"{type(error).__name__}: {error}"
    return None


def bug_bank():
    """(name, part, edits) of every demo mistake and test mutant: the known bugs of each part."""
    bank = [(name, part, submission.edits) for name, submission in SUBMISSIONS.items()
            if submission.edits and isinstance(submission.expected_failures, dict)
            for part in submission.expected_failures]
    bank += [(f"{part}/{check}", part, edits) for (part, check), edits in MUTANTS.items()]
    return bank


def test_quick_checks_pass_reference_and_fail_stub(source):
    """Do the visible quick checks pass the reference solution and fail on the unanswered stub?"""
    quick = quick_checks(source, ASSIGNMENT)
    quick.pop("quality_checks")  # needs generator.pt: test_quality_quick_check
    namespace = namespace_with(source)
    for grade_id, code in quick.items():
        assert quick_check_fails(code, grade_id, namespace) is None, grade_id
    namespace = stub_namespace(source)
    for grade_id, code in quick.items():
        assert quick_check_fails(code, grade_id, namespace) is not None, grade_id


def test_quick_checks_catch_most_known_bugs(source, capsys):
    """For each part, what share of its known bugs (demo mistakes and test mutants) does the visible
    quick check already catch, with a message? Printed per part; most of them, in every part."""
    quick = quick_checks(source, ASSIGNMENT)
    cell_of = {part: grade_id for grade_id, part in grade_cells(source, ASSIGNMENT).items()}
    caught, total, missed = {}, {}, []
    for name, part, edits in bug_bank():
        grade_id = cell_of[part]
        message = quick_check_fails(quick[grade_id], grade_id, namespace_with(source, edits))
        total[part] = total.get(part, 0) + 1
        if message:
            caught[part] = caught.get(part, 0) + 1
        else:
            missed.append(name)
    with capsys.disabled():
        print("\nquick-check catch rate per part (demo mistakes + test mutants):")
        for part in sorted(total):
            print(f"  {part:<22}{caught.get(part, 0):2d} / {total[part]:2d}")
        print(f"  missed: {sorted(missed) or 'none'}")
    for part in total:
        assert caught.get(part, 0) > total[part] / 2, (part, missed)


def test_quality_quick_check(source, tmp_path, monkeypatch, reference_generator_file):
    """Does the quality quick check use the autograder's thresholds, pass the kit's trained generator,
    and fail an untrained one with the reason (collapse), as the hidden checks do?"""
    checks = load_module(AUTOGRADER / ASSIGNMENT / "test_quality.py", "_quality_checks")
    code = quick_checks(source, ASSIGNMENT)["quality_checks"]
    stated = re.search(r"MIN_INCEPTION_SCORE, MIN_COVERAGE, MIN_CONFIDENT_RATE = ([\d.]+), (\d+), ([\d.]+)", code)
    assert stated and (float(stated[1]), int(stated[2]), float(stated[3])) == (
        checks.MIN_INCEPTION_SCORE, checks.MIN_COVERAGE, checks.MIN_CONFIDENT_RATE)
    markdown = "\n".join(cell.source for cell in source.cells if cell.cell_type == "markdown")
    assert (f"inception score at least {checks.MIN_INCEPTION_SCORE:g}, at least {checks.MIN_COVERAGE} digits "
            f"covered and at least {checks.MIN_CONFIDENT_RATE:.0%} confident") in " ".join(markdown.split())
    monkeypatch.chdir(tmp_path)
    namespace = namespace_with(source)
    assert "no generator.pt" in quick_check_fails(code, "quality_checks", namespace)
    copy_files({"generator.pt": reference_generator_file}, tmp_path)
    assert quick_check_fails(code, "quality_checks", namespace) is None
    from ganlab_kit.torch_gan import MLPGenerator

    torch.manual_seed(0)
    torch.save(MLPGenerator().state_dict(), tmp_path / "generator.pt")
    assert "mode collapse" in quick_check_fails(code, "quality_checks", namespace)


def test_grading_is_repeatable(source):
    """Does grading the same submission twice give the same points and the same feedback?"""
    namespace = namespace_with(source, SUBMISSIONS["no_zero_grad"].edits)
    first = [run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER)
             for part in ("noise", "train_discriminator", "train_generator")]
    second = [run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER)
              for part in ("noise", "train_discriminator", "train_generator")]
    assert first == second


def test_quality_checks(source, tmp_path, reference_generator_file):
    """Does the trained reference generator pass the quality checks while a missing file fails all
    four and an untrained generator fails the three score checks?"""
    from ganlab_kit.torch_gan import MLPGenerator

    namespace = namespace_with(source)
    missing = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    assert missing.score == 0 and "no generator.pt" in missing.checks[0].feedback
    copy_files({"generator.pt": reference_generator_file}, tmp_path)
    assert run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER).passed
    torch.manual_seed(0)
    torch.save(MLPGenerator().state_dict(), tmp_path / "generator.pt")
    untrained = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    assert untrained.failed_checks == ("test_inception_score", "test_coverage", "test_confident_rate")


@pytest.fixture(scope="module")
def reference_generator_file(tmp_path_factory):
    """The kit's trained reference generator, saved as a student's generator.pt."""
    from ganlab_kit.grading.demo import reference_generator_file as write_reference

    return write_reference(tmp_path_factory.mktemp("reference") / "generator.pt")


def test_quality_thresholds_sit_below_every_calibration_seed(source):
    """Were the quality thresholds calibrated on the notebook's current training (same recipe
    fingerprint), and do they sit below the worst of >= 5 calibration seeds at the notebook's
    TRAINING_STEPS, so a correct solution trained as told never fails them by chance?"""
    import json

    calibrate = load_module(AUTOGRADER / ASSIGNMENT / "calibrate_quality.py", "_calibrate")
    steps = calibrate.training_steps(source)
    calibration = json.loads((AUTOGRADER / ASSIGNMENT / "quality_calibration.json").read_text())
    assert calibration.get("recipe_fingerprint") == calibrate.recipe_fingerprint(source), (
        "quality_calibration.json was measured on other training cells or answers: recalibrate")
    final = [run for run in calibration["runs"] if run["step"] == steps]
    assert len({run["seed"] for run in final}) >= 5
    checks = load_module(AUTOGRADER / ASSIGNMENT / "test_quality.py", "_quality_checks")
    assert checks.SAMPLES == calibration["samples"] and checks.SEED == calibration["noise_seed"]
    assert checks.MIN_INCEPTION_SCORE < min(run["inception_score"] for run in final) - 1
    assert checks.MIN_COVERAGE < min(run["coverage"] for run in final)
    assert checks.MIN_COVERAGE_FOR_CONFIDENCE < min(run["coverage"] for run in final)
    assert checks.MIN_CONFIDENT_RATE < min(run["confident_rate"] for run in final) - 0.1


def test_training_cells_run_the_students_steps(source, tmp_path, monkeypatch):
    """Do the training cells plug the notebook's own step functions into the Trainer and the
    dashboard, and save generator.pt (a 3-step run of each)?"""
    monkeypatch.chdir(tmp_path)
    notebook = nbformat.from_dict(source)
    for cell in notebook.cells:
        cell.source = re.sub(r"TRAINING_STEPS = \d+", "TRAINING_STEPS = 3", cell.source).replace(
            ".run(1000)", ".run(3)")
    namespace = run_in_process(notebook, skip_tags=())
    assert namespace["TRAINING_STEPS"] == 3 and len(namespace["history"]) == 3
    assert namespace["trainer"].train_discriminator_fn is namespace["train_discriminator"]
    assert namespace["trainer"].train_generator_fn is namespace["train_generator"]
    assert (tmp_path / "generator.pt").is_file()
    assert namespace["generator"] is namespace["trainer"].averaged_generator  # what is saved and scored


# --------------------------------------------------------------------------- issue 21: judged exactly
VARIANTS = load_module(AUTOGRADER / ASSIGNMENT / "variants.py", "_pytorch_gan_variants")
EVERY_VARIANT = {variant.name: variant for variant in VARIANTS.VALID + VARIANTS.BUGS}

#: What the feedback of a failed check must say, for each demo mistake and each real-world bug
#: (derived from what the check measured, not a fixed sentence per check).
HINTS = {
    ("wrong_target_loss", "test_matches_reference"): "wants its fakes labelled real (1)",
    ("wrong_target_loss", "test_direction"): "should fall as D(G(z)) rises",
    ("wrong_target_loss", "test_non_saturating"): "non-saturating",
    ("no_zero_grad", "test_clears_old_gradients"): "d_optimizer.zero_grad() before loss.backward()",
    ("relu_discriminator", "test_architecture"): "applies ReLU 3 time(s) where LeakyReLU with slope 0.2 belongs",
    ("narrow_discriminator", "test_architecture"): "yours map [(784, 512), (512, 256), (256, 128), (128, 1)]",
    ("ndim_reshape", "test_hint_cases"): "800 values can fill",
    ("ndim_reshape", "test_general_cases"): "784 values can fill",
    ("no_tanh", "test_output_range"): "end the network with nn.Tanh()",
    ("relu_generator", "test_architecture"): "applies ReLU 3 time(s)",
    ("default_slope", "test_architecture"): "slopes [0.2, 0.01, 0.2]",
    ("sigmoid_output", "test_output_range"): "Sigmoid stops at 0",
    ("squeezed_scores", "test_output_shape"): "lost their last axis",
    ("skipped_layer", "test_output_shape"): "mat1 and mat2 shapes cannot be multiplied",
    ("minimax_generator_loss", "test_non_saturating"): "log(1 - D(G(z))) gives about -1",
    ("swapped_labels", "test_direction"): "should fall as D(x) rises",
    ("cached_noise", "test_fresh_and_reproducible"): "two calls returned the same noise",
    ("fixed_noise_generator_step", "test_batch_and_latent_size"): "it saw [(16, 100)]",
    ("no_detach", "test_no_gradient_into_generator"): "fake_images.detach()",
    ("tensor_return", "test_returns_loss"): "got Tensor",
    ("adamw", "test_adam"): "AdamW, weight decay 0.01",
    ("default_betas", "test_settings"): "betas (0.9, 0.999)",
    ("one_optimizer", "test_each_on_its_own_network"): "exactly the generator's parameters",
}


def _part_of(cell_id):
    """The part an answer cell belongs to (``generator_answer`` -> ``generator``)."""
    return "reshape" if cell_id == "reshape_constants" else cell_id[:-len("_answer")]


@pytest.fixture(scope="module")
def variant_results(source):
    """name -> (failed checks by part, quick-check failures, check -> feedback), each real-world
    variant graded once on the parts its answers belong to."""
    quick = quick_checks(source, ASSIGNMENT)
    cell_of = {part: grade_id for grade_id, part in grade_cells(source, ASSIGNMENT).items()}
    results = {}
    for name, variant in EVERY_VARIANT.items():
        namespace = namespace_with(source, variant.edits(source))
        parts = sorted({_part_of(cell) for cell in variant.answers})
        graded = {part: run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER) for part in parts}
        failed = {part: set(result.failed_checks) for part, result in graded.items() if result.failed_checks}
        feedback = {check.name: check.feedback for result in graded.values() for check in result.checks
                    if not check.passed}
        quick_failed = {part: quick_check_fails(quick[cell_of[part]], cell_of[part], namespace) for part in parts}
        results[name] = (failed, {part: message for part, message in quick_failed.items() if message}, feedback)
    return results


@pytest.mark.parametrize("name", [variant.name for variant in VARIANTS.VALID])
def test_valid_variant_keeps_every_point(name, variant_results):
    """Does a correct answer in another common style (layers in attributes of their own,
    F.leaky_relu / torch.tanh in forward, labels from one batch size, split backward passes...)
    keep every point of its parts and pass their quick checks?"""
    failed, quick_failed, feedback = variant_results[name]
    assert not failed, feedback
    assert not quick_failed


@pytest.mark.parametrize("name", [variant.name for variant in VARIANTS.BUGS])
def test_real_bug_loses_its_checks_with_its_hint(name, variant_results):
    """Does each real-world bug (including those that show only across calls: reused noise, a
    fixed batch of fakes) fail exactly the checks it lists, in its own part, with feedback that
    names its cause?"""
    failed, _, feedback = variant_results[name]
    assert failed == {part: set(checks) for part, checks in EVERY_VARIANT[name].loses.items()}
    hinted = [check for (variant, check) in HINTS if variant == name]
    assert hinted
    for check in hinted:
        assert HINTS[name, check] in feedback[check], (check, feedback[check])


def test_real_world_bank_counts(variant_results, capsys):
    """How many real-world bugs lose points and how many valid variants keep them all? Printed."""
    caught = sum(bool(variant_results[v.name][0]) for v in VARIANTS.BUGS)
    kept = sum(not variant_results[v.name][0] and not variant_results[v.name][1] for v in VARIANTS.VALID)
    with capsys.disabled():
        print(f"\npytorch_gan real-world bank: bugs caught {caught} / {len(VARIANTS.BUGS)}, "
              f"valid kept {kept} / {len(VARIANTS.VALID)}")
    assert caught == len(VARIANTS.BUGS) and kept == len(VARIANTS.VALID)


def test_demo_mistake_feedback_names_the_cause(source):
    """Does every failed check of every demo mistake give the hint written for that mistake (the
    cause it measured), and does every such hint belong to a check the mistake fails?"""
    for name, submission in SUBMISSIONS.items():
        if not submission.edits or not isinstance(submission.expected_failures, dict):
            continue
        namespace = namespace_with(source, submission.edits)
        for part, checks in submission.expected_failures.items():
            result = run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER)
            for check in result.checks:
                if check.name in checks:
                    assert HINTS[name, check.name] in check.feedback, (name, check.name, check.feedback)


class _Project(torch.nn.Module):
    """A DCGAN-like pair of layers, ``project`` then ``upsample``, of the same shape."""

    def __init__(self, upsample_first=False):
        super().__init__()
        if upsample_first:  # assigned in the other order: state_dict lists upsample first
            self.upsample = torch.nn.Linear(3, 3)
            self.project = torch.nn.Linear(3, 3)
        else:
            self.project = torch.nn.Linear(3, 3)
            self.upsample = torch.nn.Linear(3, 3)


def test_loader_pairs_by_name_whatever_the_assignment_order():
    """Do weights saved from a network that assigns a later-named layer first load by name (the
    names match), not by position, which would swap two layers of the same shape silently?"""
    from ganlab_kit.grading.safe_load import load_by_order, load_weights

    student = _Project(upsample_first=True)
    kit = _Project()
    assert load_weights(kit, student.state_dict()) == "name"
    assert torch.equal(kit.project.weight, student.project.weight)
    assert torch.equal(load_by_order(_Project(), student.state_dict()).upsample.bias, student.upsample.bias)


def test_loader_pairs_other_names_by_order_and_shape_or_says_why():
    """Do weights under other names (hidden0..hidden2, out) load into the kit's generator by layer
    order and shape, and does a file that fits neither way get an error naming the tensor?"""
    from ganlab_kit.grading.safe_load import load_weights
    from ganlab_kit.torch_gan import MLPGenerator

    namespace = {"nn": torch.nn, "torch": torch, "LATENT_DIM": 100}
    exec(VARIANTS.HIDDEN_BLOCKS_G, namespace)
    student = namespace["Generator"]()
    kit = MLPGenerator()
    assert load_weights(kit, student.state_dict()) == "order"
    assert torch.equal(kit.net[6].weight, student.out[0].weight)
    wrong = dict(student.state_dict())
    wrong["hidden1.0.weight"] = torch.zeros(512, 300)
    with pytest.raises(ValueError, match=r"neither by name nor by layer order and shape: tensor number 3 "
                                         r"\(hidden1.0.weight\) has shape \(512, 300\)"):
        load_weights(kit, wrong)


def test_quality_reads_a_generator_saved_under_other_names(source, tmp_path, reference_generator_file):
    """Does the quality part give full points to the kit's trained weights saved from a Generator
    whose layers sit in attributes of their own (hidden0..hidden2, out)?"""
    from ganlab_kit.grading.safe_load import load_tensors

    trained = load_tensors(reference_generator_file)
    names = ["hidden0.0.weight", "hidden0.0.bias", "hidden1.0.weight", "hidden1.0.bias",
             "hidden2.0.weight", "hidden2.0.bias", "out.0.weight", "out.0.bias"]
    torch.save(dict(zip(names, trained.values())), tmp_path / "generator.pt")
    namespace = namespace_with(source, EVERY_VARIANT["hidden_blocks"].edits(source))
    result = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    assert result.passed, [check.feedback for check in result.checks]


# --------------------------------------------------------------------------- issue 26: nothing lost
def _files_under(folder):
    """relative path -> bytes of every file under ``folder`` (notebooks and checkpoints left out)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.endswith(".ipynb") and ".ipynb_checkpoints" not in path.parts}


@pytest.mark.slow
def test_nbgrader_validate_without_course_config_keeps_every_hand_in_file(source, tmp_path, monkeypatch,
                                                                          reference_generator_file):
    """After a student's run of the release notebook (reference answers typed in, a 3-step run that
    saves generator.pt), does `nbgrader validate` without the course's config (the Validate
    button: nbgrader's grading budget, not the course's) pass and leave generator.pt and every
    other file byte for byte as they were?"""
    import os
    import subprocess
    import sys

    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    from ganlab_kit.grading.notebook import student_copy

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    student = student_copy(release, source)
    short = nbformat.from_dict(student)
    for cell in short.cells:  # the student's own (short) run
        cell.source = re.sub(r"TRAINING_STEPS = \d+", "TRAINING_STEPS = 3", cell.source).replace(".run(1000)", ".run(3)")
    monkeypatch.chdir(tmp_path)
    run_in_process(short, skip_tags=())
    assert (tmp_path / "generator.pt").is_file(), "the training cell saves generator.pt"
    # the file a student hands in after the full run (3 steps would fail the quality quick check)
    copy_files({"generator.pt": reference_generator_file}, tmp_path)
    nbformat.write(student, tmp_path / f"{ASSIGNMENT}.ipynb")
    before = _files_under(tmp_path)

    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("GANLAB_", "NBGRADER_", "JUPYTER_"))}
    environment["JUPYTER_CONFIG_DIR"] = str(tmp_path.parent / "no-jupyter-config")  # no course config
    result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", f"{ASSIGNMENT}.ipynb"], cwd=tmp_path,
                            env=environment, capture_output=True, text=True, timeout=600)
    report = result.stdout + result.stderr
    assert "Success!" in report, report[-3000:]
    after = _files_under(tmp_path)
    assert sorted(after) == sorted(before), sorted(set(after) ^ set(before))
    assert not [name for name in before if after[name] != before[name]], "nbgrader validate wrote over a file"


# --------------------------------------------------------------------------- issue 24: grading time
def test_step_and_optimizer_checks_move_little_data(reference_namespace):
    """Do the optimizer and training-step checks (which build networks in the notebook and copy
    parameters back) move at most a few MB between the checks and the notebook, so a submission
    is not graded at the speed of a socket? (With the lab's full-width networks: about 110 MB.)"""
    from ganlab_kit.grading.bridge import run_checks_over
    from ganlab_kit.grading.remote import InProcessConnection, NotebookServer

    class Counting(InProcessConnection):
        moved = 0

        def request(self, header, buffers):
            reply, reply_buffers = super().request(header, buffers)
            Counting.moved += sum(map(len, buffers)) + sum(map(len, reply_buffers))
            return reply, reply_buffers

    for part in ("optimizers", "train_discriminator", "train_generator"):
        connection = Counting(NotebookServer(reference_namespace))
        try:
            assert run_checks_over(f"{ASSIGNMENT}/{part}", connection, root=AUTOGRADER).passed, part
        finally:
            connection.close()
    assert Counting.moved < 16e6, f"{Counting.moved / 1e6:.1f} MB crossed between the checks and the notebook"
