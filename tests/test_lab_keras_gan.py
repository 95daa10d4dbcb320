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
from lab_checks import (AUTOGRADER, LabChecks, answered_release, copy_files, files_under, grade_cells, grade_in_order,
                        lab_fixtures, load_module, validate_without_course_config,
                        namespace_with, quick_check_failures, quick_checks, stub_namespace,
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


def _quick_message(code, grade_id, namespace):
    """The quick check's message when it fails on ``namespace``, else None."""
    try:
        exec(compile(code, grade_id, "exec"), dict(namespace))
    except Exception as error:  # an assertion or an error the student's code raised
        return f"{type(error).__name__}: {error}"
    return None


def test_quick_checks_pass_reference_and_valid_answers_but_not_stub(source):
    """Do the visible quick checks pass the reference and every other-style correct answer of the
    bank, and fail on the unanswered stub?"""
    quick = quick_checks(source, ASSIGNMENT)
    quick.pop("quality_checks")  # needs the weights file; covered by the end-to-end test
    part_of = grade_cells(source, ASSIGNMENT)
    for name, (edits, _) in [("reference", ([], {})), *VALID.items()]:
        namespace = namespace_with(source, edits)
        # a quick check above the first edited answer cell sees the reference's answers: the
        # reference row ran it (as test_real_world_bank_summary grades only the parts below)
        below = set(parts_below_the_edits(source, part_of.values(), edits)) if edits else set(part_of.values())
        failed = {grade_id: _quick_message(code, grade_id, namespace) for grade_id, code in quick.items()
                  if part_of[grade_id] in below}
        assert not any(failed.values()), (name, {k: v for k, v in failed.items() if v})
    assert set(quick_check_failures(quick, stub_namespace(source))) == set(quick)


#: the lab's signature mistakes the quick checks must catch where the student is, and what the
#: message must tell the student to change
SIGNATURE = {"keras2_freeze_once": ("create_gan", "Remove discriminator.trainable = False from create_gan"),
             "keras2_full_recipe": ("train_gan", "discriminator.trainable = True right before it"),
             "lr_keyword": ("optimizers", "learning_rate="),
             "swapped_labels": ("train_gan", "swapped")}


def test_quick_checks_catch_the_signature_mistakes(source, capsys):
    """Does each part's quick check catch most of its known bugs (demo mistakes, test mutants and
    the real-world bugs), the lab's signature mistakes (the Keras 2 freeze-once recipe, the full
    Keras 2 recipe, lr=, swapped labels) each with a message saying what to change? The catch
    rate per part is printed."""
    quick = quick_checks(source, ASSIGNMENT)
    cell_of = {part: grade_id for grade_id, part in grade_cells(source, ASSIGNMENT).items()}
    bank = [(name, part, submission.edits) for name, submission in SUBMISSIONS.items()
            if submission.edits and isinstance(submission.expected_failures, dict)
            for part in submission.expected_failures]
    bank += [(f"{part}/{check}", part, edits) for (part, check), edits in MUTANTS.items()]
    bank += [(name, part, edits) for name, (edits, expected) in BUGS.items() for part in expected]
    caught, total, missed, messages = {}, {}, [], {}
    for name, part, edits in bank:
        grade_id = cell_of[part]
        message = _quick_message(quick[grade_id], grade_id, namespace_with(source, edits))
        total[part] = total.get(part, 0) + 1
        messages[name, part] = message
        if message:
            caught[part] = caught.get(part, 0) + 1
        else:
            missed.append(name)
    with capsys.disabled():
        print("\nkeras_gan quick-check catch rate per part (demo mistakes + test mutants + real-world bugs):")
        for part in sorted(total):
            print(f"  {part:<16}{caught.get(part, 0):2d} / {total[part]:2d}")
        print(f"  missed: {sorted(missed) or 'none'}")
    for name, (part, advice) in SIGNATURE.items():
        assert messages[name, part] and advice in messages[name, part], (name, messages[name, part])
    for part in total:
        assert caught.get(part, 0) > total[part] / 2, (part, missed)


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


def test_lab_steps_follow_the_fast_path_and_the_grading_budget(monkeypatch, tmp_path):
    """Does lab_steps give all steps normally, at most $GANLAB_LAB_STEPS when set, at most
    GANLAB_MAX_STEPS under nbgrader, and none under nbgrader when a run's files are there?"""
    from ganlab_kit.keras_gan.lab import lab_steps

    assert lab_steps(2000) == 2000
    monkeypatch.setenv("GANLAB_LAB_STEPS", "20")
    assert lab_steps(2000) == 20 and lab_steps(5) == 5
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "0")
    assert lab_steps(2000) == 0
    monkeypatch.setenv("GANLAB_MAX_STEPS", "200")  # nbgrader without the course config
    assert lab_steps(2000, keep=["nothing_here.h5", "no_samples"]) == 20
    (tmp_path / "samples").mkdir()
    assert lab_steps(2000, keep=[tmp_path / "samples"]) == 20  # an empty folder holds nothing to keep
    (tmp_path / "samples" / "step_000002.png").write_bytes(b"png")
    assert lab_steps(2000, keep=["nothing_here.h5", tmp_path / "samples"]) == 0
    monkeypatch.delenv("NBGRADER_EXECUTION")
    assert lab_steps(2000, keep=[tmp_path / "samples"]) == 20  # a student's own run trains (and saves)
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


