"""Kit trainer vs a bare hand-written PyTorch loop, and achieved GFLOP/s vs matmul peak.

Three loops train the same MLP pair (the labs' architecture) on the same batch size,
measured side by side in one run: blocks of steps alternate between them so that
machine noise hits all alike, and the median time per step is compared.

* the kit's ``Trainer``;
* the loop a student writes by hand, which also computes D's weight gradients in G's
  step (the kit skips them, so it should beat this loop);
* the same hand loop made lean (D's weights frozen during G's step): the same work as
  the kit, so kit / lean measures the kit's bookkeeping alone.

    python benchmarks/bench_trainer.py            # ~1 minute
    python benchmarks/bench_trainer.py --quick    # a few seconds

Goal: kit / lean <= 1.03 (and kit / hand < 1).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from ganlab_kit.data import load_mnist
from ganlab_kit.torch_gan import MLPDiscriminator, MLPGenerator, Trainer
from ganlab_kit.torch_gan.trainer import make_adam


def bare_loop(generator, discriminator, images, batch_size, latent_dim, g_opt, d_opt, rng,
              lean=False):
    """The loop a student would write by hand: no history, no callbacks.

    ``lean`` freezes D's weights during G's backward pass, as the kit's trainer does.
    """
    ones = torch.ones(batch_size, 1)
    zeros = torch.zeros(batch_size, 1)

    def step():
        real = images[torch.randint(len(images), (batch_size,), generator=rng)]
        fake = generator(torch.randn(batch_size, latent_dim, generator=rng))
        d_loss = (F.binary_cross_entropy(discriminator(real), ones)
                  + F.binary_cross_entropy(discriminator(fake.detach()), zeros))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        if lean:
            discriminator.requires_grad_(False)
        g_loss = F.binary_cross_entropy(discriminator(fake), ones)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        if lean:
            discriminator.requires_grad_(True)
        g_opt.step()
        return d_loss.item(), g_loss.item()

    return step


def time_block(step, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - started) / count


def mlp_step_flops(generator, discriminator, batch_size: int) -> float:
    """Multiply-add FLOPs of one D step + one G step of the MLP pair (x2 per MAC).

    Forward of a Linear layer costs 2*B*in*out; its backward about twice that.
    D step: G forward, D forward + backward on 2B images. G step: D forward +
    backward on B fakes (through to its input), G backward.
    """
    def forward(module):
        return sum(2 * batch_size * m.in_features * m.out_features
                   for m in module.modules() if isinstance(m, torch.nn.Linear))

    g_forward, d_forward = forward(generator), forward(discriminator)
    return (g_forward + 2 * d_forward + 2 * 2 * d_forward   # D step
            + d_forward + 2 * d_forward + 2 * g_forward)      # G step


def matmul_peak(size: int, repeats: int) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(time_block(lambda: torch.mm(a, b), repeats) for _ in range(3))
    return 2 * size ** 3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    block, rounds, warmup = (5, 3, 3) if args.quick else (40, 6, 20)

    data = load_mnist()
    torch.manual_seed(0)
    kit_g, kit_d = MLPGenerator(), MLPDiscriminator()
    trainer = Trainer(kit_g, kit_d, data, batch_size=args.batch_size, snapshot_every=0)

    def hand_loop(lean):
        torch.manual_seed(0)
        g, d = MLPGenerator(), MLPDiscriminator()
        step = bare_loop(g, d, data.images, args.batch_size, 100,
                         make_adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),  # the same
                         make_adam(d.parameters(), 2e-4, betas=(0.5, 0.999)),  # fused Adam
                         torch.Generator().manual_seed(0), lean=lean)
        return step, g, d

    bare, bare_g, bare_d = hand_loop(lean=False)
    lean, _, _ = hand_loop(lean=True)

    def kit_step():  # what Trainer.fit does per step, minus the snapshot schedule
        record = trainer.train_step()
        trainer.history.append(trainer.step, record)

    loops = {"kit": kit_step, "hand": bare, "lean": lean}
    times = {name: [] for name in loops}
    for step in loops.values():
        time_block(step, warmup)
    for round_index in range(rounds):
        order = list(loops)
        order = order[round_index % 3:] + order[:round_index % 3]  # rotate who goes first
        for name in order:
            times[name].append(time_block(loops[name], block))
    kit_ms, bare_ms, lean_ms = (statistics.median(times[name]) * 1e3 for name in loops)

    flops = mlp_step_flops(bare_g, bare_d, args.batch_size)
    achieved = flops / (bare_ms / 1e3) / 1e9
    peak = matmul_peak(512 if args.quick else 1024, 3 if args.quick else 10)

    print(f"threads: {torch.get_num_threads()}, batch {args.batch_size}, "
          f"{rounds} rounds x {block} steps each")
    print(f"kit Trainer step : {kit_ms:8.2f} ms (median)")
    print(f"hand loop step   : {bare_ms:8.2f} ms (median; D's weight gradients in G's step too)")
    print(f"lean loop step   : {lean_ms:8.2f} ms (median; the kit's work, by hand)")
    print(f"ratio kit / lean : {kit_ms / lean_ms:8.3f}   (goal <= 1.03: the kit's bookkeeping)")
    print(f"ratio kit / hand : {kit_ms / bare_ms:8.3f}   (goal < 1: faster than the usual loop)")
    print(f"MLP step         : {flops / 1e9:8.3f} GFLOP -> {achieved:6.1f} GFLOP/s achieved "
          "(hand loop)")
    print(f"matmul peak      : {peak:8.1f} GFLOP/s -> MLP step at {achieved / peak:.0%} of peak")


if __name__ == "__main__":
    main()
