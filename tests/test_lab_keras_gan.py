"""The Keras GAN lab's hidden checks, run in process against the source notebook.

No nbgrader here: the notebook's answer cells run in this process (training cells left
out) and the bridge runs the checks on that namespace through the same plain-data proxy
as under grading. Every check must pass the reference solution and fail at least one
known-wrong variant; each demo mistake must fail exactly the checks it lists, in its own
part only.
"""
import json
import re

import nbformat
import numpy as np
import pytest

from ganlab_kit.grading import run_checks
from ganlab_kit.grading.notebook import run_in_process
from ganlab_kit.grading.submissions import Edit, load_submission_module
from lab_checks import (AUTOGRADER, LabChecks, copy_files, grade_cells, lab_fixtures, load_module,
                        namespace_with, parts_lost, quick_check_failures, quick_checks, stub_namespace,
                        submissions_of)

pytestmark = pytest.mark.keras

ASSIGNMENT = "keras_gan"
SUBMISSIONS = submissions_of(ASSIGNMENT)
source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)
GENERATOR_FILE = "generator.weights.h5"

#: Test-only wrong answers, so that every check is seen failing. (part, check) -> edits.
MUTANTS = {
    ("generator", "test_layer_widths"): [Edit("generator_answer", "layers.Dense(600))", "layers.Dense(500))")],
    ("generator", "test_hidden_activations"): [Edit(
        "generator_answer", "generator.add(layers.Dense(1200))                             # (B, 1200)\n"
        "    generator.add(layers.LeakyReLU(negative_slope=0.2))",
        "generator.add(layers.Dense(1200, activation=\"relu\"))")],
    ("generator", "test_output_shape"): [Edit(
        "generator_answer", 'generator.add(layers.Dense(IMAGE_DIM, activation="tanh"))',
        'generator.add(layers.Dense(IMAGE_DIM, activation="tanh"))\n    generator.add(layers.Reshape((28, 28)))')],
    ("discriminator", "test_layer_widths"): [Edit("discriminator_answer", "layers.Dense(300))", "layers.Dense(256))")],
    ("discriminator", "test_output_probability"): [Edit(
        "discriminator_answer", 'layers.Dense(1, activation="sigmoid")', "layers.Dense(1)")],
    ("discriminator", "test_compiled"): [Edit("discriminator_answer", 'loss="binary_crossentropy"', 'loss="mse"')],
    ("create_gan", "test_output_is_d_of_g"): [Edit(
        "create_gan_answer", "discriminator(generator(noise))",
        "keras.models.clone_model(discriminator)(generator(noise))")],
    ("create_gan", "test_compiled"): [Edit("create_gan_answer", 'loss="binary_crossentropy"', 'loss="mse"')],
    ("create_gan", "test_stacked_step_trains_only_the_generator"): [Edit(
        "create_gan_answer", "    noise = keras.Input(shape=(LATENT_DIM,))",
        "    generator.trainable = False\n    noise = keras.Input(shape=(LATENT_DIM,))")],
    ("train_gan", "test_one_update_of_each_per_step"): [Edit(
        "train_gan_answer", "        noise = rng.standard_normal((batch_size, LATENT_DIM)).astype(\"float32\")   # new noise\n",
        "        discriminator.train_on_batch(data_total, labels_discriminator)\n"
        "        noise = rng.standard_normal((batch_size, LATENT_DIM)).astype(\"float32\")   # new noise\n")],
    ("train_gan", "test_discriminator_batch"): [Edit(
        "train_gan_answer", "np.concatenate([real_images, fake_images])",
        "np.concatenate([real_images, generator.predict_on_batch(noise[::-1])[::-1] * 0 + real_images])")],
    ("train_gan", "test_generator_noise"): [Edit(
        "train_gan_answer", "        noise = rng.standard_normal((batch_size, LATENT_DIM)).astype(\"float32\")   # new noise\n",
        "        noise = rng.uniform(0, 1, (batch_size, LATENT_DIM)).astype(\"float32\")   # new noise\n")],
    ("train_gan", "test_trainable_flags"): [Edit("train_gan_answer", "        discriminator.trainable = False\n", "")],
    ("train_gan", "test_history"): [Edit("train_gan_answer", "history[name].append(float(value))",
                                         "history[name].append(float(d_loss))")],
    ("train_gan", "test_sample_grids"): [Edit("train_gan_answer", "if step % sample_interval == 0:",
                                              "if step == steps:")],
    ("plots", "test_loss_figure"): [Edit("plots_answer", 'axis.plot(history[f"gan_{key}"]',
                                         'axis.plot(history[f"d_{key}"][::-1]')],
    ("plots", "test_accuracy_figure"): [Edit("plots_answer", "return figures[0], figures[1]",
                                             "return figures[0], figures[0]")],
    ("hand_labels", "test_ten_digits"): [Edit("hand_labels_answer", "HAND_LABELS = [", "HAND_LABELS = [10, ")],
}