@pytest.mark.slow
def test_nbgrader_validate_without_course_config_keeps_every_hand_in_file(source, tmp_path, monkeypatch):
    """After a student's run of the release notebook (reference answers, a short run), does
    `nbgrader validate` without the course's config (what the Validate button runs: nbgrader's
    grading budget of 200 steps, not 0) leave generator.weights.h5 and every sample grid byte for
    byte as they were, and pass?"""
    student = answered_release(source)
    for cell in student.cells:  # the student's shorter run: SAMPLE_INTERVAL 2, ten grids a run
        cell.source = re.sub(r"TRAINING_STEPS = \d+", "TRAINING_STEPS = 20", cell.source)
    monkeypatch.setenv("GANLAB_LAB_STEPS", "4")            # the student's run: 4 steps, grids at 2 and 4
    run_in_process(student, skip_tags=())
    monkeypatch.delenv("GANLAB_LAB_STEPS")
    nbformat.write(student, tmp_path / "keras_gan.ipynb")
    before = files_under(tmp_path)
    assert GENERATOR_FILE in before and "samples/no_dropout/step_000004.png" in before, sorted(before)

    passed, report = validate_without_course_config(tmp_path / "keras_gan.ipynb")
    assert passed, report[-3000:]
    after = files_under(tmp_path)
    assert sorted(after) == sorted(before), (sorted(set(after) ^ set(before)))
    changed = [name for name in before if after[name] != before[name]]
    assert not changed, f"nbgrader validate wrote over {changed}"


