"""The Trainer options the PyTorch lab switches on: weight average, thread picking, the
student steps' metrics from their own forward passes, frozen D weights in G's step, and
the wall-time cap under nbgrader."""
import time

import pytest
import torch
from torch import nn

from ganlab_kit.torch_gan import MLPDiscriminator, MLPGenerator, Trainer
from ganlab_kit.torch_gan import threads as thread_module
from ganlab_kit.torch_gan.threads import ThreadPicker

FAST = dict(batch_size=8, snapshot_every=0, track_grad_norm=False, threads=None)


def tiny_data(n=32):
    return torch.rand(n, 1, 28, 28) * 2 - 1


def student_steps():
    bce = nn.BCELoss()
    calls = {"discriminator": 0}

    def train_discriminator(discriminator, d_optimizer, real_images, fake_images):
        d_optimizer.zero_grad()
        d_real, d_fake = discriminator(real_images), discriminator(fake_images.detach())
        loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        loss.backward()
        d_optimizer.step()
        calls["discriminator"] += 1
        return loss.item()

    def train_generator(generator, discriminator, g_optimizer, batch_size, latent_dim=100):
        g_optimizer.zero_grad()
        calls["frozen"] = [p.requires_grad for p in discriminator.parameters()]
        d_fake = discriminator(generator(torch.randn(batch_size, latent_dim)))
        loss = bce(d_fake, torch.ones_like(d_fake))
        loss.backward()
        g_optimizer.step()
        return loss.item()

    return train_discriminator, train_generator, calls


