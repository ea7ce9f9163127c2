"""Cost of RegularizationMonitor at default settings on the default experiment's epoch.

The default experiment's model (2x512 MLP, L2 + MaxNorm, 500 digits, batch 32,
300 validation examples), `fit` of its 60 epochs with a TensorBoard callback, with
and without RegularizationMonitor (and with FitDiagnosis too), median over
interleaved rounds; target: monitor / plain <= 1.05. The ratio of whole epochs is
noisy on a 2-core machine (about +-5%), so the time spent inside the callbacks'
own hooks is also measured directly, as a fraction of the epoch.

    python benchmarks/bench_callbacks.py [--rounds 3] [--epochs 60]
"""

import argparse
import tempfile
import time

import _timing  # sets TF's log level and the device before the backend loads
import keras

import kreg
from _timing import interleaved


def model(x):
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512, activation="relu"),
                            keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    net = kreg.attach(net, kernel_regularizer=kreg.regularizers.L2(10.0, num_examples=len(x)),
                      kernel_constraint=kreg.constraints.MaxNorm(4.0))
    loss = "sparse_categorical_crossentropy"
    net.compile("adam", loss, metrics=["accuracy", kreg.metrics.DataLoss(loss)])
    return net


class Timed:
    """Records the seconds spent in each call of a callback's `on_epoch_end`, and in its other hooks."""

    def __init__(self, callback):
        self.epochs, self.other = [], 0.0
        for hook in ("on_train_begin", "on_epoch_end", "on_train_end"):
            original = getattr(callback, hook)

            def timed(*args, _original=original, _hook=hook, **kwargs):
                start = time.perf_counter()
                _original(*args, **kwargs)
                if _hook == "on_epoch_end":
                    self.epochs.append(time.perf_counter() - start)
                else:
                    self.other += time.perf_counter() - start

            setattr(callback, hook, timed)

    def report(self, name, epoch_seconds):
        steady = sorted(self.epochs[1:])[len(self.epochs[1:]) // 2]
        return (f"{name}: {steady * 1000:.2f} ms per epoch after the first ({steady / epoch_seconds:.1%} of an "
                f"epoch); first epoch {self.epochs[0] * 1000:.0f} ms, train begin/end "
                f"{self.other * 1000:.0f} ms, once per fit")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    (x, y), (xv, yv), _ = kreg.data.digits()
    root = tempfile.mkdtemp()

    def runner(name, extra):
        net = model(x)
        board = keras.callbacks.TensorBoard(f"{root}/{name}")
        callbacks = [*extra(board), board]

        def run():
            net.fit(x, y, validation_data=(xv, yv), batch_size=32, epochs=args.epochs, verbose=0,
                    callbacks=callbacks)

        run()
        return run

    t = interleaved(
        {
            "plain": runner("plain", lambda board: [kreg.callbacks.LossBreakdown()]),
            "monitor": runner("monitor", lambda board: [kreg.callbacks.RegularizationMonitor(tensorboard=board)]),
            "monitor+diagnosis": runner("both", lambda board: [
                kreg.callbacks.RegularizationMonitor(tensorboard=board),
                kreg.callbacks.FitDiagnosis(baseline_error=0.3, tensorboard=board)]),
        },
        args.rounds,
    )
    t = {name: seconds / args.epochs for name, seconds in t.items()}
    (x_, y_), (xv_, yv_) = (x, y), (xv, yv)
    net = model(x_)
    board = keras.callbacks.TensorBoard(f"{root}/timed")
    monitor, diagnosis = kreg.callbacks.RegularizationMonitor(tensorboard=board), kreg.callbacks.FitDiagnosis(
        baseline_error=0.3, tensorboard=board)
    timers = [Timed(monitor), Timed(diagnosis)]
    net.fit(x_, y_, validation_data=(xv_, yv_), batch_size=32, epochs=args.epochs, verbose=0,
            callbacks=[monitor, diagnosis, board])
    print(timers[0].report("RegularizationMonitor", t["plain"]))
    print(timers[1].report("FitDiagnosis", t["plain"]))
    print(f"default experiment, per epoch with TensorBoard: plain {t['plain']:.4f} s, with RegularizationMonitor "
          f"{t['monitor']:.4f} s (ratio {t['monitor'] / t['plain']:.3f}), with monitor + FitDiagnosis "
          f"{t['monitor+diagnosis']:.4f} s (ratio {t['monitor+diagnosis'] / t['plain']:.3f})")


if __name__ == "__main__":
    main()
