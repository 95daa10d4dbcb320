"""The DCGAN lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's answer cells run in this process (training cells left out)
and the bridge runs the checks on that namespace through the same proxy as under grading.
Every check must pass the reference solution and fail at least one known-wrong variant; each
demo mistake must fail exactly the checks it lists, in its own part only.
"""
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
import torch

from ganlab_kit.grading import list_checks, run_checks
from ganlab_kit.grading.notebook import (find_cell, nbgrader_metadata, read_notebook, run_in_process,
                                         strip_hidden_tests)
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, load_submissions

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
ASSIGNMENT = "dcgan"
SOURCE = REPO / "assignments" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SUBMISSIONS = {submission.name: submission for submission in load_submissions(AUTOGRADER / ASSIGNMENT)}
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
def source():
    return read_notebook(SOURCE)


def grade_cells(notebook):
    """grade_id -> part graded by the cell's hidden grade(...) line."""
    cells = {}
    for cell in notebook.cells:
        meta = nbgrader_metadata(cell)
        if meta.get("grade") and cell.cell_type == "code":
            match = re.search(r'grade\("dcgan/(\w+)", globals\(\)\)', cell.source)
            cells[meta["grade_id"]] = match.group(1) if match else None
    return cells


@pytest.fixture(scope="module")
def parts(source):
    return list(grade_cells(source).values())


@pytest.fixture(scope="module")
def catalogue(parts):
    return {part: list_checks(f"{ASSIGNMENT}/{part}", AUTOGRADER) for part in parts}


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    """The generator files the reference student hands in (the kit's trained references)."""
    spec = importlib.util.spec_from_file_location("_dcgan_submissions", AUTOGRADER / ASSIGNMENT / "submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_files(tmp_path_factory.mktemp("dcgan-reference"))


def hand_in(directory, files):
    for name, path in files.items():
        (directory / name).write_bytes(Path(path).read_bytes())


def namespace_with(source, edits=()):
    notebook = nbformat.from_dict(source)
    answers = {}
    for edit in edits:
        answers[edit.cell] = edit.apply(answers.get(edit.cell, strip_hidden_tests(find_cell(source, edit.cell).source)))
    for cell_id, text in answers.items():
        find_cell(notebook, cell_id).source = text
    return run_in_process(notebook)


def grade_all(namespace, parts, directory):
    return {part: run_checks(f"{ASSIGNMENT}/{part}", namespace, directory, AUTOGRADER) for part in parts}


def test_every_grade_cell_runs_one_known_part(source, parts):
    """Does every autograded cell end in exactly one grade("dcgan/<part>", globals()) line inside its
    hidden region, with a check module for that part, and every check module used?"""
    for grade_id, part in grade_cells(source).items():
        cell = find_cell(source, grade_id)
        hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*)\n### END HIDDEN TESTS", cell.source, re.S)
        assert hidden and hidden.group(1).strip().count("\n") == 0, grade_id
        assert part is not None and (AUTOGRADER / ASSIGNMENT / f"test_{part}.py").is_file(), grade_id
    modules = {path.stem[len("test_"):] for path in (AUTOGRADER / ASSIGNMENT).glob("test_*.py")}
    assert modules == set(parts)


def test_cell_points_match_check_points(source, catalogue):
    """Are a grade cell's points the sum of its checks' points?"""
    for grade_id, part in grade_cells(source).items():
        points = nbgrader_metadata(find_cell(source, grade_id))["points"]
        assert points == sum(check[2] for check in catalogue[part]), grade_id


def test_reference_earns_every_point(source, parts, tmp_path, reference_files):
    """Does the reference solution (with the kit's trained generator files) pass every hidden check?"""
    hand_in(tmp_path, reference_files)
    results = grade_all(namespace_with(source), parts, tmp_path)
    failed = {part: [c.feedback for c in result.checks if not c.passed]
              for part, result in results.items() if result.failed_checks}
    assert not failed


@pytest.mark.parametrize("name", sorted(name for name, s in SUBMISSIONS.items()
                                        if s.edits and s.expected_failures != ALL_CHECKS))
