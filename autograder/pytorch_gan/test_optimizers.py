"""Hidden checks: make_optimizers (run on the kit's networks, narrowed).

What is graded is which optimizer each network gets, its settings and the steps it takes, not
the networks' size: the kit's MLP generator and discriminator with narrow hidden layers (about
26,000 weights each instead of 1.5 million) hold the same parameter tensors in the same order,
and cost milliseconds to make, step and copy back.
"""
import pytest
import torch
import torch._dynamo  # noqa: F401 - the first torch.optim optimizer of a process imports it (1-4 s);
# imported here, the checker loads it while the notebook runs (what the checks import is preloaded)

PROBES = "ganlab_kit.grading.probes"
GENERATOR_HIDDEN = (8, 16, 32)       # 100 -> 8 -> 16 -> 32 -> 784 (the lab's: 256, 512, 1024)
DISCRIMINATOR_HIDDEN = (32, 16, 8)   # 784 -> 32 -> 16 -> 8 -> 1 (the lab's: 1024, 512, 256)


def _optimizers(nb):
    generator = nb.new("ganlab_kit.torch_gan:MLPGenerator", hidden=GENERATOR_HIDDEN)
    discriminator = nb.new("ganlab_kit.torch_gan:MLPDiscriminator", hidden=DISCRIMINATOR_HIDDEN)
    result = nb.make_optimizers(generator, discriminator)
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        "make_optimizers should return a pair (g_optimizer, d_optimizer).")
    return generator, discriminator, result[0], result[1]


@pytest.mark.points(1)
def test_adam(nb):
    """Does make_optimizers return two Adam optimizers that step exactly like torch.optim.Adam with
    their settings (no weight decay: AdamW, a subclass of Adam, steps differently)?"""
    generator, discriminator, g_optimizer, d_optimizer = _optimizers(nb)
    for name, optimizer, network in (("g_optimizer", g_optimizer, generator),
                                     ("d_optimizer", d_optimizer, discriminator)):
        kind = nb.type_name(optimizer).rsplit(".", 1)[-1]
        assert nb.isinstance(optimizer, "torch.optim:Adam"), f"{name} should be torch.optim.Adam, got {kind}."
        groups = nb.new(f"{PROBES}:state", optimizer)
        copies = [p.clone().requires_grad_(True) for p in nb.new(f"{PROBES}:parameters", network)]
        settings = {key: groups[0][key] for key in ("lr", "betas") if key in groups[0]}
        twin = torch.optim.Adam(copies, **settings)
        for value in (0.5, -0.3):  # two steps with the same gradients on both sides
            nb.new(f"{PROBES}:fill_gradients", network, value)
            optimizer.step()
            for copy in copies:
                copy.grad = torch.full_like(copy, value)
            twin.step()
        stepped = nb.new(f"{PROBES}:parameters", network)
        assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(stepped, copies)), (
            f"{name} ({kind}, weight decay {groups[0].get('weight_decay', 0)}) does not step like "
            f"torch.optim.Adam(..., lr={settings.get('lr')}, betas={tuple(settings.get('betas', ()))}): use "
            "plain Adam, without weight_decay (AdamW shrinks every weight at each step).")


@pytest.mark.points(1)
def test_settings(nb):
    """Do both optimizers use betas = (0.5, 0.999), with lr = 1e-3 for G and 2e-4 for D?"""
    _, _, g_optimizer, d_optimizer = _optimizers(nb)
    for name, optimizer, lr in (("g_optimizer", g_optimizer, 1e-3), ("d_optimizer", d_optimizer, 2e-4)):
        for group in nb.new(f"{PROBES}:state", optimizer):
            assert abs(group["lr"] - lr) < 1e-12, (
                f"{name} has learning rate {group['lr']}; use lr={lr:g} (G learns five times as fast as D "
                "so that D does not win the game early).")
            betas = tuple(group.get("betas", ()))
            assert len(betas) == 2 and abs(betas[0] - 0.5) < 1e-12 and abs(betas[1] - 0.999) < 1e-12, (
                f"{name} has betas {betas}; use betas=(0.5, 0.999): a lower beta1 keeps Adam's "
                "momentum from overshooting in the two-player game.")


@pytest.mark.points(1)
def test_each_on_its_own_network(nb):
    """Does the first optimizer update exactly the generator's parameters and the second the discriminator's?"""
    generator, discriminator, g_optimizer, d_optimizer = _optimizers(nb)
    for name, optimizer, network, other in (("g_optimizer", g_optimizer, generator, "generator"),
                                            ("d_optimizer", d_optimizer, discriminator, "discriminator")):
        held = [p for group in optimizer.param_groups for p in group["params"]]
        wanted = nb.new(f"{PROBES}:parameters", network)
        same = len(held) == len(wanted) and all(
            a.shape == b.shape and torch.equal(a, b) for a, b in zip(held, wanted))
        assert same, (
            f"{name} should hold exactly the {other}'s parameters ({other}.parameters()), so "
            "each network is only updated by its own optimizer; return (g_optimizer, d_optimizer) "
            "in that order.")
