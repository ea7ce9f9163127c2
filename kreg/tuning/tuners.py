"""Keras Tuner's tuners with honest TensorBoard HParams logs, a failure policy and pruning.

Measured with keras-tuner 1.4.8 and TensorBoard 2.21, Keras Tuner: writes no
experiment config (every domain shows as -inf..+inf, log scales are lost, and
TensorBoard shows the first five hyperparameters by name, searched or not);
recognises a TensorBoard callback by its class name; ends every session as
SUCCESS; lets a NaN trial complete (and a -inf score win); returns failed
trials from `get_best_trials(n)`; draws a random seed for `seed=0`; has no
per-epoch pruning. kreg's tuners are Keras Tuner's (`RandomSearch`,
`BayesianOptimization`, `Hyperband`, `GridSearch`) with these mended:

* `seed` is the seed, 0 included; the same seed gives the same trials, and
  seeds each trial's model and data order (`kreg._seeds.trial`: `seed + 1000 * trial + execution`);
  `deterministic=True` adds TensorFlow's op determinism, so the same seed gives
  the same metrics bit for bit;
* the experiment's HParams config is rewritten whenever the search space or the
  set of logged metrics grows (so a hyperparameter first declared in a later
  trial gets its column, with its real domain). Its columns are the searched
  hyperparameters that every trial has (flagged `differs`, so TensorBoard shows
  them first), and the metrics every finished trial writes, the objective first;
  fixed values and conditional hyperparameters (absent where inactive) are
  listed in the descriptions, and in each session's values where active. A
  search over `RegularizerSpace`'s choices gets a derived `strength` column that
  every trial has (`RegularizerSpace.strength_of`: 0 for none), and a column for
  each searched strength (`l1`, `l2`, ...), 0 in a trial whose regularizer has
  no such term. TensorBoard orders columns `differs` first, then by name, opens
  on five, and its parallel coordinates draw only the trials with a value in
  every column shown: so the per-strength columns are not flagged `differs`
  (`strength` comes first), and other conditional hyperparameters (`max_norm`,
  ...), blank where inactive, are columns only where five flagged ones open
  the page;
* each trial is a session in `LOGDIR/TRIAL_ID`, started once its model is
  built, with its active hyperparameter values; a completed trial adds
  `trial/best_OBJECTIVE` and `trial/best_epoch` (Keras Tuner's own score and best
  step + 1, as Keras numbers epochs: the mean over executions, the first of tied epochs), `trial/final_*`,
  `trial/generalization_gap`, `trial/data_loss`, `trial/sparsity` (those its
  model reports) and, with pruning, `trial/pruned`; the session ends with the
  status the trial really ended with (FAILURE for a failed trial); the epochs'
  scalars, and `RegularizationMonitor`'s, are in `LOGDIR/TRIAL_ID/executionN`;
* any `keras.callbacks.TensorBoard`, subclasses included, gets per-trial
  directories;
* a trial whose loss or objective becomes NaN or infinite in any execution
  fails at once; the search goes on; the best trials (`get_best_trials`,
  `get_best_models`) are completed ones with a finite score;
* a failed trial among completed ones is a result: the search goes on; after
  `max_consecutive_failed_trials` (an int >= 1, default 3, as in Keras Tuner)
  failed trials in a row, the search stops with a `RuntimeError` that holds
  the first one's error and traceback (Keras Tuner's holds the last one's, and
  raises before it saves that trial);
* `hypermodel=None` is refused, as Keras Tuner does, unless a subclass defines
  `run_trial` (kreg's own `run_trial` would defeat Keras Tuner's check);
* with `pruning=MedianPruning(...)`, a trial worse than the median of earlier
  trials at the same epoch stops early and is marked `pruned`; with
  `pruning=SuccessiveHalvingPruning(...)`, a trial outside the best
  1/`reduction_factor` of the trials that reached the same rung does. Each
  finished trial's objective by epoch is kept in its `trial.json` (the metric
  `OBJECTIVE_by_epoch`), so a resumed search prunes as the uninterrupted one
  would; Hyperband, which stops trials by itself, takes no `pruning`.
"""

