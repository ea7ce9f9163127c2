"""Training-step time with kreg's regularizers and constraints vs Keras's built-ins.

Same architecture, same data, same penalties and constraints (Keras's MaxNorm
given the fan-in axes explicitly so both do the same work); the ratio is
kreg / Keras, kreg's and Keras's runs interleaved, reported as min and median,
judged by the min (timings on a shared machine are bimodal). Target <= 1.05.
Two measures:

* `fit`: one epoch of `fit` (2,048 examples, batches of 64), per step; `rounds`
  epochs each. What training costs.
* `train_on_batch`: a loop of `STEPS` compiled steps on one batch of 64, per
  step; `rounds * 4` loops each. On JAX each call also copies every model
  variable into the step's state and back (Keras's `jax_state_sync`), which
  `fit` does once per epoch: a kreg penalty's strengths are such variables (so
  a schedule reaches the compiled step).
* `compiled step` (JAX only): the same loop of the jitted train step called
  directly, its state threaded and donated as Keras's trainer does: the
  compiled program without Keras's Python around it.

The `control` column is a second Keras model, the same as the first, timed in
the same rounds: how far a ratio moves when nothing differs, the noise of the
run. A kreg ratio within it is no measured difference.

A loop, not single calls, because a training loop calls one model again and
again: the first call after the other model ran is slower (on JAX, the MLP's
~0.6 ms step by about 0.2 ms at the minimum), and timing single calls of the
two models alternated (the script until session 19) gave ratios that moved by
up to 0.15 between runs of the same code.

    python benchmarks/bench_regularizers.py [--rounds 15] [--device cpu|gpu]
    KERAS_BACKEND=jax python benchmarks/bench_regularizers.py [--rounds 15] [--device cpu|gpu]
    KERAS_BACKEND=torch python benchmarks/bench_regularizers.py [--rounds 15] [--device cpu|gpu]
"""

import argparse

import _timing  # sets TF's log level and the device before the backend loads
import keras
import numpy as np

import kreg
from _timing import fit_timer
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


def cnn_dropout(reg, con, drop):
    """The CNN with a dropout after each convolution: the issue-23 case (penalty, max-norm and dropout together)."""
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(32, 3, activation="relu", kernel_regularizer=reg(), kernel_constraint=con([0, 1, 2])),
            drop(),
            keras.layers.Conv2D(32, 3, activation="relu", kernel_regularizer=reg(), kernel_constraint=con([0, 1, 2])),
            drop(),
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
    "cnn l2+maxnorm+dropout": (
        cnn_dropout, (16, 16, 3),
        (lambda: keras.regularizers.L2(1e-4), lambda a: keras.constraints.MaxNorm(3.0, axis=a),
         lambda: keras.layers.Dropout(0.3, seed=1)),
        (lambda: kreg.regularizers.L2(1e-4), lambda a: kreg.constraints.MaxNorm(3.0),
         lambda: kreg.layers.Dropout(0.3, seed=1)),
    ),
}


STEPS = 10


def compiled_step(model, x, y):
    """On JAX: `STEPS` calls of the jitted train step alone, its state threaded and donated as Keras's trainer does."""
    import jax

    step = jax.jit(model.train_step, donate_argnums=0)
    groups = (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
              model.metrics_variables)
    state = tuple([jax.numpy.array(v.value) for v in group] for group in groups)  # copies: the model keeps its own
    data = (jax.numpy.asarray(x), jax.numpy.asarray(y))

    def run():
        nonlocal state
        for _ in range(STEPS):
            _, state = step(state, data)
        jax.block_until_ready(state)

    run()  # traced
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--policy", default="float32", help="Keras's dtype policy, e.g. mixed_bfloat16")
    parser.add_argument("--cases", nargs="*", choices=list(CASES), default=list(CASES))
    _timing.add_device(parser)
    args = parser.parse_args()
    keras.mixed_precision.set_global_policy(args.policy)
    print(f"device: {_timing.device()}, policy {args.policy}")
    rng = np.random.default_rng(0)
    print(f"{keras.backend.backend()}, ms/step min / median; ratios min (median)")
    print(f"{'case':<24}{'measure':<16}{'keras':>16}{'kreg':>16}{'kreg / keras':>22}{'control':>22}")
    for name, (build, shape, theirs, ours) in ((name, CASES[name]) for name in args.cases):
        x = rng.normal(size=(2048, *shape)).astype("float32")
        y = rng.integers(0, 10, size=2048)
        steps, epochs, compiled = {}, {}, {}
        for label, parts in (("keras", theirs), ("kreg", ours), ("control", theirs)):
            keras.utils.set_random_seed(0)
            model = build(*parts)
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            epochs[label] = fit_timer(model, x, y, batch_size=64)  # traced
            steps[label] = lambda model=model: [model.train_on_batch(x[:64], y[:64]) for _ in range(STEPS)]
            if keras.backend.backend() == "jax":
                compiled[label] = compiled_step(model, x[:64], y[:64])
        measures = [("fit", epochs, args.rounds, len(x) // 64), ("train_on_batch", steps, args.rounds * 4, STEPS)]
        if compiled:
            measures.append(("compiled step", compiled, args.rounds * 4, STEPS))
        for measure, timers, rounds, per in measures:
            t = min_and_median(timers, rounds)
            ms = {k: f"{1000 * low / per:.2f} / {1000 * mid / per:.2f}" for k, (low, mid) in t.items()}
            ratio = {k: f"{t[k][0] / t['keras'][0]:.3f} ({t[k][1] / t['keras'][1]:.3f})" for k in ("kreg", "control")}
            print(f"{name:<24}{measure:<16}{ms['keras']:>16}{ms['kreg']:>16}{ratio['kreg']:>22}{ratio['control']:>22}")


if __name__ == "__main__":
    main()
