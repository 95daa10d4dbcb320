"""The GAN Playground widget, headless: layers edited by setting values and clicking,
shape errors, presets, background training, snapshots and the experiment log."""
import json
import math
import time

import pytest
import torch

pytest.importorskip("ipywidgets")

from ganlab_kit.data import load_mnist  # noqa: E402
from ganlab_kit.torch_gan.layer_spec import (PRESETS, Layer, ModelSpec, build_module,  # noqa: E402
                                             can_reshape, infer_shapes, preset)
from ganlab_kit.widgets import ExperimentLog, Playground  # noqa: E402
from ganlab_kit.widgets.playground_state import (PNG_KEY, PlaygroundSession,  # noqa: E402
                                                 TrainingSettings, configuration_fingerprint,
                                                 png_sha256, read_log, read_png_record, record_digest,
                                                 record_problem, samples_from_png, score_pixels)


@pytest.fixture(scope="module")
def digits():
    return load_mnist()


@pytest.fixture
def playground(tmp_path, digits):
    """A Playground on the offline digits, writing its log to tmp_path."""
    playground = Playground(tmp_path, dataset=digits, auto_snapshots=(640,))
    yield playground
    playground.session.stop()


def describe(column):
    return [row.layer.describe() for row in column.rows]


# --------------------------------------------------------------------------- specs and shapes

def test_fully_connected_preset_is_the_playgrounds():
    """Is the "Fully connected" preset exactly the seed's: G [100] -> FC 256, ReLU -> FC 784 -> Tanh
    -> Reshape [28, 28, 1]; D Flatten -> [784] -> FC 128, ReLU -> FC 2 (fake, real)?"""
    generator, discriminator = preset("Fully connected", "generator"), preset("Fully connected", "discriminator")
    assert generator.input_shape == (100,) and generator.noise == "uniform"
    assert [layer.describe() for layer in generator.layers] == [
        "Fully connected 256", "ReLU", "Fully connected 784", "Tanh", "Reshape [28, 28, 1]"]
    assert [layer.describe() for layer in discriminator.layers] == [
        "Flatten", "Fully connected 128", "ReLU", "Fully connected 2", "Softmax (fake, real)"]
    assert infer_shapes(generator).shapes == [(256,), (256,), (784,), (784,), (28, 28, 1)]
    assert infer_shapes(discriminator).shapes == [(784,), (128,), (128,), (2,), (2,)]


def test_convolutional_preset_is_the_default_and_valid():
    """Does the Playground start with the convolutional preset, valid for MNIST and for CIFAR-10?"""
    session = PlaygroundSession(".")
    assert PRESETS[0] == "Convolutional"
    assert [layer.kind for layer in session.generator.layers] == [
        "fc", "relu", "reshape", "deconv", "relu", "deconv", "tanh"]
    assert infer_shapes(session.discriminator).shapes[-3:] == [(3136,), (1,), (1,)]
    for role in ("generator", "discriminator"):
        assert infer_shapes(preset("Convolutional", role, (32, 32, 3))).valid


@pytest.mark.parametrize("name", PRESETS)
def test_built_modules_have_the_inferred_shapes(name):
    """Do the torch modules built from a preset produce exactly the shapes shown next to each layer?"""
    for role in ("generator", "discriminator"):
        spec = preset(name, role)
        module = build_module(spec)
        x = torch.rand(3, 100) * 2 - 1 if role == "generator" else torch.rand(3, 1, 28, 28) * 2 - 1
        for layer, shape, torch_layer in zip(spec.layers, infer_shapes(spec).shapes, module):
            x = torch_layer(x)
            if layer.kind != "softmax":  # the softmax keeps P(real) only
                hwc = tuple(x.shape[1:]) if x.ndim == 2 else (x.shape[2], x.shape[3], x.shape[1])
                assert hwc == shape, (layer.describe(), hwc, shape)
    probability = build_module(preset(name, "discriminator"))(torch.rand(5, 1, 28, 28))
    assert probability.shape == (5, 1) and bool(((probability >= 0) & (probability <= 1)).all())