# ----------------------------------------------------------------------------- real-world bank
# Other-style correct answers (VALID: full marks except what the notebook asks otherwise, listed)
# and real bugs (BUGS: each must fail the listed checks, in its part only). Some are adapted to
# the lab's names from public Keras MNIST GANs, as noted.
_LOOP_NOISE = '        noise = rng.standard_normal((batch_size, LATENT_DIM)).astype("float32")   # new noise\n'
VALID = {
    "float32_accuracy": ([Edit("classifier_answer", "return float(np.mean(predicted_classes(probabilities) == np.asarray(labels)))",
                               "return np.float32(np.mean(predicted_classes(probabilities) == np.asarray(labels)))")], {}),
    "functional_generator": ([Edit(
        "generator_answer",
        "    generator.add(layers.Dense(300))                              # (B, 300)\n",
        "    noise = keras.Input(shape=(LATENT_DIM,))\n    x = noise\n    for units in (300, 600, 1200):\n"
        "        x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(units)(x))\n"
        "    generator = keras.Model(noise, layers.Dense(IMAGE_DIM, activation=\"tanh\")(x), name=\"generator\")\n"
        "    return generator\n    generator.add(layers.Dense(300))                              # (B, 300)\n")], {}),
    # PacktPublishing/Deep-Learning-for-Computer-Vision, Chapter08/vanilla_gan.py: make_trainable
    # sets the flag on the model and on each of its layers, around the stacked model's step
    "make_trainable_helper": ([Edit(
        "train_gan_answer", "        discriminator.trainable = False\n",
        "        for net in [discriminator] + list(discriminator.layers):\n            net.trainable = False\n"),
        Edit("train_gan_answer", "        discriminator.trainable = True\n        d_loss",
             "        for net in [discriminator] + list(discriminator.layers):\n            net.trainable = True\n        d_loss")], {}),
    # Zackory/Keras-MNIST-GAN (mnist_gan.py): one-sided label smoothing, real label 0.9
    "real_label_0_9": ([Edit("train_gan_answer", 'labels_real = np.ones((batch_size, 1), "float32")',
                             'labels_real = np.full((batch_size, 1), 0.9, "float32")')], {}),
    # a stacked model compiled without metrics and a loop written for it ("%f" % loss)
    "metricless_stacked_model": ([
        Edit("create_gan_answer", 'optimizer=optimizer, metrics=["accuracy"])', "optimizer=optimizer)"),
        Edit("train_gan_answer", "gan_loss, gan_acc = gan.train_on_batch(noise, labels_gan)",
             "gan_loss = gan.train_on_batch(noise, labels_gan)\n        gan_acc = 0.0  # no metric on the stacked model\n"
             "        print(\"%f\" % gan_loss, end=\"\\r\")")], {"create_gan": {"test_compiled"}}),
}
BUGS = {
    "shared_adam": ([Edit("optimizers_answer", "def dis_optimizer():",
                          "SHARED_ADAM = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.999)\n\n\n"
                          "def dis_optimizer():"),
                     Edit("optimizers_answer", "return keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.999)",
                          "return SHARED_ADAM")], {"optimizers": {"test_adam"}}),
    "softmax_output": ([Edit("discriminator_answer", 'layers.Dense(1, activation="sigmoid")',
                             'layers.Dense(1, activation="softmax")')], {"discriminator": {"test_output_probability"}}),
    "first_batch_always": ([Edit("train_gan_answer", "images[rng.integers(0, len(images), batch_size)]",
                                 "images[:batch_size]")], {"train_gan": {"test_discriminator_batch"}}),
    "g_reuses_d_noise": ([Edit("train_gan_answer", _LOOP_NOISE, "")], {"train_gan": {"test_generator_noise"}}),
    # PacktPublishing/Deep-Learning-for-Computer-Vision, Chapter08/vanilla_gan.py:
    # dl.append(D.train_on_batch(X, y)) keeps [loss, accuracy] pairs
    "loss_accuracy_pairs": ([Edit("train_gan_answer", "history[name].append(float(value))",
                                  "history[name].append(float(value))\n"
                                  "        history[\"d_loss\"][-1] = [float(d_loss), float(d_acc)]")],
                            {"train_gan": {"test_history"}}),
    "gan_acc_is_d_acc": ([Edit("train_gan_answer", "(d_loss, d_acc, gan_loss, gan_acc)", "(d_loss, d_acc, gan_loss, d_acc)")],
                         {"train_gan": {"test_history"}}),
    "grids_rescaled": ([Edit("train_gan_answer", "save_sample_grid(generator.predict_on_batch(fixed_noise),",
                             "save_sample_grid((generator.predict_on_batch(fixed_noise) + 1) / 2,")],
                       {"train_gan": {"test_sample_grids"}}),
    "keras2_full_recipe": ([Edit("create_gan_answer", "    noise = keras.Input(shape=(LATENT_DIM,))",
                                 "    discriminator.trainable = False\n    noise = keras.Input(shape=(LATENT_DIM,))"),
                            Edit("train_gan_answer", "        discriminator.trainable = True\n        d_loss", "        d_loss"),
                            Edit("train_gan_answer", "        discriminator.trainable = False\n", "")],
                           {"create_gan": {"test_discriminator_still_learns"}, "train_gan": {"test_trainable_flags"}}),
}


def parts_below_the_edits(source, parts, edits):
    """The parts whose grade cell stands below the first answer cell ``edits`` change. The cells
    above it run exactly as the reference's, so every part graded there scores as the reference
    does (every point: TestKerasGanChecks::test_reference_earns_every_point; each check is seeded,
    Keras included) and is not graded again: the optimizers and create_gan checks train models,
    most of a whole grading's time (issue 24)."""
    index = {grade_id: number for number, cell in enumerate(source.cells)
             if (grade_id := cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))}
    first = min(index[edit.cell] for edit in edits)
    return [part for grade_id, part in grade_cells(source, ASSIGNMENT).items() if index[grade_id] > first and part in parts]