def test_picker_leaves_the_cores_other_programs_use(monkeypatch):
    """Does the picker use every core on an idle machine, one less per busy competitor, and at
    least one thread, within the limit torch had when training began?"""
    monkeypatch.setattr(thread_module, "available_cores", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        picker = ThreadPicker()
        picker.begin()
        assert picker.pick(0.0) == 4 and picker.pick(0.1) == 4
        assert picker.pick(1.0) == 3 and picker.pick(0.9) == 3
        assert picker.pick(3.0) == 1 and picker.pick(9.0) == 1
        picker.end()
        torch.set_num_threads(2)
        limited = ThreadPicker()
        limited.begin()
        assert limited.pick(0.0) == 2  # OMP_NUM_THREADS / set_num_threads stay the limit
        limited.end()
    finally:
        torch.set_num_threads(before)


def test_picker_follows_measured_load(monkeypatch):
    """Given the machine's CPU counters, does the picker start on one thread, then switch to what
    the measured load of the other programs leaves, and restore torch's count at the end?"""
    monkeypatch.setattr(thread_module, "available_cores", lambda: 2)
    now = [0.0]
    counters = [(0.0, 0.0)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        picker = ThreadPicker(interval=2.0, clock=lambda: now[0], counters=lambda: counters[0])
        picker.begin()
        assert torch.get_num_threads() == 1  # the first look: one thread
        now[0], counters[0] = 0.6, (0.6, 0.6)  # only this process was busy: idle machine
        picker.tick()
        assert torch.get_num_threads() == 2
        now[0], counters[0] = 1.0, (1.4, 1.2)  # not yet an interval: no change
        picker.tick()
        assert torch.get_num_threads() == 2
        now[0], counters[0] = 2.6, (0.6 + 2.0 * 2.0, 0.6 + 2.0)  # another program took one core
        picker.tick()
        assert torch.get_num_threads() == 1
        picker.end()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_fit_restores_thread_count():
    """Does a fit with threads='auto' or a number leave torch's thread count as it found it?"""
    before = torch.get_num_threads()
    for threads in ("auto", 2):
        trainer = Trainer(MLPGenerator(), MLPDiscriminator(), tiny_data(), **{**FAST, "threads": threads})
        trainer.fit(2)
        assert torch.get_num_threads() == before


def test_weight_average_is_sampled_and_saved(tmp_path):
    """Does average_decay keep an EMA of G's weights that sample() draws from and a 'generator'
    checkpoint saves, and does a bare checkpoint load into both networks?"""
    torch.manual_seed(0)
    generator = MLPGenerator()
    trainer = Trainer(generator, MLPDiscriminator(), tiny_data(), average_decay=0.5, average_start=1,
                      checkpoint_path=tmp_path / "generator.pt", checkpoint_contents="generator", **FAST)
    trainer.fit(1)  # until average_start the average copies G
    assert all(torch.equal(a, b) for a, b in zip(trainer.averaged_generator.parameters(), generator.parameters()))
    previous = [p.clone() for p in trainer.averaged_generator.parameters()]
    trainer.fit(1)
    for old, averaged, current in zip(previous, trainer.averaged_generator.parameters(), generator.parameters()):
        assert torch.allclose(averaged, 0.5 * old + 0.5 * current)
    with torch.no_grad():
        expected = trainer.averaged_generator.eval()(trainer.fixed_noise[:4])
    assert torch.equal(trainer.sample(n=4), expected)
    saved = torch.load(tmp_path / "generator.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in trainer.averaged_generator.state_dict().items())
    fresh = Trainer(MLPGenerator(), MLPDiscriminator(), tiny_data(), average_decay=0.5, **FAST)
    fresh.load_checkpoint(tmp_path / "generator.pt")
    assert torch.equal(fresh.sample(n=4), trainer.sample(n=4))


def test_student_steps_metrics_without_extra_forward_passes():
    """With a student's steps, are D(x) and D(G(z)) read from the student's own forward passes
    (D runs twice in D's step and once in G's step, nothing more), and are D's weights frozen
    only during G's step?"""
    train_discriminator, train_generator, calls = student_steps()
    discriminator = MLPDiscriminator(dropout=0.0)
    forward_calls = []
    discriminator.register_forward_hook(lambda *args: forward_calls.append(1))
    trainer = Trainer(MLPGenerator(), discriminator, tiny_data(), train_discriminator=train_discriminator,
                      train_generator=train_generator, **FAST)
    record = trainer.train_step()
    assert len(forward_calls) == 3
    assert calls["frozen"] and not any(calls["frozen"])  # frozen while G's step ran
    assert all(p.requires_grad for p in discriminator.parameters())  # and trainable again
    assert 0.0 < record["d_real"] < 1.0 and 0.0 < record["d_fake"] < 1.0


def test_metrics_fall_back_when_the_student_concatenates():
    """When a student's D step feeds one concatenated batch, does the trainer still report D(x) and
    D(G(z)) (by running D itself)?"""
    bce = nn.BCELoss()

    def train_discriminator(discriminator, d_optimizer, real_images, fake_images):
        d_optimizer.zero_grad()
        scores = discriminator(torch.cat([real_images, fake_images]))
        targets = torch.cat([torch.ones(len(real_images), 1), torch.zeros(len(fake_images), 1)])
        loss = bce(scores, targets)
        loss.backward()
        d_optimizer.step()
        return loss.item()

    trainer = Trainer(MLPGenerator(), MLPDiscriminator(dropout=0.0), tiny_data(),
                      train_discriminator=train_discriminator, **FAST)
    record = trainer.train_step()
    assert 0.0 < record["d_real"] < 1.0 and 0.0 < record["d_fake"] < 1.0


def test_grading_stops_training_after_the_time_cap(monkeypatch):
    """Under nbgrader without a saved checkpoint, does a fit stop after GANLAB_MAX_SECONDS even when
    GANLAB_MAX_STEPS allows more (Validate's 30 s cell timeout)?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    monkeypatch.setenv("GANLAB_MAX_STEPS", "100000")
    monkeypatch.setenv("GANLAB_MAX_SECONDS", "0.3")
    trainer = Trainer(MLPGenerator(), MLPDiscriminator(), tiny_data(), **FAST)
    started = time.monotonic()
    trainer.fit(100000)
    assert 0 < trainer.step < 100000 and time.monotonic() - started < 20
    monkeypatch.setenv("GANLAB_MAX_SECONDS", "soon")
    with pytest.raises(ValueError, match="GANLAB_MAX_SECONDS"):
        trainer.fit(1)


def test_start_fit_steps_exactly_like_fit(tmp_path):
    """Is the stepped loop (Trainer.start_fit, what bench_trainer times) the very loop fit
    runs: same history, weights, average, snapshots and checkpoint; and is the average bit for
    bit a per-tensor lerp after average_start (a copy of G before)?"""
    def build(path):
        torch.manual_seed(0)
        return Trainer(MLPGenerator(), MLPDiscriminator(), tiny_data(), batch_size=8, seed=3,
                       snapshot_every=2, threads=None, average_decay=0.9, average_start=2,
                       checkpoint_path=path, checkpoint_contents="generator")

    fitted = build(tmp_path / "fit" / "generator.pt")
    fitted.fit(5)
    stepped = build(tmp_path / "stepped" / "generator.pt")
    run = stepped.start_fit(5)
    expected_average = None
    try:
        run.first_snapshot()
        for step in range(5):
            before = [p.detach().clone() for p in stepped.averaged_generator.parameters()]
            assert run.step()
            current = list(stepped.generator.parameters())
            if step + 1 <= 2:  # until average_start: G itself
                expected_average = [p.detach().clone() for p in current]
            else:
                expected_average = [b.lerp(c.detach(), 1 - 0.9) for b, c in zip(before, current)]
            assert all(torch.equal(a, e) for a, e in
                       zip(stepped.averaged_generator.parameters(), expected_average))
    finally:
        run.close()
    run.save()
    timed = "examples_per_sec"  # wall-clock speed: differs between any two runs
    assert ({k: v for k, v in fitted.history.to_dict().items() if k != timed}
            == {k: v for k, v in stepped.history.to_dict().items() if k != timed})
    assert [s for s, _ in fitted.snapshots] == [s for s, _ in stepped.snapshots] == [0, 2, 4]
    for a, b in zip(fitted.snapshots, stepped.snapshots):
        assert torch.equal(a[1], b[1])
    assert ((tmp_path / "fit" / "generator.pt").read_bytes()
            == (tmp_path / "stepped" / "generator.pt").read_bytes())


def test_students_plain_adam_steps_faster_with_the_same_values():
    """Does fit give a student's plain torch.optim.Adam (the lab's make_optimizers) its
    multi-tensor step with bit-for-bit the weights of Adam's own per-tensor step, and leave
    the optimizers as given afterwards (an explicit foreach/fused choice is never touched)?"""
    train_discriminator, train_generator, _ = student_steps()

    def run(foreach):
        torch.manual_seed(0)
        generator, discriminator = MLPGenerator(), MLPDiscriminator()
        options = {} if foreach is None else {"foreach": foreach}
        g_opt = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999), **options)
        d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999), **options)
        seen = []
        original_step = torch.optim.Adam.step

        def spying_step(self, *args, **kwargs):
            seen.append(self.param_groups[0]["foreach"])
            return original_step(self, *args, **kwargs)

        torch.optim.Adam.step = spying_step
        try:
            trainer = Trainer(generator, discriminator, tiny_data(), g_optimizer=g_opt, d_optimizer=d_opt,
                              train_discriminator=train_discriminator, train_generator=train_generator,
                              seed=1, average_decay=0.9, **FAST)
            trainer.fit(4)
        finally:
            torch.optim.Adam.step = original_step
        after = [g_opt.param_groups[0]["foreach"], d_opt.param_groups[0]["foreach"]]
        return trainer, seen, after

    switched, seen, after = run(None)
    assert seen and all(flag is True for flag in seen)  # the multi-tensor step ran
    assert after == [None, None]  # and the student's optimizers are as they were
    reference, seen_reference, after_reference = run(False)  # Adam's per-tensor loop
    assert seen_reference and not any(seen_reference) and after_reference == [False, False]
    for name in ("generator", "discriminator", "averaged_generator"):
        for a, b in zip(getattr(switched, name).parameters(), getattr(reference, name).parameters()):
            assert torch.equal(a, b), name
    assert switched.history.g_loss == reference.history.g_loss
