"""kreg's Dropout against keras.layers.Dropout.

1. Training step (forward + backward) of an MLP with kreg's inverted Dropout vs
   the same MLP with keras.layers.Dropout: ratio kreg / Keras, target <= 1.05.
2. Training-mode dropout alone on 2048x2048 float32 (4M elements): time of
   kreg's (16 random bits per element) vs Keras's (a 32-bit float uniform per
   element) and vs `x * 2`; goal: Keras / kreg >= 1.5.

    python benchmarks/bench_dropout.py [--rounds 15]
"""

import argparse

import _timing  # noqa: F401  (sets TF's log level before TensorFlow loads)
import keras
import numpy as np
import tensorflow as tf

import kreg
from _timing import fit_timer, interleaved


def training_step(rounds, examples):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(examples, 64)).astype("float32")
    y = rng.integers(0, 10, size=examples)
    timers = {}
    for label, dropout in (("keras", keras.layers.Dropout), ("kreg", kreg.layers.Dropout)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(512, activation="relu"),
                dropout(0.5),
                keras.layers.Dense(512, activation="relu"),
                dropout(0.5),
                keras.layers.Dense(10),
            ]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        timers[label] = fit_timer(model, x, y, batch_size=128)
    t = interleaved(timers, rounds)
    print(f"training step, MLP 64-512-512-10 with 2 dropouts, batch 128: keras {t['keras']:.4f} s/epoch, "
          f"kreg {t['kreg']:.4f} s/epoch, ratio kreg/keras {t['kreg'] / t['keras']:.3f}")


def mask_speed(rounds, repeats=10):
    x = tf.random.normal((2048, 2048))
    ours = kreg.layers.Dropout(0.3, seed=1)
    theirs = keras.layers.Dropout(0.3, seed=1)

    @tf.function
    def keras_dropout(t):
        return theirs(t, training=True)

    @tf.function
    def kreg_dropout(t):
        return ours(t, training=True)

    @tf.function
    def double(t):
        return t * 2

    functions = {"keras": keras_dropout, "kreg": kreg_dropout, "x*2": double}
    for fn in functions.values():
        fn(x)

    def repeat(fn):
        def run():
            for _ in range(repeats):
                fn(x)

        return run

    t = interleaved({name: repeat(fn) for name, fn in functions.items()}, rounds)
    ms = {name: 1000 * seconds / repeats for name, seconds in t.items()}
    print(f"dropout(0.3) on 2048x2048 float32, training mode: keras {ms['keras']:.1f} ms, "
          f"kreg {ms['kreg']:.1f} ms, x*2 {ms['x*2']:.1f} ms; keras/kreg {ms['keras'] / ms['kreg']:.2f}, "
          f"kreg/(x*2) {ms['kreg'] / ms['x*2']:.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--examples", type=int, default=4096)
    args = parser.parse_args()
    training_step(args.rounds, args.examples)
    mask_speed(args.rounds)


if __name__ == "__main__":
    main()