def test_reshape_error_names_both_value_counts():
    """Is a Reshape that cannot fit flagged at that layer with "[256] holds 256 values, [28, 28, 1] needs 784"?"""
    spec = preset("Fully connected", "generator")
    del spec.layers[2]  # the second FC layer
    report = infer_shapes(spec)
    assert report.error_at == 3 and not report.valid
    assert report.error == "Reshape: [256] holds 256 values, [28, 28, 1] needs 784"
    assert report.shapes[:3] == [(256,), (256,), (256,)] and report.shapes[3] is None


@pytest.mark.parametrize("edit, where, words", [
    (lambda g, d: d.layers.insert(0, Layer("conv", kernel=30, stride=1, padding=0)), "d", "leaves no output pixels"),
    (lambda g, d: g.layers.__delitem__(slice(5, None)), "g", "G must end with the image shape [28, 28, 1]; it ends with [14, 14, 32]"),
    (lambda g, d: d.layers.pop(), "d", "D must end with one probability"),
    (lambda g, d: d.layers.pop(4), "d", "needs a flat input [n]; it gets the image-shaped [7, 7, 64]"),
    (lambda g, d: g.layers.pop(2), "g", "needs an image-shaped input [height, width, channels]"),
    (lambda g, d: g.layers.append(Layer("softmax")), "g", "is for the discriminator's output"),
])
def test_impossible_models_are_explained(edit, where, words):
    """Is each impossible model flagged with a message that says what is wrong and what to do?"""
    g, d = preset("Convolutional", "generator"), preset("Convolutional", "discriminator")
    edit(g, d)
    report = infer_shapes(g if where == "g" else d)
    assert not report.valid and words in report.error
    with pytest.raises(ValueError, match="cannot be built"):
        build_module(g if where == "g" else d)


def test_can_reshape_reference():
    """Does the kit's can_reshape answer the seed's hint: [600] -> [20, 20, 2] no, [800] -> [20, 10, 4] yes?"""
    assert can_reshape([600], [20, 20, 2]) is False and can_reshape([800], [20, 10, 4]) is True


def test_specs_round_trip_through_json():
    """Does a model written to the log read back as the same layers?"""
    spec = preset("Convolutional", "generator")
    data = json.loads(json.dumps(spec.to_dict()))
    again = ModelSpec.from_dict("generator", data, (28, 28, 1))
    assert again.to_dict() == spec.to_dict()


# --------------------------------------------------------------------------- the widget

def test_fc_preset_by_menu_and_reshape_error_by_clicking(playground):
    """Choosing "Fully connected" builds its layers; removing G's second FC layer shows the Reshape
    error at the Reshape row and disables Train; inserting it back re-enables Train."""
    playground.preset.value = "Fully connected"
    assert describe(playground.generator) == ["Fully connected 256", "ReLU", "Fully connected 784",
                                              "Tanh", "Reshape [28, 28, 1]"]
    assert describe(playground.discriminator)[-1] == "Softmax (fake, real)"
    assert not playground.train_button.disabled
    playground.generator.rows[2].remove.click()
    assert "[256] holds 256 values, [28, 28, 1] needs 784" in playground.generator.rows[3].shape.value
    assert playground.train_button.disabled and "Train is disabled" in playground.status.value
    playground.generator.rows[1].insert.click()  # a new FC layer below the ReLU
    row = playground.generator.rows[2]
    assert row.kind.value == "fc"
    row.settings["units"].value = 784
    assert describe(playground.generator)[2] == "Fully connected 784"
    assert not playground.train_button.disabled
    assert "[784]" in playground.generator.rows[2].shape.value


