"""Training-step time with kreg's regularizers and constraints vs Keras's built-ins.

Same architecture, same data, same penalties and constraints (Keras's MaxNorm
given the fan-in axes explicitly so both do the same work); the ratio is
kreg / Keras per epoch of `fit`, median over interleaved rounds. Target <= 1.05.

    python benchmarks/bench_regularizers.py [--rounds 15]
"""

import argparse

import _timing  # noqa: F401  (sets TF's log level before TensorFlow loads)
import keras
import numpy as np

import kreg
from _timing import fit_timer, interleaved


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
    parser.add_argument("--examples", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'case':<18}{'keras s/epoch':>14}{'kreg s/epoch':>14}{'ratio':>8}")
    for name, (build, shape, theirs, ours) in CASES.items():
        x = rng.normal(size=(args.examples, *shape)).astype("float32")
        y = rng.integers(0, 10, size=args.examples)
        timers = {}
        for label, (reg, con) in (("keras", theirs), ("kreg", ours)):
            keras.utils.set_random_seed(0)
            model = build(reg, con)
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            timers[label] = fit_timer(model, x, y, batch_size=64)
        t = interleaved(timers, args.rounds)
        print(f"{name:<18}{t['keras']:>14.4f}{t['kreg']:>14.4f}{t['kreg'] / t['keras']:>8.3f}")


if __name__ == "__main__":
    main()