def _reference_trained():
    from ganlab_kit.keras_gan.lab_weights import REFERENCE_KERAS_GENERATOR

    return REFERENCE_KERAS_GENERATOR.is_file()


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    """The kit's trained generator, saved as the notebook saves a student's."""
    if not _reference_trained():
        pytest.skip("the Keras lab's reference generator is not trained yet: run "
                    "autograder/keras_gan/calibrate_quality.py --seeds 0 --write-reference")
    module = load_submission_module(AUTOGRADER / ASSIGNMENT)
    return module.reference_files(tmp_path_factory.mktemp("reference"))[GENERATOR_FILE]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the notebook's cells and checks write sample grids here


class TestKerasGanChecks(LabChecks):
    """The checks every lab's hidden checks must pass (tests/lab_checks.py), for this lab."""

    ASSIGNMENT, SUBMISSIONS, MUTANTS = ASSIGNMENT, SUBMISSIONS, MUTANTS
    CAUGHT_ELSEWHERE = ("quality",)  # see test_quality_checks

    @pytest.fixture
    def hand_in(self, reference_file):
        """Every demo student hands in the kit's trained generator.weights.h5."""
        return lambda name, folder: copy_files({GENERATOR_FILE: reference_file}, folder)


def test_quick_checks_pass_reference_and_mistakes_but_not_stub(source, catalogue):
    """Do the visible quick checks pass the reference and every demo mistake, except where the
    mistake loses its whole part anyway (lr= raises in Keras 3; the wrong argmax axis), and fail
    on the unanswered stub?"""
    cells = grade_cells(source, ASSIGNMENT)
    quick = quick_checks(source, ASSIGNMENT)
    quick.pop("quality_checks")  # needs the weights file; covered by the end-to-end test
    for name, submission in SUBMISSIONS.items():
        if not submission.stub:
            failed = quick_check_failures(quick, namespace_with(source, submission.edits))
            lost = parts_lost(submission, catalogue)
            assert {cells[grade_id] for grade_id in failed} <= lost, (name, failed)
    assert set(quick_check_failures(quick, stub_namespace(source))) == set(quick)


def test_grading_is_repeatable(source):
    """Does grading the same submission five times give the same points and the same feedback?"""
    namespace = namespace_with(source, SUBMISSIONS["swapped_labels"].edits)
    runs = [[run_checks(f"{ASSIGNMENT}/{part}", namespace, root=AUTOGRADER) for part in ("train_gan", "create_gan")]
            for _ in range(5)]
    assert all(run == runs[0] for run in runs)


def test_quality_checks(source, tmp_path, reference_file):
    """Does the trained reference generator pass the quality checks, while a missing file fails
    all four, an untrained generator fails the three score checks, and a file with the wrong
    layers fails to load?"""
    import h5py

    namespace = namespace_with(source)
    missing = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    assert missing.score == 0 and f"no {GENERATOR_FILE}" in missing.checks[0].feedback
    copy_files({GENERATOR_FILE: reference_file}, tmp_path)
    assert run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER).passed
    namespace["create_generator"]().save_weights(tmp_path / GENERATOR_FILE)  # untrained
    untrained = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    assert untrained.failed_checks == ("test_inception_score", "test_coverage", "test_confident_rate")
    with h5py.File(tmp_path / GENERATOR_FILE, "w") as handle:
        handle["layers/dense/vars/0"] = np.zeros((100, 256), np.float32)
    wrong = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    assert wrong.score == 0 and "does not hold the lab's generator" in wrong.checks[0].feedback


