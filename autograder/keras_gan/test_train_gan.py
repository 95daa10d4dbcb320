"""Hidden checks: train_gan, Goodfellow's Algorithm 1 with train_on_batch.

One short run of the student's train_gan (4 steps, batch 8, a grid every 2 steps) on small
kit networks of the lab's shapes (``build_loop_probe``) and 40 stand-in training images; the
run is recorded in the notebook's process (every train_on_batch call: inputs, targets, the
trainable flag, which weights changed; every save_sample_grid call) and each check reads the
record.
"""
import numpy as np
import pytest

from ganlab_kit.grading.remote import RemoteError

STEPS = 4
BATCH_SIZE = 8
SAMPLE_INTERVAL = 2
SAMPLE_DIR = "ganlab_check_samples"


def _training_images(kg):
    """40 distinct stand-in digits (40, 784) in [-1, 1]: a dark ground with a bright bar each."""
    rng = np.random.default_rng(7)
    images = np.full((40, kg.IMAGE_DIM), -1.0, np.float32)
    for index in range(40):
        images[index, rng.choice(kg.IMAGE_DIM, 60, replace=False)] = 1.0
    return images


def _kit_pieces(nb, kg):
    # the lab's shapes and settings with one narrow hidden layer each: a loop's calls, flags and
    # changed weights are the same, and the first traced steps take half the time
    generator, discriminator, gan = nb.new(f"{kg.LAB}:build_loop_probe")
    return generator, discriminator, gan


def _student_pieces(nb, kg, reference_optimizers):
    with nb.patched(**reference_optimizers):
        generator = nb.create_generator()
        discriminator = nb.create_discriminator(dropout_rate=0.0)
        return generator, discriminator, nb.create_gan(discriminator, generator)


def _record(nb, kg, pieces):
    generator, discriminator, gan = pieces
    watch = nb.new(f"{kg.LAB}:AlgorithmOneWatch", generator, discriminator, gan)
    grids = nb.new(f"{kg.PROBES}:ArgumentRecorder")
    images = _training_images(kg)
    record = {"images": images, "error": None, "history": None}
    try:
        with nb.patched(save_sample_grid=grids):
            record["history"] = nb.train_gan(generator, discriminator, gan, images, STEPS, batch_size=BATCH_SIZE,
                                             sample_interval=SAMPLE_INTERVAL, sample_dir=SAMPLE_DIR, seed=0)
    except RemoteError as error:
        record["error"] = error
    record["calls"] = watch.calls
    record["grids"] = grids.calls
    watch.stop()
    return record


@pytest.fixture(scope="module")
def reference_optimizers(nb):
    """dis_optimizer / gan_optimizer replaced by the kit's (module scope, for the run)."""
    return {"dis_optimizer": nb.ref("ganlab_kit.keras_gan.lab:lab_dis_optimizer"),
            "gan_optimizer": nb.ref("ganlab_kit.keras_gan.lab:lab_gan_optimizer")}


@pytest.fixture(scope="module")
def run(nb, kg, reference_optimizers):
    """The record of one train_gan run (or the error it raised): on the kit's networks, so that a
    mistake in another part costs nothing here; where the loop fails with the kit's stacked model
    but runs with the student's own (a loop written for a stacked model compiled another way,
    e.g. without metrics), on the student's own pieces."""
    nb.seed(0)
    record = _record(nb, kg, _kit_pieces(nb, kg))
    if record["error"] is not None and not isinstance(record["error"], NotImplementedError):
        try:
            nb.seed(0)
            own = _record(nb, kg, _student_pieces(nb, kg, reference_optimizers))
        except RemoteError:
            own = None
        if own is not None and own["error"] is None:
            own["own_pieces"] = True
            return own
    return record


def _completed(run):
    if run["error"] is not None:
        if isinstance(run["error"], NotImplementedError):
            raise run["error"]
        raise AssertionError(f"train_gan(...) raised {run['error']}")
    return run


def _calls(run, model):
    return [call for call in _completed(run)["calls"] if call["model"] == model]


def _is_training_image(rows, images):
    """For each row: whether it is one of the training images."""
    return np.array([bool(np.any(np.all(np.abs(images - row) < 1e-6, axis=1))) for row in rows])


@pytest.mark.points(1)
def test_one_update_of_each_per_step(run):
    """Does every step run one discriminator train_on_batch and then one stacked-model train_on_batch?"""
    order = [call["model"] for call in _completed(run)["calls"]]
    assert order == ["discriminator", "gan"] * STEPS, (
        f"{STEPS} steps made these train_on_batch calls: {order}; each step of Algorithm 1 is one "
        "discriminator.train_on_batch, then one gan.train_on_batch (not fit, not several of either).")