def test_layers_are_added_moved_and_retyped(playground):
    """Do Add layer, the arrows and the kind menu edit the column as shown?"""
    column = playground.discriminator
    count = len(column.rows)
    column.add.click()
    assert len(column.rows) == count + 1 and column.rows[-1].kind.value == "fc"
    column.rows[-1].kind.value = "dropout"
    assert column.rows[-1].layer.describe() == "Dropout 0.3"
    assert "D must end with one probability" in column.message.value  # Dropout after Sigmoid
    column.rows[-1].up.click()
    assert column.rows[-2].layer.kind == "dropout" and "output [1]" in column.message.value
    column.rows[-2].remove.click()
    assert len(column.rows) == count and "output [1]" in column.message.value
    assert playground.generator.rows[0].up.disabled and playground.generator.rows[-1].down.disabled


def test_reshape_shape_is_edited_as_text(playground):
    """Does typing a shape into a Reshape row update the shapes (and flag a bad one)?"""
    playground.preset.value = "Fully connected"
    reshape = playground.generator.rows[4]
    reshape.settings["shape"].value = "28, 14, 2"
    assert "G must end with the image shape" in playground.generator.message.value
    reshape.settings["shape"].value = "[28, 28, 1]"
    assert playground.session.can_train


def test_training_runs_in_the_background(playground, wait_until):
    """Does Train return at once while training goes on, Pause halt it, Train resume it, and the
    view show examples, speed and D's verdicts?"""
    playground.preset.value = "Fully connected"
    playground.train_button.click()
    assert playground.session.is_training  # the click returned; the thread trains
    assert wait_until(lambda: playground.session.examples >= 1280, 60)
    assert all(widget.disabled for widget in (playground.preset, playground.g_lr, playground.train_button))
    assert playground.generator.rows[0].kind.disabled
    playground.pause_button.click()
    assert wait_until(lambda: playground.session.trainer.parked.is_set(), 10)
    paused_at = playground.session.examples
    assert "paused" in playground.status.value and playground.train_button.description == "Resume"
    assert playground.session.examples == paused_at
    playground.train_button.click()
    assert wait_until(lambda: playground.session.examples > paused_at, 30)
    playground.reset_button.click()
    assert not playground.session.is_training and playground.session.examples == 0
    assert playground.session.run == 2 or read_log(playground.session.log_path)  # auto snapshot may exist
    verdicts = None
    playground.train(320)
    verdicts = playground.session.verdicts
    assert verdicts is not None and len(verdicts[0]) == len(verdicts[2]) == 9
    assert "examples trained: <b>320</b>" in playground.stats.value


def test_snapshot_writes_png_and_log_line(playground, tmp_path):
    """Does Snapshot save a PNG of the view and append a complete record that the PNG matches?"""
    playground.preset.value = "Fully connected"
    playground.g_lr.value = 5e-4
    playground.train(700)  # passes the automatic snapshot at 640
    playground.snapshot_button.click()
    records = read_log(tmp_path / "playground_log.jsonl")
    assert [r["reason"] for r in records] == ["auto 640", "button"]
    last = records[-1]
    assert last["examples"] == 704 and last["g_lr"] == 5e-4 and last["d_lr"] == 2e-4
    assert last["generator"]["layers"][0] == {"kind": "fc", "units": 256}
    assert last["discriminator"]["layers"][-1] == {"kind": "softmax"}
    assert math.isfinite(last["metrics"]["d_loss"]) and 0 <= last["metrics"]["d_accuracy"] <= 1
    assert sum(last["scores"]["class_counts"]) == last["scores"]["n"] and 0 <= last["scores"]["coverage"] <= 10
    png = tmp_path / last["snapshot"]
    assert png_sha256(png) == last["png_sha256"]
    summary = read_png_record(png)
    assert summary == {"index": last["index"], "run": last["run"], "examples": 704,
                       "configuration": configuration_fingerprint(last), "record": record_digest(last),
                       "samples": summary["samples"]}
    assert summary["samples"][2:] == [25, 500] and record_problem(last, tmp_path, rescore=True) is None
    assert score_pixels(samples_from_png(png)) == last["scores"]  # the drawn samples are the scored ones
    log = ExperimentLog(tmp_path / "playground_log.jsonl")
    assert len(log) == 2 and "auto 640" not in log._repr_html_() and last["snapshot"] in log._repr_html_()
    assert "data:image/png;base64," in log.gallery().data


