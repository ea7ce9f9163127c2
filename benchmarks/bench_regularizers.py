"""Training-step time with kreg's regularizers and constraints vs Keras's built-ins.

Same architecture, same data, same penalties and constraints (Keras's MaxNorm
given the fan-in axes explicitly so both do the same work); the ratio is
kreg / Keras per compiled training step (`train_on_batch` on one batch of 64,
the train function `fit` uses), every step timed alone, kreg's and Keras's
interleaved (`rounds * 20` steps each); reported as min and median, judged by
the min (timings on a shared machine are bimodal). Target <= 1.05.

    python benchmarks/bench_regularizers.py [--rounds 15]
    KERAS_BACKEND=jax python benchmarks/bench_regularizers.py [--rounds 15]
"""

import argparse

import _timing  # noqa: F401  (sets TF's log level before TensorFlow loads)
import keras
import numpy as np

import kreg
from _timing import min_and_median


def mlp(reg, con):
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu", kernel_regularizer=reg(), kernel_constraint=con(0)),
            keras.layers.Dense(256, activation="relu", kernel_regularizer=reg(), kernel_constraint=con(0)),
            keras.layers.Dense(10, kernel_regularizer=reg()),
        ]
    )


def cnn(reg, con):
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(32, 3, activation="relu", kernel_regularizer=reg(), kernel_constraint=con([0, 1, 2])),
            keras.layers.Conv2D(32, 3, activation="relu", kernel_regularizer=reg(), kernel_constraint=con([0, 1, 2])),
            keras.layers.Flatten(),
            keras.layers.Dense(10, kernel_regularizer=reg()),
        ]
    )


CASES = {
    "mlp l2+maxnorm": (
        mlp, (64,),
        (lambda: keras.regularizers.L2(1e-4), lambda a: keras.constraints.MaxNorm(3.0, axis=a)),
        (lambda: kreg.regularizers.L2(1e-4), lambda a: kreg.constraints.MaxNorm(3.0)),
    ),
    "mlp elastic net": (
        mlp, (64,),
        (lambda: keras.regularizers.L1L2(1e-5, 1e-4), lambda a: None),
        (lambda: kreg.regularizers.ElasticNet(1e-5, 1e-4), lambda a: None),
    ),
    "cnn l2+maxnorm": (
        cnn, (16, 16, 3),
        (lambda: keras.regularizers.L2(1e-4), lambda a: keras.constraints.MaxNorm(3.0, axis=a)),
        (lambda: kreg.regularizers.L2(1e-4), lambda a: kreg.constraints.MaxNorm(3.0)),
    ),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{keras.backend.backend()}, ms/step min / median")
    print(f"{'case':<18}{'keras':>16}{'kreg':>16}{'ratio kreg/keras':>26}")
    for name, (build, shape, theirs, ours) in CASES.items():
        x = rng.normal(size=(64, *shape)).astype("float32")
        y = rng.integers(0, 10, size=64)
        timers = {}
        for label, (reg, con) in (("keras", theirs), ("kreg", ours)):
            keras.utils.set_random_seed(0)
            model = build(reg, con)
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.train_on_batch(x, y)  # traced
            timers[label] = lambda model=model: model.train_on_batch(x, y)
        t = min_and_median(timers, args.rounds * 20)
        ms = {k: f"{1000 * low:.2f} / {1000 * mid:.2f}" for k, (low, mid) in t.items()}
        ratio = f"{t['kreg'][0] / t['keras'][0]:.3f} (median {t['kreg'][1] / t['keras'][1]:.3f})"
        print(f"{name:<18}{ms['keras']:>16}{ms['kreg']:>16}{ratio:>26}")


if __name__ == "__main__":
    main()
