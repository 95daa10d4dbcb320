"""The DCGAN lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's answer cells run in this process (training cells left out)
and the bridge runs the checks on that namespace through the same proxy as under grading.
Every check must pass the reference solution and fail at least one known-wrong variant; each
demo mistake must fail exactly the checks it lists, in its own part only.
"""
import json

import nbformat
import pytest
import torch

from ganlab_kit.grading import run_checks
from ganlab_kit.grading.notebook import run_in_process
from ganlab_kit.grading.submissions import Edit, load_submission_module
from lab_checks import (AUTOGRADER, LabChecks, copy_files, lab_fixtures, load_module, namespace_with,
                        quick_check_failures, quick_checks, stub_namespace, submissions_of)

ASSIGNMENT = "dcgan"
SUBMISSIONS = submissions_of(ASSIGNMENT)
source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)
GENERATOR_FILES = ("generator.pt", "fashion_generator.pt")
QUALITY_PARTS = ("quality", "fashion_quality")

#: Test-only wrong answers, so that every check is seen failing. (part, check) -> edits.
MUTANTS = {
    ("labels", "test_flipped_targets"): [Edit("labels_answer", "return torch.zeros(batch_size, 1), torch.ones(batch_size, 1)",
                                              "return torch.ones(batch_size, 1), torch.zeros(batch_size, 1)")],
    ("labels", "test_soft_target_ranges"): [Edit("labels_answer", "real_targets = 0.1 * torch.rand(batch_size, 1)",
                                                 "real_targets = 0.2 * torch.rand(batch_size, 1)")],
    ("labels", "test_soft_targets_are_uniform"): [Edit("labels_answer", "real_targets = 0.1 * torch.rand(batch_size, 1)",
                                                       "real_targets = (0.05 + 0.02 * torch.randn(batch_size, 1)).clamp(0, 0.1)")],
    ("labels", "test_swap_probability"): [Edit("labels_answer", "swap = torch.rand(real_targets.shape) < probability",
                                               "swap = torch.rand(1) < probability")],
    ("noise", "test_shape"): [Edit("noise_answer", "2 * torch.rand(batch_size, latent_dim) - 1",
                                   "2 * torch.rand(batch_size, TRICKS_LATENT_DIM) - 1")],
    ("noise", "test_uniform_on_minus_one_to_one"): [Edit("noise_answer", "2 * torch.rand(batch_size, latent_dim) - 1",
                                                         "torch.rand(batch_size, latent_dim)")],
    ("noise", "test_fresh_and_seeded"): [Edit(
        "noise_answer", "2 * torch.rand(batch_size, latent_dim) - 1",
        "torch.from_numpy(__import__('numpy').random.uniform(-1, 1, (batch_size, latent_dim))).float()")],
    ("generator", "test_output_range"): [Edit("generator_answer", "            nn.Tanh(),\n", "")],
    ("discriminator", "test_output_shape"): [Edit("discriminator_answer", "return self.net(x)", "return self.net(x).squeeze(1)")],
    ("discriminator", "test_strided_convolutions"): [
        Edit("discriminator_answer", "nn.Conv2d(channels, width, 4, stride=2, padding=1),",
             "nn.Conv2d(channels, width, 3, stride=1, padding=1), nn.MaxPool2d(2),")],
    ("shape_table", "test_generator_table"): [Edit("shape_table_answer", "(32, 14, 14), (32, 14, 14), (1, 28, 28)]",
                                                   "(32, 14, 14), (32, 14, 14), (28, 28)]")],
    ("shape_table", "test_discriminator_table"): [Edit("shape_table_answer", "(1568,), (256,), (1,)]",
                                                       "(32 * 7, 7), (256,), (1,)]")],
    ("shape_table", "test_cifar_generator_table"): [Edit("shape_table_answer", "(4096,), (64, 8, 8)", "(3136,), (64, 8, 8)")],
    ("shape_table", "test_cifar_discriminator_table"): [Edit("shape_table_answer", "(32, 8, 8), (2048,)", "(32, 8, 8), (1568,)")],
    ("optimizers", "test_each_on_its_own_network"): [Edit("optimizers_answer", "Adam(discriminator.parameters()",
                                                          "Adam(generator.parameters()")],
}


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    """The generator files the reference student hands in (the kit's trained references)."""
    return load_submission_module(AUTOGRADER / ASSIGNMENT).reference_files(tmp_path_factory.mktemp("dcgan-reference"))


