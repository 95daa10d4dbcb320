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
from lab_checks import (AUTOGRADER, LabChecks, copy_files, grade_all, lab_fixtures, load_module, namespace_with,
                        print_catch_rate, quick_check_catch_rate,
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


def test_quick_checks_pass_reference_and_fail_stub(source):
    """Do the visible quick checks pass the reference solution and fail on the unanswered stub?"""
    quick = quick_checks(source, ASSIGNMENT)
    for grade_id in ("quality_checks", "fashion_quality_checks"):  # need the files; see the end-to-end test
        quick.pop(grade_id)
    assert quick_check_failures(quick, namespace_with(source)) == {}
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


# --------------------------------------------------------------------------- issue 21's rows
_PROJECT = '''        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * side * side, bias=False),   # (B, 2w*s*s)
            nn.Unflatten(1, (2 * width, side, side)),                    # (B, 2w, s, s)
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
        )
'''
_UPSAMPLE_END = '''            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),                # (B, C, 4s, 4s)
            nn.Tanh(),
        )
'''
#: The asked names (project, upsample), but self.upsample assigned first: its weights come first in
#: state_dict() and in generator.pt.
UPSAMPLE_FIRST = (Edit("generator_answer", _PROJECT, ""), Edit("generator_answer", _UPSAMPLE_END, _UPSAMPLE_END + _PROJECT))


def _upsample_first_files(source, folder, reference_files):
    """The generator files a student with UPSAMPLE_FIRST hands in: the reference's trained weights in
    that student's Generator, saved with its own state_dict (upsample.* keys first), as fit_to_bar does."""
    generator_class = namespace_with(source, UPSAMPLE_FIRST)["Generator"]
    for filename, path in reference_files.items():
        state = torch.load(path, map_location="cpu", weights_only=True)
        generator = generator_class()
        generator.load_state_dict(state)  # by name
        assert next(iter(generator.state_dict())).startswith("upsample.")
        torch.save(generator.state_dict(), folder / filename)
    return folder


@pytest.mark.parametrize("part", ["generator", *QUALITY_PARTS])
def test_upsample_assigned_first_keeps_every_point(part, source, tmp_path, reference_files):
    """Does a Generator with the asked names that assigns self.upsample before self.project keep its
    generator points (weights paired by name, not position), and do its handed-in generator files
    keep the quality and Fashion-quality points (issue 21: -9; the files are read by
    ganlab_kit/grading/safe_load.py)?"""
    folder = _upsample_first_files(source, tmp_path, reference_files)
    results = grade_all(ASSIGNMENT, namespace_with(source, UPSAMPLE_FIRST), (part,), folder)
    lost = {part: [(c.name, c.feedback) for c in result.checks if not c.passed] for part, result in results.items()}
    assert lost == {part: [] for part in results}


#: (part, check, edits, words the feedback must say, words it must not say): each a bug of issue 21
#: that kept full marks or was given wrong advice.
JUDGED_BUGS = {
    "adamw": ("optimizers", "test_adam", (Edit(
        "optimizers_answer", "g_optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))",
        "g_optimizer = torch.optim.AdamW(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))"),),
        "weight_decay", None),
    "soft_labels_numpy": ("labels", "test_soft_targets_are_uniform", (Edit(
        "labels_answer", "real_targets = 0.1 * torch.rand(batch_size, 1)         # U[0.0, 0.1]",
        "real_targets = torch.from_numpy(0.1 * __import__('numpy').random.rand(batch_size, 1)).float()"),),
        "torch.manual_seed", None),
    "swap_mask_numpy": ("labels", "test_swap_probability", (Edit(
        "labels_answer", "swap = torch.rand(real_targets.shape) < probability",
        "swap = torch.from_numpy(__import__('numpy').random.rand(*real_targets.shape) < probability)"),),
        "torch.manual_seed", None),
    "swap_in_place": ("labels", "test_swap_probability", (Edit(
        "labels_answer",
        "    return (torch.where(swap, fake_targets, real_targets),\n"
        "            torch.where(swap, real_targets, fake_targets))",
        "    saved = real_targets.clone()\n"
        "    real_targets[swap] = fake_targets[swap]\n"
        "    fake_targets[swap] = saved[swap]\n"
        "    return real_targets, fake_targets"),),
        "in place", None),
    "discriminator_flat_output": ("discriminator", "test_output_shape", (Edit(
        "discriminator_answer", "return self.net(x)", "return self.net(x).view(-1)"),),
        "should give", "order of the layers"),
    "four_transposed_convolutions": ("generator", "test_upsampling_path", (Edit(
        "generator_answer", "            nn.Conv2d(width, width, 3, padding=1, bias=False),                          # (B, w, 2s, 2s)\n",
        "            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1, bias=False),\n"
        "            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1, bias=False),\n"
        "            nn.Conv2d(width, width, 4, stride=4, bias=False),\n"),),
        "4 nn.ConvTranspose2d", "shrinks the map"),
}


@pytest.mark.parametrize("name", sorted(JUDGED_BUGS))
def test_issue_21_bug_loses_its_check_with_the_right_advice(name, source):
    """Does each bug of issue 21 lose the check of its part, with feedback that names its cause (and
    none of the others' advice), and does every other check of any part keep its feedback honest
    (the D with a (B,) output loses only its shape check)?"""
    part, check, edits, words, wrong = JUDGED_BUGS[name]
    result = run_checks(f"{ASSIGNMENT}/{part}", namespace_with(source, edits), root=AUTOGRADER)
    assert check in result.failed_checks, result
    for failed in result.checks:
        if not failed.passed:
            assert wrong is None or wrong not in failed.feedback, (failed.name, failed.feedback)
    feedback = next(c.feedback for c in result.checks if c.name == check)
    assert words in feedback, feedback
    if name == "discriminator_flat_output":
        assert result.failed_checks == ("test_output_shape",), result.failed_checks


def test_tiles_evenly_as_numpy_bools_keeps_its_point(source):
    """Does TILES_EVENLY computed with NumPy (np.True_ / np.False_) keep the coverage points and pass
    the quick check (issue 21: -1)?"""
    edits = (Edit("tiling_answer", "(3, 3): True, (4, 3): False, (6, 3): True, (3, 1): True}",
                  "(3, 3): True, (4, 3): False, (6, 3): True, (3, 1): True}\n"
                  "import numpy as np\n"
                  "TILES_EVENLY = {pair: np.all(np.diff(tap_coverage(*pair, length=12)[pair[0]:-pair[0]]) == 0)\n"
                  "                for pair in TILES_EVENLY}"),)
    namespace = namespace_with(source, edits)
    assert type(namespace["TILES_EVENLY"][(4, 2)]).__module__ == "numpy"
    assert run_checks(f"{ASSIGNMENT}/coverage", namespace, root=AUTOGRADER).failed_checks == ()
    assert quick_check_failures({"coverage_checks": quick_checks(source, ASSIGNMENT)["coverage_checks"]}, namespace) == {}


def test_docs_and_readme_state_the_notebooks_points(source):
    """Do docs/lab_dcgan.md and README's lab table give the notebook's own autograded and manual
    points (issue 21: the page said 40 where the notebook has 36)?"""
    import re

    from ganlab_kit.grading.notebook import nbgrader_metadata
    from lab_checks import REPO

    graded = [nbgrader_metadata(cell) for cell in source.cells if nbgrader_metadata(cell).get("grade")]
    auto = sum(meta["points"] for meta, cell in zip(graded, [c for c in source.cells if nbgrader_metadata(c).get("grade")])
               if cell.cell_type == "code")
    manual = sum(meta["points"] for meta, cell in zip(graded, [c for c in source.cells if nbgrader_metadata(c).get("grade")])
                 if cell.cell_type == "markdown")
    page = (REPO / "docs" / "lab_dcgan.md").read_text()
    assert re.search(rf"\b{auto} autograded points\b", page) and f"{manual} for written answers" in page
    assert not re.search(r"\b(?!%d\b)\d+ autograded points" % auto, page)
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `dcgan` |"))
    assert f"| {auto} auto + {manual} by hand |" in row, row


#: Demo mistake -> {check it fails: words its feedback must say}: each hint derived from what the check
#: measured (issue 21: a hint for each demo mistake).
DEMO_HINTS = {
    "kernel3_everywhere": {"test_even_overlap": "kernel 3 and stride 2", "test_matches_reference": "(64, 32, 4, 4)"},
    "soft_labels_wrong_side": {"test_soft_target_ranges": "wrong side",
                               "test_soft_targets_are_uniform": "the other label's side"},
    "generator_targets_swapped": {"test_generator_targets": "G always aims at the real label"},
    "conv2d_instead_of_transposed": {"test_output_shape": "got (2, 1, 6, 6)",
                                     "test_upsampling_path": "nn.Conv2d with stride 2 shrinks the map",
                                     "test_matches_reference": "weight number 6"},
    "output_27x27": {"test_output_shape": "got (2, 1, 27, 27)", "test_upsampling_path": "[14, 27]",
                     "test_even_overlap": "kernel 3 and stride 2", "test_matches_reference": "(32, 1, 3, 3)"},
    "sgd_optimizers": {"test_adam": "is a SGD", "test_settings": "no betas"},
    "relu_discriminator": {"test_leaky_relu": "nn.ReLU", "test_matches_reference": "nn.ReLU where the table's network has an nn.LeakyReLU"},
    "uneven_tiling_claim": {"test_small_cases": "positions", "test_default_length": "length 8",
                            "test_many_cases": "positions", "test_tiles_evenly_claim": "TILES_EVENLY[(3, 2)] is True"},
}


def test_every_demo_mistake_has_its_hints():
    """Does DEMO_HINTS cover every demo mistake and every check it fails?"""
    mistakes = {name: submission for name, submission in SUBMISSIONS.items() if submission.edits}
    assert set(DEMO_HINTS) == set(mistakes)
    for name, submission in mistakes.items():
        assert set(DEMO_HINTS[name]) == set().union(*submission.expected_failures.values()), name


@pytest.mark.parametrize("name", sorted(DEMO_HINTS))
def test_demo_mistake_feedback_names_its_cause(name, source):
    """Does each failed check of a demo mistake say what it measured, in words that name the cause?"""
    submission = SUBMISSIONS[name]
    results = grade_all(ASSIGNMENT, namespace_with(source, submission.edits), list(submission.expected_failures))
    failed = {check.name: check.feedback for result in results.values() for check in result.checks if not check.passed}
    for check, words in DEMO_HINTS[name].items():
        assert words in failed[check], (check, failed[check])


def known_bugs():
    """name -> (part, edits): every demo mistake, test mutant and bug of issue 21 (the known bugs)."""
    bugs = {f"{name}/{part}": (part, submission.edits) for name, submission in SUBMISSIONS.items()
            if submission.edits and isinstance(submission.expected_failures, dict)
            for part in submission.expected_failures}
    bugs.update({f"{part}/{check}": (part, edits) for (part, check), edits in MUTANTS.items()
                 if not isinstance(edits, tuple)})
    bugs.update({name: (part, edits) for name, (part, _, edits, _, _) in JUDGED_BUGS.items()})
    return bugs


def test_quick_checks_catch_the_labs_signature_mistakes(source, capsys):
    """What share of each part's known bugs does its visible quick check already catch, where the
    student is, with a message? Printed per part; every one of them here."""
    rates = quick_check_catch_rate(source, ASSIGNMENT, known_bugs(), skip=("quality_checks", "fashion_quality_checks"))
    with capsys.disabled():
        print_catch_rate("DCGAN quick-check catch rate per part (demo mistakes + test mutants + issue 21's bugs):", rates)
    missed = {part: names for part, (_, _, names) in rates.items() if names}
    assert missed == {}


# Nothing lost under Validate: tests/test_browser_dcgan.py runs this release notebook with the reference
# answers in JupyterLab, presses nbgrader's Validate button (no course config) and compares
# every hand-in file byte for byte; a second, headless nbgrader validate run here would only
# repeat it at CI's expense.