def test_snapshot_while_training_is_taken_on_the_training_thread(playground, wait_until, tmp_path):
    """Is a Snapshot pressed during training taken after the current step, by the training thread?"""
    playground.preset.value = "Fully connected"
    playground.train_button.click()
    assert wait_until(lambda: playground.session.examples >= 64, 30)
    assert playground.snapshot_button.click() is None
    assert wait_until(lambda: any(r["reason"] == "button" for r in read_log(tmp_path / "playground_log.jsonl")), 30)
    playground.pause_button.click()
    record = playground.snapshot()  # paused: taken at once
    assert record is not None and record["examples"] == playground.session.examples


def test_new_run_after_a_model_change(playground):
    """Does changing a layer after training start a fresh run (new weights, examples from 0)?"""
    playground.preset.value = "Fully connected"
    playground.train(128)
    first = playground.session.run
    playground.generator.rows[0].settings["units"].value = 128
    assert playground.session.examples == 0 and playground.session.trainer is None
    playground.train(64)
    playground.snapshot()
    assert read_log(playground.session.log_path)[-1]["run"] == playground.session.run
    assert playground.session.run == first  # no snapshot of the first run: its number is reused


def test_noise_is_uniform_in_minus_one_one(tmp_path, digits):
    """Does the trainer draw G's noise uniformly from [-1, 1], as the Playground does?"""
    session = PlaygroundSession(tmp_path, "Fully connected", dataset=digits)
    trainer = session.build_trainer()
    noise = trainer.noise(20000)
    assert float(noise.min()) >= -1 and float(noise.max()) <= 1
    assert abs(float(noise.mean())) < 0.02 and abs(float(noise.var()) - 1 / 3) < 0.02


def test_optimizers_follow_the_settings(tmp_path, digits):
    """Do the chosen optimizers and learning rates reach the kit trainer?"""
    settings = TrainingSettings(g_optimizer="sgd", g_lr=0.1, d_optimizer="rmsprop", d_lr=0.01)
    trainer = PlaygroundSession(tmp_path, "Fully connected", settings, dataset=digits).build_trainer()
    assert isinstance(trainer.g_optimizer, torch.optim.SGD) and trainer.g_optimizer.param_groups[0]["lr"] == 0.1
    assert isinstance(trainer.d_optimizer, torch.optim.RMSprop) and trainer.d_optimizer.param_groups[0]["lr"] == 0.01