import importlib.util
import math
import os
import statistics
import time

import keras
import keras_tuner as kt
import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary

from kreg import _events
from kreg import _seeds
from kreg import _io
from kreg import _validation as v
from kreg.callbacks import RegularizationMonitor
from kreg.callbacks import TensorBoard
from kreg.callbacks import _layout
from kreg.callbacks._base import write_scalars
from kreg.tuning import _compat
from kreg.tuning.spaces import RegularizerSpace
from kreg.tuning.spaces import hparams_domain

COMPLETED = kt.engine.trial.TrialStatus.COMPLETED
EXPERIMENT_FILE = "events.out.tfevents.0.kreg-experiment"  # kreg's own file in the log root: replaced, not appended

# The order of the trial metrics in the dashboard (TensorBoard shows the first five); others follow by name.
_METRIC_ORDER = ("best_epoch", "generalization_gap", "data_loss", "pruned", "sparsity")
_DESCRIPTIONS = {
    "trial/best_epoch": "the epoch of the best objective, numbered from 1 as Keras prints it (Keras Tuner's best "
                        "step + 1; the first of tied epochs)",
    "trial/generalization_gap": "final training minus validation accuracy (or validation minus training loss)",
    "trial/data_loss": "final training loss without the penalty",
    "trial/pruned": "1 if {rule} stopped the trial early",
    "trial/sparsity": "fraction of kernel weights exactly 0",
}
_DEFAULT_DESCRIPTION = "the mean over executions of the last epoch's value"
_NO_HYPERMODEL = (  # Keras Tuner 1.4.8's message (`Tuner.__init__`)
    "Received `hypermodel=None`. We only allow not specifying `hypermodel` if the user defines the search space in "
    "`Tuner.run_trial()` by subclassing a `Tuner` class without using a `HyperModel` instance.")
_ACCURACIES = ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


def _better(a, b, direction):
    """Whether objective value `a` is better than `b` ("max": higher is better, "min": lower)."""
    return a > b if direction == "max" else a < b


class MedianPruning:
    """The median stopping rule: stop a trial doing worse than the median of earlier trials.

    At epoch `e >= warmup_epochs` (numbered from 0), a trial's best objective
    so far is compared with the median of the best objectives, up to epoch
    `e`, of the earlier trials that reached epoch `e`; when there are at least
    `min_trials` of them and the trial is worse, it stops and is marked pruned.

    Args:
        warmup_epochs: epochs before any pruning, an int >= 1. Default 3.
        min_trials: earlier trials needed for a median, an int >= 1. Default 3.

    Example:

    >>> rule = MedianPruning(warmup_epochs=1, min_trials=2)
    >>> rule.prunes(1, [0.9, 0.8], [[0.9, 0.5], [0.8, 0.6]], "min")  # 0.8 is worse than the median 0.55
    True

    References:
        Golovin et al. Google Vizier: a service for black-box optimization (2017).
    """

    name = "the median rule"

    def __init__(self, warmup_epochs=3, min_trials=3):
        self.warmup_epochs = v.positive_int("MedianPruning", "warmup_epochs", warmup_epochs)
        self.min_trials = v.positive_int("MedianPruning", "min_trials", min_trials)

    def get_config(self):
        return {"warmup_epochs": self.warmup_epochs, "min_trials": self.min_trials}

    def prunes(self, epoch, history, others, direction):
        """Whether a trial stops at `epoch` (numbered from 0).

        Args:
            epoch: the epoch just ended, numbered from 0 as Keras's callbacks number it.
            history: the trial's objective at each epoch so far.
            others: the objective at each epoch of every earlier finished trial (pruned ones included).
            direction: "min" or "max".
        """
        if epoch < self.warmup_epochs or not history:
            return False
        pick = max if direction == "max" else min
        bests = [pick(h[: epoch + 1]) for h in others if len(h) > epoch]
        if len(bests) < self.min_trials:
            return False
        return _better(statistics.median(bests), pick(history), direction)


