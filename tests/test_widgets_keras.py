"""The training dashboard on the Keras track, through ganlab_kit.keras_gan.KerasHistoryBridge."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytestmark = [
    pytest.mark.keras,
    pytest.mark.xdist_group("keras"),
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed"),
]


@pytest.fixture(scope="module")
def kg():
    import ganlab_kit.keras_gan as keras_gan

    keras_gan.require_tensorflow_backend().utils.set_random_seed(0)
    return keras_gan


@pytest.fixture(scope="module")
def images():
    from ganlab_kit.data import load_mnist

    return load_mnist(digits=[0, 1]).numpy(channels_last=True)[:256]  # (256, 28, 28, 1)


def small_gan(kg):
    gan = kg.GAN(kg.build_generator(hidden=(32,)), kg.build_discriminator(hidden=(32,)))
    gan.compile()
    return gan


def test_keras_fit_feeds_the_dashboard(kg, images):
    """Does a Keras fit with dashboard.keras_callback() give the dashboard every batch's
    metrics, the planned step count, channels-first snapshots and a finished status?"""
    from ganlab_kit.widgets import TrainingDashboard

    dashboard = TrainingDashboard()
    view = dashboard.view
    gan = small_gan(kg)
    gan.fit(kg.image_dataset(images, batch_size=32), epochs=2, verbose=0,
            callbacks=[dashboard.keras_callback(batch_size=32, snapshot_every=4, n_fixed=8)])
    state = dashboard.state
    assert state.steps == list(range(1, 17))  # 256 / 32 = 8 batches, 2 epochs
    assert state.step_text() == "step 16 / 16" and state.status == "finished"
    assert all(np.isfinite(state.metrics["d_loss"])) and all(np.isfinite(state.metrics["g_loss"]))
    assert state.snapshot_step == 16 and state.snapshot_images.shape == (8, 1, 28, 28)
    assert view.step_label.value == "step 16 / 16"
    assert view.start_button.disabled  # no trainer: Start cannot begin a Keras fit


def test_keras_pause_and_stop_from_the_buttons(kg, images):
    """While a Keras fit runs, does Pause hold it and Stop end it early?"""
    from ganlab_kit.widgets import TrainingDashboard

    dashboard = TrainingDashboard()
    view = dashboard.view
    bridge = dashboard.keras_callback(batch_size=32, snapshot_every=0)
    gan = small_gan(kg)
    observed = {}

    def press_buttons():
        deadline = time.monotonic() + 60
        while bridge.step < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        view.pause_button.click()
        time.sleep(0.5)
        observed["held"] = bridge.step
        time.sleep(0.5)
        observed["later"] = bridge.step
        observed["status"] = dashboard.state.status
        view.stop_button.click()

    presser = threading.Thread(target=press_buttons, daemon=True)
    presser.start()
    gan.fit(kg.image_dataset(images, batch_size=32).repeat(), epochs=1, steps_per_epoch=10_000,
            verbose=0, callbacks=[bridge])
    presser.join(10)
    assert observed["held"] == observed["later"] and observed["status"] == "paused"
    assert 3 <= bridge.step < 10_000 and dashboard.state.status == "stopped"


def test_noise_viewer_new_noise_keeps_the_notebooks_samples_in_step(kg):
    """In the Keras lab, `samples = viewer.images` feeds the classifier cell: after "New noise"
    (and a seed typed in), do `samples` and the noise still hold what is on screen, G's images of
    the new noise, while noise passed in by the caller is never written over?"""
    from ganlab_kit.keras_gan.lab import build_lab_generator
    from ganlab_kit.widgets import NoiseViewer

    generator = build_lab_generator()
    viewer = NoiseViewer(generator, n=10, seed=2024)
    samples, noise = viewer.images, viewer.noise
    first = samples.copy()
    viewer.new_noise_button.click()
    assert viewer.seed_value == 2025 and not np.allclose(samples, first)
    assert np.allclose(samples, generator.predict_on_batch(noise), atol=1e-5)
    viewer.seed.value = 7
    assert np.allclose(samples, generator.predict_on_batch(viewer.noise), atol=1e-5) and samples is viewer.images
    given = np.random.default_rng(0).standard_normal((10, 100)).astype("float32")
    kept = given.copy()
    NoiseViewer(generator, noise=given).resample()
    assert np.array_equal(given, kept)


@pytest.fixture(scope="module")
def lab_namespace():
    """The Keras lab's reference answers, run in process (its train_gan is the student's loop)."""
    from lab_checks import namespace_with, source_notebook

    from ganlab_kit.grading.notebook import read_notebook

    return namespace_with(read_notebook(source_notebook("keras_gan")))


def test_live_training_watches_the_students_own_loop(lab_namespace, tmp_path):
    """Does LiveTraining run the notebook's own train_gan unchanged while its dashboard gets every
    step (losses, D's accuracy and mean outputs on real and fake images), fixed-noise samples and a
    finished status, return the loop's history, and give the models their train_on_batch back?"""
    from ganlab_kit.keras_gan.lab import LiveTraining

    ns = lab_namespace
    generator, discriminator = ns["create_generator"](), ns["create_discriminator"]()
    gan = ns["create_gan"](discriminator, generator)
    live = LiveTraining("test", snapshot_every=2)
    history = live.run(ns["train_gan"], generator, discriminator, gan, ns["images"], 5, batch_size=8,
                       sample_interval=100, sample_dir=str(tmp_path))
    state = live.dashboard.state
    assert len(history["d_loss"]) == 5 and state.steps == [1, 2, 3, 4, 5] and state.status == "finished"
    assert np.allclose(state.metrics["d_loss"], history["d_loss"]) and np.allclose(state.metrics["g_loss"], history["gan_loss"])
    for name in ("d_acc_real", "d_acc_fake", "d_real", "d_fake"):
        values = np.asarray(state.metrics[name])
        assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1, name
    assert state.snapshot_step == 5 and state.snapshot_images.shape == (32, 1, 28, 28)
    assert "train_on_batch" not in vars(discriminator) and "train_on_batch" not in vars(gan)


def test_live_training_stop_ends_the_loop_with_the_steps_done(lab_namespace, tmp_path):
    """Does Stop end the student's loop after the current step, leaving a "stopped" dashboard and
    the history of the steps done (the loop itself never returns)?"""
    from ganlab_kit.keras_gan.lab import LiveTraining

    ns = lab_namespace
    generator, discriminator = ns["create_generator"](), ns["create_discriminator"]()
    gan = ns["create_gan"](discriminator, generator)
    live = LiveTraining("test")
    original = live.dashboard.on_step_end

    def press_stop_at_step_3(trainer, record):
        original(trainer, record)
        if record["step"] == 3:
            live.dashboard.stop()

    live.dashboard.on_step_end = press_stop_at_step_3
    history = live.run(ns["train_gan"], generator, discriminator, gan, ns["images"], 50, batch_size=8,
                       sample_interval=100, sample_dir=str(tmp_path))
    assert len(history["d_loss"]) == 3 and live.dashboard.state.status == "stopped"
    assert "train_on_batch" not in vars(gan)