def test_missing_cifar_gives_a_clear_message(tmp_path, monkeypatch):
    """Offline without the CIFAR-10 files, does Train say what is missing (and the models adapt to [32, 32, 3])?"""
    monkeypatch.setenv("GANLAB_OFFLINE", "1")
    monkeypatch.setenv("GANLAB_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    playground = Playground(tmp_path)
    playground.data.value = "cifar10"
    assert playground.session.generator.image_shape == (32, 32, 3)
    assert "[32, 32, 3]" in playground.generator.message.value
    assert playground.session.can_train  # both presets were rebuilt for [32, 32, 3]
    playground.train_button.click()
    assert not playground.session.is_training
    assert "CIFAR" in playground.status.value or "cifar" in playground.status.value


def test_headless_view_is_reproducible(tmp_path, digits):
    """Is the static picture of a seeded run the same bytes twice (no wall clock in it)?"""
    pictures = []
    for folder in ("a", "b"):
        playground = Playground(tmp_path / folder, model="Fully connected", dataset=digits)
        playground.train(128)
        pictures.append(playground.to_png())
    assert pictures[0] == pictures[1] and pictures[0][:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- clicks in any order

def test_pause_then_fully_connected_rebuilds_the_rows(playground, wait_until):
    """Issue 26: Train, Pause, then Model: Fully connected (the notebook's order) -- do the rows show
    the fully connected layers, Model and Train stay usable, no error, and does Reset work?"""
    playground.train_button.click()
    assert wait_until(lambda: playground.session.examples >= 64, 60)
    playground.pause_button.click()
    assert wait_until(lambda: playground.session.trainer.parked.is_set(), 10)
    playground.preset.value = "Fully connected"
    assert playground.error == "" and playground.error_widget_text() == ""
    assert describe(playground.generator) == ["Fully connected 256", "ReLU", "Fully connected 784",
                                              "Tanh", "Reshape [28, 28, 1]"]
    assert "[28, 28, 1]" in playground.generator.rows[-1].shape.value
    assert not playground.preset.disabled and not playground.train_button.disabled
    assert playground.train_button.description == "Train" and playground.session.examples == 0
    playground.reset_button.click()
    playground.train(64)
    assert playground.error == "" and playground.session.examples == 64


def test_an_error_in_a_callback_is_shown_in_the_widget(playground, monkeypatch):
    """Does an error raised inside a button's callback appear as an error line in the widget (not only
    in JupyterLab's log console), leave the view drawn from the session, and clear on the next click?"""
    def broken():
        raise IndexError("list index out of range")

    monkeypatch.setattr(playground.session, "request_snapshot", lambda reason: broken())
    playground.snapshot_button.click()  # raises nothing here: the widget catches it
    text = playground.error_widget_text()
    assert "Snapshot failed: IndexError: list index out of range" in text and "Reset" in text
    monkeypatch.undo()
    playground.preset.value = "Fully connected"
    assert playground.error == "" and playground.error_widget_text() == ""
    assert describe(playground.generator)[0] == "Fully connected 256"


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings, strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule  # noqa: E402

from ganlab_kit.torch_gan.layer_spec import LAYER_KINDS  # noqa: E402

_SMALL_DIGITS = []


def _small_digits():
    """640 offline digits (64 per class) -- enough for a few training steps, loaded once."""
    if not _SMALL_DIGITS:
        digits = load_mnist()
        keep = torch.cat([torch.nonzero(digits.labels == d).flatten()[:64] for d in range(10)])
        digits.images, digits.labels = digits.images[keep], digits.labels[keep]
        _SMALL_DIGITS.append(digits)
    return _SMALL_DIGITS[0]


ROLE = st.sampled_from(["generator", "discriminator"])


class PlaygroundClicks(RuleBasedStateMachine):
    """A student clicking through the Playground: only enabled widgets are used, in any order."""

    def __init__(self):
        super().__init__()
        import tempfile

        self.folder = tempfile.TemporaryDirectory()
        self.pg = Playground(self.folder.name, dataset=_small_digits(), auto_snapshots=(),
                             settings=TrainingSettings(batch_size=16))
        self.pg.widget  # built as a notebook shows it
        self.snapshots = 0

    def column(self, role):
        return getattr(self.pg, role)

    def teardown(self):
        self.pg.session.stop()
        self.folder.cleanup()

    # model and settings
    # a rule runs only where its widget is enabled (preconditions), as a student can click only those
    @precondition(lambda self: not self.pg.preset.disabled)
    @rule()
    def switch_model(self):
        """Model: the other preset (choosing the shown one does nothing)."""
        self.pg.preset.value = next(name for name in PRESETS if name != self.pg.preset.value)

    @precondition(lambda self: not self.pg.session.is_running)
    @rule(role=ROLE, position=st.integers(0, 20),
          action=st.sampled_from(["add", "remove", "insert", "up", "down", "kind", "setting"]),
          kind=st.sampled_from(sorted(LAYER_KINDS)), value=st.sampled_from([1, 16, 784, 0]))
    def edit_layer(self, role, position, action, kind, value):
        """One edit of a layer row (most edits break the model; choosing a model mends it)."""
        column = self.column(role)
        if action == "add":
            if not column.add.disabled:
                column.add.click()
            return
        if not column.rows:
            return
        row = column.rows[position % len(column.rows)]
        if action == "kind":
            if not row.kind.disabled and kind in [name for _, name in row.kind.options]:
                row.kind.value = kind
        elif action == "setting":
            for name, box in row.settings.items():
                if not box.disabled and name in ("units", "filters"):
                    box.value = value
        elif not getattr(row, action).disabled:
            getattr(row, action).click()

    @precondition(lambda self: not self.pg.g_lr.disabled)
    @rule(lr=st.sampled_from([1e-3, 5e-4, 2e-4]), batch=st.sampled_from([8, 16]))
    def settings(self, lr, batch):
        self.pg.g_lr.value = lr
        self.pg.batch_size.value = batch

    # the run
    @precondition(lambda self: not self.pg.train_button.disabled)
    @rule(then_pause=st.booleans())
    def train(self, then_pause):
        """Train (or Resume), and perhaps Pause once a step has run."""
        self.pg.train_button.click()
        session = self.pg.session
        if then_pause and session.is_running:
            step = session.trainer.step
            deadline = time.monotonic() + 20
            while session.trainer.step == step and session.is_running and time.monotonic() < deadline:
                time.sleep(0.01)
            self.pause()

    @precondition(lambda self: not self.pg.pause_button.disabled)
    @rule()
    def pause(self):
        """Pause; wait until it holds (the loop waits before its next step)."""
        self.pg.pause_button.click()
        assert self.pg.session.trainer.parked.wait(20), "Pause did not take hold"

    @precondition(lambda self: not self.pg.reset_button.disabled)
    @rule()
    def reset(self):
        self.pg.reset_button.click()

    @precondition(lambda self: not self.pg.session.is_running and self.snapshots < 2)
    @rule()
    def snapshot(self):
        self.snapshots += 1  # each one scores and draws: two per example keep the test short
        self.pg.snapshot_button.click()

    @precondition(lambda self: self.pg.session.is_training)
    @rule()
    def stop_in_code(self):
        self.pg.session.stop()
        self.pg._redraw(force=True)

    # what must always hold
    @invariant()
    def no_error(self):
        assert self.pg.error == "" and self.pg.error_widget_text() == "", self.pg.error
        assert self.pg.session._thread_error is None

    @invariant()
    def rows_match_the_models(self):
        for role in ("generator", "discriminator"):
            column, spec = self.column(role), getattr(self.pg.session, role)
            report = infer_shapes(spec)
            assert [row.kind.value for row in column.rows] == [layer.kind for layer in spec.layers]
            assert [row.layer for row in column.rows] == spec.layers
            for index, row in enumerate(column.rows):
                assert ("&#9888;" in row.shape.value) == (report.error_at == index)

    @invariant()
    def buttons_follow_the_state(self):
        pg, session = self.pg, self.pg.session
        running = session.is_running
        assert pg.train_button.disabled == (running or not session.can_train)
        assert pg.pause_button.disabled == (not running)
        assert pg.reset_button.disabled == (session.trainer is None)
        assert pg.train_button.description == ("Resume" if session.is_training and not running else "Train")
        for widget in (pg.preset, pg.g_lr, pg.batch_size, pg.generator.add, pg.discriminator.add):
            assert widget.disabled == running
        assert all(row.kind.disabled == running for role in ("generator", "discriminator")
                   for row in self.column(role).rows)

    @invariant()
    def every_logged_snapshot_exists(self):
        for record in read_log(self.pg.session.log_path):
            assert (self.pg.session.directory / record["snapshot"]).is_file()


TestPlaygroundClicks = PlaygroundClicks.TestCase
TestPlaygroundClicks.settings = settings(max_examples=10, stateful_step_count=15, deadline=None,
                                         suppress_health_check=list(HealthCheck), derandomize=True,
                                         database=None)
