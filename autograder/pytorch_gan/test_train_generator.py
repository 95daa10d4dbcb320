"""Hidden checks: train_generator, one update of G.

Run on the kit's networks and with the kit's loss and noise swapped in for the
notebook's, so only the step itself is graded here.
"""
import pytest
import torch

from ganlab_kit.torch_gan import losses as reference

PROBES = "ganlab_kit.grading.probes"


def _adam(nb, module):
    return nb.new("torch.optim:Adam", module.parameters(), lr=2e-4, betas=(0.5, 0.999))


@pytest.mark.points(1)
def test_returns_loss(nb, reference_generator, steady_discriminator, reference_pieces):
    """Does train_generator return G's loss, before the update, as a Python float?"""
    recorder = nb.new(f"{PROBES}:CallRecorder", reference_pieces["sample_noise"])
    before = nb.new("copy:deepcopy", reference_generator)
    with nb.patched(**{**reference_pieces, "sample_noise": recorder}):
        value = nb.train_generator(reference_generator, steady_discriminator,
                                   _adam(nb, reference_generator), 16, 100)
    noises = recorder.returned
    assert isinstance(value, (float, int)) and not isinstance(value, bool), (
        f"train_generator should return the loss as a Python number (loss.item()), got "
        f"{type(value).__name__}.")
    if len(noises) == 1:  # the notebook's sample_noise made the batch: recompute exactly
        expected = float(reference.generator_loss(steady_discriminator(before(noises[0]))))
        assert abs(value - expected) <= 1e-4 * max(1.0, abs(expected)), (
            f"train_generator should return generator_loss(D(G(z))) computed before the update, "
            f"{expected:.4f}; got {value:.4f}.")
    else:
        assert 0 < value < 20, f"a generator BCE loss of {value} is implausible."


@pytest.mark.points(1)
def test_updates_only_generator(nb, reference_generator, steady_discriminator, reference_pieces,
                                snapshot):
    """Does the step change G's weights and leave D's weights alone?"""
    parameters_of, changed = snapshot
    g_before, d_before = parameters_of(reference_generator), parameters_of(steady_discriminator)
    with nb.patched(**reference_pieces):
        nb.train_generator(reference_generator, steady_discriminator, _adam(nb, reference_generator), 16, 100)
    assert changed(g_before, reference_generator), (
        "train_generator left G's weights unchanged: call loss.backward() and g_optimizer.step().")
    assert not changed(d_before, steady_discriminator), (
        "train_generator changed D's weights: only the generator's optimizer may step here; "
        "D stays fixed while G learns to fool it.")


@pytest.mark.points(1)
def test_raises_d_of_g(nb, reference_generator, steady_discriminator, reference_pieces):
    """After a few generator steps, does D rate the generator's fakes as more real (D(G(z)) rises)?"""
    probe = torch.randn(256, 100)
    before = float(steady_discriminator(reference_generator(probe)).mean())
    optimizer = _adam(nb, reference_generator)
    with nb.patched(**reference_pieces):
        for _ in range(5):
            nb.train_generator(reference_generator, steady_discriminator, optimizer, 64, 100)
    after = float(steady_discriminator(reference_generator(probe)).mean())
    assert after > before, (
        f"mean D(G(z)) went from {before:.4f} to {after:.4f}; the generator's steps should raise "
        "it. Its target is 'real' (1): it wants D to be fooled.")


@pytest.mark.points(1)
def test_batch_and_latent_size(nb, make_generator, steady_discriminator, reference_pieces):
    """Does the step make batch_size fakes from noise of length latent_dim?"""
    for batch_size, latent_dim in ((12, 100), (5, 16)):
        generator = make_generator(latent_dim)
        recorder = nb.new(f"{PROBES}:InputShapes", generator)
        with nb.patched(**reference_pieces):
            nb.train_generator(generator, steady_discriminator, _adam(nb, generator), batch_size, latent_dim)
        seen = recorder.shapes
        assert seen and all(shape == (batch_size, latent_dim) for shape in seen), (
            f"train_generator(..., batch_size={batch_size}, latent_dim={latent_dim}) should run the "
            f"generator on noise of shape ({batch_size}, {latent_dim}); it saw {seen or 'no call'}. "
            "Use sample_noise(batch_size, latent_dim).")


@pytest.mark.points(1)
def test_clears_old_gradients(nb, reference_generator, steady_discriminator, reference_pieces):
    """Does the step clear G's old gradients first (zero_grad), so they do not leak into the update?"""
    clean = reference_generator
    stale = nb.new("copy:deepcopy", reference_generator)
    nb.new(f"{PROBES}:fill_gradients", stale, 0.5)
    torch.manual_seed(7)
    fixed_noise = {"sample_noise": nb.new(f"{PROBES}:FixedNoise", torch.randn(16, 100))}
    with nb.patched(**{**reference_pieces, **fixed_noise}):
        nb.new("torch:manual_seed", 8)
        nb.train_generator(clean, steady_discriminator, nb.new("torch.optim:SGD", clean.parameters(), lr=0.1), 16, 100)
        nb.new("torch:manual_seed", 8)
        nb.train_generator(stale, steady_discriminator, nb.new("torch.optim:SGD", stale.parameters(), lr=0.1), 16, 100)
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(
        nb.new(f"{PROBES}:parameters", clean), nb.new(f"{PROBES}:parameters", stale)))
    assert same, (
        "G's update depends on gradients left from earlier backward passes: PyTorch adds new "
        "gradients to old ones. Call g_optimizer.zero_grad() before loss.backward().")