class SuccessiveHalvingPruning:
    """Successive halving (ASHA): stop a trial outside the best 1/`reduction_factor` of the trials at a rung.

    The rungs are at `min_resource * reduction_factor ** (k + min_early_stopping_rate)`
    epochs trained, k = 0, 1, 2, ... (with the defaults 3, 9, 27, ...). When
    a trial has trained a rung's epochs, its objective at that epoch joins the
    objectives there of every earlier finished trial that trained that many
    epochs (pruned ones included): with `n` values in all, the trial goes on if
    its value is among the best `max(1, n // reduction_factor)` (a tie with the
    last of them goes on), else it stops and is marked pruned. With fewer than
    `min_trials` earlier trials at the rung, the trial goes on (Optuna's
    `n_min_trials`: a rung of one or two trials is no ranking).

    Successive halving as Optuna's `SuccessiveHalvingPruner` runs it, trial
    after trial, with `min_trials` in place of its `bootstrap_count` (which
    prunes every trial until enough trials have reached a rung).

    Args:
        min_resource: epochs of the first rung (before `min_early_stopping_rate`), an int >= 1. Default 3,
            not ASHA's 1: a penalty or dropout slows a network's first epochs, so a 1-epoch rung ranks the
            regularized trials below the unregularized ones that a longer run reverses (on the shipped
            `mnist_mlp`, a first rung at 1 epoch pruned the search's confirmed winner, an L1 trial; at 3 it
            kept it; `benchmarks/RESULTS.md`). The median rule waits as long (`warmup_epochs=3`).
        reduction_factor: `eta`, the ratio of one rung's epochs to the previous one's and the inverse of the
            fraction of trials that go on, an int >= 2. Default 3.
        min_early_stopping_rate: `s`, which moves the first rung to `min_resource * reduction_factor ** s`,
            an int >= 0. Default 0.
        min_trials: earlier trials at a rung needed to rank it, an int >= 1. Default 3.

    Example:

    >>> rule = SuccessiveHalvingPruning(min_resource=1, reduction_factor=3, min_trials=2)
    >>> rule.rungs(10)
    [1, 3, 9]
    >>> rule.prunes(0, [0.7], [[0.9], [0.8]], "min")  # epoch 1, the first rung: 0.7 is the best of 3
    False
    >>> rule.prunes(2, [0.7, 0.6, 0.6], [[0.9, 0.5, 0.4], [0.8, 0.7, 0.5]], "min")  # at 3 epochs it is not
    True

    References:
        Jamieson and Talwalkar. Non-stochastic best arm identification and hyperparameter optimization (2016).
        Li et al. A system for massively parallel hyperparameter tuning (ASHA, MLSys 2020).
    """

    name = "successive halving (ASHA)"

    def __init__(self, min_resource=3, reduction_factor=3, min_early_stopping_rate=0, min_trials=3):
        owner = "SuccessiveHalvingPruning"
        self.min_resource = v.positive_int(owner, "min_resource", min_resource)
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int) or reduction_factor < 2:
            raise v.invalid(owner, "reduction_factor", "an int >= 2", reduction_factor)
        self.reduction_factor = reduction_factor
        if (isinstance(min_early_stopping_rate, bool) or not isinstance(min_early_stopping_rate, int)
                or min_early_stopping_rate < 0):
            raise v.invalid(owner, "min_early_stopping_rate", "an int >= 0", min_early_stopping_rate)
        self.min_early_stopping_rate = min_early_stopping_rate
        self.min_trials = v.positive_int(owner, "min_trials", min_trials)

    def get_config(self):
        return {"min_resource": self.min_resource, "reduction_factor": self.reduction_factor,
                "min_early_stopping_rate": self.min_early_stopping_rate, "min_trials": self.min_trials}

    def rungs(self, epochs):
        """The rungs (epochs trained, numbered from 1) up to `epochs`."""
        rung, found = self.min_resource, []
        for _ in range(self.min_early_stopping_rate):
            rung *= self.reduction_factor
            if rung > epochs:
                return found
        while rung <= epochs:
            found.append(rung)
            rung *= self.reduction_factor
        return found

    def prunes(self, epoch, history, others, direction):
        """Whether a trial stops at `epoch` (numbered from 0, so `epoch + 1` epochs trained); arguments as
        `MedianPruning.prunes`."""
        trained = epoch + 1
        if len(history) != trained or trained not in self.rungs(trained):
            return False
        value = history[-1]
        rivals = [h[trained - 1] for h in others if len(h) >= trained]
        if len(rivals) < self.min_trials:
            return False
        ranked = sorted(rivals + [value], reverse=direction == "max")
        kept = max(1, len(ranked) // self.reduction_factor)
        return _better(ranked[kept - 1], value, direction)


PRUNING = {
    "median": MedianPruning,
    "asha": SuccessiveHalvingPruning,
}


def _by_epoch(objective):
    """The trial metric that records the objective at each epoch (with pruning)."""
    return f"{objective}_by_epoch"


class _TrialCallback(keras.callbacks.Callback):
    """Per trial and execution: starts the trial's session, fails on NaN/inf, prunes."""

    def __init__(self, tuner, trial, pruning):
        super().__init__()
        self.tuner, self.trial, self.pruning = tuner, trial, pruning
        self.objective = tuner.oracle.objective
        self.epochs = []
        self.pruned = False

    def on_train_begin(self, logs=None):
        self.tuner._start_session(self.trial)  # the model is built: every hyperparameter is declared

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        for key in ("loss", self.objective.name):
            if key in logs and not math.isfinite(logs[key]):
                raise kt.errors.FailedTrialError(
                    f"Trial {self.trial.trial_id} failed: {key} became {logs[key]} at epoch {epoch}")
        self.epochs.append(logs)
        if self.pruning is not None and self.pruning.prunes(epoch, self.history(), self._others(),
                                                            self.objective.direction):
            self.pruned = True
            self.model.stop_training = True

    def history(self):
        """The objective at each epoch of this execution so far."""
        return [e[self.objective.name] for e in self.epochs if self.objective.name in e]

    def _others(self):
        """The objective by epoch of every earlier finished trial (`epoch_history`: those this tuner object ran,
        and, resumed, those its `trial.json` files record)."""
        return [history for trial_id, history in self.tuner.epoch_history.items() if trial_id != self.trial.trial_id]


def _summary(trial, executions, objective, pruning):
    """A completed trial's summary metrics: Keras Tuner's score and best step, then the means over executions."""
    values = {f"trial/best_{objective.name}": trial.score, "trial/best_epoch": trial.best_step + 1}  # as Keras prints
    if pruning is not None:
        values["trial/pruned"] = float(any(e.pruned for e in executions))
    lasts = [e.epochs[-1] for e in executions if e.epochs]
    last = {key: float(np.mean([l[key] for l in lasts])) for key in (lasts[0] if lasts else {})
            if all(key in l for l in lasts)}
    for key, value in last.items():
        if not key.startswith("val_") and "val_" + key in last:
            values[f"trial/final_{key}"] = value
            values[f"trial/final_val_{key}"] = last["val_" + key]
    accuracy = next((k for k in _ACCURACIES if k in last and "val_" + k in last), None)
    if accuracy:
        values["trial/generalization_gap"] = last[accuracy] - last["val_" + accuracy]
    elif "loss" in last and "val_loss" in last:
        values["trial/generalization_gap"] = last["val_loss"] - last["loss"]
    if "data_loss" in last:
        values["trial/data_loss"] = last["data_loss"]
    model = executions[-1].model if executions else None
    kernels = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights if len(w.shape) >= 2] if model else []
    if kernels:
        values["trial/sparsity"] = sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels)
    return {key: float(value) for key, value in values.items()}