def test_demo_mistake_fails_exactly_its_checks(name, source, parts, tmp_path, reference_files):
    """Does each demo mistake fail exactly the checks it lists, and none in other parts?"""
    submission = SUBMISSIONS[name]
    hand_in(tmp_path, reference_files)
    non_quality = [part for part in parts if part not in QUALITY_PARTS]
    results = grade_all(namespace_with(source, submission.edits), non_quality, tmp_path)
    failed = {part: set(result.failed_checks) for part, result in results.items() if result.failed_checks}
    assert failed == {part: set(checks) for part, checks in submission.expected_failures.items()}


@pytest.mark.parametrize("part, check", sorted(MUTANTS))
def test_wrong_answer_fails_its_check(part, check, source):
    """Does this known-wrong answer fail the check written to catch it, with feedback and no traceback?"""
    result = run_checks(f"{ASSIGNMENT}/{part}", namespace_with(source, MUTANTS[part, check]), root=AUTOGRADER)
    assert check in result.failed_checks
    feedback = next(c.feedback for c in result.checks if c.name == check)
    assert feedback and "Traceback" not in feedback


def test_every_check_has_a_failing_variant(catalogue):
    """Is every hidden check seen failing on at least one wrong answer (demo mistake, test mutant, or
    the quality tests below)?"""
    caught = set(MUTANTS)
    for submission in SUBMISSIONS.values():
        if isinstance(submission.expected_failures, dict):
            caught |= {(part, check) for part, checks in submission.expected_failures.items() for check in checks}
    quality = {(part, name) for part in QUALITY_PARTS for name, _, _ in catalogue[part]}
    missing = {(part, name) for part, checks in catalogue.items() for name, _, _ in checks} - caught - quality
    assert not missing


def test_stub_fails_every_check(source, parts, tmp_path):
    """Does the release version (solutions cleared, no generator files) earn nothing?"""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    namespace = run_in_process(release, allow_errors=True)
    results = grade_all(namespace, parts, tmp_path)
    assert {part: result.score for part, result in results.items()} == {part: 0 for part in parts}
    messages = [check.feedback for result in results.values() for check in result.checks]
    assert any("NotImplementedError" in message for message in messages)
    assert any("replace the ..." in message for message in messages)


def test_quick_checks_pass_reference_and_mistakes_but_not_stub(source):
    """Do the visible quick checks pass the reference and every demo mistake (a mistake costs only its
    hidden checks' points) and fail on the unanswered stub?"""
    from nbgrader.preprocessors import ClearSolutions

    quick = {grade_id: strip_hidden_tests(find_cell(source, grade_id).source) for grade_id in grade_cells(source)}
    for grade_id in ("quality_checks", "fashion_quality_checks"):  # need the files; see the end-to-end test
        quick.pop(grade_id)
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
    (tmp_path / filename).write_bytes(Path(reference_files[filename]).read_bytes())
    assert run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER).passed
    torch.manual_seed(0)
    torch.save(DCGANGenerator(latent_dim=8, width=32, refine=True).state_dict(), tmp_path / filename)
    untrained = run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER)
    assert untrained.failed_checks == ("test_inception_score", "test_coverage", "test_confident_rate")
    torch.save(MLPGenerator().state_dict(), tmp_path / filename)
    other = run_checks(f"{ASSIGNMENT}/{part}", namespace, tmp_path, AUTOGRADER)
    assert other.score == 0 and "does not hold the lab's Generator weights" in other.checks[0].feedback


def _load_checks(name):
    spec = importlib.util.spec_from_file_location(f"_dcgan_{name}", AUTOGRADER / ASSIGNMENT / f"test_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("part, dataset", [("quality", "mnist"), ("fashion_quality", "fashion-mnist")])
def test_quality_thresholds_sit_below_every_calibration_seed(part, dataset):
    """Are the quality thresholds below the worst of >= 5 seeds of the notebook's own training, so a
    correct solution trained as told never fails them by chance?"""
    calibration = json.loads((AUTOGRADER / ASSIGNMENT / "quality_calibration.json").read_text())
    finals = [run["final"] for run in calibration["runs"] if run["dataset"] == dataset]
    assert len({run["seed"] for run in calibration["runs"] if run["dataset"] == dataset}) >= 5
    assert calibration["samples"] == 1000 and calibration["noise_seed"] == 0
    checks = _load_checks(part)
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