def test_quality_thresholds_sit_below_every_calibration_seed(source):
    """Are the quality thresholds below the worst calibration seed (>= 5 seeds) at the notebook's
    TRAINING_STEPS, so a correct solution trained as told never fails them by chance?"""
    training = next(cell.source for cell in source.cells if "TRAINING_STEPS = " in cell.source)
    steps = int(re.search(r"TRAINING_STEPS = (\d+)", training).group(1))
    calibration = json.loads((AUTOGRADER / ASSIGNMENT / "quality_calibration.json").read_text())
    if not calibration.get("complete", True):
        pytest.skip(f"quality_calibration.json is incomplete ({calibration.get('note', '')}); run "
                    "autograder/keras_gan/calibrate_quality.py --seeds 0 1 2 3 4")
    final = [run for run in calibration["runs"] if run["step"] == steps]
    assert len({run["seed"] for run in final}) >= 5
    checks = load_module(AUTOGRADER / ASSIGNMENT / "test_quality.py", "_keras_quality_checks")
    assert checks.SAMPLES == calibration["samples"] and checks.SEED == calibration["noise_seed"]
    assert checks.MIN_INCEPTION_SCORE < min(run["inception_score"] for run in final)
    assert checks.MIN_COVERAGE < min(run["coverage"] for run in final)
    assert checks.MIN_COVERAGE_FOR_CONFIDENCE < min(run["coverage"] for run in final)
    assert checks.MIN_CONFIDENT_RATE < min(run["confident_rate"] for run in final)


def test_training_cells_run_and_save_the_generator(source, tmp_path):
    """Do the training cells (shortened to 4 steps) train all three runs with the notebook's own
    functions, save generator.weights.h5 and its sample grids, and run Parts 2 and 3?"""
    notebook = nbformat.from_dict(source)
    for cell in notebook.cells:
        cell.source = re.sub(r"TRAINING_STEPS = \d+", "TRAINING_STEPS = 4", cell.source).replace(
            "SAMPLE_INTERVAL = TRAINING_STEPS // 10", "SAMPLE_INTERVAL = 2")
    namespace = run_in_process(notebook, skip_tags=())
    for name in ("history", "history_no_dropout", "history_changed"):
        assert len(namespace[name]["d_loss"]) == 4, name
    assert (tmp_path / GENERATOR_FILE).is_file()
    assert len(list((tmp_path / "samples" / "main").glob("step_*.png"))) == 2
    assert namespace["samples"].shape == (10, 784)


def test_training_cell_loads_the_saved_generator_under_grading(source, tmp_path, monkeypatch, reference_file):
    """Under nbgrader (GANLAB_MAX_STEPS=0) does the training cell load generator.weights.h5 instead
    of training, and do the other runs train zero steps?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "0")
    copy_files({GENERATOR_FILE: reference_file}, tmp_path)
    namespace = run_in_process(nbformat.from_dict(source), skip_tags=())
    assert namespace["history"]["d_loss"] == [] and namespace["history_no_dropout"]["d_loss"] == []
    from ganlab_kit.keras_gan.lab_weights import read_dense_weights

    saved = read_dense_weights(tmp_path / GENERATOR_FILE)
    assert np.array_equal(namespace["generator"].layers[-1].get_weights()[0], saved[-1][0])
    assert (tmp_path / GENERATOR_FILE).read_bytes() == reference_file.read_bytes()  # not overwritten


def test_lab_steps_follow_the_fast_path_and_the_grading_budget(monkeypatch):
    """Does lab_steps give all steps normally, at most $GANLAB_LAB_STEPS when set, and at most
    GANLAB_MAX_STEPS under nbgrader?"""
    from ganlab_kit.keras_gan.lab import lab_steps

    assert lab_steps(2000) == 2000
    monkeypatch.setenv("GANLAB_LAB_STEPS", "20")
    assert lab_steps(2000) == 20 and lab_steps(5) == 5
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "0")
    assert lab_steps(2000) == 0
    monkeypatch.setenv("GANLAB_LAB_STEPS", "many")
    with pytest.raises(ValueError, match="GANLAB_LAB_STEPS"):
        lab_steps(10)


def test_weights_reader_finds_layers_by_shape_and_refuses_the_rest(tmp_path):
    """Does read_dense_weights find the lab's Dense layers by shape in .h5 and .npz files, whatever
    their names and order, and refuse missing, ambiguous or unreadable files with a clear message?"""
    import h5py

    from ganlab_kit.keras_gan.lab_weights import (NumpyMLPGenerator, WeightsFileError, dense_shapes,
                                                  read_dense_weights, save_dense_arrays)

    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal(shape).astype(np.float32) * 0.05, rng.standard_normal(shape[1]).astype(np.float32))
               for shape in dense_shapes()]
    with h5py.File(tmp_path / "g.weights.h5", "w") as handle:
        for index, (kernel, bias) in reversed(list(enumerate(weights))):  # stored in another order
            handle[f"layers/whatever_{index}/vars/0"] = kernel
            handle[f"layers/whatever_{index}/vars/1"] = bias
    read = read_dense_weights(tmp_path / "g.weights.h5")
    assert all(np.array_equal(a, b) for pair, other in zip(read, weights) for a, b in zip(pair, other))
    save_dense_arrays(weights, tmp_path / "g.npz", dtype=np.float32)
    assert all(np.array_equal(a, b) for pair, other in zip(read_dense_weights(tmp_path / "g.npz"), weights)
               for a, b in zip(pair, other))
    images = NumpyMLPGenerator(read)(rng.standard_normal((3, 100)))
    assert images.shape == (3, 784) and np.abs(images).max() <= 1.0
    with h5py.File(tmp_path / "twice.h5", "w") as handle:
        handle["a"], handle["b"] = weights[0][0], weights[0][0]
    with pytest.raises(WeightsFileError, match="2 array"):
        read_dense_weights(tmp_path / "twice.h5")
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsFileError, match="not a readable HDF5"):
        read_dense_weights(tmp_path / "junk.weights.h5")
    with pytest.raises(WeightsFileError, match="there is no"):
        read_dense_weights(tmp_path / "missing.weights.h5")


def _files_under(folder, skip=(".ipynb",)):
    """relative path -> bytes of every file under ``folder`` (notebooks and checkpoints left out)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.endswith(skip) and ".ipynb_checkpoints" not in path.parts}


