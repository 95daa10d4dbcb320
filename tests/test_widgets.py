"""Tests of ganlab_kit.widgets without a browser: state, alarms, drawing, the dashboard
driven by setting values and clicking buttons, SampleGrid, NoiseViewer, display modes.

Training tests use the small "playground-fc" pair for tens of steps on one thread.
"""
from __future__ import annotations

import io
import math
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab_kit.data import load_mnist
from ganlab_kit.torch_gan import Trainer, build_models, seed_everything
from ganlab_kit.widgets import (AlarmMonitor, DashboardState, NoiseViewer, RedrawThrottle,
                                SampleGrid, SampleVerdicts, TrainingDashboard, display_mode,
                                effective_classes, is_headless, sample_spread)
from ganlab_kit.widgets import alarms as alarm_names
from ganlab_kit.widgets._clicks import EarlyClicks, is_click, route_clicks_early
from ganlab_kit.widgets.drawing import COLORS, draw_labelled_grid, noise_as_images, tile_images
from ganlab_kit.widgets.state import bucket_means, format_duration


@pytest.fixture(autouse=True)
def auto_display(monkeypatch):
    monkeypatch.delenv("GANLAB_WIDGETS", raising=False)


@pytest.fixture(scope="module")
def digits():
    return load_mnist(split="train")


def make_trainer(digits, seed: int = 0, **overrides):
    seed_everything(seed)
    generator, discriminator = build_models("playground-fc")
    settings = dict(seed=seed, batch_size=32, snapshot_every=10, n_fixed=16)
    settings.update(overrides)
    return Trainer(generator, discriminator, digits, **settings)


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(step: int, **values) -> dict:
    base = dict(step=step, d_loss=1.3, g_loss=0.8, d_acc_real=0.7, d_acc_fake=0.6, d_real=0.6,
                d_fake=0.4, d_grad_norm=1.0, g_grad_norm=0.5, examples_per_sec=1000.0)
    base.update(values)
    return base


# ---------------------------------------------------------------------- state


def test_bucket_means_average_runs_and_skip_nan():
    """Does bucket_means average consecutive runs of steps and ignore NaN values?"""
    x, y = bucket_means([1, 2, 3, 4], [1.0, 3.0, math.nan, 5.0], 2)
    assert x.tolist() == [1.5, 3.5]
    assert y.tolist() == [2.0, 5.0]
    x, y = bucket_means([1, 2, 3], [1.0, 2.0, 3.0], 10)  # fewer points than buckets
    assert y.tolist() == [1.0, 2.0, 3.0]


def test_format_duration():
    """Are durations written as m:ss or h:mm:ss, and unknown ones as --:--?"""
    assert format_duration(75.2) == "1:15"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(None) == "--:--"
    assert format_duration(math.nan) == "--:--"


def test_throttle_waits_min_interval_and_longer_after_costly_redraws():
    """Does the throttle allow one redraw per interval, and wait cost/max_share after a slow one?"""
    clock = FakeClock()
    throttle = RedrawThrottle(min_interval=1.0, max_share=0.02, clock=clock)
    assert throttle.due()
    started = clock.now
    clock.now += 0.005  # a 5 ms redraw: 5 ms / 2% = 0.25 s < 1 s, so 1 s applies
    throttle.done(started)
    clock.now += 0.9
    assert not throttle.due()
    clock.now += 0.2
    assert throttle.due()
    started = clock.now
    clock.now += 0.1  # a 100 ms redraw: the next one waits 5 s
    throttle.done(started)
    clock.now += 4.0
    assert not throttle.due()
    clock.now += 1.1
    assert throttle.due()
    assert throttle.redraws == 2 and throttle.total_cost == pytest.approx(0.105)


def test_progress_eta_and_pause_leave_out_the_pause():
    """Do progress and ETA follow the recent pace, with the time spent paused left out?"""
    clock = FakeClock()
    state = DashboardState(clock=clock)
    state.begin(step=0, planned_steps=100)
    for step in range(1, 11):  # 10 steps per second
        clock.now += 0.1
        state.add_record(record(step))
    assert state.progress == pytest.approx(0.1)
    assert state.step_text() == "step 10 / 100"
    assert state.eta_seconds == pytest.approx(9.0)
    state.set_paused(True)
    assert state.status == "paused" and state.eta_seconds is None
    clock.now += 60.0  # a long pause
    state.set_paused(False)
    for step in range(11, 21):
        clock.now += 0.1
        state.add_record(record(step))
    assert state.eta_seconds == pytest.approx(8.0)  # 80 steps at 10 per second, pause ignored
    assert "ETA 0:08" in state.speed_text()
    state.end()
    assert state.status == "finished" and state.eta_seconds is None


