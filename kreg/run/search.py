"""`kreg search`, acting on a plan: claim the folder, search, confirm the winner over seeds, write the results.

Every check has run when a `kreg.run.plan.Plan` exists; `run` starts by
claiming the experiment's folder (`kreg.run.folder`), so a refused experiment
never touches it.
"""

import contextlib
import dataclasses
import errno
import gc
import io
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
import warnings

import keras
import keras_tuner as kt
import numpy as np

from kreg import _io
from kreg import callbacks as kreg_callbacks
from kreg import _seeds
from kreg import tuning
from kreg.run import confirm
from kreg.run import folder
from kreg.run import own
from kreg.run import report
from kreg.run.shell import command
from kreg.tuning import _compat

BAD_INPUT, ALL_FAILED, INTERRUPTED = 2, 3, 130
SearchError = folder.SearchError


def run(plan, *, role=None, shared=False, dead_workers=None):
    """Runs `plan`'s search; returns the exit code.

    Args:
        role: "chief" or "tunerI" in a distributed search; by default Keras
            Tuner's `KERASTUNER_TUNER_ID` where set (a worker then shares the
            folder its chief claimed), else None.
        shared: the folder is claimed by the process that started this one
            (`kreg.run.workers.launch`).
        dead_workers: in the chief, the file where the launcher lists the
            workers that died.
    """
    if role is None:  # Keras Tuner's own variable: a distributed search across hosts that share the folder
        role = os.environ.get("KERASTUNER_TUNER_ID")
        shared = shared or role not in (None, "chief")
    tuner_file = f"{role or 'tuner0'}.json"
    with Interrupts() as interrupts:
        try:
            with folder.claimed(plan.directory, plan.settings, dataclasses.asdict(plan.objective),
                                resume=plan.resume, overwrite=plan.overwrite, tuner_file=tuner_file,
                                shared=shared) as resuming:
                return _search(plan, role, resuming, interrupts, dead_workers)
        except KeyboardInterrupt:
            if not shared:
                print(f"kreg: interrupted; every finished trial is kept in {plan.directory}. Run the same command "
                      f"again to resume.", file=sys.stderr)
            return INTERRUPTED
        except OSError as error:
            message = os_message(error, plan.directory)
            _release_open_files()
            raise SearchError(message) from None
        except _DiskFull as error:
            message = os_message(error.__cause__, plan.directory)
            _release_open_files()
            raise SearchError(message) from None


class Interrupts:
    """Ctrl-C while this block runs: raised at once outside training, at the next batch's end inside it.

    Raised anywhere during training, a `KeyboardInterrupt` can land in a
    weakref callback, where Python prints it and goes on; so while `training()`
    is active the handler only flags it, and `callback()` raises it between
    batches. Outside the main thread (where Python sets no handler) nothing is
    installed.
    """

    def __init__(self):
        self.flagged = threading.Event()
        self.training_now = threading.Event()
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False

    def _on_signal(self, signum, frame):
        self.flagged.set()
        if not self.training_now.is_set():
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def training(self):
        self.training_now.set()
        try:
            yield
        finally:
            self.training_now.clear()
        if self.flagged.is_set():
            raise KeyboardInterrupt

    def callback(self):
        interrupts = self

        class StopOnInterrupt(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if interrupts.flagged.is_set():
                    raise KeyboardInterrupt

        return StopOnInterrupt()


class _DiskFull(kt.errors.FatalError):
    """A full disk met while a trial trains: it stops the search (Keras Tuner would fail the trial and go on)."""


class _StopOnFullDisk(kt.HyperModel):
    """`hypermodel`, whose `fit` turns a full disk into `_DiskFull`."""

    def __init__(self, hypermodel):
        super().__init__(name=hypermodel.name, tunable=hypermodel.tunable)
        self.hypermodel = hypermodel

    def build(self, hp):
        return self.hypermodel.build(hp)

    def fit(self, hp, model, *args, **kwargs):
        try:
            return self.hypermodel.fit(hp, model, *args, **kwargs)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _DiskFull(str(error)) from error
            raise


def _release_open_files():
    """Closes the HDF5 files a failed write left open, now, with h5py's complaints muted.

    A full disk met inside Keras's `save_weights` leaves its `h5py.File` open,
    held by the failed call's frames (the error's traceback); closed at exit
    instead, h5py printed an `OSError` it cannot raise from a finalizer and the
    interpreter crashed in HDF5 (exit 139).
    """
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        h5py = sys.modules.get("h5py")
        for left_open in [o for o in gc.get_objects() if h5py and isinstance(o, h5py.File)]:
            with contextlib.suppress(Exception):  # its last write fails again: the file is given up, not kept
                left_open.close()
    finally:
        sys.unraisablehook = hook


def os_message(error, directory):
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"No space left on the device{where}. Finished trials are kept in {directory}: free some space, "
                f"then run the same command again to resume.")
    return f"Cannot read or write{where}: {error.strerror or error}"


