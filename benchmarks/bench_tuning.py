"""Wall time of the same search with kreg's full logging vs bare Keras Tuner with a plain TensorBoard.

6 trials x 10 epochs of a 2x256 MLP (RegularizedMLP) on 1,200 digits, the same
seed so both run the same trials. Bare: `keras_tuner.RandomSearch` with a
`keras.callbacks.TensorBoard` (Keras Tuner's own HParams callback included).
kreg: `kreg.tuning.RandomSearch` with the same TensorBoard: experiment
`hparams_config`, per-trial sessions with status and summary metrics,
RegularizationMonitor scalars, the NaN check. Median of interleaved rounds;
target kreg / bare <= 1.10.

    python benchmarks/bench_tuning.py [--rounds 3]
"""

import argparse
import tempfile

import _timing  # sets TF's log level and the device before the backend loads
import keras
import keras_tuner as kt

import kreg
from _timing import interleaved
from kreg import tuning


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    (x, y), (xv, yv), _ = kreg.data.digits(train_size=1200, validation_size=300, label_noise=0.0)
    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(256, 256))

    def runner(cls, trials=6, epochs=10):
        def run():
            root = tempfile.mkdtemp()
            tuner = cls(hypermodel, objective="val_accuracy", max_trials=trials, seed=1, directory=root,
                        project_name="p")
            tuner.search(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0,
                         callbacks=[keras.callbacks.TensorBoard(f"{root}/logs")])

        return run

    for cls in (kt.RandomSearch, tuning.RandomSearch):  # warm up: imports, first traces
        runner(cls, trials=1, epochs=1)()
    t = interleaved({"bare": runner(kt.RandomSearch), "kreg": runner(tuning.RandomSearch)}, args.rounds)
    print(f"6 trials x 10 epochs, 2x256 MLP, 1,200 digits: bare Keras Tuner {t['bare']:.1f} s, kreg "
          f"{t['kreg']:.1f} s, ratio kreg/bare {t['kreg'] / t['bare']:.3f}")


if __name__ == "__main__":
    main()