def test_state_rejects_a_snapshot_without_a_batch_axis():
    """Is a snapshot that is not (N, C, H, W) refused with the expected shape in the message?"""
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        DashboardState().add_snapshot(5, np.zeros((28, 28)))


# ---------------------------------------------------------------------- alarms


def test_overpowering_alarm_after_patience_and_clears():
    """Is 'D overpowering' raised only after D is near 100% for the whole window, and cleared after?"""
    monitor = AlarmMonitor(overpowering_steps=50)
    for step in range(1, 50):
        monitor.observe_record(step, record(step, d_acc_real=1.0, d_acc_fake=1.0))
    assert not monitor.is_active(alarm_names.DISCRIMINATOR_OVERPOWERING)  # 49 < 50 steps
    monitor.observe_record(50, record(50, d_acc_real=1.0, d_acc_fake=1.0))
    assert monitor.is_active(alarm_names.DISCRIMINATOR_OVERPOWERING)
    assert monitor.alarms[alarm_names.DISCRIMINATOR_OVERPOWERING].step == 50
    for step in range(51, 101):  # D back to a fair fight
        monitor.observe_record(step, record(step, d_acc_real=0.6, d_acc_fake=0.5))
    alarm = monitor.alarms[alarm_names.DISCRIMINATOR_OVERPOWERING]
    assert not alarm.active and alarm.cleared_step is not None


def test_balanced_training_raises_no_alarm():
    """Does a healthy synthetic history (D near 70%, normal gradients) raise nothing?"""
    monitor = AlarmMonitor(overpowering_steps=50, vanishing_steps=50)
    rng = np.random.default_rng(0)
    for step in range(1, 400):
        monitor.observe_record(step, record(step, d_acc_real=rng.uniform(0.5, 0.9),
                                            d_acc_fake=rng.uniform(0.4, 0.8),
                                            g_grad_norm=rng.uniform(0.1, 2.0)))
    assert monitor.active == []


def test_vanishing_gradient_alarm_ignores_nan():
    """Is 'vanishing generator gradients' raised for tiny norms, with NaN records skipped?"""
    monitor = AlarmMonitor(vanishing_steps=20)
    for step in range(1, 60):
        norm = math.nan if step % 3 == 0 else 1e-6
        monitor.observe_record(step, record(step, g_grad_norm=norm))
    assert monitor.is_active(alarm_names.VANISHING_GENERATOR_GRADIENT)
    assert "vanishing" in monitor.active[0].message


def test_mode_collapse_when_class_coverage_falls_and_samples_look_alike():
    """Is mode collapse raised when the samples shrink to one digit and look alike for two
    batches in a row, but not for one batch, nor for varied samples read as one digit?"""
    uniform, one_digit = np.full(10, 0.1), np.array([0.0, 0.9, 0.1] + [0.0] * 7)
    rng = np.random.default_rng(0)
    varied = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    alike = np.repeat(varied[:1], 8, axis=0)
    batches = [(uniform, varied), (uniform, varied), (one_digit, alike), (uniform, varied),
               (one_digit, varied), (one_digit, varied), (one_digit, alike), (one_digit, alike)]
    readings = iter(histogram for histogram, _ in batches)
    monitor = AlarmMonitor(class_histogram=lambda images: next(readings),
                           collapse_warmup_steps=0, collapse_patience=2)
    raised = []
    for index, (_, images) in enumerate(batches):
        monitor.observe_samples(100 * index, images)
        raised.append(monitor.is_active(alarm_names.MODE_COLLAPSE))
    # one collapsed batch (2) is not enough, nor one digit with varied samples (4, 5);
    # two alike one-digit batches in a row (6, 7) are
    assert raised == [False, False, False, False, False, False, False, True]
    assert "look like a 1" in monitor.active[0].message


