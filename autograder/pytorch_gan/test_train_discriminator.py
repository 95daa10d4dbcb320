"""Hidden checks: train_discriminator, one update of D.

Run on the kit's networks and with the kit's loss swapped in for the notebook's
discriminator_loss, so only the step itself is graded here.
"""
import pytest
import torch

from ganlab_kit.torch_gan import losses as reference

PROBES = "ganlab_kit.grading.probes"


def _adam(nb, module):
    return nb.new("torch.optim:Adam", module.parameters(), lr=2e-4, betas=(0.5, 0.999))


def _fakes(generator, batch_size=16):
    return generator(torch.randn(batch_size, 100))  # a plain (detached) copy of G's output


@pytest.mark.points(1)
def test_returns_loss(nb, steady_discriminator, reference_generator, real_batch, reference_pieces):
    """Does train_discriminator return D's loss on the batch, before the update, as a Python float?"""
    fakes = _fakes(reference_generator)
    expected = float(reference.discriminator_loss(steady_discriminator(real_batch),
                                                  steady_discriminator(fakes)))
    with nb.patched(**reference_pieces):
        value = nb.train_discriminator(steady_discriminator, _adam(nb, steady_discriminator),
                                       real_batch, fakes)
    assert isinstance(value, (float, int)) and not isinstance(value, bool), (
        f"train_discriminator should return the loss as a Python number (loss.item()), got "
        f"{type(value).__name__}; a tensor would keep the whole graph alive in the history.")
    assert abs(value - expected) <= 1e-4 * max(1.0, abs(expected)), (
        f"train_discriminator should return discriminator_loss(D(real), D(fake)) computed before "
        f"the update, {expected:.4f}; got {value:.4f}.")


@pytest.mark.points(1)
def test_updates_and_improves(nb, steady_discriminator, reference_generator, real_batch,
                              reference_pieces, snapshot):
    """Do a few calls on a fixed batch change D's weights and lower D's loss on that batch?"""
    parameters_of, changed = snapshot
    fakes = _fakes(reference_generator)
    before = parameters_of(steady_discriminator)
    loss_before = float(reference.discriminator_loss(steady_discriminator(real_batch),
                                                     steady_discriminator(fakes)))
    optimizer = _adam(nb, steady_discriminator)
    with nb.patched(**reference_pieces):
        for _ in range(5):
            nb.train_discriminator(steady_discriminator, optimizer, real_batch, fakes)
    assert changed(before, steady_discriminator), (
        "train_discriminator left D's weights unchanged: call loss.backward() and then "
        "d_optimizer.step().")
    loss_after = float(reference.discriminator_loss(steady_discriminator(real_batch),
                                                    steady_discriminator(fakes)))
    assert loss_after < loss_before, (
        f"five steps on the same batch should lower D's loss, but it went from {loss_before:.4f} "
        f"to {loss_after:.4f}: D should descend the loss (real -> 1, fake -> 0).")


@pytest.mark.points(1)
def test_no_gradient_into_generator(nb, steady_discriminator, reference_generator, real_batch,
                                    reference_pieces):
    """Are the fake images detached, so D's update leaves no gradient on the generator?"""
    fakes = nb.keep(reference_generator, torch.randn(16, 100))  # stays attached to G's graph
    with nb.patched(**reference_pieces):
        nb.train_discriminator(steady_discriminator, _adam(nb, steady_discriminator), real_batch, fakes)
    leaked = [index for index, total in enumerate(nb.new(f"{PROBES}:gradient_sums", reference_generator))
              if total is not None and total > 0]
    assert not leaked, (
        "D's step put gradients on the generator's weights: use fake_images.detach() in "
        "train_discriminator, so D's loss does not backpropagate into G.")


@pytest.mark.points(1)
def test_clears_old_gradients(nb, steady_discriminator, reference_generator, real_batch,
                              reference_pieces):
    """Does the step clear old gradients first (zero_grad), so they do not leak into D's update?"""
    fakes = _fakes(reference_generator)
    clean = steady_discriminator
    stale = nb.new("copy:deepcopy", steady_discriminator)
    nb.new(f"{PROBES}:fill_gradients", stale, 0.5)  # left over, e.g. from G's backward pass
    with nb.patched(**reference_pieces):
        nb.train_discriminator(clean, nb.new("torch.optim:SGD", clean.parameters(), lr=0.1), real_batch, fakes)
        nb.train_discriminator(stale, nb.new("torch.optim:SGD", stale.parameters(), lr=0.1), real_batch, fakes)
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(
        nb.new(f"{PROBES}:parameters", clean), nb.new(f"{PROBES}:parameters", stale)))
    assert same, (
        "D's update depends on gradients left from earlier backward passes: PyTorch adds new "
        "gradients to old ones, and the generator's step backpropagates through D. Call "
        "d_optimizer.zero_grad() before loss.backward().")
