"""Keras track: builders, GAN.train_step, callbacks, Algorithm 1 and the Keras 3 trainable flag."""
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytestmark = [
    pytest.mark.keras,
    pytest.mark.xdist_group("keras"),
    # fit's default shuffle=True does not apply to tf.data; gan.py silences this outside pytest
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed"),
]

REPO = Path(__file__).resolve().parents[1]
SMALL_SHAPE = (4, 4, 1)  # tiny images for the trainable checks


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env.update(environment)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def kg():
    import ganlab_kit.keras_gan as keras_gan

    keras_gan.require_tensorflow_backend().utils.set_random_seed(0)
    return keras_gan


@pytest.fixture(scope="module")
def keras(kg):
    return kg.require_tensorflow_backend()


@pytest.fixture(scope="module")
def images():
    from ganlab_kit.data import load_mnist

    return load_mnist().numpy(channels_last=True)[:256]  # (256, 28, 28, 1) in [-1, 1]


def small_gan(kg, **compile_options):
    """A GAN with one narrow hidden layer per network: fast, same code paths."""
    gan = kg.GAN(kg.build_generator(hidden=(32,)), kg.build_discriminator(hidden=(32,)))
    gan.compile(**compile_options)
    return gan


def small_pair(kg):
    generator = kg.build_generator(latent_dim=8, hidden=(16,), image_shape=SMALL_SHAPE)
    discriminator = kg.build_discriminator(hidden=(16,), image_shape=SMALL_SHAPE)
    return generator, discriminator


def weights(model):
    return [w.copy() for w in model.get_weights()]


def changed(before, after) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


class Recorder:
    """A dashboard stand-in with the PyTorch-track callback hooks."""

    def __init__(self):
        self.calls, self.records, self.snapshots = [], [], []

    def on_train_begin(self, trainer):
        self.calls.append("begin")

    def on_step_end(self, trainer, record):
        self.records.append(dict(record))

    def on_snapshot(self, trainer, step, images):
        self.snapshots.append((step, images))

    def on_train_end(self, trainer):
        self.calls.append("end")


# --------------------------------------------------------------------------- import and backend

