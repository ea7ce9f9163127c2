"""Trials per minute of `kreg search digits` in one process vs `--workers N` on this host.

The default experiment's model (2x512 MLP, 500 digits, batch 32), with a short
budget: `--epochs 10`, and `--max-trials` SMALL and LARGE. Each mode runs both
budgets in every round, interleaved; the rate of the search itself is
(LARGE - SMALL) trials over the difference of the wall times, which cancels
what every run pays once (starting Python and TensorFlow, the chief, the
baseline and the summary). The end-to-end rate of the LARGE run is printed too.

    python benchmarks/bench_workers.py [--workers 2] [--rounds 2] [--small 2] [--large 10] [--epochs 10]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _timing  # noqa: F401  (sets TF's log level for the child processes)


def wall(trials, epochs, workers):
    with tempfile.TemporaryDirectory() as logdir:
        command = [sys.executable, "-m", "kreg.cli", "search", "digits", "--logdir", logdir, "--max-trials",
                   str(trials), "--epochs", str(epochs)] + (["--workers", str(workers)] if workers else [])
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--small", type=int, default=2)
    parser.add_argument("--large", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    times = {(mode, trials): [] for mode in (0, args.workers) for trials in (args.small, args.large)}
    for _ in range(args.rounds):
        for mode, trials in times:
            times[mode, trials].append(wall(trials, args.epochs, mode))
    if os.environ.get("KREG_BENCH_VERBOSE"):
        print({f"workers={m} trials={t}": [round(x, 1) for x in v] for (m, t), v in times.items()})
    print(f"{os.cpu_count()} cores, digits 2x512 MLP, {args.epochs} epochs a trial, {args.rounds} interleaved rounds:")
    for name, reduce in (("minimum", min), ("median", statistics.median)):
        best = {key: reduce(value) for key, value in times.items()}
        rate = {mode: 60 * (args.large - args.small) / (best[mode, args.large] - best[mode, args.small])
                for mode in (0, args.workers)}
        end_to_end = {mode: 60 * args.large / best[mode, args.large] for mode in (0, args.workers)}
        print(f"  by the {name}: search rate one process {rate[0]:.1f} trials/min, --workers {args.workers} "
              f"{rate[args.workers]:.1f} trials/min, ratio {rate[args.workers] / rate[0]:.2f}; end to end, "
              f"{args.large} trials: {best[0, args.large]:.1f} s vs {best[args.workers, args.large]:.1f} s, "
              f"ratio {end_to_end[args.workers] / end_to_end[0]:.2f}")


if __name__ == "__main__":
    main()