def _pruning(search):
    """The pruning rule `[search]` names (`pruning = true` is the median rule), with its keys; None for false."""
    if search["pruning"] is False:
        return None
    rule = tuning.PRUNING["median" if search["pruning"] is True else search["pruning"]]
    return rule(**{key: search[key] for key in rule().get_config()})


def _tuner(plan, hypermodel):
    search = plan.search
    name = search["tuner"]
    budget = {"max_epochs": search["max_epochs"]} if name == "hyperband" else {"max_trials": search["max_trials"]}
    pruning = _pruning(search)
    return tuning.get(name)(hypermodel, objective=kt.Objective(plan.objective.name, plan.objective.direction),
                            seed=plan.seed, pruning=pruning, deterministic=search["deterministic"],
                            directory=os.path.join(plan.directory, "tuner"), project_name="search", overwrite=False,
                            **budget)


def _search(plan, role, resuming, interrupts, dead_workers):
    train, validation, test = plan.data.splits
    search = plan.search
    hypermodel = _StopOnFullDisk(plan.hypermodel)
    tuner = _tuner(plan, hypermodel)
    board_root = os.path.join(plan.directory, "tensorboard")
    action = f"distributed search ({role})" if role else "resuming" if resuming else "starting"
    sizes = ", ".join(f"{own.size(split)} {part}" for split, part in zip(plan.data.splits, own.PARTS))
    print(f"{action} {plan.name}: {sizes} examples; "
          f"{search['tuner']} search of {search['max_trials']} trials x {search['epochs']} epochs", flush=True)
    tuner.on_progress = report.progress(search["max_trials"], time.time(), plan.objective.direction)
    if role == "chief" and dead_workers:
        _drop_dead_workers(tuner.oracle, dead_workers)
    # The chief trains nothing while it serves its workers: Ctrl-C stops it at once, not at a batch's end.
    serving = role == "chief"
    try:
        with contextlib.nullcontext() if serving else interrupts.training():
            args, kwargs = own.fit_arguments(train, search["batch_size"])
            tuner.search(*args, validation_data=validation, epochs=search["epochs"], verbose=0,
                         callbacks=[kreg_callbacks.TensorBoard(board_root), interrupts.callback()], **kwargs)
    except _compat.TooManyFailedTrials as error:  # the streak's first trial's error, not the whole budget's worth
        print(f"kreg: the search stopped: {error}\nEvery trial's message is in "
              f"{os.path.join(plan.directory, 'tuner', 'search')}", file=sys.stderr)
        return ALL_FAILED
    if role not in (None, "chief"):
        return 0  # a worker: the chief sums up
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED" and t.score is not None
                 and math.isfinite(t.score)]
    if not completed:
        print(f"kreg: all {len(tuner.oracle.trials)} trials failed; see their messages in "
              f"{os.path.join(plan.directory, 'tuner', 'search')}", file=sys.stderr)
        return ALL_FAILED
    # Best first; a tie goes to the earlier trial, whatever order a resumed oracle reloaded them in.
    ranked = sorted(completed, key=lambda t: (-t.score if plan.objective.direction == "max" else t.score,
                                              int(t.trial_id) if str(t.trial_id).isdigit() else 0))
    best_trial = ranked[0]
    best_model = _load(tuner, best_trial)
    confirmation = _confirm(plan, hypermodel, ranked, board_root, interrupts)
    result = {
        "experiment": plan.name,
        "best_trial": best_trial.trial_id,
        "hyperparameters": best_trial.hyperparameters.values,
        plan.objective.name: best_trial.score,
        "data": plan.data.record,
        "confirmation": confirmation,
    }
    _io.write_json(os.path.join(plan.directory, "result.json"), result)
    with np.load(os.path.join(plan.directory, "confirm", "baseline-kernels.npz")) as kernels:
        _save_weights(plan.directory, tuner, ranked, best_model, kernels["kernels"])
    print(f"best trial {best_trial.trial_id}: {report.values(best_trial.hyperparameters.values)}; "
          f"{plan.objective.name} {best_trial.score:.4f}", flush=True)
    print("\n".join(report.summary(confirmation)), flush=True)
    print(f"See it: {command('tensorboard', 'tensorboard.main')} --logdir {shlex.quote(board_root)}"
          f"\nReport: {command('kreg', 'kreg.cli')} report {shlex.quote(plan.directory)}", flush=True)
    return 0


