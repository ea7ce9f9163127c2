"""The `kreg` command: a parser in front of `kreg.run`, which does the work (see `kreg/run/README.md`).

It is a module of its own, outside the `kreg` package: `import kreg` imports Keras (kreg's classes must be
registered for `keras.saving.load_model`), which takes seconds and, on the TensorFlow backend, prints
TensorFlow's start-up log. `kreg --help`, `kreg --version` and `kreg list` import neither. The other commands
import Keras with TensorFlow's start-up lines filtered out of standard error (`kreg_startup.quietly_import_keras`),
unless `TF_CPP_MIN_LOG_LEVEL` is set: then the user's own setting decides.
"""

import argparse
import importlib.metadata
import sys
import tomllib

from kreg_startup import find
from kreg_startup import list_experiments
from kreg_startup import quietly_import_keras

_SEARCH_FLAGS = ("max_trials", "epochs", "seed", "deterministic", "confirm")


def _search(args):
    if args.dead_after is not None and not (args.chief or args.worker):
        raise ValueError(f"--dead-after applies to --chief and --worker only. Received: --dead-after {args.dead_after}")
    quietly_import_keras()
    from kreg.run import plan, search, workers

    overrides = {key: getattr(args, key) for key in _SEARCH_FLAGS}
    overrides["deterministic"] = overrides["deterministic"] or None  # absent: the file's value
    made = plan.make(find(args.experiment), logdir=args.logdir, resume=args.resume,
                     overwrite=args.overwrite, **overrides)
    if args.workers is not None:
        return workers.launch(made, args.workers, overrides)
    if args.chief or args.worker:
        return workers.across_hosts(made, chief=args.chief, worker=args.worker, dead_after=args.dead_after or 60.0)
    return search.run(made)


def _report(args):
    quietly_import_keras()
    from kreg.run import report

    for path in report.make(args.logdir):
        print(f"wrote {path}")
    return 0


def _export(args):
    quietly_import_keras()
    from kreg.run import export

    for path in export.make(args.logdir):
        print(f"wrote {path}")
    return 0


def _list(args):
    for name, path in list_experiments(args.folder).items():
        try:
            with open(path, "rb") as f:
                description = tomllib.load(f).get("description", "")
        except (OSError, ValueError) as error:  # `kreg search NAME` says all that is wrong with it
            description = f"(cannot be read: {error})"
        print(f"{name:<20} {description}  ({path})")
    return 0


def _train(args):
    quietly_import_keras()
    from kreg.run import train

    return train.run(epochs=args.epochs, train_size=args.train_size, label_noise=args.label_noise, l2=args.l2,
                     max_norm=args.max_norm, seed=args.seed, logdir=args.logdir)


def _int(text):
    """An int, or argparse's error naming the flag (not this function)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, received {text!r}") from None


def _workers(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, received {text}")
    return value


def _address(text):
    """`HOST:PORT`, as `(host, port)`."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port in [1, 65535], received {text!r}")
    return host, int(port)


def _dead_after(text):
    """Seconds, from 1 (a process beats ten times in that span) to a day."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expected a number of seconds in [1, 86400], received {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="kreg", description="Regularization experiments for Keras.")
    parser.add_argument("--version", action="version", version=f"kreg {importlib.metadata.version('kreg')}")
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser("search", help="run an experiment's search (resumes an existing one)")
    search.add_argument("experiment", help="a shipped experiment's name (see `kreg list`), or a .toml file's path")
    search.add_argument("--max-trials", type=_int)
    search.add_argument("--epochs", type=_int)
    search.add_argument("--logdir", default="logs")
    search.add_argument("--seed", type=_int)
    hosts = search.add_mutually_exclusive_group()
    hosts.add_argument("--workers", type=_workers, help="run Keras Tuner's chief and N workers on this host")
    hosts.add_argument("--chief", type=_address, metavar="HOST:PORT",
                       help="run the chief of a search across hosts that share --logdir, serving on HOST:PORT")
    hosts.add_argument("--worker", type=_address, metavar="HOST:PORT",
                       help="run a worker of a search across hosts, for the chief at HOST:PORT")
    search.add_argument("--dead-after", type=_dead_after, metavar="SECONDS",
                        help="with --chief/--worker: a process whose heartbeat stops this long is taken as dead "
                             "(default 60)")
    search.add_argument("--confirm", type=_int, metavar="K",
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
    export = commands.add_parser("export", help="every trial and confirmation run as CSV and JSON: kreg export "
                                                "LOGDIR/EXPERIMENT")
    export.add_argument("logdir")
    export.set_defaults(run=_export)
    listing = commands.add_parser("list", help="the shipped experiments, and those in ./experiments/")
    listing.add_argument("--folder", default="experiments", help="a folder of .toml files that override the shipped")
    listing.set_defaults(run=_list)
    train = commands.add_parser("train", help="train an unregularized and a regularized MLP on label-noisy digits")
    train.add_argument("--epochs", type=_int, default=60)
    train.add_argument("--train-size", type=_int, default=500)
    train.add_argument("--label-noise", type=float, default=0.3)
    train.add_argument("--l2", type=float, default=10.0, help="λ of L2 in the λ/(2n) convention")
    train.add_argument("--max-norm", type=float, default=4.0)
    train.add_argument("--seed", type=_int, default=0)
    train.add_argument("--logdir", default="logs")
    train.set_defaults(run=_train)
    return parser


def main(argv=None):
    """Exit codes: 0 success, 1 a distributed search left trials to run, 2 bad input or damaged state, 3 the trials
    failed (every one, or three in a row), 130 interrupted (Ctrl-C)."""
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