def test_import_is_lazy_and_first_use_selects_tensorflow():
    """Does importing ganlab_kit.keras_gan leave TensorFlow unloaded, and does first use load Keras on TensorFlow?"""
    result = run_python("""
        import os, sys
        import ganlab_kit, ganlab_kit.keras_gan as kg
        assert 'GAN' in dir(kg) and 'KerasHistoryBridge' in kg.__all__
        try:
            kg.no_such_name
        except AttributeError:
            pass
        else:
            raise SystemExit('an unknown name did not raise AttributeError')
        loaded = [name for name in ('tensorflow', 'keras') if name in sys.modules]
        assert not loaded, loaded
        kg.build_generator
        import keras
        print(os.environ['KERAS_BACKEND'], keras.backend.backend(), 'tensorflow' in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tensorflow", "tensorflow", "True"]


def test_another_backend_in_the_environment_fails_clearly():
    """With KERAS_BACKEND=jax, does first use raise a BackendError naming the variable and the fix?"""
    result = run_python("""
        from ganlab_kit.keras_gan import BackendError
        try:
            from ganlab_kit.keras_gan import GAN
        except BackendError as error:
            print(error)
    """, KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr
    assert "'jax'" in result.stdout and "KERAS_BACKEND" in result.stdout


def test_keras_already_on_another_backend_fails_clearly(kg, keras, monkeypatch):
    """If keras was imported with another backend, does the Keras track raise an error naming the fix?"""
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(kg.BackendError, match=r"'torch' backend.*os.environ\['KERAS_BACKEND'\]"):
        kg.require_tensorflow_backend()


# --------------------------------------------------------------------------- models

@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_models_map_shapes_and_ranges(kg, batch_size):
    """Do the builders map z (B, 100) to images (B, 28, 28, 1) in [-1, 1] and images to D(x) (B, 1) in (0, 1)?"""
    generator, discriminator = kg.build_generator(), kg.build_discriminator()
    noise = kg.sample_noise(batch_size, 100, seed=batch_size)
    fake = np.asarray(generator(noise, training=False))
    assert fake.shape == (batch_size, 28, 28, 1)
    assert fake.min() >= -1.0 and fake.max() <= 1.0 and fake.std() > 0
    scores = np.asarray(discriminator(fake, training=False))
    assert scores.shape == (batch_size, 1)
    assert np.all((scores > 0) & (scores < 1))


def test_models_have_the_pytorch_track_widths(kg):
    """Do the Keras models have the same layer widths and parameter counts as the PyTorch MLPs?"""
    import torch

    from ganlab_kit.torch_gan import MLPDiscriminator, MLPGenerator

    def keras_widths(model):
        return [layer.units for layer in model.layers if hasattr(layer, "units")]

    def torch_widths(model):
        return [layer.out_features for layer in model.net if isinstance(layer, torch.nn.Linear)]

    pairs = [(kg.build_generator(), MLPGenerator()), (kg.build_discriminator(), MLPDiscriminator())]
    for keras_model, torch_model in pairs:
        assert keras_widths(keras_model) == torch_widths(torch_model)
        assert keras_model.count_params() == sum(p.numel() for p in torch_model.parameters())


def test_builders_reject_channels_first_shapes(kg):
    """Is a channels-first image_shape refused with the channels-last shape to use?"""
    with pytest.raises(ValueError, match=r"\(28, 28, 1\)"):
        kg.build_discriminator(image_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="latent_dim"):
        kg.build_generator(latent_dim=0)


# --------------------------------------------------------------------------- GAN.train_step

def test_train_step_reports_finite_per_step_metrics_and_updates_both_networks(kg, keras, images):
    """Does fit log every metric per step, finite and changing, with epoch logs the mean, and update D and G?"""
    gan = small_gan(kg)
    generator_before = weights(gan.generator)
    discriminator_before = weights(gan.discriminator)
    batch_logs = []
    logger = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs)))
    history = gan.fit(kg.image_dataset(images, batch_size=32), epochs=1, verbose=0,
                      callbacks=[logger])

    assert len(batch_logs) == len(images) // 32
    for logs in batch_logs:
        assert set(logs) == set(kg.GAN_METRICS)
        assert all(math.isfinite(float(value)) for value in logs.values())
        assert 0.0 <= float(logs["d_acc_real"]) <= 1.0 and 0.0 < float(logs["d_real"]) < 1.0
    for name in ("d_loss", "g_loss"):
        values = [float(logs[name]) for logs in batch_logs]
        assert len(set(values)) == len(values), f"{name} did not move: {values}"
        assert history.history[name][0] == pytest.approx(np.mean(values), rel=1e-5)
    assert changed(generator_before, weights(gan.generator))
    assert changed(discriminator_before, weights(gan.discriminator))


def test_fit_accepts_a_numpy_array_of_images(kg, images):
    """Does GAN.fit train on a plain numpy array (N, 28, 28, 1), with a partial last batch?"""
    gan = small_gan(kg)
    history = gan.fit(images[:40], batch_size=32, epochs=1, verbose=0)  # batches of 32 and 8
    assert all(math.isfinite(history.history[name][0]) for name in kg.GAN_METRICS)
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 2


def test_fit_obeys_the_grading_budget(kg, images, monkeypatch):
    """Under nbgrader, does GAN.fit stop after GANLAB_MAX_STEPS batches (and not without it)?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "3")
    gan = small_gan(kg)
    gan.fit(images[:80], batch_size=8, epochs=1, verbose=0)  # 10 batches without the budget
    assert int(gan.g_optimizer.iterations) == 3
    monkeypatch.delenv("NBGRADER_EXECUTION")
    gan = small_gan(kg)
    gan.fit(images[:80], batch_size=8, epochs=1, verbose=0)
    assert int(gan.g_optimizer.iterations) == 10


def test_train_step_teaches_the_discriminator(kg, images):
    """After a few steps, does D score real images higher than fakes (so the D update has the right sign)?"""
    gan = small_gan(kg, d_optimizer=None, g_optimizer=None)
    history = gan.fit(kg.image_dataset(images, batch_size=32).repeat(), epochs=1,
                      steps_per_epoch=15, verbose=0)
    assert history.history["d_real"][-1] > history.history["d_fake"][-1]


def test_gan_refuses_a_frozen_network(kg):
    """Does GAN.compile fail, naming the fix, when the discriminator was frozen the Keras 2 way?"""
    generator, discriminator = kg.build_generator(hidden=(8,)), kg.build_discriminator(hidden=(8,))
    discriminator.trainable = False
    gan = kg.GAN(generator, discriminator)
    with pytest.raises(ValueError, match=r"discriminator.trainable = True"):
        gan.compile()
    discriminator.trainable = True
    shared = kg.require_tensorflow_backend().optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer objects"):
        gan.compile(d_optimizer=shared, g_optimizer=shared)


def test_gan_rejects_mismatched_networks(kg):
    """Is a generator whose images do not fit the discriminator refused with both shapes named?"""
    with pytest.raises(ValueError, match=r"\(28, 28, 1\).*\(4, 4, 1\)"):
        kg.GAN(kg.build_generator(hidden=(8,)),
               kg.build_discriminator(hidden=(8,), image_shape=SMALL_SHAPE))


