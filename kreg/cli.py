"""The `kreg` command line."""

import argparse
import datetime
import os
import shlex
import shutil
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
            metrics=["accuracy"],
            weighted_metrics=[kreg.metrics.DataLoss(loss)],
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
        f"accuracy by {gain:+.3f}.\nSee the runs: {command('tensorboard', 'tensorboard.main')} --logdir "
        f"{shlex.quote(run_dir)}"
    )
    return 0


def _search(args):
    from kreg import experiments, search

    path = experiments.find(args.experiment)
    overrides = {"max_trials": args.max_trials, "epochs": args.epochs, "seed": args.seed,
                 "deterministic": args.deterministic or None, "confirm": args.confirm}
    if args.workers:
        argv = [path, "--logdir", args.logdir]
        for flag, value in (("--max-trials", args.max_trials), ("--epochs", args.epochs), ("--seed", args.seed),
                            ("--confirm", args.confirm)):
            if value is not None:
                argv += [flag, str(value)]
        argv += ["--deterministic"] if args.deterministic else []
        return search.launch(argv, args.workers, logdir=args.logdir, experiment_path=path, resume=args.resume,
                             overwrite=args.overwrite, **overrides)
    return search.run(path, logdir=args.logdir, resume=args.resume, overwrite=args.overwrite, **overrides)


def _report(args):
    from kreg import report

    for path in report.make(args.logdir):
        print(f"wrote {path}")
    return 0


def _list(args):
    from kreg import experiments

    for name, path in experiments.list_experiments(args.folder).items():
        experiment = experiments.load(path)
        print(f"{name:<20} {experiment.get('description', '')}  ({path})")
    return 0


def command(program, module):
    """How to run `program`, as it works when printed: its name where `PATH` finds it, else its full path.

    After the Quickstart, `kreg` and `tensorboard` are in the virtual
    environment's `bin/`, next to `sys.executable`, which need not be on `PATH`;
    failing that, `python -m module`.
    """
    if shutil.which(program):
        return program
    beside = os.path.join(os.path.dirname(sys.executable), program)
    if os.access(beside, os.X_OK):
        return shlex.quote(beside)
    return f"{shlex.quote(sys.executable)} -m {module}"


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, received {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="kreg", description="Regularization experiments for Keras.")
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser("search", help="run an experiment's search (resumes an existing one)")
    search.add_argument("experiment", help="a shipped experiment's name (see `kreg list`), or a .toml file's path")
    search.add_argument("--max-trials", type=_positive)
    search.add_argument("--epochs", type=_positive)
    search.add_argument("--logdir", default="logs")
    search.add_argument("--seed", type=int)
    search.add_argument("--workers", type=_positive, help="run Keras Tuner's chief and N workers on this host")
    search.add_argument("--confirm", type=_positive, metavar="K",
                        help="retrain the best configuration and the unregularized network on K fresh seeds")
    search.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism and seeded trials: the same seed gives the same metrics")
    again = search.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="resume; an error if there is nothing to resume")
    again.add_argument("--overwrite", action="store_true", help="delete this experiment's folder and start again")
    search.set_defaults(run=_search)
    report = commands.add_parser("report", help="a table and plots of a search: kreg report LOGDIR/EXPERIMENT")
    report.add_argument("logdir")
    report.set_defaults(run=_report)
    listing = commands.add_parser("list", help="the shipped experiments, and those in ./experiments/")
    listing.add_argument("--folder", default="experiments", help="a folder of .toml files that override the shipped")
    listing.set_defaults(run=_list)
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
    """Exit codes: 0 success, 1 a distributed search left trials to run, 2 bad input or damaged state, 3 every
    trial failed, 130 interrupted (Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"kreg: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kreg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
