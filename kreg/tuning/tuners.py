"""Keras Tuner's tuners with honest TensorBoard HParams logs, a failure policy and median pruning.

Measured with keras-tuner 1.4.8 and TensorBoard 2.21, Keras Tuner: writes no
experiment `hparams_config` (every domain shows as -inf..+inf, log scales are
lost); recognises a TensorBoard callback by its class name; ends every session
as SUCCESS; lets a NaN trial complete (and a -inf score win); has no per-epoch
pruning. kreg's tuners are Keras Tuner's (`RandomSearch`,
`BayesianOptimization`, `Hyperband`, `GridSearch`) with these mended:

* the experiment's `hparams_config` holds every hyperparameter's real domain
  (discrete values, or min/max with the scale in the description) and the
  declared metrics; it is written when the search begins;
* each trial is a session in `LOGDIR/TRIAL_ID` with its active hyperparameter
  values, the summary metrics `trial/best_OBJECTIVE`, `trial/best_epoch`,
  `trial/final_*`, `trial/generalization_gap`, `trial/data_loss`,
  `trial/sparsity` and `trial/pruned`, and the status it really ended with
  (FAILURE for a failed trial); the epochs' scalars, and
  `RegularizationMonitor`'s, are in `LOGDIR/TRIAL_ID/executionN`;
* any `keras.callbacks.TensorBoard`, subclasses included, gets per-trial
  directories;
* a trial whose loss or objective becomes NaN or infinite stops and fails; the
  search goes on; the best trials are completed ones with a finite score;
* with `pruning=MedianPruning(...)`, a trial worse than the median of earlier
  trials at the same epoch stops early and is marked `pruned`.
"""

import math
import os
import statistics
import time

import keras
import keras_tuner as kt
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary

from kreg import _validation as v
from kreg._io import atomic_keras_tuner_state
from kreg.callbacks import RegularizationMonitor
from kreg.callbacks._base import write_scalars
from kreg.tuning.spaces import hparams_domain


class MedianPruning:
    """The median stopping rule: stop a trial doing worse than the median of earlier trials.

    At epoch `e >= warmup_epochs`, a trial's best objective so far is compared
    with the median of the best objectives, up to epoch `e`, of the earlier
    trials that reached epoch `e`; when there are at least `min_trials` of
    them and the trial is worse, it stops and is marked pruned.

    Args:
        warmup_epochs: epochs before any pruning, an int >= 1.
        min_trials: earlier trials needed for a median, an int >= 1.

    References:
        Golovin et al. Google Vizier: a service for black-box optimization (2017).
    """

    def __init__(self, warmup_epochs=3, min_trials=3):
        self.warmup_epochs = v.positive_int("MedianPruning", "warmup_epochs", warmup_epochs)
        self.min_trials = v.positive_int("MedianPruning", "min_trials", min_trials)


