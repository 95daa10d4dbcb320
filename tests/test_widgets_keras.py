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