def test_mode_collapse_without_classifier_uses_sample_spread():
    """Without a classifier, is mode collapse raised when varied samples become identical?"""
    monitor = AlarmMonitor(class_histogram=False, collapse_warmup_steps=100, collapse_patience=1)
    rng = np.random.default_rng(0)
    varied = rng.uniform(-1, 1, (16, 1, 28, 28)).astype(np.float32)
    monitor.observe_samples(100, varied)
    monitor.observe_samples(200, varied[::-1].copy())
    assert not monitor.is_active(alarm_names.MODE_COLLAPSE)
    monitor.observe_samples(300, np.repeat(varied[:1], 16, axis=0))
    assert monitor.is_active(alarm_names.MODE_COLLAPSE)


def test_mode_collapse_uses_the_kit_classifier_on_real_digits(digits):
    """With the kit's classifier: do real digits of all classes pass, and one repeated digit alarm?"""
    pytest.importorskip("ganlab_kit.scoring.metrics")
    monitor = AlarmMonitor(collapse_warmup_steps=0, collapse_patience=1)
    order = np.argsort(digits.labels.numpy(), kind="stable")
    every_class = digits.images.numpy()[order[:: len(order) // 40]]
    monitor.observe_samples(100, every_class)
    if monitor.last_classes is None:
        pytest.skip("the kit's classifier weights are not installed")
    assert monitor.last_classes > 7 and not monitor.is_active(alarm_names.MODE_COLLAPSE)
    monitor.observe_samples(200, np.repeat(every_class[:1], 40, axis=0))
    assert monitor.is_active(alarm_names.MODE_COLLAPSE)


def test_real_digit_distances_are_those_of_the_offline_digits():
    """Is the table of real handwriting's variety per pair of digits what the kit's offline
    test digits show, and does a batch of real digits of one class sit at its own entry?"""
    from ganlab_kit.widgets.alarms import REAL_DIGIT_DISTANCES, real_digit_spread, sample_spread

    data = load_mnist(split="test")
    images = data.images.numpy().reshape(len(data.images), -1).astype(np.float64)
    labels = data.labels.numpy()
    measured = np.zeros((10, 10))
    for i in range(10):
        for j in range(10):
            a, b = images[labels == i][:200], images[labels == j][:200]
            squared = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T
            distances = np.sqrt(np.clip(squared, 0, None)) / math.sqrt(a.shape[1])
            measured[i, j] = (distances[np.triu_indices(len(a), 1)] if i == j else distances).mean()
    np.testing.assert_allclose(REAL_DIGIT_DISTANCES, measured, atol=0.001)
    sevens = data.images.numpy()[labels == 7]
    assert sample_spread(sevens) == pytest.approx(real_digit_spread(np.eye(10)[7]), abs=0.001)
    assert real_digit_spread(np.full(10, 0.1)) == pytest.approx(0.74, abs=0.01)


def test_one_digit_in_a_few_styles_is_a_collapse():
    """Are samples that are all one digit, less varied than real handwriting of it (a collapse
    that still wobbles between a few styles), flagged, while real digits of that one class are not?"""
    data = load_mnist(split="test")
    eights = data.images.numpy()[data.labels.numpy() == 8][:64]
    styles = np.repeat(eights[:4], 16, axis=0)
    styles = np.clip(styles + np.random.default_rng(0).normal(0, 0.05, styles.shape), -1, 1).astype(np.float32)
    only_eights = lambda images: np.eye(10)[8]  # noqa: E731
    for batch, raised in ((eights, False), (styles, True)):
        monitor = AlarmMonitor(class_histogram=only_eights, collapse_warmup_steps=0, collapse_patience=1)
        monitor.observe_samples(100, batch)
        assert monitor.is_active(alarm_names.MODE_COLLAPSE) is raised


def test_effective_classes_and_spread_values():
    """Do the coverage measures give 10 / 1 classes and zero spread for identical images?"""
    assert effective_classes(np.full(10, 0.1)) == pytest.approx(10.0)
    assert effective_classes(np.eye(10)[3]) == pytest.approx(1.0)
    assert sample_spread(np.ones((5, 1, 4, 4))) == pytest.approx(0.0)
    pair = np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))])
    assert sample_spread(pair) == pytest.approx(1.0)


# ---------------------------------------------------------------------- drawing