def _metric_rank(name, objective):
    short = name.removeprefix("trial/")
    if short == f"best_{objective}":
        return (0, "")
    if short in _METRIC_ORDER:
        return (1, _METRIC_ORDER.index(short))
    return (2, short)


def _bounds(hp):
    if isinstance(hp, kt.engine.hyperparameters.Fixed):
        return [hp.value]
    if isinstance(hp, (kt.engine.hyperparameters.Choice, kt.engine.hyperparameters.Boolean)):
        return list(getattr(hp, "values", [False, True]))
    return [hp.min_value, hp.max_value]


def _declared_metrics(path):
    """The trial metrics an experiment config written by kreg declares; none where there is no such file."""
    if not os.path.exists(path):
        return set()
    for event in _events.read(path):
        for value in event.summary.value:
            if value.tag == hparams_metadata.EXPERIMENT_TAG:
                experiment = hparams_metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
                return {m.name.tag for m in experiment.metric_infos}
    raise ValueError(f"{path} holds no HParams experiment config: the file is damaged")


def _hparams_pb(tag, **plugin_data):
    """A `Summary` of one HParams record: `tensorboard.plugins.hparams.summary`'s, which imports TensorFlow.

    `plugin_data` is one field of `HParamsPluginData`: `experiment`,
    `session_start_info` or `session_end_info`.
    """
    summary = summary_pb2.Summary()
    metadata = hparams_metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(**plugin_data))
    summary.value.add(tag=tag, metadata=metadata, tensor=hparams_metadata.NULL_TENSOR)
    return summary