class _TrialCallback(keras.callbacks.Callback):
    """Per trial and execution: stops on NaN/inf, prunes, and summarizes the trial at its end."""

    def __init__(self, tuner, trial, pruning):
        super().__init__()
        self.tuner, self.trial, self.pruning = tuner, trial, pruning
        self.objective = tuner.oracle.objective
        self.epochs = []
        self.pruned = False
        self.nonfinite = None

    def _better(self, a, b):
        return a > b if self.objective.direction == "max" else a < b

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self.epochs.append(logs)
        for key in ("loss", self.objective.name):
            if key in logs and not math.isfinite(logs[key]):
                self.nonfinite = f"{key} became {logs[key]} at epoch {epoch}"
                self.model.stop_training = True
                return
        if self.pruning is not None and epoch >= self.pruning.warmup_epochs and self._worse_than_median(epoch):
            self.pruned = True
            self.model.stop_training = True

    def best(self):
        values = [(e[self.objective.name], i) for i, e in enumerate(self.epochs) if self.objective.name in e]
        if not values:
            return None, None
        pick = max if self.objective.direction == "max" else min
        return pick(values)

    def _worse_than_median(self, epoch):
        """Whether this trial's best so far is worse than the median of earlier completed trials' at `epoch`.

        Keras Tuner keeps only each trial's final metrics, so the epochs of the
        completed trials run by this tuner object are kept by the tuner
        (`epoch_history`).
        """
        mine = self.best()[0]
        pick = max if self.objective.direction == "max" else min
        others = [pick(history[: epoch + 1]) for trial_id, history in self.tuner.epoch_history.items()
                  if trial_id != self.trial.trial_id and len(history) > epoch]
        if len(others) < self.pruning.min_trials or mine is None:
            return False
        return self._better(statistics.median(others), mine)

    def summary(self):
        """The trial's summary metrics, from its epochs and its final weights."""
        best, best_epoch = self.best()
        last = self.epochs[-1] if self.epochs else {}
        values = {"trial/pruned": float(self.pruned)}
        if best is not None:
            values[f"trial/best_{self.objective.name}"] = best
            values["trial/best_epoch"] = best_epoch
        for key, value in last.items():
            if not key.startswith("val_") and "val_" + key in last:
                values[f"trial/final_{key}"] = value
                values[f"trial/final_val_{key}"] = last["val_" + key]
        accuracy = next((k for k in ("accuracy", "binary_accuracy", "categorical_accuracy",
                                     "sparse_categorical_accuracy") if k in last and "val_" + k in last), None)
        if accuracy:
            values["trial/generalization_gap"] = last[accuracy] - last["val_" + accuracy]
        elif "loss" in last and "val_loss" in last:
            values["trial/generalization_gap"] = last["val_loss"] - last["loss"]
        if "data_loss" in last:
            values["trial/data_loss"] = last["data_loss"]
        kernels = [w.numpy() for w in self.model.trainable_weights if len(w.shape) >= 2]
        if kernels:
            values["trial/sparsity"] = float(sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels))
        return {key: float(value) for key, value in values.items()}


