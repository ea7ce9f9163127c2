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

import copy
import dataclasses
import difflib
import json
import os

import keras
import keras_tuner as kt
import numpy as np

from kreg import _seeds
from kreg import data as datasets
from kreg import tuning
from kreg.run import experiment as experiment_file
from kreg.run import folder
from kreg.run import own
from kreg.tuning import _compat


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
        """The classes of integer labels held in memory (kreg's own models)."""
        return int(max(np.max(split[1]) for split in self.splits) + 1)


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


def make(source, *, logdir="logs", resume=False, overwrite=False, build=None, load=None, **overrides):
    """The plan of an experiment; a `ValueError` naming the first check that fails.

    Args:
        source: the experiment file's path, or its tables as a dict (from Python).
        build: the model's build function `hp -> compiled keras.Model`, in place
            of `[model] builder` (from Python, with a dict).
        load: the data's loader `(seed) -> (train, validation, test)`, in place
            of `[data] loader` (from Python, with a dict).
        overrides: the command line's values (`max_trials`, `epochs`, `seed`,
            `deterministic`, `confirm`; None keeps the file's).
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: give one")
    if isinstance(source, dict):
        path, table = "the experiment", copy.deepcopy(source)
        for section, key, given in (("model", "builder", build), ("data", "loader", load)):
            if given is None:
                continue
            if not callable(given):
                raise ValueError(f"{path}: {'build' if key == 'builder' else 'load'}= must be a function. "
                                 f"Received: {given!r}")
            if key in table.get(section, {}):
                raise ValueError(f"{path}: `{section}.{key}` and the function given from Python both name the "
                                 f"{section}: give one")
            table.setdefault(section, {})[key] = own.name_of(given)
        experiment = experiment_file.complete(table, path, **overrides)
    else:
        if build is not None or load is not None:
            raise ValueError("build= and load= come with an experiment given as a dict; an experiment file names "
                             "them as [model] builder and [data] loader")
        path = os.fspath(source)
        experiment = experiment_file.load(path, **overrides)
    directory = folder.locate(logdir, experiment["name"])
    builder = build or _builder(experiment, path)
    data = load_data(experiment, path, load)
    if builder is None and not own.in_memory(data.splits):
        raise ValueError(f"{path}: kreg's own models (model.kind) take their input shape and classes from data held "
                         f"in memory; with a dataset, name your model: [model] builder = \"model.py:build\"")
    spaces = build_spaces(experiment, own.size(data.splits[0]) if own.in_memory(data.splits) else None)
    if builder is None:
        (x, _), _, _ = data.splits
        for space in spaces.values():
            space.check_input(x.shape[1:])
        hypermodel = build_hypermodel(experiment, spaces, x.shape[1:], data.num_classes, len(x))
        baseline = build_hypermodel(experiment, {}, x.shape[1:], data.num_classes, len(x))
    else:
        hypermodel, baseline = own_hypermodels(experiment, spaces, builder, path)
    names, reported = _try_build(hypermodel, data, path, builder, experiment["model"].get("builder"))
    by = experiment["confirm"].get("by")
    if by is not None and by not in names:
        raise ValueError(f"{path}: `confirm.by` must name a hyperparameter of the trials, one of "
                         f"{sorted(set(names))}. Received: by={by!r}")
    objective = _objective(experiment["search"], reported, path)
    settings = json.loads(json.dumps({k: v for k, v in experiment.items() if k not in ("description", "confirm")}))
    settings["data"]["fingerprint"] = data.fingerprint
    return Plan(path=path, name=experiment["name"], experiment=experiment, settings=settings,
                objective=objective, data=data, hypermodel=hypermodel, baseline=baseline, directory=directory,
                logdir=os.path.abspath(logdir), resume=resume, overwrite=overwrite)


def _objective(search, reported, path):
    """The objective, checked against the metrics the model reports, with its direction (given or inferred)."""
    name = search["objective"]
    metric = name[4:] if name.startswith("val_") else name
    if metric not in reported:
        known = sorted(f"val_{m}" for m in reported) + sorted(reported)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ValueError(f"{path}: `search.objective` must be a metric the model reports, one of {', '.join(known)}. "
                         f"Received: objective={name!r}.{hint}")
    direction = search.get("direction") or _compat.infer_direction(name)
    if direction is None:
        raise ValueError(f"{path}: kreg cannot tell whether a higher or a lower {name!r} is better: add direction = "
                         f"\"max\" or \"min\" to [search]")
    return Objective(name, direction)


def load_data(experiment, path, load=None):
    """The experiment's `[data]`, split with its seed, fingerprinted; a `ValueError` naming the file otherwise.

    A loader (`load`, or `[data] loader`) makes the splits itself (`kreg.run.own`).
    """
    spec = experiment["data"]
    if load is not None or "loader" in spec:
        loader = load or own.resolve(spec["loader"], "data.loader", path)
        described = f"{path}: data.loader {spec['loader']!r}"
        splits = own.load(loader, _seeds.data(experiment["seed"]), described)
        for split, part in zip(splits, own.PARTS):
            own.check_batch(split, part, described)
        record = {"source": "loader", "loader": spec["loader"], "seed": experiment["seed"],
                  **{part: own.size(split) for part, split in zip(own.PARTS, splits)}}
        return Data(splits=splits, record=record, fingerprint=own.fingerprint(splits))
    source, shape, spec = experiment_file._split_data(spec)
    loader = experiment_file.SOURCES[source][0]
    try:
        splits = loader(flat=shape == "flat", seed=_seeds.data(experiment["seed"]), **spec)
    except OSError as error:
        raise ValueError(f"{path}: cannot read data.path {error.filename or spec.get('path')!r}: "
                         f"{error.strerror or error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: [data] {error}") from None
    record = {"source": source, "seed": experiment["seed"], "stratified": True, **datasets.describe(splits)}
    return Data(splits=splits, record=record, fingerprint=own.fingerprint(splits))


def _builder(experiment, path):
    """The function `[model] builder` names, or None for kreg's own models."""
    model = experiment["model"]
    if "builder" not in model:
        if "layers" in model:
            raise ValueError(f"{path}: `model.layers` chooses the layers of your own model (model.builder); "
                             f"kreg's own models regularize every kernel")
        return None
    if "kind" in model:
        raise ValueError(f"{path}: `model.kind` and `model.builder` each name the model: give one")
    return own.resolve(model["builder"], "model.builder", path)