def _confirm(plan, hypermodel, ranked, board_root, interrupts):
    """Retrains the best trials and the unregularized network on fresh seeds (`kreg.run.confirm`); resumable.

    A confirmation only grows: where the folder already holds more confirmed
    seeds than asked for, all of them are reported.
    """
    settings = plan.confirm
    where = os.path.join(plan.directory, "confirm")
    done = confirm.Confirmation(where, []).finished_seeds(_seeds.confirmation(plan.seed, _seeds.CONFIRMATION_STRIDE), "baseline")
    count = max(settings["seeds"], done)
    seeds = _seeds.confirmation(plan.seed, count)
    if "by" in settings:  # the best trial of each value of that hyperparameter, best first
        values = [t.hyperparameters.values.get(settings["by"]) for t in ranked]
        trials = [t for i, t in enumerate(ranked) if values[i] not in values[:i]]
    else:
        trials = ranked[: settings["top"]]
    if count > settings["seeds"]:
        print(f"confirming: {where} already holds {done} confirmed seeds, more than the {settings['seeds']} asked "
              f"for; all {done} are reported (a confirmation only grows)", flush=True)
    yours = "builder" in plan.experiment["model"]
    baseline_name = "as built" if yours else "unregularized"
    print(f"confirming: {'your model as built' if yours else 'the unregularized network'} and the best "
          f"{len(trials)} trial(s) on {len(seeds)} fresh seeds", flush=True)
    metric = confirm.test_metric(plan.objective.name)

    def progress(arm, result):
        print(f"  {arm}, seed {result['seed']}: {metric.replace('_', ' ')} {result[metric]:.4f}", flush=True)

    with interrupts.training():
        confirmation = confirm.search(
            hypermodel=hypermodel, baseline=plan.baseline, trials=trials, data=plan.data.splits, folder=where,
            seeds=seeds, epochs=plan.search["epochs"], batch_size=plan.search["batch_size"],
            monitor=plan.objective.name, mode=plan.objective.direction, callbacks=[interrupts.callback()],
            board=os.path.join(board_root, "baseline"), by=settings.get("by"), on_progress=progress,
            baseline_name=baseline_name)
    report.log_confirmation(confirmation, os.path.join(board_root, "confirm"))
    report.plot_confirmation(confirmation, os.path.join(plan.directory, "confirm.png"))
    return confirmation


def _load(tuner, trial):
    """The trial's model at its best epoch (Keras Tuner's checkpoint; its optimizer state is not needed)."""
    path = _compat.checkpoint_path(tuner, trial.trial_id)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return tuner.load_model(trial)
    except (OSError, ValueError) as error:  # h5py's OSError, or Keras's ValueError, for a damaged file
        raise SearchError(f"Cannot load trial {trial.trial_id}'s checkpoint {path}: it is missing or damaged "
                          f"({str(error).splitlines()[0]}). Use --overwrite to start this experiment again.") from None


def _save_weights(directory, tuner, ranked, best_model, baseline_kernels):
    """Kernel weights for the report: the best trial, the baseline (its last epoch), and the best trial of each
    regularizer (`ranked`: the completed trials, best first)."""
    arrays = {"best": confirm.kernels_of(best_model), "baseline": baseline_kernels}
    kinds = {}
    for trial in ranked:
        kind = tuning.RegularizerSpace.chosen(trial.hyperparameters.values)
        if kind and kind not in kinds:
            kinds[kind] = trial
    for kind, trial in kinds.items():
        if trial is not ranked[0]:  # the best trial is "best" already: a copy would hide behind it
            arrays[f"regularizer={kind}"] = confirm.kernels_of(_load(tuner, trial))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _io.write_bytes(os.path.join(directory, "weights.npz"), buffer.getvalue())


def _drop_dead_workers(oracle, path):
    """In the chief: a thread that drops the workers listed in `path`, sending their running trials back to the queue.

    Keras Tuner's chief waits for every worker it has seen to ask for a trial
    once more; a worker killed mid-trial never does (`_compat.retry_trial`).
    """

    def watch():
        dropped = set()
        while True:
            time.sleep(0.5)
            try:
                with open(path) as f:
                    dead = set(json.load(f))
            except (OSError, ValueError):
                continue
            for tuner_id in sorted(dead - dropped):
                _compat.retry_trial(oracle, tuner_id)
                dropped.add(tuner_id)

    threading.Thread(target=watch, daemon=True, name="kreg-dead-workers").start()