def answered_release(source, training_steps=None):
    """The release notebook (solutions cleared, hidden tests removed) with the reference answers
    typed in, as a student hands it in; ``training_steps`` replaces TRAINING_STEPS."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    from ganlab_kit.grading.notebook import student_copy

    release, resources = ClearSolutions().preprocess(nbformat.from_dict(source), {})
    release, _ = ClearHiddenTests().preprocess(release, resources)
    student = student_copy(release, source)
    if training_steps is not None:
        for cell in student.cells:
            cell.source = re.sub(r"TRAINING_STEPS = \d+", f"TRAINING_STEPS = {training_steps}", cell.source)
    return student


@pytest.mark.slow
def test_nbgrader_validate_without_course_config_keeps_every_hand_in_file(source, tmp_path, monkeypatch):
    """After a student's run of the release notebook (reference answers, a short run), does
    `nbgrader validate` without the course's config (what the Validate button runs: nbgrader's
    grading budget of 200 steps, not 0) leave generator.weights.h5 and every sample grid byte for
    byte as they were, and pass?"""
    import os
    import subprocess
    import sys

    student = answered_release(source, training_steps=20)  # SAMPLE_INTERVAL 2: ten grids a run
    monkeypatch.setenv("GANLAB_LAB_STEPS", "4")            # the student's run: 4 steps, grids at 2 and 4
    run_in_process(student, skip_tags=())
    monkeypatch.delenv("GANLAB_LAB_STEPS")
    nbformat.write(student, tmp_path / "keras_gan.ipynb")
    before = _files_under(tmp_path)
    assert GENERATOR_FILE in before and "samples/no_dropout/step_000004.png" in before, sorted(before)

    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("GANLAB_", "NBGRADER_", "JUPYTER_"))}
    environment["JUPYTER_CONFIG_DIR"] = str(tmp_path.parent / "no-jupyter-config")  # no course config anywhere
    result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "keras_gan.ipynb"], cwd=tmp_path,
                            env=environment, capture_output=True, text=True, timeout=600)
    report = result.stdout + result.stderr
    assert "Success!" in report, report[-3000:]
    after = _files_under(tmp_path)
    assert sorted(after) == sorted(before), (sorted(set(after) ^ set(before)))
    changed = [name for name in before if after[name] != before[name]]
    assert not changed, f"nbgrader validate wrote over {changed}"
