"""Hidden checks: the DCGAN's optimizers (Adam, the recipe's learning rates)."""
import pytest
import torch
import torch._dynamo  # noqa: F401 - the first torch.optim optimizer of a process imports it (1-4 s);
# imported here, the checker loads it while the notebook runs (what the checks import is preloaded)

PROBES = "ganlab_kit.grading.probes"


def _optimizers(nb):
    generator = nb.new("torch.nn:Linear", 3, 5)        # stand-ins with different parameter shapes
    discriminator = nb.new("torch.nn:Linear", 5, 1)
    result = nb.make_optimizers(generator, discriminator)
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        "make_optimizers should return two optimizers, (g_optimizer, d_optimizer).")
    return generator, discriminator, result[0], result[1]


def _parameter_handles(nb, module):
    """Handles to the notebook module's parameters (they stay in the notebook), in order."""
    named = nb.keep(nb.ref("builtins:list"), nb.keep(module.parameters))
    return [nb.keep(nb.ref("operator:getitem"), named, index) for index in range(len(named))]


def _adam_steps(nb, module, optimizer, settings, gradients):
    """Take ``len(gradients)`` steps of the notebook's ``optimizer`` on ``module`` (gradients set
    here) and the same steps of torch.optim.Adam with the optimizer's own lr / betas / eps on a
    copy; returns (the notebook's parameters, Adam's) after the steps."""
    handles = _parameter_handles(nb, module)
    start = nb.new(f"{PROBES}:parameters", module)
    copies = [torch.nn.Parameter(value.clone()) for value in start]
    adam = torch.optim.Adam(copies, lr=settings.get("lr", 1e-3), betas=tuple(settings.get("betas", (0.9, 0.999))),
                            eps=settings.get("eps", 1e-8))
    for step_gradients in gradients:
        for handle, copy, gradient in zip(handles, copies, step_gradients):
            handle.grad = gradient
            copy.grad = gradient.clone()
        optimizer.step()
        adam.step()
    return nb.new(f"{PROBES}:parameters", module), [copy.detach() for copy in copies]


@pytest.mark.points(1)
def test_adam(nb):
    """Does each optimizer take Adam's steps (compared, over three steps on the same weights and
    gradients, with torch.optim.Adam at the optimizer's own lr and betas): not SGD, not AdamW's
    weight decay?"""
    generator, discriminator, g_optimizer, d_optimizer = _optimizers(nb)
    draw = torch.Generator().manual_seed(7)
    for name, optimizer, module in (("g_optimizer", g_optimizer, generator), ("d_optimizer", d_optimizer, discriminator)):
        kind = nb.type_name(optimizer).rsplit(".", 1)[-1]
        if not nb.isinstance(optimizer, "torch.optim:Adam"):
            raise AssertionError(
                f"{name} is a {kind}; use torch.optim.Adam, which adapts each weight's step size (plain SGD "
                "stalls GAN training, part 2).")
        for handle in _parameter_handles(nb, module):  # weights of a few units: a weight decay shows clearly
            handle.data = 5 * torch.randn(tuple(handle.shape), generator=draw) + 2
        settings = nb.new(f"{PROBES}:state", optimizer)[0]
        shapes = [tuple(value.shape) for value in nb.new(f"{PROBES}:parameters", module)]
        gradients = [[torch.randn(shape, generator=draw) for shape in shapes] for _ in range(3)]
        theirs, adams = _adam_steps(nb, module, optimizer, settings, gradients)
        if all(torch.allclose(mine, wanted, rtol=1e-6, atol=1e-6) for mine, wanted in zip(theirs, adams)):
            continue
        decay = settings.get("weight_decay") or 0
        if decay:
            raise AssertionError(
                f"{name} ({kind}) has weight_decay={decay}: each step also shrinks every weight, so it does not "
                "take Adam's steps. The recipe uses torch.optim.Adam without weight decay (AdamW decays by 0.01 "
                "unless told otherwise).")
        raise AssertionError(
            f"{name} ({kind}) moved the weights differently from torch.optim.Adam with the same lr and betas "
            f"over three steps (settings: { {key: value for key, value in settings.items() if key in ('amsgrad', 'maximize', 'eps')} }): "
            "use plain torch.optim.Adam with only lr and betas set.")


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