def test_tile_images_layout_and_range():
    """Are images tiled row by row with padding, -1 drawn black and +1 white, in either layout?"""
    images = np.stack([np.full((1, 4, 4), -1.0), np.full((1, 4, 4), 1.0)])
    grid = tile_images(images, columns=2, padding=1)
    assert grid.shape == (6, 11, 1)
    assert grid[1, 1, 0] == 0 and grid[1, 6, 0] == 255 and grid[0, 0, 0] == 255
    assert np.array_equal(tile_images(images.transpose(0, 2, 3, 1), 2, padding=1), grid)


def test_noise_is_drawn_as_a_square():
    """Is a 100-value noise vector drawn as 10x10, and 64 values as 8x8?"""
    assert noise_as_images(np.zeros((3, 100))).shape == (3, 1, 10, 10)
    assert noise_as_images(np.zeros((2, 64))).shape == (2, 1, 8, 8)


# ---------------------------------------------------------------------- display mode


def test_display_mode_override_and_nbgrader(monkeypatch):
    """Is the mode static without a kernel or under nbgrader, and does GANLAB_WIDGETS win?"""
    assert is_headless() and display_mode() == "static"  # pytest has no kernel
    monkeypatch.setenv("GANLAB_WIDGETS", "live")
    assert display_mode() == "live"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert display_mode() == "live"  # the override wins over nbgrader
    monkeypatch.setenv("GANLAB_WIDGETS", "auto")
    assert display_mode() == "static"
    monkeypatch.setenv("GANLAB_WIDGETS", "sometimes")
    with pytest.raises(ValueError, match="GANLAB_WIDGETS"):
        display_mode()


