"""An experiment resolved into one immutable plan, every check run: nothing is written until a plan exists.

`make` reads the experiment file (`kreg.run.experiment`), applies the command
line's values, loads the data, builds the search spaces and the hypermodel,
builds the model once with the spaces' default values and runs it on a batch
(so a space that cannot apply to this model or these data is refused here, not
in the first trial), checks `confirm.by` against the hyperparameters, and
locates the experiment's folder. Only a `Plan` reaches the code that locks,
compares, clears or writes the folder (`kreg.run.folder`) and trains
(`kreg.run.search`).
"""

import dataclasses
import hashlib
import json
import os

import keras_tuner as kt
import numpy as np

from kreg import _seeds
from kreg import data as datasets
from kreg import tuning
from kreg.run import experiment as experiment_file
from kreg.run import folder


@dataclasses.dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "min" or "max"


@dataclasses.dataclass(frozen=True)
class Data:
    """The experiment's splits, `((x, y), (x_val, y_val), (x_test, y_test))`, and what the folder records of them."""

    splits: tuple
    record: dict  # source, seed, sizes and class counts (`result.json`'s "data")
    fingerprint: str  # SHA-256 of every array's dtype, shape and bytes

    @property
    def num_classes(self):
        return int(max(split[1].max() for split in self.splits) + 1)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a search needs, resolved and checked.

    `settings` is what the experiment's folder records and a resume compares:
    the resolved experiment without its description and its confirmation (more
    or fewer confirmation seeds change no trial), with the data's fingerprint.
    """

    path: str
    name: str
    experiment: dict
    settings: dict
    objective: Objective
    data: Data
    hypermodel: kt.HyperModel
    baseline: kt.HyperModel
    directory: str
    logdir: str
    resume: bool = False
    overwrite: bool = False

    @property
    def seed(self):
        return self.experiment["seed"]

    @property
    def search(self):
        return self.experiment["search"]

    @property
    def confirm(self):
        return self.experiment["confirm"]


def make(path, *, logdir="logs", resume=False, overwrite=False, **overrides):
    """The plan of the experiment file at `path`; a `ValueError` naming the first check that fails.

    `overrides` are the command line's values (`max_trials`, `epochs`, `seed`,
    `deterministic`, `confirm`; None keeps the file's).
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: give one")
    experiment = experiment_file.load(path, **overrides)
    directory = folder.locate(logdir, experiment["name"])
    data = load_data(experiment, path)
    (x, _), _, _ = data.splits
    shape, classes, examples = x.shape[1:], data.num_classes, len(x)
    spaces = build_spaces(experiment, examples)
    for space in spaces.values():
        space.check_input(shape)
    hypermodel = build_hypermodel(experiment, spaces, shape, classes, examples)
    baseline = build_hypermodel(experiment, {}, shape, classes, examples)
    names = _try_build(hypermodel, data, path)
    by = experiment["confirm"].get("by")
    if by is not None and by not in names:
        raise ValueError(f"{path}: `confirm.by` must name a hyperparameter of the trials, one of "
                         f"{sorted(set(names))}. Received: by={by!r}")
    name = experiment["search"]["objective"]
    objective = Objective(name, "min" if name.endswith("loss") else "max")
    settings = json.loads(json.dumps({k: v for k, v in experiment.items() if k not in ("description", "confirm")}))
    settings["data"]["fingerprint"] = data.fingerprint
    return Plan(path=os.fspath(path), name=experiment["name"], experiment=experiment, settings=settings,
                objective=objective, data=data, hypermodel=hypermodel, baseline=baseline, directory=directory, logdir=os.path.abspath(logdir), resume=resume,
                overwrite=overwrite)


def load_data(experiment, path):
    """The experiment's `[data]`, split with its seed, fingerprinted; a `ValueError` naming the file otherwise."""
    source, shape, spec = experiment_file._split_data(experiment["data"])
    loader = experiment_file.SOURCES[source][0]
    try:
        splits = loader(flat=shape == "flat", seed=_seeds.data(experiment["seed"]), **spec)
    except OSError as error:
        raise ValueError(f"{path}: cannot read data.path {error.filename or spec.get('path')!r}: "
                         f"{error.strerror or error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: [data] {error}") from None
    record = {"source": source, "seed": experiment["seed"], "stratified": True, **datasets.describe(splits)}
    return Data(splits=splits, record=record, fingerprint=fingerprint(splits))


def fingerprint(splits):
    """SHA-256 of the splits' arrays (dtype, shape and bytes, in order): other data, another fingerprint."""
    digest = hashlib.sha256()
    for split in splits:
        for array in split:
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def build_spaces(experiment, num_examples):
    """The search spaces of `[space]`, from the registry `kreg.tuning.spaces.SPACES`."""
    built = {}
    for name, options in experiment["space"].items():
        options = dict(options)
        if name == "regularizer" and options.pop("num_examples", False):
            options["num_examples"] = num_examples
        if name == "augment":
            options["seed"] = experiment["seed"]
        built[name] = tuning.spaces.get(name)(**options)
    return built


def build_hypermodel(experiment, spaces, input_shape, num_classes, num_examples):
    """The experiment's hypermodel over `spaces` (none: the same network with no regularization at all)."""
    model = dict(experiment["model"])
    kind = model.pop("kind", "mlp")
    if kind not in experiment_file.MODELS:
        raise ValueError(f"model.kind must be one of {sorted(experiment_file.MODELS)}. Received: {kind!r}")
    extra = set(model) - experiment_file.MODELS[kind]
    if extra:
        raise ValueError(f"model keys {sorted(extra)} do not apply to kind {kind!r} (it takes "
                         f"{sorted(experiment_file.MODELS[kind])})")
    # A space the experiment does not name is off (None), not the hypermodel's default space.
    applicable = [name for name in tuning.spaces.SPACES if kind == "cnn" or name not in tuning.spaces.CNN_ONLY]
    cnn_only = set(spaces) - set(applicable)
    if cnn_only:
        raise ValueError(f"space tables {sorted(cnn_only)} apply to model.kind \"cnn\" only. Received: kind={kind!r}")
    components = {name: spaces.get(name) for name in applicable}
    cls = tuning.RegularizedMLP if kind == "mlp" else tuning.RegularizedCNN
    return cls(num_classes, input_shape, **components, **model)


def _try_build(hypermodel, data, path):
    """Builds the model with the spaces' default values and runs it on two examples; returns the declared names."""
    hp = kt.HyperParameters()
    (x, _), _, _ = data.splits
    try:
        model = hypermodel.build(hp)
        model(x[:2], training=True)
    except Exception as error:  # Keras's own error, whatever its type: named here, before any folder is touched
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: the model cannot be built with its search spaces on these data (input shape "
                         f"{x.shape[1:]}): {type(error).__name__}: {message}") from None
    return [p.name for p in hp.space]