def test_real_world_bank_summary(source, parts, reference_file, tmp_path, capsys):
    """How many real bugs does grading catch and how many valid answers does it keep? Printed.
    Each entry graded where nbgrader grades it, from its first changed answer cell down."""
    copy_files({GENERATOR_FILE: reference_file}, tmp_path)
    kept = caught = 0
    wrong = {}
    for bank, good in ((VALID, True), (BUGS, False)):
        for name, (edits, expected) in bank.items():
            below = parts_below_the_edits(source, parts, edits)
            assert set(expected) <= set(below), (name, below)
            results = grade_in_order(ASSIGNMENT, source, edits, below, tmp_path)
            got = {part: set(result.failed_checks) for part, result in results.items() if result.failed_checks}
            if got == expected:
                kept, caught = kept + good, caught + (not good)
            else:
                wrong[name] = {part: [(c.name, c.feedback[:300]) for c in results[part].checks if not c.passed]
                               for part in got}
    with capsys.disabled():
        print(f"\nkeras_gan real-world bank: bugs caught {caught} / {len(BUGS)}, valid kept {kept} / {len(VALID)}")
    assert not wrong, wrong


def test_quality_reads_any_weights_file_a_correct_notebook_writes(source, tmp_path, reference_file):
    """Does the quality part give full marks to the kit's trained weights saved from a compiled
    generator (Keras 3 also stores the optimizer's state: an int64 counter, moments shaped like the
    kernels) and from a functional model, and does a barely trained generator (5 steps) hear that
    it is barely trained, not that it collapsed?"""
    from ganlab_kit.keras_gan.lab_weights import read_dense_weights

    keras = pytest.importorskip("keras")
    namespace = namespace_with(source)
    arrays = [array for pair in read_dense_weights(reference_file) for array in pair]
    compiled = namespace["create_generator"]()
    compiled.set_weights(arrays)
    compiled.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    compiled.optimizer.build(compiled.trainable_variables)
    noise = keras.Input(shape=(100,))
    x = noise
    for units in (300, 600, 1200):
        x = keras.layers.LeakyReLU(negative_slope=0.2)(keras.layers.Dense(units)(x))
    functional = keras.Model(noise, keras.layers.Dense(784, activation="tanh")(x))
    functional.set_weights(arrays)
    import h5py

    for model in (compiled, functional):
        model.save_weights(tmp_path / GENERATOR_FILE)
        if model is compiled:  # the file holds the optimizer's state beside the layers
            with h5py.File(tmp_path / GENERATOR_FILE, "r") as handle:
                assert handle["optimizer/vars/0"].dtype.kind == "i"
        result = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
        assert result.passed, [(c.name, c.feedback) for c in result.checks if not c.passed]
    generator, discriminator = namespace["create_generator"](), namespace["create_discriminator"]()
    gan = namespace["create_gan"](discriminator, generator)
    namespace["train_gan"](generator, discriminator, gan, namespace["images"], 5, sample_dir=str(tmp_path / "s"))
    generator.save_weights(tmp_path / GENERATOR_FILE)
    barely = run_checks(f"{ASSIGNMENT}/quality", namespace, tmp_path, AUTOGRADER)
    feedback = " ".join(check.feedback for check in barely.checks if not check.passed)
    assert "test_coverage" in barely.failed_checks and "barely trained" in feedback and "mode collapse" not in feedback


def _small_pair(dropout=0.3):
    """A small generator (8 -> 32 -> 784) and a compiled discriminator (784 -> 32 -> 1, dropout), seeded."""
    import keras

    from ganlab_kit.keras_gan import failure

    keras.utils.set_random_seed(0)
    generator, discriminator = failure.build_networks(failure.RunConfig(
        latent_dim=8, generator_hidden=(32,), discriminator_hidden=(32,), dropout=dropout))
    failure.compile_discriminator(discriminator, learning_rate=1e-3)
    combined = failure.build_combined_model(generator, discriminator, learning_rate=1e-3)
    return generator, discriminator, combined