def test_importing_widgets_is_light():
    """Does importing ganlab_kit.widgets (and ganlab_kit) leave ipywidgets, torch and TF unloaded?"""
    code = ("import sys, ganlab_kit, ganlab_kit.widgets\n"
            "from ganlab_kit.widgets import DashboardState, AlarmMonitor\n"
            "print(sorted(m for m in ('ipywidgets', 'torch', 'tensorflow', 'matplotlib') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------- dashboard


def test_run_trains_returns_history_and_fills_the_view(digits):
    """Does run(steps) train synchronously, return the History and show the last step?"""
    trainer = make_trainer(digits)
    dashboard = TrainingDashboard(trainer, refresh_seconds=0.0)
    view = dashboard.view
    history = dashboard.run(25)
    assert history is trainer.history and len(history) == 25
    assert dashboard.state.steps == list(range(1, 26))
    assert dashboard.state.status == "finished" and dashboard.state.progress == 1.0
    assert view.step_label.value == "step 25 / 25"
    assert "finished" in view.status.value
    assert Image.open(io.BytesIO(view.curves.value)).width > 100
    assert Image.open(io.BytesIO(view.samples.value)).height > 100
    # the final grid is G on the fixed noise at the last step
    assert dashboard.state.snapshot_step == 25
    assert np.allclose(dashboard.state.snapshot_images, trainer.sample().numpy())
    assert not view.start_button.disabled and view.pause_button.disabled


def test_headless_run_builds_no_widgets(digits):
    """In static mode, does run() train without creating any ipywidgets?"""
    dashboard = TrainingDashboard(make_trainer(digits))
    dashboard.run(5)
    assert dashboard._view is None and dashboard.state.step == 5


def test_pause_button_really_pauses_and_stop_stops(digits, wait_until):
    """Clicking Start trains in the background; does Pause hold the step count and Stop end it?"""
    trainer = make_trainer(digits)
    dashboard = TrainingDashboard(trainer, refresh_seconds=0.05)
    view = dashboard.view
    dashboard._run_steps = 100_000  # Start trains this many steps
    view.start_button.click()
    assert wait_until(lambda: trainer.step >= 3)
    view.pause_button.click()
    assert trainer.is_paused
    time.sleep(0.3)  # let the step in flight finish
    held = trainer.step
    time.sleep(0.5)
    assert trainer.step == held and dashboard.state.status == "paused"
    assert view.start_button.description == "Resume" and view.pause_button.disabled
    assert view.step_label.value.startswith(f"step {held} ")
    view.start_button.click()  # resume
    assert wait_until(lambda: trainer.step > held + 2)
    view.stop_button.click()
    history = dashboard.wait(timeout=20)
    assert dashboard.state.status == "stopped" and not dashboard.is_training
    assert len(history) == trainer.step < 100_000


def test_stop_during_a_blocking_run_returns_early(digits, wait_until):
    """Does a Stop click from another thread end a blocking run() after the current step?"""
    trainer = make_trainer(digits)
    dashboard = TrainingDashboard(trainer)

    def stop_soon():
        wait_until(lambda: trainer.step >= 5)
        dashboard.stop()

    threading.Thread(target=stop_soon, daemon=True).start()
    history = dashboard.run(100_000)
    assert 5 <= len(history) < 100 and dashboard.state.status == "stopped"


def pass_through(data, default):
    """What an ipykernel 7 comm's _reply_subshell_for does for the main shell."""
    return default


def test_early_click_acts_while_training_and_late_click_is_skipped(digits, wait_until):
    """Does a click seen by the kernel's I/O thread pause training at once, and is the later
    ordinary on_click for that same click skipped (no double action)?"""
    trainer = make_trainer(digits)
    dashboard = TrainingDashboard(trainer)
    view = dashboard.view
    comms = {}
    for action, button in view.buttons.items():
        button.comm._reply_subshell_for = pass_through
        assert route_clicks_early(button, lambda a=action: dashboard._on_early_click(a),
                                  require_kernel=False)
        comms[action] = button.comm
    click = {"method": "custom", "content": {"event": "click"}}
    done = []
    runner = threading.Thread(target=lambda: done.append(dashboard.run(100_000)), daemon=True)
    runner.start()
    assert wait_until(lambda: trainer.step >= 3)
    # what the shell channel thread does when the click arrives mid-cell
    comms["pause"]._reply_subshell_for(click, None)
    assert trainer.is_paused
    held = trainer.step
    time.sleep(0.3)
    assert trainer.step <= held + 1
    comms["stop"]._reply_subshell_for(click, None)
    runner.join(20)
    assert done and dashboard.state.status == "stopped"
    # the same two clicks reach the ordinary handlers once the cell ends: nothing happens
    view.pause_button.click()
    view.stop_button.click()
    assert not dashboard.is_training
    # a fresh click of Start is not an early one: it continues the run in the background
    assert not is_click({"method": "update", "state": {}}) and is_click(click)
    before = trainer.step
    view.start_button.click()
    try:
        assert wait_until(lambda: trainer.step >= before + 2)
    finally:
        dashboard.stop()
        dashboard.wait(timeout=20)


def test_early_clicks_counter():
    """Does EarlyClicks skip exactly as many late clicks as were handled early?"""
    clicks = EarlyClicks()
    clicks.handled("pause")
    assert clicks.consume("pause") and not clicks.consume("pause") and not clicks.consume("stop")


def test_dashboard_with_student_step_functions(digits):
    """Does the dashboard plot a run driven by a student's own train_discriminator / train_generator?"""
    bce = torch.nn.BCELoss()

    def train_discriminator(discriminator, optimizer, real, fake):
        optimizer.zero_grad()
        loss = (bce(discriminator(real), torch.ones(len(real), 1))
                + bce(discriminator(fake), torch.zeros(len(fake), 1)))
        loss.backward()
        optimizer.step()
        return loss.item()

    def train_generator(generator, discriminator, optimizer, batch_size, latent_dim):
        optimizer.zero_grad()
        loss = bce(discriminator(generator(torch.randn(batch_size, latent_dim))),
                   torch.ones(batch_size, 1))
        loss.backward()
        optimizer.step()
        return loss.item()

    trainer = make_trainer(digits, train_discriminator=train_discriminator,
                           train_generator=train_generator)
    dashboard = TrainingDashboard(trainer)
    dashboard.run(8)
    assert dashboard.state.steps == list(range(1, 9))
    assert all(math.isfinite(v) for v in dashboard.state.metrics["d_loss"])
    assert all(0.0 <= v <= 1.0 for v in dashboard.state.metrics["d_fake"])


def test_static_png_is_reproducible_for_a_seeded_run(digits):
    """Do two runs with one seed give byte-identical static PNGs, and another seed a different one?"""
    pngs = []
    for seed in (3, 3, 4):
        dashboard = TrainingDashboard(make_trainer(digits, seed=seed))
        dashboard.run(12)
        pngs.append(dashboard.to_png())
    assert pngs[0] == pngs[1]
    assert pngs[0] != pngs[2]
    assert pngs[0].startswith(b"\x89PNG") and len(pngs[0]) < 200_000


def test_alarms_reach_the_view(digits):
    """Does an overpowering D (synthetic records) show up in the alarm box and the static PNG?"""
    dashboard = TrainingDashboard(alarms=AlarmMonitor(overpowering_steps=10))
    view = dashboard.view
    dashboard.on_train_begin(object())
    quiet = dashboard.to_png()
    for step in range(1, 21):
        dashboard.on_step_end(object(), record(step, d_acc_real=1.0, d_acc_fake=1.0))
    dashboard._refresh(force=True)
    assert "overpowering" in view.alarms.value
    assert dashboard.to_png() != quiet


def test_catch_up_from_checkpoint_under_nbgrader(digits, tmp_path, monkeypatch):
    """Under nbgrader with a saved checkpoint, does the dashboard show the loaded run's curves?"""
    path = tmp_path / "run.pt"
    trainer = make_trainer(digits, checkpoint_path=path)
    trainer.fit(15)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    reloaded = make_trainer(digits, seed=9, checkpoint_path=path)
    dashboard = TrainingDashboard(reloaded)
    dashboard.run(500)
    assert dashboard.state.steps == list(range(1, 16))
    assert dashboard.state.snapshot_step == 15 and dashboard.state.status == "finished"


def test_dashboard_attached_later_shows_earlier_steps(digits):
    """If the trainer trained before the dashboard existed, do the curves include those steps?"""
    trainer = make_trainer(digits)
    trainer.fit(6)
    dashboard = TrainingDashboard(trainer)
    dashboard.run(4)
    assert dashboard.state.steps == list(range(1, 11))
    assert dashboard.state.step_text() == "step 10 / 10" and dashboard.state.progress == 1.0


def test_run_without_trainer_explains():
    """Does run() on a dashboard without a trainer say how to make one?"""
    with pytest.raises(ValueError, match="TrainingDashboard\\(trainer\\)"):
        TrainingDashboard().run(5)


# ---------------------------------------------------------------------- SampleGrid


class ConstantD(torch.nn.Module):
    """A discriminator that says P(real) = value for every image."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, images):
        return torch.full((len(images), 1), self.value)


def test_sample_grid_colours_d_verdicts(digits):
    """Is each image's frame green where D is right and red where D is wrong?"""
    generator, _ = build_models("playground-fc")
    grid = SampleGrid(generator, ConstantD(0.9), digits, n=4, columns=4)
    verdicts = grid.verdicts
    assert verdicts.real_correct.all() and not verdicts.fake_correct.any()
    assert verdicts.accuracy == 0.5
    picture = np.asarray(Image.open(io.BytesIO(grid.to_png())).convert("RGB"))
    # the frame of the first real tile (left) and of the first generated tile (right)
    real_frame = picture[26 - 2, 6 - 2]
    fake_frame = picture[26 - 2, picture.shape[1] // 2 + 15 + 6 - 2]
    assert tuple(real_frame) == COLORS["right"]
    assert tuple(fake_frame) == COLORS["wrong"]


def test_sample_grid_resamples_by_seed_and_button(digits):
    """Do the seed box and the New samples button draw new images, reproducibly per seed?"""
    generator, discriminator = build_models("playground-fc")
    grid = SampleGrid(generator, discriminator, digits, n=4)
    first = grid.verdicts.fake_images.copy()
    grid.new_samples_button.click()
    assert grid.seed.value == 1 and not np.allclose(grid.verdicts.fake_images, first)
    grid.seed.value = 0
    assert np.allclose(grid.verdicts.fake_images, first)


def test_sample_verdicts_check_probabilities():
    """Are D outputs outside [0, 1] refused with a hint about logits?"""
    with pytest.raises(ValueError, match="from_logits"):
        SampleVerdicts(np.zeros((2, 1, 4, 4)), [0.5, 2.0], np.zeros((2, 1, 4, 4)), [0.1, 0.2])
    with pytest.raises(ValueError, match="one D output per image"):
        SampleVerdicts(np.zeros((2, 1, 4, 4)), [0.5], np.zeros((2, 1, 4, 4)), [0.1, 0.2])


def test_labelled_grid_needs_one_probability_per_image():
    """Does drawing refuse a mismatch of images and probabilities?"""
    with pytest.raises(ValueError, match="one D"):
        draw_labelled_grid(np.zeros((2, 1, 4, 4)), [0.5], np.zeros((1, 1, 4, 4)), [0.1])


# ---------------------------------------------------------------------- NoiseViewer


def test_noise_viewer_shows_noise_and_its_samples():
    """Does NoiseViewer keep n noise vectors and G's images of exactly those vectors?"""
    generator, _ = build_models("playground-fc")
    viewer = NoiseViewer(generator, n=10, seed=5)
    assert viewer.noise.shape == (10, 100)
    with torch.no_grad():
        expected = generator(torch.from_numpy(viewer.noise)).numpy()
    assert np.allclose(viewer.images, expected, atol=1e-6)
    picture = Image.open(io.BytesIO(viewer.to_png()))
    assert picture.width > 5 * 28 and picture.height > 2 * 28


def test_noise_viewer_button_and_seed():
    """Does New noise draw different vectors, and setting the seed back restore the first?"""
    generator, _ = build_models("playground-fc")
    viewer = NoiseViewer(generator, n=4, seed=0)
    first = viewer.noise.copy()
    viewer.new_noise_button.click()
    assert viewer.seed.value == 1 and not np.allclose(viewer.noise, first)
    viewer.seed.value = 0
    assert np.allclose(viewer.noise, first)


def test_noise_viewer_without_generator_needs_noise_and_images():
    """Is a viewer with neither a generator nor images refused with what to pass?"""
    with pytest.raises(ValueError, match="noise= and images="):
        NoiseViewer(noise=np.zeros((2, 100)))


def test_flat_images_are_drawn_as_squares():
    """Are an MLP generator's flat outputs (N, 784) drawn as 28x28 digits, the same pixels as
    (N, 28, 28), colour (N, 3072) as 32x32x3, and an odd length refused with what to do?"""
    from ganlab_kit.widgets.drawing import to_pixels

    rng = np.random.default_rng(0)
    square = rng.uniform(-1, 1, (10, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(to_pixels(square.reshape(10, 784)), to_pixels(square))
    colour = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(to_pixels(colour.reshape(2, -1)), to_pixels(colour))
    with pytest.raises(ValueError, match="reshape them"):
        to_pixels(np.zeros((2, 100 + 1)))
    viewer = NoiseViewer(noise=rng.normal(size=(10, 100)), images=square.reshape(10, 784))
    assert Image.open(io.BytesIO(viewer.to_png())).size[0] > 100


# ----------------------------------------------------------------------------- random clicks (issue 26)
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402

from ganlab_kit.widgets.noise_viewer import standard_normal_noise  # noqa: E402


class DashboardClicks(RuleBasedStateMachine):
    """Random Start / Pause / Resume / Stop clicks, blocking runs and waits on a tiny trainer's
    dashboard. After each click the machine waits until training is either over or held by a
    pause (the states a student sees long enough to click again), then checks that the buttons,
    the status and the history agree, and that no click raised."""

    digits = None

    def __init__(self):
        super().__init__()
        self.trainer = make_trainer(self.digits, steps=12, snapshot_every=6, n_fixed=4, batch_size=8)
        self.dashboard = TrainingDashboard(self.trainer, quality_every=0, refresh_seconds=0.0)
        self.view = self.dashboard.view

    def settle(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            thread = self.dashboard._thread
            if thread is None or not thread.is_alive():
                return
            if self.trainer.is_paused and self.dashboard.state.status == "paused":
                return
            time.sleep(0.005)
        raise AssertionError("the dashboard neither finished nor held a pause within 30 s")

    def click(self, button):
        button.click()
        self.settle()

    @rule()
    def start_or_resume(self):
        self.click(self.view.start_button)

    @rule()
    def pause(self):
        self.click(self.view.pause_button)

    @rule()
    def stop(self):
        self.click(self.view.stop_button)

    @rule()
    def run_blocking(self):
        """A cell calls run() again: refused while a run is held (with a clear message), else trains."""
        if self.dashboard.is_training:
            with pytest.raises(RuntimeError, match="already training"):
                self.dashboard.run(3)
        else:
            self.dashboard.run(3)

    @rule()
    def stop_and_wait(self):
        """Reset-like: stop whatever runs (a held pause too) and wait for the end."""
        self.dashboard.stop()
        self.dashboard.wait(timeout=30)

    @invariant()
    def consistent(self):
        dashboard, view, state = self.dashboard, self.view, self.dashboard.state
        with dashboard._ui_lock:
            running = dashboard.is_training
            paused = state.status == "paused"
            assert view.error.value == "", view.error.value
            assert state.error in (None, ""), state.error
            assert view.start_button.description == ("Resume" if paused else "Start")
            assert not view.start_button.disabled  # Start, or Resume while held
            assert view.pause_button.disabled == (not running or paused)
            assert view.stop_button.disabled == (not running)
            if not running:
                assert state.status in ("idle", "finished", "stopped"), state.status
            else:
                assert paused and self.trainer.is_paused
        steps = list(state.steps)
        assert steps == sorted(set(steps)) and (not steps or steps[-1] <= self.trainer.step)

    def teardown(self):
        self.dashboard.stop()
        self.dashboard.wait(timeout=30)


def test_dashboard_survives_random_click_sequences(digits):
    """Do random sequences of Start / Pause / Resume / Stop clicks, blocking runs and stops keep
    the dashboard consistent (buttons, status, history) without an exception?"""
    DashboardClicks.digits = digits
    runner = DashboardClicks.TestCase
    runner.settings = settings(max_examples=12, stateful_step_count=12, deadline=None,
                               suppress_health_check=list(HealthCheck))
    runner().runTest()


def test_error_in_a_button_handler_shows_in_the_dashboard(digits, monkeypatch):
    """Does an error inside a button's handler show in the dashboard's error line (not only in
    JupyterLab's log console), leave the controls usable, and clear on the next good click?"""
    trainer = make_trainer(digits, steps=4, batch_size=8, n_fixed=4)
    dashboard = TrainingDashboard(trainer, quality_every=0)
    view = dashboard.view

    def broken(steps):
        raise RuntimeError("no free thread")

    monkeypatch.setattr(dashboard, "_start_background", broken)
    view.start_button.click()
    assert "Start failed: RuntimeError: no free thread" in view.error.value
    assert not view.start_button.disabled and view.stop_button.disabled
    monkeypatch.undo()
    view.start_button.click()
    dashboard.wait(timeout=30)
    assert view.error.value == "" and dashboard.state.status == "finished"


class PictureClicks(RuleBasedStateMachine):
    """Random "New noise" clicks, seed-box edits and ``resample`` calls on a NoiseViewer whose
    arrays a notebook cell kept (``samples = viewer.images``, as the Keras lab does). After each
    step the seed box, the noise, the images, the kept arrays and the picture must all show the
    same draw: the noise of the seed the box shows, and G's images of exactly that noise."""

    generator = None

    def __init__(self):
        super().__init__()
        self.viewer = NoiseViewer(self.generator, n=4, seed=0)
        self.kept_noise, self.kept_images = self.viewer.noise, self.viewer.images
        self.viewer.widget  # built, so every change redraws the picture as on screen

    @rule()
    def new_noise(self):
        self.viewer.new_noise_button.click()

    @rule(seed=st.integers(min_value=0, max_value=50))
    def type_seed(self, seed):
        self.viewer.seed.value = seed

    @rule(seed=st.one_of(st.none(), st.integers(min_value=0, max_value=50)))
    def resample_in_code(self, seed):
        self.viewer.resample(seed)

    @invariant()
    def one_draw_everywhere(self):
        viewer = self.viewer
        assert viewer.seed.value == viewer.seed_value
        expected = standard_normal_noise(4, viewer.noise.shape[1], viewer.seed_value)
        assert np.array_equal(viewer.noise, expected)
        with torch.no_grad():
            images = self.generator(torch.from_numpy(viewer.noise)).numpy()
        assert np.allclose(viewer.images.reshape(images.shape), images, atol=1e-6)
        assert self.kept_noise is viewer.noise and self.kept_images is viewer.images
        assert viewer._widgets["image"].value == viewer.to_png()


def test_noise_viewer_survives_random_clicks():
    """Do random New-noise clicks, seed edits and resample calls keep the seed box, the noise,
    G's images, the arrays a cell kept and the picture showing one and the same draw?"""
    PictureClicks.generator = build_models("playground-fc")[0].eval()
    runner = PictureClicks.TestCase
    runner.settings = settings(max_examples=10, stateful_step_count=10, deadline=None,
                               suppress_health_check=list(HealthCheck))
    runner().runTest()
