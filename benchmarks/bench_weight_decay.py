"""Training-step time: kreg's L2 penalty vs decoupled weight decay vs Keras's built-in L2.

The default MLP of the hypermodels (`kreg.tuning.RegularizedMLP`: 64 inputs,
2 x 512 ReLU units, kreg Dropout at rate 0, softmax over 10 classes; Adam,
sparse cross-entropy, accuracy and `kreg.metrics.DataLoss`), built by the
hypermodel from the trial values the `weight_decay` experiment searches:

* "none": no regularization (the reference);
* "kreg l2": `kreg.regularizers.L2(3.0, num_examples=500)` on every kernel
  (`regularizer="l2"`, the penalty `lambda / (2 n) sum(w ** 2)` in the loss);
* "weight decay": Adam with `weight_decay=0.1` and biases excluded
  (`regularizer="weight_decay"`, decoupled: no term in the loss);
* "keras l2": the "none" model given `keras.regularizers.L2(0.003)` (the same
  penalty, `3.0 / (2 * 500)`) with `kreg.attach`, compiled the same way.

One compiled training step (`train_on_batch`, batch 32 as the experiments),
every step timed alone, the four interleaved (`rounds * 20` steps each);
reported as min and median, ratios judged by the min (a shared machine's
timings are bimodal).

    python benchmarks/bench_weight_decay.py [--rounds 10]
    KERAS_BACKEND=jax python benchmarks/bench_weight_decay.py [--rounds 10]
"""

import argparse

import _timing  # sets TF's log level and the device before the backend loads
import keras
import keras_tuner as kt
import numpy as np

import kreg
from _timing import min_and_median
from bench_dropout import ratio
from bench_dropout import step_timer
from kreg import tuning

NUM_EXAMPLES = 500
L2 = 3.0
WEIGHT_DECAY = 0.1


def built(choice):
    """The default MLP with the trial values `regularizer=choice`, compiled by the hypermodel."""
    space = tuning.RegularizerSpace(("none", "l2", "weight_decay"), num_examples=NUM_EXAMPLES)
    hypermodel = tuning.RegularizedMLP(10, (64,), regularizer=space, dropout=None, max_norm=None, schedule=None)
    hp = kt.HyperParameters()
    hp.Fixed("regularizer", choice)
    hp.Fixed("l2", L2)
    hp.Fixed("weight_decay", WEIGHT_DECAY)
    keras.utils.set_random_seed(0)
    return hypermodel.build(hp)


def keras_l2():
    model = built("none")
    copy = kreg.attach(model, kernel_regularizer=keras.regularizers.L2(L2 / (2 * NUM_EXAMPLES)))
    copy.compile(**keras.saving.deserialize_keras_object(model.get_compile_config()))
    return copy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 64)).astype("float32")
    y = rng.integers(0, 10, size=32)
    models = {"none": built("none"), "kreg l2": built("l2"), "weight decay": built("weight_decay"),
              "keras l2": keras_l2()}
    t = min_and_median({name: step_timer(model, x, y) for name, model in models.items()}, args.rounds * 20)
    print(f"training step, MLP 64 -> 512 -> 512 -> 10, Adam, batch 32, {keras.backend.backend()}, ms (min / median):")
    print("  " + ", ".join(f"{name} {1000 * low:.3f} / {1000 * mid:.3f}" for name, (low, mid) in t.items()))
    for numerator, denominator in (("weight decay", "kreg l2"), ("kreg l2", "keras l2"), ("weight decay", "keras l2"),
                                   ("kreg l2", "none"), ("weight decay", "none"), ("keras l2", "none")):
        print(f"  {numerator} / {denominator}: {ratio(t, numerator, denominator)}")


if __name__ == "__main__":
    main()