def _algorithm_one(prepare, freeze_first=False):
    """Three Algorithm-1 steps on the small pair (flags set before each call, a new batch size for D
    at the end, D frozen at its very first step when ``freeze_first``): what each call returned or
    raised, and every weight after."""
    from ganlab_kit.keras_gan.first_step import prepare_first_step

    generator, discriminator, combined = _small_pair()
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (48, 28, 28, 1)).astype(np.float32)
    seen = []

    def step(model, x, y):
        if prepare:
            prepare_first_step(model, x, y)
        try:
            seen.append(np.round(np.asarray(model.train_on_batch(x, y), np.float64), 12).tolist())
        except ValueError as error:  # Keras's own error, the same whichever way the step was built
            seen.append(re.sub(r"\d+", "#", str(error))[:120])

    for index, batch in enumerate((8, 8, 8, 6)):
        noise = rng.standard_normal((batch, 8)).astype(np.float32)
        images = np.concatenate([real[index * 8:index * 8 + batch], generator.predict_on_batch(noise)])
        labels = np.concatenate([np.ones((batch, 1)), np.zeros((batch, 1))]).astype(np.float32)
        discriminator.trainable = not (freeze_first and index == 0)
        step(discriminator, images, labels)
        discriminator.trainable = False
        step(combined, rng.standard_normal((batch, 8)).astype(np.float32), np.ones((batch, 1), np.float32))
    return seen, discriminator.get_weights() + generator.get_weights()


@pytest.mark.parametrize("freeze_first", [False, True], ids=["algorithm-1", "frozen-first-step"])
def test_prepared_first_step_trains_bit_for_bit(freeze_first):
    """Does preparing a model's first train step (first_step.py, what the Keras labs' checks and probes
    do to trace it once) give the same losses, metrics, errors and weights, bit for bit, as Keras on
    its own: with dropout, D frozen in the stacked step, a new batch size (a second trace), and a D
    frozen at its very first step (left alone: its optimizer is built by a later trace or never)?"""
    plain = _algorithm_one(prepare=False, freeze_first=freeze_first)
    prepared = _algorithm_one(prepare=True, freeze_first=freeze_first)
    assert prepared[0] == plain[0]
    assert len(prepared[1]) == len(plain[1]) and all(np.array_equal(a, b) for a, b in zip(prepared[1], plain[1]))


def test_prepare_first_step_builds_only_what_the_traced_step_would():
    """Does prepare_first_step build the metrics, loss and optimizer of a trainable model before its
    first step, and leave alone a model that is all frozen (its optimizer must stay unbuilt, as the
    traced step leaves it), one already traced, and inputs that are not arrays?"""
    from ganlab_kit.keras_gan.first_step import prepare_first_step

    generator, discriminator, combined = _small_pair(dropout=0.0)
    x, y = np.zeros((4, 28, 28, 1), np.float32), np.ones((4, 1), np.float32)
    discriminator.trainable = False
    assert not prepare_first_step(discriminator, x, y) and not discriminator.optimizer.built
    discriminator.trainable = True
    assert not prepare_first_step(discriminator, x.tolist(), y)
    assert prepare_first_step(discriminator, x, y) and discriminator.optimizer.built
    discriminator.train_on_batch(x, y)
    discriminator.trainable = False
    assert prepare_first_step(combined, np.zeros((4, 8), np.float32), y)
    assert len(combined.optimizer.variables) > 1 and not prepare_first_step(discriminator, x, y)


def test_live_training_of_no_steps_under_grading_skips_the_dashboard(lab_namespace_light, monkeypatch, tmp_path):
    """Under nbgrader, does a LiveTraining run of zero steps (the saved files stand for it) still call
    the student's train_gan, return its history, and leave the dashboard untouched (no picture of
    nothing to render); and does a run of zero steps outside grading still show it?"""
    from ganlab_kit.keras_gan.lab import LiveTraining

    ns = lab_namespace_light
    calls = []

    def train_gan(generator, discriminator, gan, images, steps, **kwargs):
        calls.append(steps)
        return {"d_loss": [], "d_acc": [], "gan_loss": [], "gan_acc": []}

    from ganlab_kit.keras_gan.lab import build_lab_discriminator, build_lab_gan, build_lab_generator

    generator, discriminator = build_lab_generator(), build_lab_discriminator()
    gan = build_lab_gan(discriminator, generator)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    live = LiveTraining("graded")
    assert live.run(train_gan, generator, discriminator, gan, ns, 0) == {"d_loss": [], "d_acc": [], "gan_loss": [], "gan_acc": []}
    assert calls == [0] and live.dashboard.state.status != "finished" and live.dashboard.state.snapshot_images is None
    monkeypatch.delenv("NBGRADER_EXECUTION")
    shown = LiveTraining("not graded")
    shown.run(train_gan, generator, discriminator, gan, ns, 0)
    assert calls == [0, 0] and shown.dashboard.state.status == "finished"


@pytest.fixture
def lab_namespace_light():
    """Stand-in training images (the LiveTraining test's loop never reads them)."""
    return np.zeros((4, 784), np.float32)
