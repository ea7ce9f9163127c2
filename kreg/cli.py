"""The `kreg` command line."""

import argparse
import datetime
import os
import sys


def _train(args):
    import keras

    import kreg

    (x, y), (x_val, y_val), (x_test, y_test) = kreg.data.digits(
        train_size=args.train_size, label_noise=args.label_noise, seed=args.seed
    )
    run_dir = os.path.join(args.logdir, datetime.datetime.now().strftime("train-%Y%m%d-%H%M%S"))
    print(
        f"digits: {len(x)} training examples ({args.label_noise:.0%} of labels flipped), "
        f"{len(x_val)} validation, {len(x_test)} test"
    )
    results = {}
    for name, regularizer, constraint in (
        ("baseline", None, None),
        (
            "regularized",
            kreg.regularizers.L2(args.l2, num_examples=len(x)),
            kreg.constraints.MaxNorm(args.max_norm),
        ),
    ):
        keras.utils.set_random_seed(args.seed)
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
            metrics=["accuracy", kreg.metrics.DataLoss(loss)],
        )
        board = keras.callbacks.TensorBoard(os.path.join(run_dir, name))
        # The flipped labels are errors no model should fit: they are the baseline training error.
        diagnosis = kreg.callbacks.FitDiagnosis(baseline_error=args.label_noise, tensorboard=board)
        model.fit(
            x,
            y,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=32,
            verbose=0,
            callbacks=[kreg.callbacks.RegularizationMonitor(tensorboard=board), diagnosis, board],
        )
        results[name] = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
        print(f"{name:>12}: test accuracy {results[name]:.3f}; {diagnosis.verdict}: {diagnosis.recommendation}")
    gain = results["regularized"] - results["baseline"]
    print(
        f"L2(l2={args.l2}, num_examples={len(x)}) + MaxNorm({args.max_norm}) changes test "
        f"accuracy by {gain:+.3f}.\nSee the runs: tensorboard --logdir {run_dir}"
    )
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="kreg", description="Regularization experiments for Keras.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train an unregularized and a regularized MLP on label-noisy digits",
    )
    train.add_argument("--epochs", type=int, default=60)
    train.add_argument("--train-size", type=int, default=500)
    train.add_argument("--label-noise", type=float, default=0.3)
    train.add_argument("--l2", type=float, default=10.0, help="λ of L2 in the λ/(2n) convention")
    train.add_argument("--max-norm", type=float, default=4.0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--logdir", default="logs")
    train.set_defaults(run=_train)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"kreg: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
