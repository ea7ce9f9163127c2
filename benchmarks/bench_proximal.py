"""Proximal L1: per-step overhead vs the plain optimizer, and the zeros it reaches.

Overhead: the same MLP, one epoch of `fit` with Adam vs ProximalL1(Adam), median
over interleaved rounds; target <= 1.10. Sparsity: the 20-feature regression with
3 relevant features of the tests, Keras's L1 + Adam beside ProximalL1(Adam).

    python benchmarks/bench_proximal.py [--rounds 15]
"""

import argparse

import _timing  # sets TF's log level and the device before the backend loads
import keras
import numpy as np

import kreg
from _timing import fit_timer, interleaved


def mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def overhead(rounds, examples):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(examples, 64)).astype("float32")
    y = rng.integers(0, 10, size=examples)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    timers = {}
    for label, make in (
        ("adam", lambda: keras.optimizers.Adam(1e-3)),
        ("proximal", lambda: kreg.optimizers.ProximalL1(keras.optimizers.Adam(1e-3), 1e-4)),
        ("sgd", lambda: keras.optimizers.SGD(1e-2)),
        ("proximal sgd", lambda: kreg.optimizers.ProximalL1(keras.optimizers.SGD(1e-2), 1e-4)),
    ):
        model = mlp()
        model.compile(make(), loss)
        timers[label] = fit_timer(model, x, y, batch_size=64)
    t = interleaved(timers, rounds)
    print(f"adam {t['adam']:.4f} s/epoch, ProximalL1(adam) {t['proximal']:.4f}: ratio {t['proximal'] / t['adam']:.3f}")
    print(f"sgd {t['sgd']:.4f} s/epoch, ProximalL1(sgd) {t['proximal sgd']:.4f}: ratio {t['proximal sgd'] / t['sgd']:.3f}")


def sparsity():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 20)).astype("float32")
    w = np.zeros(20, "float32")
    w[:3] = [2.0, -1.5, 1.0]
    y = (x @ w + 0.1 * rng.normal(size=256)).astype("float32")[:, None]
    for label, optimizer, regularizer in (
        ("keras L1(0.05) + Adam", keras.optimizers.Adam(0.05), keras.regularizers.L1(0.05)),
        ("ProximalL1(Adam, 0.2)", kreg.optimizers.ProximalL1(keras.optimizers.Adam(0.05), 0.2), None),
    ):
        keras.utils.set_random_seed(0)
        layer = keras.layers.Dense(1, kernel_regularizer=regularizer)
        model = keras.Sequential([keras.Input((20,)), layer])
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=32, epochs=20, verbose=0)
        kernel = layer.kernel.numpy()[:, 0]
        print(f"{label}: {(kernel[3:] == 0).sum()}/17 irrelevant weights exactly 0, relevant {np.round(kernel[:3], 3)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--examples", type=int, default=2048)
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    overhead(args.rounds, args.examples)
    sparsity()


if __name__ == "__main__":
    main()