class _KregTuner:
    """The mixin that mends a Keras Tuner tuner (see the module docstring)."""

    def __init__(self, *args, pruning=None, seed=None, max_consecutive_failed_trials=None, **kwargs):
        if pruning is not None and not isinstance(pruning, MedianPruning):
            raise v.invalid(type(self).__name__, "pruning", "None or a kreg.tuning.MedianPruning", pruning)
        self.kreg_seed = v.seed(type(self).__name__, seed)
        self.pruning = pruning
        self._log_root = None
        self._writers = {}
        self._trial_callbacks = {}
        self.epoch_history = {}  # trial id -> the objective at each epoch
        self.on_progress = None  # called as on_progress(event, trial) with event "begin" or "end"
        # The search goes on after failures: a failed trial is a result, not an outage.
        kwargs["max_consecutive_failed_trials"] = max_consecutive_failed_trials or 1_000_000
        super().__init__(*args, seed=seed, **kwargs)

    # -- the search as a whole --------------------------------------------------------------------------------
    def search(self, *fit_args, **fit_kwargs):
        boards = [c for c in fit_kwargs.get("callbacks", []) if isinstance(c, keras.callbacks.TensorBoard)]
        self._log_root = str(boards[0].log_dir) if boards else None
        if self._log_root is not None:
            self._write_experiment()
        with atomic_keras_tuner_state():
            return super().search(*fit_args, **fit_kwargs)

    def _write_experiment(self):
        space = self.oracle.get_space()
        params = []
        for hp in space.space:
            domain, description = hparams_domain(hp)
            params.append(hparams_api.HParam(hp.name, domain, description=description))
        name = self.oracle.objective.name
        metrics = [hparams_api.Metric(f"trial/best_{name}", description=f"best {name} over the trial's epochs"),
                   hparams_api.Metric("trial/best_epoch", description="the epoch of the best objective"),
                   hparams_api.Metric("trial/generalization_gap",
                                      description="final training minus validation accuracy (or val minus train loss)"),
                   hparams_api.Metric("trial/data_loss", description="final training loss without the penalty"),
                   hparams_api.Metric("trial/sparsity", description="fraction of kernel weights exactly 0"),
                   hparams_api.Metric("trial/pruned", description="1 if the median rule stopped the trial early"),
                   hparams_api.Metric("trial/final_accuracy"), hparams_api.Metric("trial/final_val_accuracy"),
                   hparams_api.Metric("trial/final_loss"), hparams_api.Metric("trial/final_val_loss")]
        with tf.summary.create_file_writer(self._log_root).as_default():
            hparams_api.hparams_config(hparams=params, metrics=metrics)

    # -- each trial -------------------------------------------------------------------------------------------
    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if self.kreg_seed is not None:
            number = int(trial.trial_id) if str(trial.trial_id).isdigit() else 0
            keras.utils.set_random_seed(self.kreg_seed + 1000 * number + execution)
        for i, callback in enumerate(list(callbacks)):
            if isinstance(callback, keras.callbacks.TensorBoard):
                callback.log_dir = self._get_tensorboard_dir(callback.log_dir, trial.trial_id, execution)
        boards = [c for c in callbacks if isinstance(c, keras.callbacks.TensorBoard)]
        if boards and not any(isinstance(c, RegularizationMonitor) for c in callbacks):
            monitor = RegularizationMonitor(tensorboard=boards[0], data_loss="auto")
            callbacks.insert(callbacks.index(boards[0]), monitor)
        tracker = _TrialCallback(self, trial, self.pruning)
        self._trial_callbacks[trial.trial_id] = tracker
        callbacks.append(tracker)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        if self.on_progress is not None:
            self.on_progress("begin", trial)
        if self._log_root is not None:
            hp = trial.hyperparameters
            active = {p.name: hp.values[p.name] for p in hp.space if hp.is_active(p) and p.name in hp.values}
            with self._writer(trial).as_default():
                hparams_api.hparams(active, trial_id=trial.trial_id)

    def run_trial(self, trial, *args, **kwargs):
        results = super().run_trial(trial, *args, **kwargs)
        tracker = self._trial_callbacks.get(trial.trial_id)
        if tracker is not None and tracker.nonfinite:
            raise kt.errors.FailedTrialError(f"Trial {trial.trial_id} failed: {tracker.nonfinite}")
        if tracker is not None and self.pruning is not None:
            # A metric of every epoch, so Keras Tuner keeps it with the trial's metrics (trial.json).
            for history in results if isinstance(results, list) else [results]:
                if isinstance(history, keras.callbacks.History):
                    history.history["pruned"] = [float(tracker.pruned)] * len(history.epoch)
        return results

    def on_trial_end(self, trial):
        tracker = self._trial_callbacks.pop(trial.trial_id, None)
        super().on_trial_end(trial)
        if trial.status == kt.engine.trial.TrialStatus.COMPLETED and not _finite(trial.score):
            trial.status = kt.engine.trial.TrialStatus.FAILED  # a -inf or NaN score is never "best"
            if hasattr(self.oracle, "save"):
                self.oracle.save()
        if tracker is not None and trial.status == kt.engine.trial.TrialStatus.COMPLETED:
            name = self.oracle.objective.name
            self.epoch_history[trial.trial_id] = [e[name] for e in tracker.epochs if name in e]
        if self.on_progress is not None:
            self.on_progress("end", trial)
        if self._log_root is None:
            return
        status = api_pb2.STATUS_SUCCESS if trial.status == kt.engine.trial.TrialStatus.COMPLETED \
            else api_pb2.STATUS_FAILURE
        with self._writer(trial).as_default():
            if tracker is not None and tracker.model is not None and trial.status == "COMPLETED":
                write_scalars(self._writer(trial), 0, tracker.summary())
            pb = hparams_summary.session_end_pb(status, end_time_secs=time.time())
            tf.summary.experimental.write_raw_pb(pb.SerializeToString(), step=0)
        self._writers.pop(trial.trial_id).close()

    def _writer(self, trial):
        """The trial's session writer, open from the trial's start to its end."""
        if trial.trial_id not in self._writers:
            self._writers[trial.trial_id] = tf.summary.create_file_writer(
                os.path.join(self._log_root, str(trial.trial_id)))
        return self._writers[trial.trial_id]


def _finite(score):
    return score is not None and math.isfinite(score)


class RandomSearch(_KregTuner, kt.RandomSearch):
    """`keras_tuner.RandomSearch` with kreg's logging, failure policy and pruning."""


class BayesianOptimization(_KregTuner, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with kreg's logging, failure policy and pruning."""


class Hyperband(_KregTuner, kt.Hyperband):
    """`keras_tuner.Hyperband` with kreg's logging and failure policy (it prunes by itself)."""


class GridSearch(_KregTuner, kt.GridSearch):
    """`keras_tuner.GridSearch` with kreg's logging, failure policy and pruning."""


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
