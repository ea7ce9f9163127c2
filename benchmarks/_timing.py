"""Interleaved timing: every candidate runs once per round, so drift hits all alike; each call waits for its device.

`--device cpu` or `--device gpu` (see `add_device`) is read here, before a
benchmark imports Keras: `cpu` hides every GPU from the backend, `gpu` refuses
to time anything where the backend sees none.
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
DEVICE = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--device"),
              next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--device=")), None))
if DEVICE == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before the backend loads: it sees no GPU


def add_device(parser):
    """Adds `--device {cpu,gpu}` to a benchmark's `parser` (the default: what the backend picks)."""
    parser.add_argument("--device", choices=["cpu", "gpu"],
                        help="cpu: hide the GPUs; gpu: refuse to run without one (default: the backend's choice)")


_ON_GPU = None  # whether the backend computes on a GPU: set by `device()`


def device():
    """The device the backend computes on, in words; SystemExit where `--device gpu` was asked and none is seen."""
    global _ON_GPU
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpu = jax.default_backend() == "gpu"
    elif backend == "torch":
        import torch

        gpu = torch.cuda.is_available()
    else:
        import tensorflow as tf

        gpu = bool(tf.config.list_logical_devices("GPU"))
    if DEVICE == "gpu" and not gpu:
        raise SystemExit(f"--device gpu: the {backend} backend sees no GPU here")
    _ON_GPU = gpu
    return f"{backend} on {'gpu' if gpu else 'cpu'}"


def synchronize():
    """Waits until the backend's GPU has finished what it was given (a CPU step has, when it returns)."""
    if _ON_GPU is None:
        device()
    if not _ON_GPU:
        return
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.test.experimental.sync_devices()
    # JAX: the timed functions end in `block_until_ready()` (a dispatched computation has no global barrier).


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
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
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
