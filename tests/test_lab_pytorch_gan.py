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
    ("generator", "test_reference_layout"): [Edit("generator_answer", "self.net = nn.Sequential(",
                                                  "self.layers = nn.Sequential("),
                                             Edit("generator_answer", "self.net(z)", "self.layers(z)")],
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
