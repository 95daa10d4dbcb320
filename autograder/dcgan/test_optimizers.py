"""Hidden checks: the DCGAN's optimizers (Adam, the recipe's learning rates)."""
import pytest
import torch

PROBES = "ganlab_kit.grading.probes"


def _optimizers(nb):
    generator = nb.new("torch.nn:Linear", 3, 5)        # stand-ins with different parameter shapes
    discriminator = nb.new("torch.nn:Linear", 5, 1)
    result = nb.make_optimizers(generator, discriminator)
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        "make_optimizers should return two optimizers, (g_optimizer, d_optimizer).")
    return generator, discriminator, result[0], result[1]


@pytest.mark.points(1)
def test_adam(nb):
    """Are both optimizers Adam (not SGD)?"""
    _, _, g_optimizer, d_optimizer = _optimizers(nb)
    for name, optimizer in (("g_optimizer", g_optimizer), ("d_optimizer", d_optimizer)):
        assert nb.isinstance(optimizer, "torch.optim:Adam"), (
            f"{name} is a {nb.type_name(optimizer).rsplit('.', 1)[-1]}; use torch.optim.Adam, which adapts "
            "each weight's step size (plain SGD stalls GAN training, part 2).")


@pytest.mark.points(1)
def test_settings(nb):
    """Does G's Adam use lr 1e-3 and D's lr 2e-4, both with betas (0.5, 0.999)?"""
    _, _, g_optimizer, d_optimizer = _optimizers(nb)
    for name, optimizer, lr in (("g_optimizer", g_optimizer, 1e-3), ("d_optimizer", d_optimizer, 2e-4)):
        groups = nb.new(f"{PROBES}:state", optimizer)
        for group in groups:
            assert abs(group["lr"] - lr) < 1e-12, f"{name} has learning rate {group['lr']}; the recipe uses {lr}."
            assert "betas" in group, f"{name} has no betas setting: use torch.optim.Adam with betas=(0.5, 0.999)."
            assert tuple(group["betas"]) == (0.5, 0.999), (
                f"{name} has betas {tuple(group['betas'])}; use betas=(0.5, 0.999).")


@pytest.mark.points(1)
def test_each_on_its_own_network(nb):
    """Does each optimizer hold exactly its own network's parameters?"""
    generator, discriminator, g_optimizer, d_optimizer = _optimizers(nb)
    for name, optimizer, module, network in (("g_optimizer", g_optimizer, generator, "generator"),
                                             ("d_optimizer", d_optimizer, discriminator, "discriminator")):
        held = sorted(tuple(p.shape) for group in optimizer.param_groups for p in group["params"])
        own = sorted(tuple(p.shape) for p in nb.new(f"{PROBES}:parameters", module))
        assert held == own, (
            f"{name} updates parameters of shapes {held}, the {network} has {own}: give each optimizer "
            f"its own network's parameters ({network}.parameters()).")
