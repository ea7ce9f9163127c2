"""Experiment files: a TOML file names the data, the model, the search space, the tuner and the budget.

    name = "digits"
    seed = 0

    [data]                 # source: "digits", "mnist", "keras:mnist", "keras:fashion_mnist",
    source = "digits"      #   "keras:cifar10", "keras:cifar100", "npz" (path) or "csv" (path)
    train_size = 500
    label_noise = 0.3

    [model]                # kind: "mlp" or "cnn"; or builder = "model.py:build", your own
    kind = "mlp"           #   (a Keras Tuner build function), with [data] loader = "data.py:load"
    hidden = [512, 512]

    [search]
    tuner = "random"
    max_trials = 8
    epochs = 40

    pruning = "asha"       # false (default), true or "median" (the median rule), "asha" (successive
                           #   halving: min_resource, reduction_factor, min_early_stopping_rate)

    [space.regularizer]    # any of regularizer, dropout, max_norm, augment, schedule, label_smoothing,
                           #   spectral_norm; for a cnn also spatial_dropout, drop_path, drop_block
    choices = ["none", "l2"]

Every key is checked when the file is read, before any data is loaded or any
trial trained: an unknown one is an error that suggests the closest known key;
budgets must be ints >= 1; the tuner and the objective must be ones kreg has.

The name (by default the file's name without `.toml`) names the experiment's
folder `LOGDIR/NAME`, so it is a plain name: letters, digits, `.`, `_` and `-`,
starting with a letter or a digit, at most 100 characters.
"""

import difflib
import functools
import os
import re
import tomllib

from kreg import _seeds
from kreg import data as datasets
from kreg import tuning

SCHEMA = {
    "name": str,
    "description": str,
    "seed": int,
    "data": {"source": str, "loader": str, "path": str, "train_size": int, "label_noise": float, "validation_size": (int, float),
             "test_size": float, "shape": str, "label_column": int},
    "model": {"kind": str, "builder": str, "layers": list, "hidden": list, "filters": list, "dense": int, "learning_rate": float, "residual": bool},
    "search": {"tuner": str, "objective": str, "direction": str, "max_trials": int, "max_epochs": int, "epochs": int,
               "batch_size": int, "pruning": (bool, str), "warmup_epochs": int, "min_trials": int,
               "min_resource": int, "reduction_factor": int, "min_early_stopping_rate": int, "deterministic": bool},
    "space": {name: space.keys for name, space in tuning.spaces.SPACES.items()},
    "confirm": {"seeds": int, "top": int, "by": str},
}
# What each model kind takes in `[model]`; a `builder` (the user's own build function) takes `layers`.
MODELS = {"mlp": {"hidden", "learning_rate"}, "cnn": {"filters", "dense", "learning_rate", "residual"},
          "builder": {"layers"}}


