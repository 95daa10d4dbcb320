"""Run the lab's three settings on several seeds and record whether each shows its failure.

For every seed and every run of ``ganlab_kit.keras_gan.failure.PRESETS`` (the settings
the notebook's solution uses), trains with the kit's reference pieces exactly as the
notebook does and records: the wall time of the run, D's mean accuracy over the last
100 turns, G's losses and gradient norms early and late, the digits the last samples
cover (the Keras classifier the notebook uses and the PyTorch classifier the checks
use), the verdicts of the reference detectors and of the kit's dashboard alarms.
Writes calibration.json next to this file; with ``--write-references`` the seed-0 runs
become the reference student's files in ganlab_kit/assets/failure_modes/.

    python autograder/failure_modes/calibrate_runs.py --seeds 0 1 2 3 4 --workers 2 --keep runs/

Each run takes about 40 s of CPU time. ``--keep DIR`` saves every run (history and sample
snapshots, as ``<run>-seed<N>_*``); ``--replay DIR`` then recomputes the kit alarms'
verdicts of calibration.json from those files without training again (after a change to
``widgets/alarms.py``).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "calibration.json"
ASSETS = HERE.parents[1] / "ganlab_kit" / "assets" / "failure_modes"


def one_run(name: str, seed: int, write_reference: bool, keep=None) -> dict:
    import numpy as np

    from ganlab_kit.keras_gan import failure, require_tensorflow_backend
    from ganlab_kit.scoring import classify

    require_tensorflow_backend()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)  # one thread per run, runs side by side
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from ganlab_kit.widgets.alarms import sample_spread

    cpu_started = time.process_time()
    run = failure.run_experiment(failure.PRESETS[name], seed=seed)
    cpu_seconds = time.process_time() - cpu_started
    if write_reference:
        failure.save_run(run, name, ASSETS)
    if keep is not None:
        failure.save_run(run, f"{name}-seed{seed}", keep)
    accuracy = np.asarray(run["d_acc"])
    fifth = max(1, len(accuracy) // 5)
    torch_labels, _ = classify(run["samples"][-1])
    keras_labels = failure.classify_digits(run["samples"][-1])
    alarms = failure.kit_alarms(run)
    return {
        "run": name, "seed": seed, "seconds": run["seconds"],
        "cpu_seconds": round(cpu_seconds, 1), "turns": len(accuracy),
        "pretrain_accuracy": [round(run["pretrain"]["before"], 3), round(run["pretrain"]["after"], 3)],
        "d_acc_last_100": round(float(accuracy[-100:].mean()), 4),
        "g_loss_first_fifth": round(float(np.mean(run["g_loss"][:fifth])), 3),
        "g_loss_last_fifth": round(float(np.mean(run["g_loss"][-fifth:])), 3),
        "g_grad_norm_first_last": [round(float(np.mean(run["g_grad_norm"][:10])), 4),
                                   round(float(np.mean(run["g_grad_norm"][-10:])), 4)],
        "minimax_grad_norm_first_last": [round(float(np.mean(run["minimax_grad_norm"][:10])), 5),
                                         round(float(np.mean(run["minimax_grad_norm"][-10:])), 5)],
        "digits_covered_per_snapshot": [failure.classes_covered(np.repeat(np.arange(10), counts))
                                        for counts in run["class_counts"]],
        "digits_covered_torch": failure.classes_covered(torch_labels),
        "digits_covered_keras": failure.classes_covered(keras_labels),
        "spread_per_snapshot": [round(sample_spread(samples), 3) for samples in run["samples"]],
        "overpowers": failure.discriminator_overpowers(run),
        "collapsed": failure.mode_collapsed(torch_labels),
        "collapsed_keras": failure.mode_collapsed(keras_labels),
        "kit_alarm_overpowering": alarms["overpowering"] is not None,
        "kit_alarm_collapse": alarms["collapse"] is not None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--runs", nargs="+", default=["healthy", "overpowered", "collapsed"])
    parser.add_argument("--workers", type=int, default=2, help="runs side by side (one process each)")
    parser.add_argument("--write-references", action="store_true")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--from-logs", type=Path, nargs="+", metavar="LOG",
                        help="build the file from the rows earlier runs printed (one JSON row per line)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="save every run's history and samples here")
    parser.add_argument("--replay", type=Path, metavar="DIR",
                        help="recompute the kit alarms of --output's rows from the runs saved by --keep")
    parser.add_argument("--one", nargs=2, metavar=("RUN", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        name, seed = args.one[0], int(args.one[1])
        print(json.dumps(one_run(name, seed, args.write_references and seed == 0, args.keep)), flush=True)
        return
    if args.replay:
        replay(args)
        return
    if args.from_logs:
        rows = [json.loads(line) for log in args.from_logs for line in log.read_text().splitlines()
                if line.startswith("{") and '"run"' in line]
        rows = list({(row["run"], row["seed"]): row for row in rows}.values())
        write(rows, args, None)
        return
    jobs = [(name, seed) for seed in args.seeds for name in args.runs]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows, running, started = [], [], time.perf_counter()
    while jobs or running:
        while jobs and len(running) < args.workers:
            name, seed = jobs.pop(0)
            command = [sys.executable, __file__, "--one", name, str(seed)]
            if args.write_references:
                command.insert(2, "--write-references")
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                command[2:2] = ["--keep", str(args.keep)]
            running.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                            text=True, env=env))
        time.sleep(1)
        for process in [p for p in running if p.poll() is not None]:
            running.remove(process)
            output = process.stdout.read().strip().splitlines()
            if process.returncode == 0 and output:
                rows.append(json.loads(output[-1]))
                print(output[-1], flush=True)
            else:
                print(f"a run failed ({process.args[-2:]})", flush=True)
    write(rows, args, time.perf_counter() - started)


def replay(args: argparse.Namespace) -> None:
    """Recompute the kit alarms' verdicts of the rows in ``args.output`` from saved runs."""
    from ganlab_kit.keras_gan import failure

    calibration = json.loads(args.output.read_text())
    rows = calibration["runs"]
    for row in rows:
        alarms = failure.kit_alarms(failure.load_run(f"{row['run']}-seed{row['seed']}", args.replay))
        row["kit_alarm_overpowering"] = alarms["overpowering"] is not None
        row["kit_alarm_collapse"] = alarms["collapse"] is not None
        print(row["run"], row["seed"], alarms, flush=True)
    args.workers = calibration.get("workers", args.workers)
    write(rows, args, calibration.get("wall_seconds"), calibration.get("measured_on"))