def own_hypermodels(experiment, spaces, builder, path):
    """`(hypermodel, baseline)` of the user's build function: with every space of `[space]`, and with none."""
    model = experiment["model"]
    extra = set(model) - {"builder", "layers"}
    if extra:
        raise ValueError(f"{path}: model keys {sorted(extra)} do not apply to a model.builder (your function builds "
                         f"the model; [model] takes builder and layers)")
    components = {name: spaces.get(name) for name in tuning.spaces.SPACES}
    return (tuning.Regularize(builder, layers=model.get("layers"), **components),
            tuning.Regularize(builder, regularizer=None, max_norm=None))


def build_spaces(experiment, num_examples):
    """The search spaces of `[space]`, from the registry `kreg.tuning.spaces.SPACES`."""
    built = {}
    for name, options in experiment["space"].items():
        options = dict(options)
        if name == "regularizer" and options.pop("num_examples", False):
            if num_examples is None:
                raise ValueError("space.regularizer.num_examples needs the number of training examples, which a "
                                 "dataset does not say: give your loader's training split as (x, y) arrays")
            options["num_examples"] = num_examples
        if name == "augment":
            options["seed"] = _seeds.augment(experiment["seed"])
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


def _try_build(hypermodel, data, path, builder=None, named=None):
    """Builds the model with the spaces' default values and evaluates it on the first training examples.

    Returns the hyperparameters' names and the metrics the model reports. The
    user's build function may not declare a hyperparameter under a kreg
    space's name.
    """
    hp = kt.HyperParameters()
    x, y = own.first_batch(data.splits[0])
    named = f" (model.builder {named!r})" if builder else ""
    try:
        if builder is not None:
            yours = kt.HyperParameters()
            builder(yours)
            clash = {p.name for p in yours.space} & tuning.spaces.NAMES
            if clash:
                raise ValueError(f"the build function declares hyperparameters {sorted(clash)}, which are names of "
                                 f"kreg's spaces: rename them")
        model = hypermodel.build(hp)
        _check_labels(model, data, path)
        model.run_eagerly = True  # one small batch: tracing it would cost more than running it
        model(x, training=True)
        reported = model.evaluate(x, y, verbose=0, return_dict=True)
    except LabelError:
        raise
    except Exception as error:  # Keras's own error, whatever its type: named here, before any folder is touched
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        shapes = keras.tree.map_structure(lambda a: tuple(np.shape(a)[1:]), x)
        raise ValueError(f"{path}: the model{named} cannot be built with its search spaces and run on these data "
                         f"(input shape {shapes}): {type(error).__name__}: {message}") from None
    return [p.name for p in hp.space], set(reported)


class LabelError(ValueError):
    """Labels outside the classes the model's loss takes."""


def _check_labels(model, data, path):
    """Integer labels in [0, classes) where the loss is a sparse categorical cross-entropy (first batches)."""
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", None)
    if name != "sparse_categorical_crossentropy" or len(model.outputs) != 1:
        return
    classes = model.outputs[0].shape[-1]
    for split, part in zip(data.splits, own.PARTS):
        y = np.asarray(own.first_batch(split, size=4096)[1])
        whole = np.issubdtype(y.dtype, np.integer) or np.all(y == np.round(y))
        if y.size and (not whole or y.min() < 0 or y.max() >= classes):
            raise LabelError(f"{path}: the {part} labels must be class indices in [0, {classes}) for the model's "
                             f"sparse categorical cross-entropy over {classes} outputs. Received labels from "
                             f"{y.min()!r} to {y.max()!r}")