# --------------------------------------------------------------------------- trainable in Keras 3

def test_keras2_freeze_once_recipe_leaves_the_discriminator_frozen(kg, keras):
    """Does the Keras 2 recipe (trainable = False once, before compiling the combined model) stop D learning in Keras 3?"""
    generator, discriminator = small_pair(kg)
    discriminator.compile(optimizer="adam", loss="binary_crossentropy")
    discriminator.trainable = False
    combined = keras.Sequential([generator, discriminator])
    combined.compile(optimizer="adam", loss="binary_crossentropy")

    real = np.random.default_rng(0).uniform(-1, 1, (8, *SMALL_SHAPE)).astype(np.float32)
    before = weights(discriminator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras only warns "no trainable weights"
        discriminator.train_on_batch(real, np.ones((8, 1), np.float32))
    assert not changed(before, weights(discriminator)), (
        "Keras now trains a discriminator frozen before compiling the combined model; "
        "update the explanation in ganlab_kit/keras_gan/algorithm1.py")


@pytest.mark.parametrize("start", ["kit", "keras2-recipe"])
def test_algorithm1_steps_update_only_their_own_network(kg, keras, start):
    """Does D change on its own step and not on G's, and G change on its step, across steps and a retrace?"""
    generator, discriminator = small_pair(kg)
    if start == "kit":
        discriminator = kg.compile_discriminator(discriminator)
        combined = kg.build_combined(generator, discriminator)
    else:  # the Keras 2 recipe, already traced once with D frozen, then the kit's steps
        discriminator.compile(optimizer="adam", loss="binary_crossentropy")
        discriminator.trainable = False
        combined = keras.Sequential([generator, discriminator])
        combined.compile(optimizer="adam", loss="binary_crossentropy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            discriminator.train_on_batch(np.zeros((8, *SMALL_SHAPE), np.float32),
                                         np.ones((8, 1), np.float32))
    rng = np.random.default_rng(1)
    for batch_size in (8, 8, 5):  # the third size makes Keras retrace both train functions
        real = rng.uniform(-1, 1, (batch_size, *SMALL_SHAPE)).astype(np.float32)
        noise = rng.standard_normal((batch_size, 8), dtype=np.float32)
        fake = generator.predict_on_batch(noise)

        d_before, g_before = weights(discriminator), weights(generator)
        d_loss = kg.discriminator_step(discriminator, real, fake)
        assert changed(d_before, weights(discriminator)), "D did not learn on its own step"
        assert not changed(g_before, weights(generator)), "G changed on D's step"

        d_before, g_before = weights(discriminator), weights(generator)
        g_loss = kg.generator_step(combined, discriminator, noise)
        assert not changed(d_before, weights(discriminator)), "D changed on G's step"
        assert changed(g_before, weights(generator)), "G did not learn on its own step"
        assert math.isfinite(d_loss) and math.isfinite(g_loss)


def test_discriminator_step_loss_is_real_plus_fake_cross_entropy(kg, keras):
    """Is discriminator_step's loss the PyTorch track's d_loss: BCE on reals plus BCE on fakes?"""
    generator = kg.build_generator(latent_dim=8, hidden=(16,), image_shape=SMALL_SHAPE)
    discriminator = kg.build_discriminator(hidden=(16,), dropout=0.0, image_shape=SMALL_SHAPE)
    kg.compile_discriminator(discriminator, keras.optimizers.SGD(learning_rate=0.0))
    rng = np.random.default_rng(2)
    real = rng.uniform(-1, 1, (6, *SMALL_SHAPE)).astype(np.float32)
    fake = generator.predict_on_batch(rng.standard_normal((6, 8), dtype=np.float32))
    d_real = np.asarray(discriminator(real)).astype(np.float64)
    d_fake = np.asarray(discriminator(fake)).astype(np.float64)
    expected = -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake))
    assert kg.discriminator_step(discriminator, real, fake) == pytest.approx(expected, rel=1e-4)


# --------------------------------------------------------------------------- callbacks