class TestDcganChecks(LabChecks):
    """The checks every lab's hidden checks must pass (tests/lab_checks.py), for this lab."""

    ASSIGNMENT, SUBMISSIONS, MUTANTS = ASSIGNMENT, SUBMISSIONS, MUTANTS
    CAUGHT_ELSEWHERE = QUALITY_PARTS  # see the quality tests below
    STUB_FEEDBACK = ("NotImplementedError", "replace the ...")

    @pytest.fixture
    def hand_in(self, reference_files):
        """Every demo student hands in the kit's trained generator files."""
        return lambda name, folder: copy_files(reference_files, folder)

    def demo_parts(self, submission, parts):
        """The parts a demo mistake is graded on: all but the quality parts (they grade the
        handed-in generator files, the reference's here)."""
        return [part for part in parts if part not in QUALITY_PARTS]


def test_quick_checks_pass_reference_and_mistakes_but_not_stub(source):
    """Do the visible quick checks pass the reference and every demo mistake (a mistake costs only its
    hidden checks' points) and fail on the unanswered stub?"""
    quick = quick_checks(source, ASSIGNMENT)
    for grade_id in ("quality_checks", "fashion_quality_checks"):  # need the files; see the end-to-end test
        quick.pop(grade_id)
    for name, submission in SUBMISSIONS.items():
        if not submission.stub:
            assert quick_check_failures(quick, namespace_with(source, submission.edits)) == {}, name
    assert set(quick_check_failures(quick, stub_namespace(source))) == set(quick)


def test_grading_is_repeatable(source):
    """Does grading the same submission twice give the same points and feedback (seeded draws)?"""
    namespace = namespace_with(source, SUBMISSIONS["generator_targets_swapped"].edits)
    first = [run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER) for part in ("labels", "noise")]
    second = [run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER) for part in ("labels", "noise")]
    assert first == second


@pytest.mark.parametrize("part, filename", [("quality", "generator.pt"), ("fashion_quality", "fashion_generator.pt")])
def test_quality_checks(part, filename, source, tmp_path, reference_files):
    """Does each quality part pass the trained reference file, fail all its checks without the file,
    fail all but the loading check on an untrained generator, and reject a file of another network?"""
    from ganlab_kit.torch_gan import DCGANGenerator, MLPGenerator

    namespace = namespace_with(source)
    missing = run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER)
    assert missing.score == 0 and f"no {filename}" in missing.checks[0].feedback
    copy_files({filename: reference_files[filename]}, tmp_path)
    assert run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER).passed
    torch.manual_seed(0)
    torch.save(DCGANGenerator(latent_dim=8, width=32, refine=True).state_dict(), tmp_path / filename)
    untrained = run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER)
    assert untrained.failed_checks == ("test_inception_score", "test_coverage", "test_confident_rate")
    torch.save(MLPGenerator().state_dict(), tmp_path / filename)
    other = run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER)
    assert other.score == 0 and "does not hold the lab's Generator weights" in other.checks[0].feedback


@pytest.mark.parametrize("part, dataset", [("quality", "mnist"), ("fashion_quality", "fashion-mnist")])
def test_quality_thresholds_sit_below_every_calibration_seed(part, dataset):
    """Are the quality thresholds below the worst of >= 5 seeds of the notebook's own training, so a
    correct solution trained as told never fails them by chance?"""
    calibration = json.loads((AUTOGRADER / ASSIGNMENT / "quality_calibration.json").read_text())
    finals = [run["final"] for run in calibration["runs"] if run["dataset"] == dataset]
    assert len({run["seed"] for run in calibration["runs"] if run["dataset"] == dataset}) >= 5
    assert calibration["samples"] == 1000 and calibration["noise_seed"] == 0
    checks = load_module(AUTOGRADER / ASSIGNMENT / f"test_{part}.py", f"_dcgan_{part}")
    assert checks.MIN_INCEPTION_SCORE < min(final["inception_score"] for final in finals) - 0.3
    assert checks.MIN_COVERAGE <= min(final["coverage"] for final in finals)
    assert checks.MIN_COVERAGE_FOR_CONFIDENCE < min(final["coverage"] for final in finals)
    assert checks.MIN_CONFIDENT_RATE < min(final["confident_rate"] for final in finals) - 0.03


def test_training_cells_run_and_save_the_generator_files(source, tmp_path, monkeypatch):
    """Does the notebook's fast path (GANLAB_QUICK=1) run every cell, training included, plug the
    student's networks into the trainer and save both generator files?"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANLAB_QUICK", "1")
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    namespace = run_in_process(nbformat.from_dict(source), skip_tags=())
    assert namespace["DCGAN_STEPS"] == 30 and namespace["mnist_run"].steps == 30
    assert isinstance(namespace["trainer"].generator, namespace["Generator"])
    assert (tmp_path / "generator.pt").is_file()
    if namespace["clothes"] is not None:
        assert (tmp_path / "fashion_generator.pt").is_file()