def _derives_strength(space):
    """Whether the search chooses among kreg's regularizers (and has no hyperparameter of its own named
    `strength`): then every trial gets a `strength` column."""
    names = {hp.name for hp in space.space}
    return RegularizerSpace.choice in names and RegularizerSpace.strength not in names


_STRENGTHS = RegularizerSpace.hyperparameters[1:]  # l1, l2, group_lasso, weight_decay, orthogonal
_SHOWN = 5  # the columns TensorBoard's HParams page shows when it opens


def _strength_column(space, hp=None, searched=""):
    """The `strength` column (with no `hp`), or `hp`'s (a strength of `_STRENGTHS`): every trial has them (0 where
    the trial's regularizer has no such term), so parallel coordinates draw every trial along them."""
    if hp is None:
        highs = [float(_bounds(p)[-1]) for p in space.space if p.name in _STRENGTHS]
        name, high = RegularizerSpace.strength, 2 * max(highs, default=1.0)
        description = ("the strength the trial's regularizer uses: l1, l2, group_lasso, weight_decay or orthogonal "
                       "as its choice has it, l1 + l2 for elastic_net, 0 for none. Choose a quantile scale for "
                       "the axis (0 rules a log one out).")
    else:
        fixed = isinstance(hp, kt.engine.hyperparameters.Fixed)
        name, high = hp.name, float(_bounds(hp)[-1])
        description = f"{hp.name}: {f'fixed at {hp.value!r}' if fixed else f'searched in {_bounds(hp)}'} " \
                      f"({searched}); 0 where the trial's regularizer has no {hp.name} term"
    # Not `differs` but `strength`: TensorBoard orders its columns `differs` first, then by name, and opens on five.
    info = api_pb2.HParamInfo(name=name, differs=hp is None, description=description)
    hparams_summary.RealInterval(0.0, high).update_hparam_info(info)
    return info