@pytest.mark.points(1)
def test_discriminator_batch(run):
    """Does D train on batch_size real images drawn from the training set together with
    batch_size fakes from the generator?"""
    calls = _calls(run, "discriminator")
    assert calls, "train_gan never called discriminator.train_on_batch."
    for call in calls:
        data = call["inputs"].reshape(len(call["inputs"]), -1)
        assert data.shape == (2 * BATCH_SIZE, 784), (
            f"with batch_size={BATCH_SIZE}, D trained on a batch of shape {call['inputs'].shape}; "
            f"expected ({2 * BATCH_SIZE}, 784): the real batch concatenated with as many fakes.")
        real = _is_training_image(data, run["images"])
        assert real.sum() == BATCH_SIZE, (
            f"{int(real.sum())} of D's {len(data)} images are training images; take batch_size random "
            "training images and add batch_size images from generator.predict_on_batch(noise).")
    reals = []
    for call in calls:
        data = call["inputs"].reshape(len(call["inputs"]), -1)
        reals.append(data[_is_training_image(data, run["images"])].tobytes())
    assert len(set(reals)) > 1, (
        f"D trained on the same {BATCH_SIZE} real images at each of {len(calls)} steps; draw a new random "
        "batch at every step, e.g. images[rng.integers(0, len(images), batch_size)], so that D sees "
        "all the training images.")


@pytest.mark.points(1)
def test_discriminator_labels(run):
    """Are D's targets 1 for the real images and 0 for the fakes?"""
    for call in _calls(run, "discriminator"):
        data = call["inputs"].reshape(len(call["inputs"]), -1)
        targets = np.asarray(call["targets"]).reshape(-1)
        assert len(targets) == len(data), f"D got {len(targets)} labels for {len(data)} images."
        real = _is_training_image(data, run["images"])
        assert np.all(targets[real] >= 0.7) and np.all(targets[~real] <= 0.3), (
            f"D's labels for the real images: {np.unique(targets[real])}, for the fakes: "
            f"{np.unique(targets[~real])}; label real images 1 and fakes 0, in the order of "
            "data_total = concatenate(real_images, fake_images).")


@pytest.mark.points(1)
def test_generator_noise(run):
    """Does the stacked model train on batch_size fresh standard normal noise vectors of 100 values?"""
    calls = _calls(run, "gan")
    assert calls, "train_gan never called gan.train_on_batch."
    for call in calls:
        assert call["inputs"].shape == (BATCH_SIZE, 100), (
            f"the stacked model trained on inputs of shape {call['inputs'].shape}; expected "
            f"({BATCH_SIZE}, 100): batch_size noise vectors.")
    values = np.concatenate([call["inputs"].ravel() for call in calls])
    assert abs(values.mean()) < 0.2 and 0.8 < values.std() < 1.2 and values.min() < -1.0, (
        f"the noise has mean {values.mean():.2f} and standard deviation {values.std():.2f}; draw it from "
        "a standard normal distribution (rng.standard_normal), not a uniform one.")
    assert len({call["inputs"].tobytes() for call in calls}) == len(calls), (
        "the stacked model saw the same noise at two steps; draw new noise at every step.")
    d_calls = _calls(run, "discriminator")
    for d_call, call in zip(d_calls, calls):
        data = d_call["inputs"].reshape(len(d_call["inputs"]), -1)
        fakes = data[~_is_training_image(data, run["images"])]
        generated = call.get("generated")
        if generated is not None and fakes.shape == generated.shape:
            assert not np.allclose(np.sort(fakes, axis=0), np.sort(generated, axis=0), atol=1e-4), (
                "the stacked model trained on the same noise that made D's fakes in that step; draw new "
                "noise for G's step (Algorithm 1, line 8), so that G learns from samples D has not "
                "just been trained on.")


@pytest.mark.points(1)
def test_generator_labels(run):
    """Is the stacked model trained with the label 1 ("real") for every fake?"""
    for call in _calls(run, "gan"):
        targets = np.asarray(call["targets"]).reshape(-1)
        assert len(targets) == BATCH_SIZE and np.all(targets >= 0.7), (
            f"the stacked model was trained with labels {np.unique(targets)}; use ones(batch_size): the "
            "generator learns to make D call its fakes real. With 0 it would learn to look fake.")


