"""Interleaved timing: every candidate runs once per round, so drift hits all alike."""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def fit_timer(model, x, y, batch_size):
    """A function that runs one epoch of `model.fit` (warmed up: traced already)."""
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)

    def run():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)

    return run


def timings(candidates, rounds):
    """Seconds per call of each `name -> fn`, calls interleaved by round: `{name: [round times]}`.

    Each round starts one candidate further along, so every candidate runs in
    every position equally often: none always runs first, or always right after
    the same other one (on the caches it left).
    """
    times = {name: [] for name in candidates}
    order = list(candidates.items())
    for round_ in range(rounds):
        first = round_ % len(order)
        for name, fn in order[first:] + order[:first]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    if os.environ.get("KREG_BENCH_VERBOSE"):
        print({name: [round(x, 3) for x in t] for name, t in times.items()})
    return times


def interleaved(candidates, rounds):
    """Median seconds per call of each `name -> fn`, calls interleaved by round."""
    return {name: statistics.median(t) for name, t in timings(candidates, rounds).items()}


def min_and_median(candidates, rounds):
    """`{name: (min, median)}` seconds per call, calls interleaved by round.

    Timings on shared machines are bimodal (a slow mode from other load), so a
    ratio is judged by the minimum, the run least disturbed; the median is
    reported beside it.
    """
    return {name: (min(t), statistics.median(t)) for name, t in timings(candidates, rounds).items()}