def _check(table, schema, where, path):
    for key, value in table.items():
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else f" Known keys: {', '.join(schema)}."
            raise ValueError(f"{path}: unknown key `{where}{key}`.{hint}")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ValueError(f"{path}: `{where}{key}` must be a table. Received: {value!r}")
            _check(value, expected, f"{where}{key}.", path)
            continue
        types = expected if isinstance(expected, tuple) else (expected,)
        if float in types:
            types = types + (int,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise ValueError(f"{path}: `{where}{key}` must be {names}. Received: {value!r}")


CONFIRM_DEFAULTS = {"seeds": 3, "top": 1}
SEARCH_DEFAULTS = {"tuner": "random", "objective": "val_accuracy", "max_trials": 8, "epochs": 20,
                   "batch_size": 32, "pruning": False, "warmup_epochs": 3, "min_trials": 3, "deterministic": False}
BUDGETS = ("max_trials", "epochs", "max_epochs", "batch_size", "warmup_epochs", "min_trials", "min_resource")
# `search.pruning` = "asha" takes these keys, with `kreg.tuning.SuccessiveHalvingPruning`'s defaults (and min_trials).
HALVING = ("min_resource", "reduction_factor", "min_early_stopping_rate")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def load(path, **overrides):
    """Reads and checks an experiment file; returns its table with every default filled in.

    `overrides` (`max_trials`, `epochs`, `seed`, `deterministic`, `confirm`
    (the number of seeds); None keeps the file's value) are the command line's
    flags: they replace the file's values before the checks.
    """
    _check_overrides(overrides)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"No experiment file {path}") from None
    except IsADirectoryError:
        raise ValueError(f"The experiment file {path} is a folder") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: it is not UTF-8 text ({error.reason} at byte "
                         f"{error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    return complete(table, path, **overrides)


def complete(table, path, **overrides):
    """Checks an experiment's table (read from the file `path`, or given from Python with `path` naming it) and
    fills in every default; `overrides` as for `load`."""
    _check_overrides(overrides)
    _check(table, SCHEMA, "", path)
    if {"top", "by"} <= set(table.get("confirm", {})):
        raise ValueError(f"{path}: `confirm.top` and `confirm.by` each choose the trials to confirm: give one. "
                         f"Received: top={table['confirm']['top']!r}, by={table['confirm']['by']!r}")
    if "name" not in table and not os.path.isfile(path):
        raise ValueError(f"{path}: `name` is needed (it names the folder LOGDIR/NAME)")
    table.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    table.setdefault("seed", 0)
    for section in ("data", "model", "search", "space", "confirm"):
        table.setdefault(section, {})
    search = table["search"]
    for key, value in overrides.items():
        if value is not None:
            if key == "confirm":
                table["confirm"]["seeds"] = value
            else:
                (table if key == "seed" else search)[key] = value
    for key, value in CONFIRM_DEFAULTS.items():
        if not (key == "top" and "by" in table["confirm"]):
            table["confirm"].setdefault(key, value)
    given = set(search)
    for key, value in SEARCH_DEFAULTS.items():
        search.setdefault(key, value)
    search.setdefault("max_epochs", search["epochs"])
    _pruning_keys(search, given, path)
    _check_values(table, path)
    return table


OVERRIDES = {"max_trials": "--max-trials", "epochs": "--epochs", "seed": "--seed", "confirm": "--confirm",
             "deterministic": "--deterministic"}


def _check_overrides(overrides):
    """The command line's values, named as the flags that gave them."""
    for key, value in overrides.items():
        if key not in OVERRIDES:
            raise TypeError(f"load() got an unexpected override {key!r}; known: {sorted(OVERRIDES)}")
        if value is None:
            continue
        if key == "deterministic":
            ok = isinstance(value, bool)
        else:
            low = 0 if key == "seed" else 1
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        if not ok:
            expected = "True or False" if key == "deterministic" else f"an int >= {0 if key == 'seed' else 1}"
            raise ValueError(f"{OVERRIDES[key]} must be {expected}. Received: {value!r}")


def _check_values(table, path):
    if not NAME.fullmatch(table["name"]):
        raise ValueError(f"{path}: `name` must be a plain name (letters, digits, `.`, `_`, `-`, starting with a "
                         f"letter or a digit, at most 100 characters): it names the folder LOGDIR/NAME. "
                         f"Received: name={table['name']!r}")
    if isinstance(table["seed"], bool) or not isinstance(table["seed"], int) or table["seed"] < 0:
        raise ValueError(f"{path}: `seed` must be an int >= 0. Received: seed={table['seed']!r}")
    _check_data(table["data"])
    search = table["search"]
    for key in BUDGETS:
        if key in search and search[key] < 1:
            raise ValueError(f"{path}: `search.{key}` must be an int >= 1. Received: {key}={search[key]!r}")
    if search["pruning"] == "asha":
        _check_halving(search, path)
    for key, value in table["confirm"].items():
        if key != "by" and value < 1:
            raise ValueError(f"{path}: `confirm.{key}` must be an int >= 1. Received: {key}={value!r}")
    schedule = table["space"].get("schedule", {}).get("warmup_epochs")
    if schedule is not None and schedule > search["epochs"]:
        raise ValueError(f"{path}: `space.schedule.warmup_epochs` must be at most `search.epochs` "
                         f"({search['epochs']}): a longer warm-up never reaches the trial's regularization, which the "
                         f"trial's record would show all the same. "
                         f"Received: warmup_epochs={schedule!r}")
    try:
        _seeds.check(table["seed"], trials=search["max_trials"], confirmations=table["confirm"]["seeds"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if search["tuner"] not in tuning.TUNERS:
        raise ValueError(f"{path}: `search.tuner` must be one of {sorted(tuning.TUNERS)}. "
                         f"Received: tuner={search['tuner']!r}")
    if not search["objective"]:
        raise ValueError(f"{path}: `search.objective` must name a metric the model reports (val_accuracy, val_mae, "
                         f"...). Received: objective=''")
    if search.get("direction", "min") not in ("min", "max"):
        raise ValueError(f"{path}: `search.direction` must be \"min\" or \"max\". "
                         f"Received: direction={search['direction']!r}")


def _pruning_keys(search, given, path):
    """Checks `search.pruning` against the tuner and the keys given (`given`: those the file or the command line
    set); fills in successive halving's defaults. `true` stays `true` (the median rule, as folders record it)."""
    pruning = search["pruning"]
    if isinstance(pruning, str) and pruning not in tuning.PRUNING:
        raise ValueError(f"{path}: `search.pruning` must be false, true (the median rule), \"median\" or \"asha\" "
                         f"(successive halving). Received: pruning={pruning!r}")
    if pruning is not False and search["tuner"] == "hyperband":
        raise ValueError(f"{path}: `search.pruning` does not apply to tuner = \"hyperband\": Hyperband stops trials "
                         f"by itself (its brackets are successive halving). Set pruning = false or choose another "
                         f"tuner. Received: pruning={pruning!r}")
    if pruning == "asha":
        if "warmup_epochs" in given:
            raise ValueError(f"{path}: `search.warmup_epochs` is the median rule's; successive halving's first rung "
                             f"is `min_resource` epochs. Received: pruning='asha', "
                             f"warmup_epochs={search['warmup_epochs']!r}")
        del search["warmup_epochs"]
        defaults = tuning.SuccessiveHalvingPruning().get_config()
        for key in HALVING:
            search.setdefault(key, defaults[key])
        return
    for key in HALVING:
        if key in given:
            raise ValueError(f"{path}: `search.{key}` applies to pruning = \"asha\" only. "
                             f"Received: pruning={pruning!r}, {key}={search[key]!r}")


def _check_halving(search, path):
    """Successive halving's keys (`min_resource` is checked with the budgets)."""
    if search["reduction_factor"] < 2:
        raise ValueError(f"{path}: `search.reduction_factor` must be an int >= 2. "
                         f"Received: reduction_factor={search['reduction_factor']!r}")
    if search["min_early_stopping_rate"] < 0:
        raise ValueError(f"{path}: `search.min_early_stopping_rate` must be an int >= 0. "
                         f"Received: min_early_stopping_rate={search['min_early_stopping_rate']!r}")
    rule = tuning.SuccessiveHalvingPruning(*(search[key] for key in HALVING), search["min_trials"])
    if not rule.rungs(search["epochs"] - 1):
        raise ValueError(f"{path}: successive halving's first rung, min_resource * reduction_factor ** "
                         f"min_early_stopping_rate epochs, must come before the last epoch ({search['epochs']}): "
                         f"no trial would stop early. Received: min_resource={search['min_resource']!r}, "
                         f"reduction_factor={search['reduction_factor']!r}, "
                         f"min_early_stopping_rate={search['min_early_stopping_rate']!r}, "
                         f"epochs={search['epochs']!r}")


def _csv(*, flat, **spec):
    if not flat:
        raise ValueError('data.shape "image" does not apply to source "csv": its rows are vectors')
    return datasets.load_csv(**spec)


_DRAWN = {"train_size", "label_noise", "validation_size"}
# data.source: (its loader, called with flat=, seed= and the [data] keys; the [data] keys it takes)
SOURCES = {
    "digits": (datasets.digits, _DRAWN),
    "mnist": (datasets.mnist, _DRAWN),
    **{f"keras:{name}": (functools.partial(datasets.keras_dataset, name), _DRAWN) for name in datasets.KERAS_DATASETS},
    "npz": (datasets.load_npz, {"path", "validation_size"}),
    "csv": (_csv, {"path", "validation_size", "test_size", "label_column"}),
}


def _split_data(spec):
    """`[data]` as its source, its shape (with their defaults) and the loader's own keys."""
    rest = dict(spec)
    return rest.pop("source", "digits"), rest.pop("shape", "flat"), rest


def _check_data(spec):
    """Checks `[data]`'s source, shape and keys (`load` does, before any data is read)."""
    if "loader" in spec:
        if set(spec) != {"loader"}:
            raise ValueError(f"data keys {sorted(set(spec) - {'loader'})} do not apply to a data.loader (your "
                             f"loader makes the splits itself)")
        return
    source, shape, spec = _split_data(spec)
    if shape not in ("flat", "image"):
        raise ValueError(f"data.shape must be \"flat\" or \"image\". Received: {shape!r}")
    if source not in SOURCES:
        close = difflib.get_close_matches(source, list(SOURCES), n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ValueError(f"data.source must be one of {', '.join(SOURCES)}. Received: {source!r}.{hint}")
    allowed = SOURCES[source][1]
    _only(spec, allowed, source)
    if "path" in allowed and "path" not in spec:
        raise ValueError(f"data.path is needed for source {source!r}")


def _only(spec, allowed, source):
    extra = set(spec) - allowed
    if extra:
        raise ValueError(f"data keys {sorted(extra)} do not apply to source {source!r} (it takes {sorted(allowed)})")