def write(rows: list, args: argparse.Namespace, wall_seconds, measured_on=None) -> None:
    """Write the calibration file: the presets, how it was measured, a summary and every row."""
    rows.sort(key=lambda row: (row["run"], row["seed"]))
    args.runs = sorted({row["run"] for row in rows}, key=["healthy", "overpowered", "collapsed"].index)
    summary = {name: {"seeds": len([r for r in rows if r["run"] == name]),
                      "overpowers": sum(r["overpowers"] for r in rows if r["run"] == name),
                      "collapsed": sum(r["collapsed"] for r in rows if r["run"] == name),
                      "kit_alarm_overpowering": sum(r["kit_alarm_overpowering"] for r in rows if r["run"] == name),
                      "kit_alarm_collapse": sum(r["kit_alarm_collapse"] for r in rows if r["run"] == name),
                      "max_seconds": max((r["seconds"] for r in rows if r["run"] == name), default=None),
                      "max_cpu_seconds": max((r["cpu_seconds"] for r in rows
                                              if r["run"] == name and "cpu_seconds" in r), default=None)}
               for name in args.runs}
    from ganlab_kit.keras_gan.failure import PRESETS

    args.output.write_text(json.dumps({
        "presets": {name: PRESETS[name].to_dict() for name in args.runs},
        "settings": "ganlab_kit.keras_gan.failure.PRESETS, trained with the kit's reference pieces "
                    "as the notebook trains them (run_experiment)",
        "measured_on": measured_on or f"2 CPU cores shared with other users' jobs (load average about "
                       f"{os.getloadavg()[0]:.0f} at the end), {args.workers} runs side by side, "
                       "one TensorFlow thread each: seconds are wall time under that load",
        "wall_seconds": None if wall_seconds is None else round(wall_seconds),
        "summary": summary, "runs": rows}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
