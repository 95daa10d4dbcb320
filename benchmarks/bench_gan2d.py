"""How smooth is the 2-D GAN view? Redraws per second while it trains (goal: >= 10).

The widget (:class:`~ganlab_kit.widgets.gan2d.GAN2DLab`) is built as in a notebook (its
image traits are set on every redraw, no browser attached) and Play trains in the
background with the kit's trainer; the plane (heat map, manifold, points, arrows) is
redrawn on the training thread whenever its throttle allows (at most 20 per second, and
drawing at most half the time), the curves at most twice a second.

Two clocks, because the machine this was written on is shared (load averages of 20-30
on 2 cores), which makes wall-clock rates say more about the neighbours than the code:

* ``wall``: the throttle runs on the wall clock, as in a notebook; printed per wall second.
* ``cpu``: the throttles run on this process's CPU clock and rates are per CPU second of
  the process (its main thread sleeps; torch uses one thread). That is what the same run
  shows in wall time on an idle core, which a student's laptop offers.

For each heat-map resolution it prints redraws and training steps per second while playing,
training steps per second of the same GAN without the widget and the ratio of the two
(both on the same clock), and what one redraw costs in CPU time: the view's numbers (D on
the grid, G on the noise grid, the arrows' gradients) and the drawing (Pillow + JPEG).

    python benchmarks/bench_gan2d.py               # 8 s per resolution and clock: 32, 64, 96
    python benchmarks/bench_gan2d.py --quick       # a few seconds (CI smoke test)
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["GANLAB_WIDGETS"] = "live"  # no kernel here; keep the live drawing path

GOAL = 10.0  # redraws per second


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def bare_steps_per_second(seconds: float, resolution: int, clock) -> float:
    from ganlab_kit.widgets.gan2d_state import GAN2DSession

    session = GAN2DSession(resolution=resolution)
    session.train(20)  # warm up
    done, started = 0, clock()
    while clock() - started < seconds:
        session.train(25)
        done += 25
    return done / (clock() - started)


def redraw_costs(lab, repeats: int):
    """Median CPU seconds of (the view's numbers, drawing + JPEG) for one plane redraw."""
    from ganlab_kit.widgets.gan2d import draw_gan2d, live_bytes

    numbers, pictures = [], []
    for _ in range(repeats):
        started = time.thread_time()
        view = lab.session.view()
        middle = time.thread_time()
        live_bytes(draw_gan2d(view, None, lab.size))
        numbers.append(middle - started)
        pictures.append(time.thread_time() - middle)
    return statistics.median(numbers), statistics.median(pictures)


def play(seconds: float, resolution: int, clock):
    from ganlab_kit.widgets.gan2d import GAN2DLab
    from ganlab_kit.widgets.state import RedrawThrottle

    lab = GAN2DLab("ring", resolution=resolution)
    lab.throttle = RedrawThrottle(lab.throttle.min_interval, lab.throttle.max_share, clock=clock)
    lab.curve_throttle = RedrawThrottle(lab.curve_throttle.min_interval, lab.curve_throttle.max_share,
                                        clock=clock)
    lab.widget  # build the widgets: every redraw sets their image traits
    lab.train(20)
    before_redraws, before_steps = lab.throttle.redraws, lab.session.iterations
    started = clock()
    lab.play()
    while clock() - started < seconds:
        time.sleep(0.05)
    lab.pause()
    elapsed = clock() - started
    redraws = lab.throttle.redraws - before_redraws - 1  # Pause's own forced redraw
    steps = lab.session.iterations - before_steps
    return redraws / elapsed, steps / elapsed, lab


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="play time per resolution")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 96],
                        help="heat-map cells per side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine has 2 cores)")
    parser.add_argument("--clocks", nargs="+", choices=sorted(CLOCKS), default=["cpu", "wall"],
                        help="throttle and rate clocks (see the docstring)")
    parser.add_argument("--quick", action="store_true", help="2 s at resolution 64 only")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.resolutions = 2.0, [64]

    import torch

    torch.set_num_threads(args.threads)
    print(f"2-D GAN view: ring, non-saturating loss, MLPs 2-64-64-2 / 2-64-64-1, batch 128, "
          f"200 fakes with arrows, 400 real points, 15 x 15 manifold; torch threads {args.threads}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.seconds:g} s of Play "
          "per resolution and clock")
    header = (f"{'heat map':>9} | {'clock':>5} | {'redraws/s':>9} | {'steps/s playing':>15} | "
              f"{'steps/s bare':>12} | {'ratio':>5} | {'numbers ms':>10} | {'drawing ms':>10}")
    print(header)
    print("-" * len(header))
    worst = {}
    for resolution in args.resolutions:
        for name in args.clocks:
            clock = CLOCKS[name]
            bare = bare_steps_per_second(min(args.seconds, 4.0), resolution, clock)
            redraws, steps, lab = play(args.seconds, resolution, clock)
            numbers, picture = redraw_costs(lab, 15)
            print(f"{resolution:>4} x {resolution:<3}| {name:>5} | {redraws:>9.1f} | {steps:>15.0f} | "
                  f"{bare:>12.0f} | {steps / bare:>5.2f} | {numbers * 1e3:>10.1f} | {picture * 1e3:>10.1f}")
            if resolution >= 64:
                worst[name] = min(worst.get(name, redraws), redraws)
    for name, lowest in worst.items():
        verdict = "met" if lowest >= GOAL else "NOT met"
        print(f"goal >= {GOAL:g} redraws/s, heat map 64 x 64 or finer, {name} clock: {verdict} "
              f"(lowest {lowest:.1f}/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