@pytest.mark.points(1)
def test_trainable_flags(run):
    """Is D trainable during its own step and frozen during the stacked model's step, so that
    D learns only from its own train_on_batch and G only from the stacked model's?"""
    for call in _completed(run)["calls"]:
        if call["model"] == "discriminator":
            assert call["trainable"] and call["changed"]["discriminator"], (
                "D did not learn on its own train_on_batch: set discriminator.trainable = True right "
                "before it (Keras 3 reads the flag when the train function first runs).")
        else:
            assert not call["trainable"] and not call["changed"]["discriminator"], (
                "the stacked model's train_on_batch ran with D trainable, so it also trained D, towards "
                "calling fakes real; set discriminator.trainable = False right before it.")
            assert call["changed"]["generator"], "the stacked model's train_on_batch did not change G."


@pytest.mark.points(1)
def test_history(run):
    """Does train_gan return d_loss, d_acc, gan_loss and gan_acc with one float per step?"""
    history = _completed(run)["history"]
    assert isinstance(history, dict), f"train_gan should return the history dict, got {type(history).__name__}."
    for name in ("d_loss", "d_acc", "gan_loss", "gan_acc"):
        values = history.get(name)
        assert isinstance(values, (list, tuple, np.ndarray)) and len(values) == STEPS and np.ndim(values) == 1, (
            f"history[{name!r}] should hold one value per step ({STEPS}), got "
            f"{np.shape(values) if hasattr(values, '__len__') else values!r}; one float per step, not "
            "[loss, accuracy] pairs.")
        values = np.asarray(values, dtype=float)
        assert np.isfinite(values).all() and values.min() >= 0, f"history[{name!r}] holds {values}."
        if name.endswith("acc"):
            assert values.max() <= 1.0, f"history[{name!r}] holds {values}; an accuracy lies in [0, 1]."
    assert not np.allclose(history["d_loss"], history["gan_loss"]), (
        "d_loss and gan_loss are equal; record the loss of each model's own train_on_batch.")
    answers = {"d": [call["result"] for call in _calls(run, "discriminator")],
               "gan": [call["result"] for call in _calls(run, "gan")]}
    for name in ("d_loss", "d_acc", "gan_loss", "gan_acc"):
        model, what = name.split("_")
        position = 0 if what == "loss" else 1
        returned = [result[position] if len(result) > position else None for result in answers[model]]
        if None in returned:
            continue  # that model reports no accuracy (compiled without metrics): nothing to compare
        recorded = np.asarray(history[name], dtype=float)
        whose = "discriminator" if model == "d" else "stacked model"
        assert np.allclose(recorded, returned, rtol=1e-5, atol=1e-6), (
            f"history[{name!r}] holds {np.round(recorded, 4).tolist()}, but the {whose}'s train_on_batch "
            f"returned {what} {np.round(returned, 4).tolist()} at those steps; unpack "
            f"`loss, accuracy = {'discriminator' if model == 'd' else 'gan'}.train_on_batch(...)` and append "
            f"float(loss) to {model}_loss, float(accuracy) to {model}_acc.")


@pytest.mark.points(1)
def test_sample_grids(run):
    """Does train_gan save a grid of 25 generated images every sample_interval steps?"""
    grids = _completed(run)["grids"]
    assert len(grids) == STEPS // SAMPLE_INTERVAL, (
        f"{STEPS} steps with sample_interval={SAMPLE_INTERVAL} called save_sample_grid {len(grids)} times; "
        f"expected {STEPS // SAMPLE_INTERVAL}.")
    paths = []
    for call in grids:
        arguments = call["args"] + list(call["kwargs"].values())
        arrays = [value for value in arguments if isinstance(value, np.ndarray)]
        texts = [value for value in arguments if isinstance(value, str)]
        assert arrays and arrays[0].reshape(len(arrays[0]), -1).shape == (25, 784), (
            "save_sample_grid should get 25 generated images, shape (25, 784).")
        assert arrays[0].min() >= -1.0 and arrays[0].max() <= 1.0, "the grid's images should be G's outputs in [-1, 1]."
        assert arrays[0].min() < 0.0, (
            f"the grid's images range from {arrays[0].min():.2f} to {arrays[0].max():.2f}: already rescaled to "
            "[0, 1]. Pass G's outputs in [-1, 1] to save_sample_grid; it rescales them itself for showing "
            "(a second rescaling washes the grid out grey).")
        assert texts and SAMPLE_DIR in texts[0], f"save the grids in sample_dir ({SAMPLE_DIR!r}), got {texts}."
        paths.append(texts[0])
    assert len(set(paths)) == len(paths), f"every grid needs its own file; got {paths}."
