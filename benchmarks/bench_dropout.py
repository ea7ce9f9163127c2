"""kreg's Dropout against keras.layers.Dropout.

1. Training step (forward + backward) of an MLP with kreg's inverted Dropout vs
   the same MLP with keras.layers.Dropout: ratio kreg / Keras, target <= 1.05.
2. Training-mode dropout alone on 2048x2048 float32 (4M elements): time of
   kreg's (16 random bits per element) vs Keras's (a 32-bit float uniform per
   element) and vs `x * 2`; goal: Keras / kreg >= 1.5.

Every call (a `train_on_batch` step, a dropout call) is timed alone, kreg's and
Keras's interleaved (`rounds * 20` steps, `rounds * 10` dropout calls each); each
figure is reported as the minimum and the median, and judged by the minimum
(timings on a shared machine are bimodal).

    python benchmarks/bench_dropout.py [--rounds 15] [--device cpu|gpu]
    KERAS_BACKEND=jax python benchmarks/bench_dropout.py [--rounds 15] [--device cpu|gpu]
    KERAS_BACKEND=torch python benchmarks/bench_dropout.py [--rounds 15] [--device cpu|gpu]

The dropout calls are compiled as each backend compiles a train step
(`tf.function`; `jax.jit` of the layer's `stateless_call`); `x*2`, compiled
alike, is the cost of one pass over the tensor.
"""

import argparse

import _timing  # sets TF's log level and the device before the backend loads
import keras
import numpy as np

import kreg
from _timing import min_and_median


def training_step(rounds, steps=20):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 64)).astype("float32")
    y = rng.integers(0, 10, size=128)
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
        timers[label] = step_timer(model, x, y)
    # Every step timed alone, interleaved: the minimum is the step least disturbed by other load.
    t = min_and_median(timers, rounds * steps)
    print(f"training step, MLP 64-512-512-10 with 2 dropouts, batch 128, {keras.backend.backend()}, "
          f"ms/step (min / median): "
          f"keras {1000 * t['keras'][0]:.2f} / {1000 * t['keras'][1]:.2f}, "
          f"kreg {1000 * t['kreg'][0]:.2f} / {1000 * t['kreg'][1]:.2f}; "
          f"ratio kreg/keras {ratio(t, 'kreg', 'keras')} (target <= 1.05, by the min)")


def step_timer(model, x, y):
    """One compiled training step of `model` on the batch `(x, y)` (the train function `fit` uses), warmed up."""
    model.train_on_batch(x, y)
    return lambda: model.train_on_batch(x, y)


def ratio(t, numerator, denominator):
    """`min-ratio (median-ratio)` of two `(min, median)` timings."""
    return (f"{t[numerator][0] / t[denominator][0]:.3f} "
            f"(median {t[numerator][1] / t[denominator][1]:.3f})")


def compiled(layer, x):
    """`layer(x, training=True)` (`layer` None: `x * 2`) compiled as the backend compiles a train step."""
    if keras.backend.backend() == "jax":
        import jax

        if layer is None:
            double = jax.jit(lambda t: t * 2)
            return lambda: double(x).block_until_ready()
        layer(x, training=True)  # built
        step = jax.jit(lambda state, t: layer.stateless_call([], state, t, training=True)[0])
        return lambda: step([v.value for v in layer.non_trainable_variables], x).block_until_ready()
    if keras.backend.backend() == "torch":  # Keras's torch step is eager (not compiled by default)
        return (lambda: x * 2) if layer is None else (lambda: layer(x, training=True))
    import tensorflow as tf

    step = tf.function(lambda t: t * 2 if layer is None else layer(t, training=True))
    return lambda: step(x)


def mask_speed(rounds, repeats=10):
    x = keras.random.normal((2048, 2048), seed=0)
    functions = {"keras": compiled(keras.layers.Dropout(0.3, seed=1), x),
                 "kreg": compiled(kreg.layers.Dropout(0.3, seed=1), x),
                 "x*2": compiled(None, x)}
    for fn in functions.values():
        fn()
    # Every call timed alone, interleaved: the minimum is the call least disturbed by other load.
    t = min_and_median(functions, rounds * repeats)
    ms = {name: (1000 * low, 1000 * mid) for name, (low, mid) in t.items()}
    print(f"dropout(0.3) on 2048x2048 float32, training mode, {keras.backend.backend()}, ms (min / median): "
          f"keras {ms['keras'][0]:.1f} / {ms['keras'][1]:.1f}, kreg {ms['kreg'][0]:.1f} / {ms['kreg'][1]:.1f}, "
          f"x*2 {ms['x*2'][0]:.1f} / {ms['x*2'][1]:.1f}; keras/kreg {ratio(t, 'keras', 'kreg')} (goal >= 1.5, "
          f"by the min), kreg/(x*2) {ratio(t, 'kreg', 'x*2')}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    training_step(args.rounds)
    mask_speed(args.rounds)


if __name__ == "__main__":
    main()
