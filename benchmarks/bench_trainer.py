"""Kit trainer vs hand-written PyTorch loops, the cost of each trainer feature, and the
MLP step's share of the matmul peak.

The same MLP pair (the PyTorch lab's widths, batch 64) trains in several loops at once, in
one process. Each *round* runs a block of steps of every loop, one after the other, in an
order that rotates from round to round, so that whatever else the machine does hits all
loops alike; every ratio is taken within a round and the median over rounds is printed with
its spread (the middle half and the extremes).

* ``kit``: the ``Trainer``'s own ``fit`` loop (``Trainer.start_fit``: the very code ``fit``
  runs each step) with every feature the labs use: the weight average
  (``average_decay=0.995``), gradient norms (every 10th step, the default), the history, a
  headless ``TrainingDashboard`` with its live quality readout, fixed-noise snapshots every 100 steps, the grading budget's
  wall-clock check, ``threads="auto"``.
* ``kit - X``: the same with one feature switched off (the per-step cost of X is the
  difference, round by round).
* ``lean``: a hand loop doing the kit's work (D's weights frozen in G's step), nothing more:
  kit / lean is the price of the kit's features. Goal <= 1.03.
* ``hand``: the usual hand loop (D's weight gradients computed in G's step too). Goal: the
  kit below it (< 1).

Snapshots (every 100 steps in the labs) and the quality readout (every 500 steps) are rare
events: they are timed each time they happen, left out of the block they happened in, and
added back at the labs' rate (cost per event / interval), so that a block with an event is
not an outlier.

    python benchmarks/bench_trainer.py            # ~3-4 minutes on an idle 2-core machine
    python benchmarks/bench_trainer.py --quick    # ~1 minute
    python benchmarks/bench_trainer.py --quick --cpu-time   # CPU seconds on one thread: on a
                                                  # busy machine, what each feature costs

On a machine that other programs keep busy, wall-clock blocks swing by tens of percent and
the per-feature differences drown; ``--cpu-time`` runs torch on one thread and times this
thread's CPU seconds, which the others' load barely touches (cache sharing aside): the
features' costs and the kit / lean ratio in work done, not the 2-thread wall-clock goal.

Goals: kit / lean <= 1.03, kit / hand < 1.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

from ganlab_kit.data import load_mnist
from ganlab_kit.torch_gan import MLPDiscriminator, MLPGenerator, Trainer
from ganlab_kit.torch_gan.trainer import make_adam
from ganlab_kit.widgets.dashboard import TrainingDashboard

LAB_SNAPSHOT_EVERY = 100   # TrainConfig's default, what the lab cells use
LAB_QUALITY_EVERY = 500    # the dashboard's "auto" interval on the ten MNIST digits
LAB_AVERAGE = dict(average_decay=0.995, average_start=0)  # the lab: 0.995 (from step 500)

def lab_discriminator() -> MLPDiscriminator:
    """The lab's D: the kit's MLP widths (1024-512-256), LeakyReLU(0.2), no dropout (the lab
    has none since issue 15; the kit's default 0.3 put ~10 % of dropout work into every step)."""
    return MLPDiscriminator(dropout=0.0)


#: the clock every block, event and matmul is timed with: wall time, or with ``--cpu-time``
#: this thread's CPU time (torch on one thread, so the thread does all of the step's work)
clock = time.perf_counter


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


class EventClock:
    """Wraps a method of an object so that each call's duration is added up."""

    def __init__(self, owner, name: str) -> None:
        self.total = 0.0
        self.count = 0
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                self.total += clock() - started
                self.count += 1

        setattr(owner, name, timed)


class KitLoop:
    """A Trainer in the middle of a ``fit`` (its real loop, stepped by the benchmark)."""

    def __init__(self, data, batch_size: int, average=True, grad_norms=True, history=True,
                 dashboard=True, quality=True, snapshots=True, budget=True, threads="auto"):
        torch.manual_seed(0)
        self.trainer = Trainer(
            MLPGenerator(), lab_discriminator(), data, batch_size=batch_size, seed=0,
            track_grad_norm=grad_norms,
            snapshot_every=LAB_SNAPSHOT_EVERY if snapshots else 0,
            threads=threads, **(LAB_AVERAGE if average else {}))
        if not history:
            self.trainer.history.append = lambda step, record: None
        self.snapshots = EventClock(self.trainer, "snapshot")
        self.quality = self.checks = self.board = None
        if dashboard:
            board = TrainingDashboard(self.trainer, quality_every=LAB_SNAPSHOT_EVERY if quality else 0,
                                      quality_samples=500)
            self.quality = EventClock(board, "_score_quality")
            self.checks = EventClock(board, "on_snapshot")  # inside the snapshots' time
            self.trainer.callbacks.append(board)
            self.board = board
        self.run = self.trainer.start_fit(10 ** 9)
        # the grading budget's wall-clock check runs each step under nbgrader only (deadline
        # inf otherwise): a finite, far deadline switches it on here
        self.run.deadline = time.monotonic() + 1e9 if budget else math.inf
        self.run.first_snapshot()

    def events(self) -> float:
        return self.snapshots.total + (self.quality.total if self.quality else 0.0)

    def per_step_events(self) -> float:
        """Seconds per step that the rare events cost at the labs' intervals."""
        cost = 0.0
        if self.snapshots.count:
            cost += self.snapshots.total / self.snapshots.count / LAB_SNAPSHOT_EVERY
        if self.quality is not None and self.quality.count:
            cost += self.quality.total / self.quality.count / LAB_QUALITY_EVERY
        return cost

    def block(self, count: int) -> float:
        """Seconds per step of ``count`` steps, the rare events left out."""
        events = self.events()
        started = clock()
        for _ in range(count):
            self.run.step()
        elapsed = clock() - started
        return (elapsed - (self.events() - events)) / count

    def time_events(self) -> None:
        """Make sure each rare event was timed at least once (a short run may hold none)."""
        if not self.snapshots.count:
            self.trainer.snapshot()
        if self.quality is not None and not self.quality.count:
            self.board._score_quality(self.trainer)

    def close(self) -> None:
        self.run.close()


def timed_inside(kit: "KitLoop", steps: int) -> Dict[str, float]:
    """Seconds per step of each feature's own code, timed directly inside ``steps`` steps of
    the full kit loop (its calls wrapped in a clock): steadier on a busy machine than the
    switched-off differences, which also see each feature's effect on the rest of the step
    (caches) but swing with the load."""
    from ganlab_kit.torch_gan import trainer as trainer_module

    trainer, run = kit.trainer, kit.run
    original_norm = trainer_module._grad_norm
    clocks = {"weight average (foreach lerp)": EventClock(trainer, "_update_average"),
              "gradient norms (every 10th step)": EventClock(trainer_module, "_grad_norm"),
              "history (History.append)": EventClock(trainer.history, "append")}
    if kit.board is not None:
        clocks["dashboard records (headless)"] = EventClock(kit.board, "on_step_end")
    if run.picker is not None:
        clocks["thread handling (ThreadPicker.tick)"] = EventClock(run.picker, "tick")
    quality_before = kit.quality.total if kit.quality is not None else 0.0
    try:
        kit.block(steps)
    finally:
        trainer_module._grad_norm = original_norm
    result = {name: c.total / steps for name, c in clocks.items()}
    if kit.quality is not None and "dashboard records (headless)" in result:
        # the quality readout runs inside on_step_end; it has its own row
        result["dashboard records (headless)"] -= (kit.quality.total - quality_before) / steps
    return result


def time_block(step: Callable[[], object], count: int) -> float:
    started = clock()
    for _ in range(count):
        step()
    return (clock() - started) / count


def mlp_step_flops(generator, discriminator, batch_size: int, lean: bool = False) -> float:
    """Multiply-add FLOPs of one D step + one G step of the MLP pair (x2 per MAC).

    Forward of a Linear layer costs 2*B*in*out; its backward twice that (input and weight
    gradients). D step: G forward, D forward + backward on 2B images (no input gradient
    needed, counted anyway: the first layer's is skipped by autograd, a small share). G step:
    D forward + backward on B fakes through to its input, G backward.
    """
    def forward(module):
        return sum(2 * batch_size * m.in_features * m.out_features
                   for m in module.modules() if isinstance(m, torch.nn.Linear))

    g_forward, d_forward = forward(generator), forward(discriminator)
    return (g_forward + 2 * d_forward + 2 * 2 * d_forward   # D step
            + d_forward + 2 * d_forward + 2 * g_forward     # G step
            - (d_forward if lean else 0))  # lean: no weight gradients of D in G's step


def matmul_peak(size: int, repeats: int) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(time_block(lambda: torch.mm(a, b), repeats) for _ in range(3))
    return 2 * size ** 3 / best / 1e9


def step_matmuls(generator, discriminator, batch_size: int, repeats: int) -> float:
    """Seconds of the matrix products alone of one lean step, at the step's own shapes
    (forward, input gradient, weight gradient of every Linear, as many as the step runs)."""
    products = []
    # (forward, input-gradient, weight-gradient) products per Linear, in batch_size units:
    # G: forward once, backward once (B fakes); D: forward on real, fake and the fakes again
    # in G's step (3), input gradients inside its own backward (2) and through to G (1),
    # weight gradients in D's step only (2). First layers' unneeded input gradients are
    # counted too (a small overcount, as in mlp_step_flops).
    for module, (forwards, input_grads, weight_grads) in ((generator, (1, 1, 1)),
                                                          (discriminator, (3, 3, 2))):
        for layer in (m for m in module.modules() if isinstance(m, torch.nn.Linear)):
            n_in, n_out = layer.in_features, layer.out_features
            for count, shape in ((forwards, ((batch_size, n_in), (n_in, n_out))),
                                 (input_grads, ((batch_size, n_out), (n_out, n_in))),
                                 (weight_grads, ((n_out, batch_size), (batch_size, n_in)))):
                a, b = torch.randn(*shape[0]), torch.randn(*shape[1])
                products.extend([(a, b)] * count)
    def run():
        for a, b in products:
            torch.mm(a, b)
    run()
    return min(time_block(run, repeats) for _ in range(3))


def op_shares(step: Callable[[], object], steps: int) -> List[tuple]:
    """Share of the step's CPU time by kind of operator (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    kinds: Dict[str, float] = {}
    matmul = ("aten::mm", "aten::addmm", "aten::bmm")
    optimizer = ("aten::_fused_adam_", "aten::_fused_adamw_")
    total = 0.0
    for event in prof.key_averages():
        self_time = event.self_cpu_time_total
        total += self_time
        if event.key in matmul:
            kind = "matrix products"
        elif event.key in optimizer:
            kind = "Adam (fused)"
        elif event.key.startswith("aten::"):
            kind = "other torch ops"
        else:
            kind = "autograd / Python glue"
        kinds[kind] = kinds.get(kind, 0.0) + self_time
    return sorted(((kind, t / total) for kind, t in kinds.items()), key=lambda kv: -kv[1])


def plain_adam_steps(rounds: int, block: int) -> Dict[str, float]:
    """ms per step of ``torch.optim.Adam`` (a student's make_optimizers) on both lab networks:
    its own per-tensor loop on a CPU vs the multi-tensor step ``fit`` gives it (same values),
    and the kit's fused Adam; interleaved blocks, medians."""
    torch.manual_seed(0)
    weights = list(MLPGenerator().parameters()) + list(lab_discriminator().parameters())
    for weight in weights:
        weight.grad = torch.randn_like(weight) * 1e-3
    optimizers = {
        "per-tensor (torch's CPU default)": torch.optim.Adam(weights, lr=2e-4, betas=(0.5, 0.999),
                                                             foreach=False),
        "foreach (what fit switches it to)": torch.optim.Adam(weights, lr=2e-4, betas=(0.5, 0.999),
                                                              foreach=True),
        "fused (the kit's make_adam)": make_adam(weights, 2e-4),
    }
    times: Dict[str, List[float]] = {name: [] for name in optimizers}
    names = list(optimizers)
    with torch.no_grad():
        for index in range(rounds + 1):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                seconds = time_block(optimizers[name].step, block)
                if index:  # the first round warms up
                    times[name].append(seconds)
    result = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    per_tensor, foreach = names[:2]
    result["foreach / per-tensor, median of the rounds' ratios"] = statistics.median(
        a / b for a, b in zip(times[foreach], times[per_tensor]))
    return result


def quartiles(values: List[float]) -> tuple:
    values = sorted(values)
    if len(values) < 4:
        return values[0], values[-1]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--block", type=int, default=None, help="steps per loop per round")
    parser.add_argument("--cpu-time", action="store_true",
                        help="torch on one thread, every time in this thread's CPU seconds: "
                             "what the work costs, nearly free of what else the machine runs")
    args = parser.parse_args()
    if args.cpu_time:
        global clock
        clock = time.thread_time
        torch.set_num_threads(1)
    block, rounds, warmup = (20, 5, 10) if args.quick else (40, 12, 20)
    block = args.block or block
    rounds = args.rounds or rounds

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    threads_start = torch.get_num_threads()
    data = load_mnist()
    batch = args.batch_size

    features = {  # row name -> KitLoop switch
        "weight average (foreach lerp)": "average",
        "gradient norms (every 10th step)": "grad_norms",
        "history (History.append)": "history",
        "dashboard records (headless)": "dashboard",
        "grading budget (wall-clock check)": "budget",
        "thread handling (ThreadPicker.tick)": "threads",
    }
    kits = {"kit": KitLoop(data, batch)}
    torch.set_num_threads(threads_start)  # each picker starts from torch's count
    for row, switch in features.items():
        off = {switch: None if switch == "threads" else False}
        kits[row] = KitLoop(data, batch, **off)
        torch.set_num_threads(threads_start)

    def hand_loop(lean):
        torch.manual_seed(0)
        g, d = MLPGenerator(), lab_discriminator()
        step = bare_loop(g, d, data.images, batch, 100,
                         make_adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),  # the same
                         make_adam(d.parameters(), 2e-4, betas=(0.5, 0.999)),  # fused Adam
                         torch.Generator().manual_seed(0), lean=lean)
        return step, g, d

    hand, hand_g, hand_d = hand_loop(lean=False)
    lean, _, _ = hand_loop(lean=True)

    loops: Dict[str, Callable[[int], float]] = {
        name: kit.block for name, kit in kits.items()}
    loops["lean"] = lambda count: time_block(lean, count)
    loops["hand"] = lambda count: time_block(hand, count)
    started = time.perf_counter()
    for run in loops.values():
        run(warmup)
    times: Dict[str, List[float]] = {name: [] for name in loops}
    names = list(loops)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:  # rotate who goes first
            times[name].append(loops[name](block))
    bench_seconds = time.perf_counter() - started
    threads_end = torch.get_num_threads()
    for kit in kits.values():
        kit.time_events()
    events = {name: kit.per_step_events() for name, kit in kits.items()}
    kit_all = kits["kit"]
    direct = timed_inside(kit_all, block * 2)
    snapshot_cost = kit_all.snapshots.total / kit_all.snapshots.count
    check_cost = kit_all.checks.total / max(1, kit_all.checks.count)
    quality_cost = kit_all.quality.total / kit_all.quality.count
    for kit in reversed(list(kits.values())):
        kit.close()

    def kit_time(name: str, index: int) -> float:
        return times[name][index] + events[name]

    def summary(values: List[float]) -> str:
        low, high = quartiles(values)
        return (f"{statistics.median(values):6.3f}  (middle half {low:.3f}-{high:.3f}, "
                f"all {min(values):.3f}-{max(values):.3f})")

    kit_lean = [kit_time("kit", i) / times["lean"][i] for i in range(rounds)]
    kit_hand = [kit_time("kit", i) / times["hand"][i] for i in range(rounds)]
    median_ms = {name: statistics.median(times[name]) * 1e3 for name in ("lean", "hand")}
    kit_ms = statistics.median([kit_time("kit", i) for i in range(rounds)]) * 1e3

    print(("CPU TIME of this thread (--cpu-time; torch on 1 thread): every figure below is CPU "
           "seconds, not wall time\n") if args.cpu_time else "", end="")
    print(f"bench_trainer: batch {batch}, {rounds} rounds x {block} steps per loop "
          f"({len(loops)} loops interleaved, order rotating), {bench_seconds:.0f} s; "
          f"{os.cpu_count()} cores, load average {load:.1f} before the run; torch threads "
          f"{threads_start} at the start, {threads_end} at the end (the pickers' choice)")
    print(f"kit Trainer step : {kit_ms:8.2f} ms (median; every lab feature on)")
    print(f"lean loop step   : {median_ms['lean']:8.2f} ms (median; the kit's work by hand)")
    print(f"hand loop step   : {median_ms['hand']:8.2f} ms (median; D's weight gradients in G's "
          "step too)")
    print(f"ratio kit / lean : {summary(kit_lean)}   goal <= 1.03: "
          f"{'met' if statistics.median(kit_lean) <= 1.03 else 'NOT met'}")
    print(f"ratio kit / hand : {summary(kit_hand)}   goal < 1: "
          f"{'met' if statistics.median(kit_hand) < 1 else 'NOT met'}")
    print()
    print("what the kit does per step beyond the lean loop (each switched off in turn, same run;")
    print("cost = kit step - kit step without it, round by round, median and middle half; the")
    print("rare events timed each time and spread over the labs' intervals):")
    print(f"  {'feature':40s} {'ms/step':>8s} {'% of lean':>10s}   middle half (ms)   "
          "timed directly (ms, % of lean)")
    lean_ms = median_ms["lean"]
    total = rare = 0.0   # every row below; the rare events' rows alone
    for row in features:
        # steady per-step work only (the rare events are the rows below)
        costs = [(times["kit"][i] - times[row][i]) * 1e3 for i in range(rounds)]
        low, high = quartiles(costs)
        cost = statistics.median(costs)
        total += cost
        own = direct.get(row)
        print(f"  {row:40s} {cost:8.3f} {cost / lean_ms:10.1%}   {low:.3f} .. {high:.3f}"
              + (f"   {own * 1e3:.3f} ({own * 1e3 / lean_ms:.1%})" if own is not None
                 else "   (inline: one clock read)"))
    for row, per_event, every in (
            ("snapshots (trainer; every 100 steps)", snapshot_cost - check_cost, LAB_SNAPSHOT_EVERY),
            ("dashboard's checks of each snapshot", check_cost, LAB_SNAPSHOT_EVERY),
            ("live quality readout (every 500 steps)", quality_cost, LAB_QUALITY_EVERY)):
        cost = per_event / every * 1e3
        total += cost
        rare += cost
        print(f"  {row:40s} {cost:8.3f} {cost / lean_ms:10.1%}   ({per_event * 1e3:.0f} ms "
              f"each, timed)")
    rest = kit_ms - lean_ms - total
    print(f"  {'the rest (step bookkeeping, record)':40s} {rest:8.3f} {rest / lean_ms:10.1%}   "
          "(kit - lean - the rows above)")
    own_total = sum(direct.values()) * 1e3 + rare
    print(f"  timed directly: the features above + the rare events = {own_total:.3f} ms per step, "
          f"{own_total / lean_ms:.1%} of the lean step (the kit's own code; the step's record "
          "and bookkeeping not included)")

    # how much of the machine the step uses
    torch.set_num_threads(threads_start)
    flops = mlp_step_flops(hand_g, hand_d, batch, lean=True)
    lean_s = lean_ms / 1e3
    peak = matmul_peak(512 if args.quick else 1024, 3 if args.quick else 10)
    floor = step_matmuls(hand_g, hand_d, batch, 5 if args.quick else 20)
    achieved = flops / lean_s / 1e9
    print()
    print(f"MLP step (lean)  : {flops / 1e9:.3f} GFLOP in {lean_ms:.1f} ms -> {achieved:.1f} GFLOP/s "
          f"at {threads_start} threads")
    print(f"matmul peak      : {peak:.1f} GFLOP/s (square {512 if args.quick else 1024}) -> the MLP "
          f"step at {achieved / peak:.0%} of peak")
    print(f"the step's matrix products alone, same shapes: {floor * 1e3:.1f} ms "
          f"({flops / floor / 1e9:.1f} GFLOP/s, {flops / floor / 1e9 / peak:.0%} of peak): the "
          f"step is {lean_s / floor:.2f}x its matmuls")
    adam = plain_adam_steps(6 if args.quick else 12, 5 if args.quick else 10)
    ratio_name = list(adam)[-1]
    ratio = adam.pop(ratio_name)
    print("Adam on both lab networks (a student's plain torch.optim.Adam in the PyTorch lab): "
          + ", ".join(f"{name} {ms:.2f} ms" for name, ms in adam.items())
          + f" per step; {ratio_name}: {ratio:.2f}")
    shares = op_shares(lean, 3 if args.quick else 10)
    print("lean step's CPU time by kind: " + ", ".join(f"{kind} {share:.0%}" for kind, share in shares))


if __name__ == "__main__":
    main()
