"""`kreg train`: one unregularized and one regularized MLP on label-noisy digits, side by side in TensorBoard."""

import datetime
import os
import shlex

import keras

import kreg
from kreg import _validation as v
from kreg import callbacks as kreg_callbacks
from kreg.run.shell import command


def run(*, epochs=60, train_size=500, label_noise=0.3, l2=10.0, max_norm=4.0, seed=0, logdir="logs"):
    """Trains the MLP without and with `L2(l2, num_examples=n)` + `MaxNorm(max_norm)`; prints both; returns 0."""
    epochs = v.positive_int("kreg train", "--epochs", epochs)
    l2 = v.positive_float("kreg train", "--l2", l2)
    max_norm = v.positive_float("kreg train", "--max-norm", max_norm)
    (x, y), (x_val, y_val), (x_test, y_test) = kreg.data.digits(
        train_size=train_size, label_noise=label_noise, seed=seed
    )
    run_dir = os.path.join(logdir, datetime.datetime.now().strftime("train-%Y%m%d-%H%M%S"))
    print(
        f"digits: {len(x)} training examples ({label_noise:.0%} of labels flipped), "
        f"{len(x_val)} validation, {len(x_test)} test"
    )
    results = {}
    for name, regularizer, constraint in (
        ("baseline", None, None),
        (
            "regularized",
            kreg.regularizers.L2(l2, num_examples=len(x)),
            kreg.constraints.MaxNorm(max_norm),
        ),
    ):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((x.shape[1],)),
                keras.layers.Dense(512, activation="relu"),
                keras.layers.Dense(512, activation="relu"),
                keras.layers.Dense(kreg.data.NUM_CLASSES, activation="softmax"),
            ],
            name=name,
        )
        if regularizer is not None:
            model = kreg.attach(model, kernel_regularizer=regularizer, kernel_constraint=constraint)
        loss = "sparse_categorical_crossentropy"
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=loss,
            metrics=["accuracy"],
            weighted_metrics=[kreg.metrics.DataLoss(loss)],
        )
        board = kreg_callbacks.TensorBoard(os.path.join(run_dir, name))
        # The flipped labels are errors no model should fit: they are the baseline training error.
        diagnosis = kreg.callbacks.FitDiagnosis(baseline_error=label_noise, tensorboard=board)
        model.fit(
            x,
            y,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=[kreg.callbacks.RegularizationMonitor(tensorboard=board), diagnosis, board],
        )
        results[name] = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
        print(f"{name:>12}: test accuracy {results[name]:.3f}; {diagnosis.verdict}: {diagnosis.recommendation}")
    gain = results["regularized"] - results["baseline"]
    print(
        f"L2(l2={l2}, num_examples={len(x)}) + MaxNorm({max_norm}) changes test "
        f"accuracy by {gain:+.3f}.\nSee the runs: {command('tensorboard', 'tensorboard.main')} --logdir "
        f"{shlex.quote(run_dir)}"
    )
    return 0
