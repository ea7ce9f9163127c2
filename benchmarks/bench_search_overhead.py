"""Where a `kreg search` spends its wall time: training and validation steps, and everything else.

Runs a shipped experiment as `kreg search NAME` does, in this process, with a
callback added to every `fit` and `evaluate` that sums the time of each batch
(training steps and validation/test steps, each waited for on a GPU). The rest
of the wall time is start-up (imports, data, the plan), compilation, callbacks
and writing between batches, and the confirmation's own work: what issue 23
asks to keep under 5% on a GPU. The first batch of each `fit` (where the step
is compiled) is counted apart.

    KERAS_BACKEND=jax python benchmarks/bench_search_overhead.py digits [--device cpu|gpu]
    KERAS_BACKEND=jax python benchmarks/bench_search_overhead.py mnist_cnn --max-trials 2 --epochs 2
"""

import argparse
import tempfile
import time

start = time.perf_counter()
import _timing  # noqa: E402  (sets TF's log level and the device before the backend loads)
import keras  # noqa: E402


class Clock(keras.callbacks.Callback):
    """Sums the seconds of each training and test batch; the first training batch of each fit apart."""

    totals = {"first training batch of a fit (compiles)": 0.0, "training steps": 0.0, "validation and test steps": 0.0}
    fits = 0
    first_fit = None  # when the first fit began: start-up (imports, data, plan, checks) before it

    def __init__(self):
        super().__init__()
        self._began, self._first = None, False

    def on_train_begin(self, logs=None):
        Clock.first_fit = Clock.first_fit or time.perf_counter()
        Clock.fits += 1
        self._first = True

    def _begin(self, batch, logs=None):
        _timing.synchronize()
        self._began = time.perf_counter()

    def _end(self, kind):
        _timing.synchronize()
        Clock.totals[kind] += time.perf_counter() - self._began

    on_train_batch_begin = on_test_batch_begin = _begin

    def on_train_batch_end(self, batch, logs=None):
        self._end("first training batch of a fit (compiles)" if self._first else "training steps")
        self._first = False

    def on_test_batch_end(self, batch, logs=None):
        self._end("validation and test steps")


def clocked(method):
    def wrapped(self, *args, callbacks=None, **kwargs):
        if isinstance(callbacks, keras.callbacks.CallbackList):  # `fit`'s validation: its list has the clock
            return method(self, *args, callbacks=callbacks, **kwargs)
        return method(self, *args, callbacks=[*(callbacks or []), Clock()], **kwargs)

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment", nargs="?", default="digits")
    parser.add_argument("--max-trials", type=int)
    parser.add_argument("--epochs", type=int)
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    keras.Model.fit = clocked(keras.Model.fit)
    keras.Model.evaluate = clocked(keras.Model.evaluate)
    from kreg import cli

    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in ("max_trials", "epochs") and v]
    code = cli.main(["search", args.experiment, "--logdir", tempfile.mkdtemp(), *flags])
    wall = time.perf_counter() - start
    steps = sum(Clock.totals.values())
    print(f"\nkreg search {args.experiment} {' '.join(flags)} (exit {code}): {wall:.1f} s wall, {Clock.fits} fits")
    for kind, seconds in Clock.totals.items():
        print(f"  {kind}: {seconds:.1f} s ({100 * seconds / wall:.1f}%)")
    startup = Clock.first_fit - start
    rest = wall - steps - startup
    print(f"  start-up, until the first fit (imports, data, the plan and its checks): {startup:.1f} s "
          f"({100 * startup / wall:.1f}%)")
    print(f"  everything else (building models, callbacks and writing between batches, the confirmation's own "
          f"work, the summary): {rest:.1f} s ({100 * rest / wall:.1f}%)")


if __name__ == "__main__":
    main()