class _KregTuner(_compat.ExecutionHook):
    """The mixin that mends a Keras Tuner tuner (see the module docstring)."""

    def __init__(self, hypermodel=None, *args, pruning=None, seed=None, deterministic=False,
                 max_consecutive_failed_trials=3, **kwargs):
        owner = type(self).__name__
        if hypermodel is None and type(self).run_trial is _KregTuner.run_trial:
            raise ValueError(_NO_HYPERMODEL)  # Keras Tuner's check, defeated by kreg's own `run_trial`
        max_consecutive_failed_trials = v.positive_int(owner, "max_consecutive_failed_trials",
                                                       max_consecutive_failed_trials)
        if pruning is not None and not isinstance(pruning, tuple(PRUNING.values())):
            raise v.invalid(owner, "pruning", "None, a kreg.tuning.MedianPruning or a "
                                              "kreg.tuning.SuccessiveHalvingPruning", pruning)
        if pruning is not None and isinstance(self, kt.Hyperband):
            raise v.invalid(owner, "pruning", "None: Hyperband stops trials by itself (its brackets are successive "
                                              "halving)", pruning)
        if not isinstance(deterministic, bool):
            raise v.invalid(owner, "deterministic", "a bool", deterministic)
        self.kreg_seed = v.seed(owner, seed)
        if deterministic and self.kreg_seed is None:
            raise ValueError(f"Invalid value for argument `deterministic` of {owner}: deterministic=True needs a "
                             f"seed. Received: deterministic=True, seed=None")
        self.pruning = pruning
        self.deterministic = deterministic
        self._log_root = None
        self._writers = {}
        self._started = {}  # trial id -> the trial's start time, until its session is written
        self._executions = {}  # trial id -> its executions' callbacks
        self._metrics = None  # the trial metrics the experiment config declares
        self._written = None  # (hyperparameters, metrics) as last written to the experiment config
        self.epoch_history = {}  # trial id -> the objective at each epoch
        self.on_progress = None  # called as on_progress(event, trial) with event "begin" or "end"
        super().__init__(hypermodel, *args, seed=seed, max_consecutive_failed_trials=max_consecutive_failed_trials,
                         **kwargs)
        _compat.adopt(self.oracle, self.kreg_seed)

    # -- the search as a whole --------------------------------------------------------------------------------
    def search(self, *fit_args, **fit_kwargs):
        boards = [c for c in fit_kwargs.get("callbacks", []) if isinstance(c, keras.callbacks.TensorBoard)]
        for board in boards:
            if not isinstance(board, TensorBoard) and importlib.util.find_spec("tensorflow") is None:
                raise ValueError(f"Invalid value for argument `callbacks` of {type(self).__name__}.search: Keras's "
                                 f"TensorBoard callback writes through tf.summary, and TensorFlow is not installed. "
                                 f"Use kreg.callbacks.TensorBoard, which writes its epoch scalars without "
                                 f"TensorFlow. Received: {board!r}")
        self._log_root = str(boards[0].log_dir) if boards else None
        if self.deterministic and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()  # for the rest of the process: TF cannot undo it
        if self._log_root is not None:
            self._write_experiment()
            _layout.write(self._log_root, _layout.MONITOR)  # the Custom Scalars page, once for every trial
        self._recall_epochs()
        with _compat.atomic_state(), _compat.quiet_conditions():
            return super().search(*fit_args, **fit_kwargs)

    def _write_experiment(self, metrics=()):
        """(Re)writes the experiment config when the space or the metrics have grown (see the module docstring)."""
        path = os.path.join(self._log_root, EXPERIMENT_FILE)
        name = self.oracle.objective.name
        if self._metrics is None:  # a resumed search keeps what its finished trials wrote
            self._metrics = _declared_metrics(path) | {f"trial/best_{name}", "trial/best_epoch"}
        self._metrics |= set(metrics)
        space = self.oracle.get_space()
        content = ([hp.get_config() for hp in space.space], sorted(self._metrics))
        if content == self._written:
            return
        columns, strengths, conditional, notes = [], [], [], []
        for hp in space.space:
            domain, description = hparams_domain(hp)
            if hp.conditions:
                when = "; ".join(f"{c.name} in {list(c.values)}" for c in hp.conditions)
                notes.append(f"{hp.name} in {_bounds(hp)} ({description}) when {when}")
                if _derives_strength(space) and hp.name in _STRENGTHS:
                    strengths.append(_strength_column(space, hp, f"{description}, when {when}"))
                elif not isinstance(hp, kt.engine.hyperparameters.Fixed):
                    info = api_pb2.HParamInfo(name=hp.name, description=f"{description}; only when {when} (blank "
                                                                        f"elsewhere)", differs=False)
                    domain.update_hparam_info(info)
                    conditional.append(info)
            elif isinstance(hp, kt.engine.hyperparameters.Fixed):
                notes.append(f"{hp.name} = {hp.value!r}")
            else:
                info = api_pb2.HParamInfo(name=hp.name, description=description, differs=True)
                domain.update_hparam_info(info)
                columns.append(info)
                if _derives_strength(space) and hp.name == RegularizerSpace.choice:
                    columns.append(_strength_column(space))
        if len(columns) >= _SHOWN:  # the page opens on five, `differs` first: never on a blank-holding one
            columns += conditional
        columns += strengths
        metric_infos = [hparams_summary.Metric(m, description=self._description(m)).as_proto()
                        for m in sorted(self._metrics, key=lambda m: _metric_rank(m, name))]
        metric_infos[0].description = f"best {name} of the trial: Keras Tuner's score, the mean over executions"
        experiment = api_pb2.Experiment(hparam_infos=columns, metric_infos=metric_infos, time_created_secs=time.time(),
                                        description=("Every trial's values also hold (where active): "
                                                     + "; ".join(notes) if notes else ""))
        _io.write_bytes(path, _events.file_bytes(_hparams_pb(hparams_metadata.EXPERIMENT_TAG, experiment=experiment)))
        self._written = content

    def _description(self, metric):
        """A trial metric's description in the experiment config; `trial/pruned` names the tuner's rule."""
        rule = self.pruning.name if self.pruning is not None else "the pruning rule"
        return _DESCRIPTIONS.get(metric, _DEFAULT_DESCRIPTION).format(rule=rule)

    def _recall_epochs(self):
        """Fills `epoch_history` with the objective by epoch that a resumed search's finished trials recorded
        (`_record_epochs`). A worker of a distributed search reads none: its oracle is the chief's."""
        trials = getattr(self.oracle, "trials", None) or {}
        key = _by_epoch(self.oracle.objective.name)
        for trial_id, trial in trials.items():
            if trial.status == COMPLETED and trial.metrics.exists(key) and trial_id not in self.epoch_history:
                self.epoch_history[trial_id] = [float(o.mean()) for o in trial.metrics.get_history(key)]

    # -- each trial -------------------------------------------------------------------------------------------
    def configure_execution(self, callbacks, trial, execution):
        """Before each execution of a trial (`_compat.ExecutionHook`): its seed, its TensorBoard folders, its
        trackers."""
        if self.kreg_seed is not None:
            keras.utils.set_random_seed(_seeds.trial(self.kreg_seed, trial.trial_id, execution))
        for callback in callbacks:
            if isinstance(callback, keras.callbacks.TensorBoard):
                callback.log_dir = _compat.execution_dir(self, callback.log_dir, trial.trial_id, execution)
        boards = [c for c in callbacks if isinstance(c, keras.callbacks.TensorBoard)]
        if boards and not any(isinstance(c, RegularizationMonitor) for c in callbacks):
            monitor = RegularizationMonitor(tensorboard=boards[0], data_loss="auto", layout=False)  # the search's
            callbacks.insert(callbacks.index(boards[0]), monitor)
        tracker = _TrialCallback(self, trial, self.pruning)
        self._executions.setdefault(trial.trial_id, []).append(tracker)
        callbacks.append(tracker)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._started[trial.trial_id] = time.time()
        if self.on_progress is not None:
            self.on_progress("begin", trial)

    def _start_session(self, trial):
        """Writes the trial's session start once, after its model is built (so new hyperparameters are in it)."""
        started = self._started.pop(trial.trial_id, None)
        if started is None or self._log_root is None:
            return
        hp = trial.hyperparameters
        active = {p.name: hp.values[p.name] for p in hp.space if hp.is_active(p) and p.name in hp.values}
        if _derives_strength(hp) and RegularizerSpace.strength_of(active) is not None:
            active[RegularizerSpace.strength] = RegularizerSpace.strength_of(active)
            for p in hp.space:  # a strength the trial's regularizer does not use is 0: the trial has no such term
                if p.name in _STRENGTHS:
                    active.setdefault(p.name, 0.0)
        start = hparams_summary.hparams_pb(active, trial_id=trial.trial_id, start_time_secs=started)
        self._writer(trial).write(start, 0)

    def run_trial(self, trial, *args, **kwargs):
        results = super().run_trial(trial, *args, **kwargs)
        if self.pruning is not None:
            # A metric of every epoch, so Keras Tuner keeps it with the trial's metrics (trial.json).
            pruned = any(e.pruned for e in self._executions.get(trial.trial_id, []))
            for history in results if isinstance(results, list) else [results]:
                if isinstance(history, keras.callbacks.History):
                    history.history["pruned"] = [float(pruned)] * len(history.epoch)
        return results

    def on_trial_end(self, trial):
        executions = self._executions.pop(trial.trial_id, [])
        self._record_epochs(trial, executions)
        try:
            super().on_trial_end(trial)
        except _compat.TooManyFailedTrials:
            self.save()  # what `on_trial_end` does after the oracle's `end_trial`, which has ended the trial
            self._trial_ended(trial, executions)  # logged as failed, then the search stops
            raise
        self._trial_ended(trial, executions)

    def _record_epochs(self, trial, executions):
        """With pruning, a completed trial's objective by epoch (its last execution's, as `epoch_history` keeps
        it) goes into its metrics as `OBJECTIVE_by_epoch`, one observation per epoch (numbered from 0), saved in
        its `trial.json` as the oracle ends it: Keras Tuner keeps only each metric's value at the best epoch, and
        a resumed search ranks its trials against these (`_recall_epochs`)."""
        if self.pruning is None or trial.status != COMPLETED or not executions:
            return
        objective = self.oracle.objective
        key = _by_epoch(objective.name)
        trial.metrics.metrics.pop(key, None)  # a trial run again (retried) records its new run only
        trial.metrics.register(key, direction=objective.direction)
        for epoch, value in enumerate(executions[-1].history()):
            trial.metrics.update(key, value, step=epoch)

    def _trial_ended(self, trial, executions):
        trial = self.oracle.get_trial(trial.trial_id)  # scored by the oracle: its status, score and best step
        completed = trial.status == COMPLETED
        if completed and executions:
            name = self.oracle.objective.name
            self.epoch_history[trial.trial_id] = [e[name] for e in executions[-1].epochs if name in e]
        if self.on_progress is not None:
            self.on_progress("end", trial)
        if self._log_root is None:
            return
        self._start_session(trial)  # a trial that failed before its model was built
        writer = self._writer(trial)
        summary = _summary(trial, executions, self.oracle.objective, self.pruning) if completed else {}
        if summary:
            write_scalars(writer, 0, summary)
        status = api_pb2.STATUS_SUCCESS if completed else api_pb2.STATUS_FAILURE
        end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
        writer.write(_hparams_pb(hparams_metadata.SESSION_END_INFO_TAG, session_end_info=end), 0)
        self._writers.pop(trial.trial_id).close()
        self._write_experiment(summary)  # the space may have grown during the trial, and the metrics

    def _writer(self, trial):
        """The trial's session writer, open from the trial's start to its end."""
        if trial.trial_id not in self._writers:
            self._writers[trial.trial_id] = _events.Writer(os.path.join(self._log_root, str(trial.trial_id)))
        return self._writers[trial.trial_id]


class RandomSearch(_KregTuner, kt.RandomSearch):
    """`keras_tuner.RandomSearch` with kreg's logging, seeding, failure policy and pruning."""


class BayesianOptimization(_KregTuner, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with kreg's logging, seeding, failure policy and pruning."""


class Hyperband(_KregTuner, kt.Hyperband):
    """`keras_tuner.Hyperband` with kreg's logging, seeding and failure policy (it prunes by itself)."""


class GridSearch(_KregTuner, kt.GridSearch):
    """`keras_tuner.GridSearch` with kreg's logging, seeding, failure policy and pruning."""


TUNERS = {
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "grid": GridSearch,
}


def get(name):
    """The tuner class registered under `name`: "random", "bayesian", "hyperband" or "grid"."""
    if name not in TUNERS:
        raise ValueError(f"Unknown tuner: expected one of {sorted(TUNERS)}. Received: name={name!r}")
    return TUNERS[name]