def test_sample_snapshot_keeps_fixed_noise_images_every_n_steps(kg, images):
    """Does SampleSnapshot store (step, images) at step 0 and every N steps, across fit calls, from fixed noise?"""
    gan = small_gan(kg)
    snapshot = kg.SampleSnapshot(every=2, n_fixed=4, seed=3)
    untrained = np.asarray(gan.generator(kg.sample_noise(4, 100, seed=3), training=False))
    dataset = kg.image_dataset(images, batch_size=32).repeat()
    gan.fit(dataset, epochs=1, steps_per_epoch=5, verbose=0, callbacks=[snapshot])
    gan.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, callbacks=[snapshot])

    assert [step for step, _ in snapshot.snapshots] == [0, 2, 4, 6]
    for _, picture in snapshot.snapshots:
        assert picture.shape == (4, 28, 28, 1)
        assert picture.min() >= -1.0 and picture.max() <= 1.0
    np.testing.assert_allclose(snapshot.snapshots[0][1], untrained, atol=1e-6)
    assert not np.allclose(snapshot.snapshots[0][1], snapshot.snapshots[-1][1])


def test_history_bridge_forwards_records_snapshots_and_stop(kg, keras, images):
    """Does KerasHistoryBridge hand a dashboard per-step METRICS records, channels-first snapshots, and honour stop()?"""
    import torch

    from ganlab_kit.torch_gan.trainer import METRICS

    gan = small_gan(kg)
    dashboard = Recorder()
    bridge = kg.KerasHistoryBridge(dashboard, batch_size=32, snapshot_every=2, n_fixed=3)
    batch_logs = []
    logger = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs)))
    original_step_end = dashboard.on_step_end

    def stop_after_three(trainer, record):
        original_step_end(trainer, record)
        if record["step"] == 3:
            trainer.stop()

    dashboard.on_step_end = stop_after_three
    gan.fit(kg.image_dataset(images, batch_size=32).repeat(), epochs=1, steps_per_epoch=8,
            verbose=0, callbacks=[logger, bridge])

    assert dashboard.calls == ["begin", "end"]
    assert [record["step"] for record in dashboard.records] == [1, 2, 3]
    assert len(batch_logs) == 3 and bridge.stop_requested
    for record, logs in zip(dashboard.records, batch_logs):
        assert set(record) == {"step", *METRICS}
        for name in kg.GAN_METRICS:
            assert record[name] == pytest.approx(float(logs[name]))
        assert record["examples_per_sec"] > 0
    assert bridge.history.step == [1, 2, 3]
    assert bridge.history.d_loss == [record["d_loss"] for record in dashboard.records]
    assert [step for step, _ in dashboard.snapshots] == [0, 2]
    assert isinstance(dashboard.snapshots[0][1], torch.Tensor)
    assert tuple(dashboard.snapshots[0][1].shape) == (3, 1, 28, 28)


def test_history_bridge_pause_holds_the_next_step(kg, images):
    """Does pause() hold fit before its next step until resume()?"""
    gan = small_gan(kg)
    dashboard = Recorder()
    bridge = kg.KerasHistoryBridge(dashboard)
    times = []

    def pause_once(trainer, record):
        Recorder.on_step_end(dashboard, trainer, record)
        times.append(time.perf_counter())
        if record["step"] == 1:
            trainer.pause()
            assert trainer.is_paused
            threading.Timer(0.3, trainer.resume).start()

    dashboard.on_step_end = pause_once
    gan.fit(kg.image_dataset(images, batch_size=32).repeat(), epochs=1, steps_per_epoch=2,
            verbose=0, callbacks=[bridge])
    assert len(times) == 2 and times[1] - times[0] >= 0.3
    assert not bridge.is_paused
    assert math.isnan(dashboard.records[0]["examples_per_sec"])  # no batch_size given


def test_bridge_rejects_an_object_without_on_step_end(kg):
    """Is a target without on_step_end refused with the protocol it needs?"""
    with pytest.raises(TypeError, match="on_step_end"):
        kg.KerasHistoryBridge(object())


def test_algorithm_one_trainer_fit_drives_keras_callbacks(kg, images):
    """Does AlgorithmOneTrainer.fit train both networks and feed the bridge d_loss/g_loss and snapshots?"""
    generator, discriminator = kg.build_generator(hidden=(32,)), kg.build_discriminator(hidden=(32,))
    trainer = kg.AlgorithmOneTrainer(generator, discriminator)
    dashboard = Recorder()
    bridge = kg.KerasHistoryBridge(dashboard, snapshot_every=2, n_fixed=2)
    before_g, before_d = weights(generator), weights(discriminator)
    records = trainer.fit(images, steps=3, batch_size=16, callbacks=[bridge])

    assert len(records) == 3 and trainer.step == 3
    assert [record["step"] for record in dashboard.records] == [1, 2, 3]
    for record in dashboard.records:
        assert math.isfinite(record["d_loss"]) and math.isfinite(record["g_loss"])
        assert math.isnan(record["d_real"])  # train_on_batch reports losses only
    assert [step for step, _ in dashboard.snapshots] == [0, 2]
    assert changed(before_g, weights(generator)) and changed(before_d, weights(discriminator))
