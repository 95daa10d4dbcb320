"""Tests of the PyTorch Trainer: determinism, checkpoints, grading budget, history, control.

Most tests train the small "playground-fc" pair or a tiny MLP on one offline digit
for a handful of steps, so each runs in well under a second after the data load.
"""
from __future__ import annotations

import json
import math
import threading
import time

import pytest
import torch
from torch import nn

from ganlab_kit.config import TrainConfig
from ganlab_kit.data import load_mnist, toy_2d
from ganlab_kit.torch_gan import (Callback, History, MLPDiscriminator, MLPGenerator, Trainer,
                                  load_generator, playground_fc, seed_everything)
from ganlab_kit.torch_gan.trainer import METRICS, make_adam

FAST = dict(batch_size=16, snapshot_every=0, n_fixed=8)
# all three label tricks draw from the trainer's generator too: repeatable runs must include them
TRICKS = dict(label_smoothing=0.1, label_noise=0.1, label_flip=0.1)


@pytest.fixture(scope="module")
def ones():
    """The 500 offline images of the digit 1 (loaded once per module)."""
    return load_mnist([1])


def tiny_mlp_pair(seed: int = 0):
    """A small MLP pair with the lab's structure (LeakyReLU, dropout, Tanh/Sigmoid)."""
    seed_everything(seed)
    return (MLPGenerator(latent_dim=16, hidden=(32, 64)),
            MLPDiscriminator(hidden=(64, 32), dropout=0.3))


def fc_pair(seed: int = 0):
    seed_everything(seed)
    return playground_fc()


def weights(module: nn.Module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def history_without_timing(history: History) -> dict:
    """The history without its timings, NaN (unmeasured gradient norms) as None: NaN is never
    == itself once a checkpoint has copied it."""
    data = history.to_dict()
    data.pop("examples_per_sec")
    return {name: [None if isinstance(v, float) and math.isnan(v) else v for v in values]
            for name, values in data.items()}


# --------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_runs(ones):
    """Do two runs with the same seed give identical histories and weights?"""
    runs = []
    for _ in range(2):
        generator, discriminator = tiny_mlp_pair(seed=0)
        trainer = Trainer(generator, discriminator, ones, seed=0, **FAST, **TRICKS)
        trainer.fit(5)
        runs.append((history_without_timing(trainer.history), weights(generator),
                     weights(discriminator)))
    assert runs[0][0] == runs[1][0]
    assert same_weights(runs[0][1], runs[1][1]) and same_weights(runs[0][2], runs[1][2])


def test_different_seed_gives_a_different_run(ones):
    """Does another trainer seed (same starting weights) change the history and weights?"""
    results = []
    for seed in (0, 1):
        generator, discriminator = tiny_mlp_pair(seed=0)
        trainer = Trainer(generator, discriminator, ones, seed=seed, **FAST)
        trainer.fit(3)
        results.append((trainer.history.d_loss, weights(generator)))
    assert results[0][0] != results[1][0]
    assert not same_weights(results[0][1], results[1][1])


def test_seed_none_is_not_repeatable(ones):
    """With seed=None, do two trainers draw different fixed noise (no hidden constant seed)?"""
    first = Trainer(*fc_pair(), ones, seed=None, **FAST)
    second = Trainer(*fc_pair(), ones, seed=None, **FAST)
    assert not torch.equal(first.fixed_noise, second.fixed_noise)


# --------------------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip_restores_everything(ones, tmp_path):
    """Does a checkpoint restore weights, optimizers, step, history and fixed noise?"""
    path = tmp_path / "run.pt"
    generator, discriminator = tiny_mlp_pair(seed=0)
    trainer = Trainer(generator, discriminator, ones, checkpoint_path=path, **FAST)
    trainer.fit(4)
    assert path.is_file()

    fresh_g, fresh_d = tiny_mlp_pair(seed=99)
    assert not same_weights(weights(fresh_g), weights(generator))
    restored = Trainer(fresh_g, fresh_d, ones, seed=5, **FAST).load_checkpoint(path)
    assert same_weights(weights(fresh_g), weights(generator))
    assert same_weights(weights(fresh_d), weights(discriminator))
    assert restored.step == 4 and len(restored.history) == 4
    # compared as JSON: NaN (gradient norms between measured steps) is never == itself
    assert json.dumps(restored.history.to_dict()) == json.dumps(trainer.history.to_dict())
    assert torch.equal(restored.fixed_noise, trainer.fixed_noise)
    assert restored.g_optimizer.state_dict()["state"][0]["step"] == 4
    assert restored.loaded_from_checkpoint


def test_resume_continues_like_an_uninterrupted_run(ones, tmp_path):
    """Do 3 steps + save + load into fresh models + 3 steps equal 6 uninterrupted steps?"""
    generator, discriminator = tiny_mlp_pair(seed=0)
    straight = Trainer(generator, discriminator, ones, **FAST, **TRICKS)
    straight.fit(6)

    path = tmp_path / "half.pt"
    first_g, first_d = tiny_mlp_pair(seed=0)
    Trainer(first_g, first_d, ones, checkpoint_path=path, **FAST, **TRICKS).fit(3)
    torch.manual_seed(1234)  # disturb the global generator, as other notebook cells would
    resumed_g, resumed_d = tiny_mlp_pair(seed=7)
    resumed = Trainer(resumed_g, resumed_d, ones, checkpoint_path=path, **FAST, **TRICKS)
    resumed.load_checkpoint(path)
    resumed.fit(3)

    assert resumed.step == 6
    assert history_without_timing(resumed.history) == history_without_timing(straight.history)
    assert same_weights(weights(resumed_g), weights(generator))
    assert same_weights(weights(resumed_d), weights(discriminator))
    # the resumed fit saved its progress again (a loaded checkpoint is not a reason to skip)
    assert Trainer(*tiny_mlp_pair(3), ones, **FAST).load_checkpoint(path).step == 6


def test_checkpoint_loads_with_other_data(ones, tmp_path):
    """Can a checkpoint saved on 1,000 images resume on the 500 ones (fresh epoch order)?"""
    path = tmp_path / "larger.pt"
    Trainer(*fc_pair(), load_mnist([7, 9]), checkpoint_path=path, **FAST).fit(2)
    trainer = Trainer(*fc_pair(1), ones, **FAST).load_checkpoint(path)
    trainer.fit(3)  # an index from the old order (up to 999) would not exist here
    assert trainer.step == 5


def test_generator_only_checkpoint_and_load_generator(ones, tmp_path):
    """Does checkpoint_contents='generator' save a bare state_dict that load_generator reads?"""
    path = tmp_path / "generator.pt"
    generator, discriminator = fc_pair(0)
    Trainer(generator, discriminator, ones, checkpoint_path=path,
            checkpoint_contents="generator", **FAST).fit(2)
    state = torch.load(path, weights_only=True)
    assert set(state) == set(generator.state_dict())
    fresh, _ = fc_pair(1)
    load_generator(fresh, path)
    assert same_weights(weights(fresh), weights(generator))

    full_path = tmp_path / "full.pt"
    Trainer(generator, discriminator, ones, **FAST).save_checkpoint(full_path)
    other, _ = fc_pair(2)
    load_generator(other, full_path)  # a full kit checkpoint works too
    assert same_weights(weights(other), weights(generator))

    whole_path = tmp_path / "whole.pt"
    torch.save(generator, whole_path)  # a student saving the module instead of its state_dict
    third, _ = fc_pair(3)
    load_generator(third, whole_path)
    assert same_weights(weights(third), weights(generator))


def test_load_generator_errors_are_clear(ones, tmp_path):
    """Are a missing file and a checkpoint of another architecture refused with a fix?"""
    with pytest.raises(FileNotFoundError, match="torch.save"):
        load_generator(fc_pair()[0], tmp_path / "missing.pt")
    path = tmp_path / "mlp.pt"
    torch.save(MLPGenerator(latent_dim=16, hidden=(32,)).state_dict(), path)
    with pytest.raises(RuntimeError, match="different Generator class"):
        load_generator(fc_pair()[0], path)
    full = tmp_path / "full.pt"
    Trainer(*tiny_mlp_pair(), ones, **FAST).save_checkpoint(full)
    with pytest.raises(RuntimeError, match="does not fit"):
        Trainer(*fc_pair(), ones, **FAST).load_checkpoint(full)


# --------------------------------------------------------------------------- grading budget

def test_grading_loads_the_checkpoint_and_trains_nothing(ones, tmp_path, monkeypatch):
    """Under nbgrader, with a checkpoint saved, does fit load it and run 0 steps?"""
    path = tmp_path / "gan.pt"
    generator, discriminator = fc_pair(0)
    Trainer(generator, discriminator, ones, checkpoint_path=path, **FAST).fit(3)
    saved_bytes = path.read_bytes()

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    fresh_g, fresh_d = fc_pair(1)
    trainer = Trainer(fresh_g, fresh_d, ones, checkpoint_path=path, **FAST)
    assert trainer.planned_steps(500) == 0  # what a dashboard shows before fit starts
    optimizer_steps = count_calls(trainer.d_optimizer, "step")
    history = trainer.fit(500)
    assert optimizer_steps == []
    assert trainer.step == 3 and len(history) == 3
    assert same_weights(weights(fresh_g), weights(generator))
    assert path.read_bytes() == saved_bytes  # the submission is not overwritten


def test_grading_without_checkpoint_caps_the_steps(ones, tmp_path, monkeypatch):
    """Under nbgrader with no checkpoint, are the steps capped at GANLAB_MAX_STEPS?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "1")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "4")
    trainer = Trainer(*fc_pair(), ones, checkpoint_path=tmp_path / "none.pt", **FAST)
    assert trainer.planned_steps(1000) == 4 and trainer.planned_steps(3) == 3
    trainer.fit(1000)
    assert trainer.step == 4 and len(trainer.history) == 4


def test_grading_without_checkpoint_saves_nothing(ones, tmp_path, monkeypatch):
    """Under nbgrader with no checkpoint handed in, does fit leave no file behind (so the
    autograder can say the file was not handed in), while an ordinary run saves one?"""
    path = tmp_path / "generator.pt"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "2")
    Trainer(*fc_pair(), ones, checkpoint_path=path, **FAST).fit(10)
    assert not path.exists()
    monkeypatch.delenv("NBGRADER_EXECUTION")
    Trainer(*fc_pair(), ones, checkpoint_path=path, **FAST).fit(2)
    assert path.is_file()


@pytest.mark.parametrize("flag", ["autograde", "solution"])
def test_grading_runs_on_a_fixed_thread_count(ones, monkeypatch, flag):
    """Under nbgrader, does threads="auto" train on GRADING_THREADS whatever the load (a
    load-following count would change the sums, so a seeded run would not repeat)?"""
    from ganlab_kit.torch_gan import trainer as trainer_module
    monkeypatch.setenv("NBGRADER_EXECUTION", flag)
    seen = []

    class ThreadSpy(trainer_module.Callback):
        def on_step_end(self, trainer, record):
            seen.append(torch.get_num_threads())

    trainer = Trainer(*fc_pair(), ones, callbacks=[ThreadSpy()], **FAST)
    monkeypatch.setattr(trainer_module, "ThreadPicker", None)  # would raise if used
    trainer.fit(3)
    assert seen == [trainer_module.GRADING_THREADS] * 3


def test_lab_fast_path_caps_steps_and_still_saves(ones, tmp_path, monkeypatch):
    """Does GANLAB_LAB_STEPS cap a run (the dashboard's planned total too) while the run saves
    its checkpoint as a student's run does, and is a bad value refused with the fix?"""
    monkeypatch.setenv("GANLAB_LAB_STEPS", "3")
    path = tmp_path / "generator.pt"
    trainer = Trainer(*fc_pair(), ones, checkpoint_path=path, **FAST)
    assert trainer.planned_steps(1000) == 3
    trainer.fit(1000)
    assert trainer.step == 3 and path.is_file()
    monkeypatch.setenv("GANLAB_LAB_STEPS", "a few")
    with pytest.raises(ValueError, match="GANLAB_LAB_STEPS must be a whole number"):
        trainer.fit(5)


def test_budget_is_off_outside_nbgrader(ones, monkeypatch):
    """Without NBGRADER_EXECUTION, does GANLAB_MAX_STEPS leave the step count alone?"""
    monkeypatch.setenv("GANLAB_MAX_STEPS", "2")
    trainer = Trainer(*fc_pair(), ones, **FAST)
    assert trainer.planned_steps(5) == 5
    trainer.fit(5)
    assert trainer.step == 5


@pytest.mark.parametrize("flag, active", [("autograde", True), ("validate", True), ("1", True),
                                          ("0", False), ("", False)])
def test_grading_flag_values(monkeypatch, flag, active):
    """Is the budget on for nbgrader's NBGRADER_EXECUTION values and off for 0 or empty?"""
    from ganlab_kit.config import GradingBudget
    monkeypatch.setenv("NBGRADER_EXECUTION", flag)
    budget = GradingBudget.from_environment()
    assert budget.active is active and budget.max_steps == 200


@pytest.mark.parametrize("value", ["lots", "-3", "2.5"])
def test_bad_max_steps_is_a_clear_error(ones, monkeypatch, value):
    """Is a GANLAB_MAX_STEPS that is not a whole number >= 0 refused with a fix?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "1")
    monkeypatch.setenv("GANLAB_MAX_STEPS", value)
    trainer = Trainer(*fc_pair(), ones, **FAST)
    with pytest.raises(ValueError, match="GANLAB_MAX_STEPS must be a whole number"):
        trainer.fit(3)
    assert trainer.step == 0


# --------------------------------------------------------------------------- history

def test_history_records_every_metric(ones, tmp_path):
    """Are all metrics recorded each step, accuracies in [0, 1], examples/sec > 0 (gradient
    norms measured every step with grad_norm_every=1)?"""
    trainer = Trainer(*fc_pair(), ones, **FAST, grad_norm_every=1)
    history = trainer.fit(6)
    assert history.step == [1, 2, 3, 4, 5, 6]
    for name in METRICS:
        values = getattr(history, name)
        assert len(values) == 6 and all(math.isfinite(v) for v in values), name
    for name in ("d_acc_real", "d_acc_fake", "d_real", "d_fake"):
        assert all(0.0 <= v <= 1.0 for v in getattr(history, name)), name
    assert all(v > 0 for v in history.examples_per_sec)
    assert all(v > 0 for v in history.d_grad_norm + history.g_grad_norm)
    assert all(v > 0 for v in history.d_loss)
    assert history.last()["step"] == 6 and set(history.last()) == {"step", *METRICS}
    path = tmp_path / "history.json"
    history.save_json(path)
    assert History.from_dict(json.loads(path.read_text())).to_dict() == history.to_dict()



def test_gradient_norms_measured_every_k_steps_of_a_fit_with_the_per_step_values(ones):
    """Does a fit measure the gradient norms on step 1 and every grad_norm_every-th step
    (NaN between: issue 25, a memory pass over both networks' gradients each time), by step
    number across fits, with the very values a run measuring every step records, and the
    same training? Steps outside a fit (discriminator_step, generator_step) measure each time."""
    runs = {}
    for every in (1, 4):
        seed_everything(0)
        trainer = Trainer(*fc_pair(), ones, **FAST, seed=0, grad_norm_every=every)
        trainer.fit(7)
        trainer.fit(3)  # a second fit goes on counting steps
        runs[every] = trainer
    dense, sparse = runs[1].history, runs[4].history
    measured = [step for step, value in zip(sparse.step, sparse.g_grad_norm) if math.isfinite(value)]
    assert measured == [1, 4, 8]
    for name in ("d_grad_norm", "g_grad_norm"):
        for step, value, full in zip(sparse.step, getattr(sparse, name), getattr(dense, name)):
            assert (value == full) if step in measured else math.isnan(value), (name, step)
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):  # training is not touched
        assert getattr(sparse, name) == getattr(dense, name)
    for a, b in zip(runs[1].generator.parameters(), runs[4].generator.parameters()):
        assert torch.equal(a, b)
    trainer = runs[4]
    assert math.isfinite(trainer.discriminator_step()["d_grad_norm"])
    assert math.isfinite(trainer.generator_step()["g_grad_norm"])
    assert math.isfinite(trainer.train_step()["g_grad_norm"])
    with pytest.raises(ValueError, match="grad_norm_every"):
        Trainer(*fc_pair(), ones, **FAST, grad_norm_every=0)


def test_vanishing_gradient_alarm_spans_steps_when_norms_come_every_k_steps():
    """With G's gradient norm measured every 10 steps (NaN between, the trainer's default),
    is 'vanishing generator gradients' raised after the same number of steps as with a
    norm every step (the latest measured norm stands for the steps between), and not for
    healthy norms?"""
    from ganlab_kit.widgets.alarms import VANISHING_GENERATOR_GRADIENT, AlarmMonitor

    def first_alarm(every: int, norm: float):
        monitor = AlarmMonitor(vanishing_steps=50)
        for step in range(1, 301):
            measured = step % every == 0 or step == 1
            monitor.observe_record(step, {"g_grad_norm": norm if measured else math.nan})
            if monitor.is_active(VANISHING_GENERATOR_GRADIENT):
                return step
        return None

    assert first_alarm(10, 1e-6) == first_alarm(1, 1e-6) == 50
    assert first_alarm(10, 0.5) is None

def test_accuracies_follow_d_outputs(ones):
    """Does d_acc_real equal the share of real images with D(x) > 0.5 for a known D?"""
    class Constant(nn.Module):
        """A 'discriminator' that says 0.8 for every image (and still has a parameter)."""

        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.tensor(0.0))

        def forward(self, x):
            return torch.full((len(x), 1), 0.8) + 0 * self.bias

    generator, _ = fc_pair()
    trainer = Trainer(generator, Constant(), ones, **FAST)
    trainer.fit(2)
    assert trainer.history.d_acc_real == [1.0, 1.0]
    assert trainer.history.d_acc_fake == [0.0, 0.0]
    assert trainer.history.d_real[0] == pytest.approx(0.8)


# --------------------------------------------------------------------------- optimizers

def count_calls(obj, method: str) -> list:
    """Record each call of ``obj.method`` (and still run it)."""
    calls = []
    original = getattr(obj, method)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    setattr(obj, method, wrapper)
    return calls


def test_k_discriminator_steps_per_generator_step(ones):
    """With d_steps=3, does each step make 3 D updates (3 real batches) and 1 G update?"""
    trainer = Trainer(*fc_pair(), ones, **{**FAST, "d_steps": 3})
    d_steps = count_calls(trainer.d_optimizer, "step")
    g_steps = count_calls(trainer.g_optimizer, "step")
    batches = count_calls(trainer, "next_batch")
    trainer.fit(4)
    assert (len(d_steps), len(g_steps), len(batches)) == (12, 4, 12)


def test_learning_rates_and_betas_reach_the_optimizers(ones):
    """Do g_lr, d_lr and betas end up in the two Adam optimizers?"""
    trainer = Trainer(*fc_pair(), ones, g_lr=1e-3, d_lr=5e-5, betas=(0.4, 0.9), **FAST)
    assert trainer.g_optimizer.param_groups[0]["lr"] == 1e-3
    assert trainer.d_optimizer.param_groups[0]["lr"] == 5e-5
    assert trainer.g_optimizer.param_groups[0]["betas"] == (0.4, 0.9)
    generator_ids = {id(p) for p in trainer.generator.parameters()}
    assert {id(p) for p in trainer.g_optimizer.param_groups[0]["params"]} == generator_ids


def test_custom_optimizers_are_used(ones):
    """Are optimizers passed in used instead of the default Adam?"""
    generator, discriminator = fc_pair()
    d_optimizer = torch.optim.SGD(discriminator.parameters(), lr=0.01)
    trainer = Trainer(generator, discriminator, ones, d_optimizer=d_optimizer, **FAST)
    calls = count_calls(d_optimizer, "step")
    trainer.fit(2)
    assert trainer.d_optimizer is d_optimizer and len(calls) == 2


def test_config_object_with_overrides_and_unknown_options(ones):
    """Do a TrainConfig plus keyword overrides combine, and is a typo refused clearly?"""
    trainer = Trainer(*fc_pair(), ones, TrainConfig(steps=7, d_lr=1e-4), d_lr=3e-4, **FAST)
    assert trainer.config.steps == 7 and trainer.config.d_lr == 3e-4
    with pytest.raises(TypeError, match="stepz"):
        Trainer(*fc_pair(), ones, stepz=3)
    with pytest.raises(ValueError, match="larger than the data"):
        Trainer(*fc_pair(), ones, batch_size=501)  # 500 ones


# --------------------------------------------------------------------------- student steps

def lab_train_discriminator(discriminator, d_optimizer, real, fake):
    """The lab's step: BCE on real (target 1) and fake (target 0), one optimizer step."""
    criterion = nn.BCELoss()
    d_optimizer.zero_grad()
    loss_real = criterion(discriminator(real), torch.ones(len(real), 1))
    loss_fake = criterion(discriminator(fake), torch.zeros(len(fake), 1))
    loss = loss_real + loss_fake
    loss.backward()
    d_optimizer.step()
    return loss.item()


def lab_train_generator(generator, discriminator, g_optimizer, batch_size, latent_dim):
    """The lab's step: fresh noise, fakes labelled real, one optimizer step."""
    criterion = nn.BCELoss()
    g_optimizer.zero_grad()
    fake = generator(torch.randn(batch_size, latent_dim))
    loss = criterion(discriminator(fake), torch.ones(batch_size, 1))
    loss.backward()
    g_optimizer.step()
    return loss.item()


def test_student_step_functions_are_called_and_history_fills(ones):
    """Are the lab-signature step functions called each step, their losses recorded?"""
    returned = {"d": [], "g": []}

    def train_discriminator(discriminator, d_optimizer, real, fake):
        assert real.shape == (16, 1, 28, 28) and fake.shape == (16, 1, 28, 28)
        assert not fake.requires_grad  # fakes arrive detached
        returned["d"].append(lab_train_discriminator(discriminator, d_optimizer, real, fake))
        return returned["d"][-1]

    def train_generator(generator, discriminator, g_optimizer, batch_size, latent_dim):
        assert (batch_size, latent_dim) == (16, 100)
        returned["g"].append(lab_train_generator(generator, discriminator, g_optimizer,
                                                 batch_size, latent_dim))
        return returned["g"][-1]

    generator, discriminator = fc_pair()
    before = weights(generator)
    trainer = Trainer(generator, discriminator, ones, train_discriminator=train_discriminator,
                      train_generator=train_generator, **FAST, grad_norm_every=1)
    history = trainer.fit(4)
    assert len(returned["d"]) == 4 and len(returned["g"]) == 4
    assert history.d_loss == pytest.approx(returned["d"])
    assert history.g_loss == pytest.approx(returned["g"])
    for name in METRICS:
        assert all(math.isfinite(v) for v in getattr(history, name)), name
    assert not same_weights(before, weights(generator))


def test_student_discriminator_step_with_builtin_generator_step(ones):
    """Does a student D step combine with the built-in G step (G still learns)?"""
    generator, discriminator = fc_pair()
    before = weights(generator)
    trainer = Trainer(generator, discriminator, ones,
                      train_discriminator=lab_train_discriminator, **FAST)
    trainer.fit(3)
    assert len(trainer.history) == 3 and not same_weights(before, weights(generator))


def test_generator_step_leaves_the_discriminators_gradients_and_flags_alone(ones):
    """Does G's step skip D's weight gradients, restoring which of D's weights train?"""
    generator, discriminator = tiny_mlp_pair()
    frozen = discriminator.net[0].bias
    frozen.requires_grad_(False)  # a student's deliberately frozen weight stays frozen

    class RecordingSGD(torch.optim.SGD):
        """Plain SGD that keeps a copy of the gradients it stepped with."""
        def step(self, closure=None):
            self.seen = [p.grad.clone() for p in self.param_groups[0]["params"]]
            return super().step(closure)

    trainable = [p for p in discriminator.parameters() if p.requires_grad]
    d_optimizer = RecordingSGD(trainable, lr=0.1)
    trainer = Trainer(generator, discriminator, ones, d_optimizer=d_optimizer, **FAST)
    before = weights(generator)
    trainer.train_step()
    assert not same_weights(before, weights(generator))  # G still learned through D
    for parameter, seen in zip(trainable, d_optimizer.seen):
        assert torch.equal(parameter.grad, seen)  # nothing added by G's step
        assert parameter.requires_grad
    assert not frozen.requires_grad and frozen.grad is None


# --------------------------------------------------------------------------- control

def test_pause_resume_and_stop_from_another_thread(ones, wait_until):
    """Does pause hold the step counter, resume continue, and stop end fit for good?"""
    trainer = Trainer(*fc_pair(), ones, **FAST)
    worker = threading.Thread(target=trainer.fit, args=(100_000,), daemon=True)
    worker.start()
    try:
        assert wait_until(lambda: trainer.step >= 3)
        trainer.pause()
        paused_at = trainer.step
        assert trainer.is_paused
        time.sleep(0.3)
        held = trainer.step
        assert held - paused_at <= 1  # only the step already in flight may finish
        time.sleep(0.4)
        assert trainer.step == held and worker.is_alive()
        trainer.resume()
        assert wait_until(lambda: trainer.step > held + 2)
        trainer.pause()
        time.sleep(0.1)
        trainer.stop()  # a stop while paused must wake fit and end it
        worker.join(timeout=10)
        assert not worker.is_alive()
        stopped_at = trainer.step
        assert stopped_at < 100_000 and len(trainer.history) == stopped_at
        time.sleep(0.1)
        assert trainer.step == stopped_at
    finally:
        trainer.stop()
        worker.join(timeout=10)


def test_fit_after_a_stop_trains_again(ones):
    """After a stop, does the next fit call run its steps (the stop is not sticky)?"""
    trainer = Trainer(*fc_pair(), ones, **FAST)
    trainer.stop()
    trainer.fit(2)
    assert trainer.step == 2


class Recorder(Callback):
    def __init__(self):
        self.events = []
        self.snapshots = []

    def on_train_begin(self, trainer):
        self.events.append("begin")

    def on_step_end(self, trainer, record):
        self.events.append(("step", record["step"], sorted(record)))

    def on_snapshot(self, trainer, step, images):
        self.events.append(("snapshot", step))
        self.snapshots.append((step, images.clone()))

    def on_train_end(self, trainer):
        self.events.append("end")


def test_callbacks_receive_every_hook_in_order(ones):
    """Do callbacks get begin, each step with all metrics, snapshots every N, then end?"""
    recorder = Recorder()
    trainer = Trainer(*fc_pair(), ones, **{**FAST, "snapshot_every": 2, "n_fixed": 6})
    trainer.fit(5, callbacks=[recorder])
    kinds = [e if isinstance(e, str) else e[:2] for e in recorder.events]
    assert kinds == ["begin", ("snapshot", 0), ("step", 1), ("step", 2), ("snapshot", 2),
                     ("step", 3), ("step", 4), ("snapshot", 4), ("step", 5), "end"]
    assert recorder.events[2][2] == sorted(["step", *METRICS])
    assert [s for s, _ in trainer.snapshots] == [0, 2, 4]


def test_snapshots_use_the_fixed_noise(ones):
    """Is each snapshot G(fixed noise) in eval mode, (n_fixed, 1, 28, 28), changing as G learns?"""
    recorder = Recorder()
    trainer = Trainer(*fc_pair(), ones, callbacks=[recorder],
                      **{**FAST, "snapshot_every": 3, "n_fixed": 5})
    trainer.fit(3)
    (_, first), (_, second) = recorder.snapshots
    assert first.shape == (5, 1, 28, 28)
    assert not torch.equal(first, second)
    trainer.generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(second, trainer.generator(trainer.fixed_noise))
    torch.testing.assert_close(trainer.sample(), second)
    torch.testing.assert_close(trainer.sample(n=2), second[:2])
    with pytest.raises(ValueError, match="n_fixed"):
        trainer.sample(n=6)


def test_callbacks_get_train_end_when_a_step_fails(ones):
    """If a step raises, do callbacks still get on_train_end (a dashboard can tidy up)?"""
    def broken(discriminator, d_optimizer, real, fake):
        raise RuntimeError("student bug")

    recorder = Recorder()
    trainer = Trainer(*fc_pair(), ones, train_discriminator=broken, callbacks=[recorder], **FAST)
    with pytest.raises(RuntimeError, match="student bug"):
        trainer.fit(3)
    assert recorder.events[0] == "begin" and recorder.events[-1] == "end"


def test_negative_steps_are_refused(ones):
    """Is fit(-1) an error rather than a silent no-op?"""
    with pytest.raises(ValueError, match="steps"):
        Trainer(*fc_pair(), ones, **FAST).fit(-1)


# --------------------------------------------------------------------------- other data

def test_trains_on_2d_points(ones):
    """Can the trainer fit a small GAN to the 2-D ring (a (N, 2) tensor, not images)?"""
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    discriminator = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    trainer = Trainer(generator, discriminator, toy_2d("ring", n=512), latent_dim=4, **FAST)
    trainer.fit(5)
    assert len(trainer.history) == 5 and trainer.sample().shape == (8, 2)


def test_from_logits_discriminator(ones):
    """With a logits head and from_logits=True, are D outputs recorded as probabilities?"""
    generator, _ = fc_pair()
    discriminator = MLPDiscriminator(hidden=(32,), output_activation=None)
    trainer = Trainer(generator, discriminator, ones, from_logits=True, **FAST)
    history = trainer.fit(3)
    assert all(0 <= v <= 1 for v in history.d_real + history.d_fake)


# --------------------------------------------------------------------------- it learns

def correlation_with_real_mean(trainer: Trainer, real_mean: torch.Tensor) -> float:
    fake_mean = trainer.sample(torch.randn(256, trainer.latent_dim,
                                           generator=torch.Generator().manual_seed(0))).mean(0)
    return torch.corrcoef(torch.stack([fake_mean.flatten(), real_mean.flatten()]))[0, 1].item()


def generator_step_with_wrong_target(generator, discriminator, g_optimizer, batch_size,
                                     latent_dim):
    """The lab's classic mistake: the generator's fakes labelled *fake* (target 0)."""
    g_optimizer.zero_grad()
    fake = generator(torch.randn(batch_size, latent_dim))
    loss = nn.BCELoss()(discriminator(fake), torch.zeros(batch_size, 1))
    loss.backward()
    g_optimizer.step()
    return loss.item()


def test_training_learns_the_shape_of_a_digit(ones):
    """After 150 steps on the ones, does the mean fake look like the mean real 1, while a
    generator trained with the wrong target does not?"""
    real_mean = ones.images.mean(0)
    trainer = Trainer(*fc_pair(0), ones, batch_size=32, snapshot_every=0)
    before = correlation_with_real_mean(trainer, real_mean)
    trainer.fit(150)
    after = correlation_with_real_mean(trainer, real_mean)
    assert abs(before) < 0.3 and after > 0.5

    wrong = Trainer(*fc_pair(0), ones, batch_size=32, snapshot_every=0,
                    train_generator=generator_step_with_wrong_target)
    wrong.fit(50)
    assert correlation_with_real_mean(wrong, real_mean) < 0.3


def test_make_adam_is_fused_and_follows_plain_adam():
    """Is the trainer's Adam the fused kernel on a CPU, taking the same steps as plain Adam?"""
    torch.manual_seed(0)
    fused_model = nn.Linear(8, 4)
    plain_model = nn.Linear(8, 4)
    plain_model.load_state_dict(fused_model.state_dict())
    initial = fused_model.weight.detach().clone()
    fused = make_adam(fused_model.parameters(), 1e-2, betas=(0.5, 0.999))
    plain = torch.optim.Adam(plain_model.parameters(), 1e-2, betas=(0.5, 0.999))
    assert fused.param_groups[0]["fused"] and not plain.param_groups[0]["fused"]
    for _ in range(20):
        x = torch.randn(16, 8)
        for model, optimizer in ((fused_model, fused), (plain_model, plain)):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
    assert (fused_model.weight - initial).abs().max() > 1e-2          # it trained
    assert (fused_model.weight - plain_model.weight).abs().max() < 1e-5  # as plain Adam did
    trainer = Trainer(MLPGenerator(hidden=(8,)), MLPDiscriminator(hidden=(8,)),
                      load_mnist(digits=[0]), TrainConfig(batch_size=4))
    assert trainer.g_optimizer.param_groups[0]["fused"]


def test_tensors_listed_for_a_fit_follow_networks_replaced_between_fits(ones):
    """fit lists G's and D's tensors once per run (issue 25); a network swapped in between
    fits (or between fit and a step-by-step call) is the one whose gradients and weights
    the trainer then reads."""
    g, d = tiny_mlp_pair(0)
    trainer = Trainer(g, d, ones, **FAST, seed=0, average_decay=0.9, grad_norm_every=1)
    trainer.fit(2)
    assert trainer._fit_tensors is None  # nothing kept once the fit returned
    new_d = MLPDiscriminator(hidden=(64, 32), dropout=0.0)
    trainer.discriminator = new_d
    trainer.d_optimizer = torch.optim.Adam(new_d.parameters(), lr=2e-4)
    record = trainer.discriminator_step()  # outside a fit: D's gradients read from new_d
    expected = torch.linalg.vector_norm(torch.stack(
        [p.grad.norm() for p in new_d.parameters()])).item()
    assert record["d_grad_norm"] == pytest.approx(expected, rel=1e-5) and expected > 0
    new_g = MLPGenerator(latent_dim=16, hidden=(32, 64))
    trainer.generator = new_g
    trainer.g_optimizer = torch.optim.Adam(new_g.parameters(), lr=2e-4)
    trainer.fit(3)  # the next fit lists the new G: its grad norm and the average follow it
    assert all(p.grad is not None for p in new_g.parameters())
    assert trainer.history.g_grad_norm[-1] == pytest.approx(torch.linalg.vector_norm(torch.stack(
        [p.grad.norm() for p in new_g.parameters()])).item(), rel=1e-5)
    with torch.no_grad():  # the average moved towards the new G's weights
        gap = sum((a - b).abs().sum() for a, b in zip(trainer.averaged_generator.parameters(),
                                                        new_g.parameters()))
    trainer._update_average()
    with torch.no_grad():
        gap_after = sum((a - b).abs().sum() for a, b in zip(trainer.averaged_generator.parameters(),
                                                              new_g.parameters()))
    assert gap_after < gap
