"""`kreg search`: run an experiment's search, resumably, and compare its best trial with the unregularized baseline."""

import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings

import keras
import keras_tuner as kt
import numpy as np

from kreg import _io
from kreg import experiments
from kreg import tuning

BAD_INPUT, ALL_FAILED = 2, 3


class SearchError(ValueError):
    """Bad input or damaged state: the message says which; the exit code is `BAD_INPUT`."""


def state_files(directory):
    """Keras Tuner's state files under an experiment's `tuner/search` folder, checked.

    A missing or unreadable file is a `SearchError` naming it: a damaged search
    is never silently restarted from trial 0.
    """
    project = os.path.join(directory, "tuner", "search")
    files = [os.path.join(project, "oracle.json"), os.path.join(project, "tuner0.json")]
    if os.path.isdir(project):
        files += [os.path.join(project, d, "trial.json") for d in sorted(os.listdir(project))
                  if d.startswith("trial_")]
    for path in files:
        try:
            with open(path) as f:
                json.load(f)
        except FileNotFoundError:
            raise SearchError(f"Cannot resume {directory}: state file {path} is missing. Nothing was changed; "
                              f"use --overwrite to start this experiment again.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SearchError(f"Cannot resume {directory}: state file {path} is damaged ({error}). Nothing was "
                              f"changed; use --overwrite to start this experiment again.") from None
    return files


def prepare(directory, *, resume, overwrite):
    """Decides between a fresh start and a resume; returns True to resume."""
    if overwrite:
        if os.path.isdir(directory):
            shutil.rmtree(directory)  # this experiment's folder only
        return False
    if os.path.exists(directory):
        state_files(directory)
        return True
    if resume:
        raise SearchError(f"Nothing to resume: {directory} does not exist")
    return False


def _progress(budget, started):
    state = {"best": None}

    def report(event, trial):
        if event == "begin":
            values = ", ".join(f"{k}={_short(v)}" for k, v in trial.hyperparameters.values.items())
            print(f"trial {int(trial.trial_id) + 1} of {budget}: {values}", flush=True)
            return
        elapsed = time.time() - started
        done = int(trial.trial_id) + 1
        left = elapsed / done * max(budget - done, 0)
        score = "failed" if trial.status != "COMPLETED" else f"score {trial.score:.4f}"
        if trial.status == "COMPLETED" and (state["best"] is None or trial.score > state["best"]):
            state["best"] = trial.score
        best = "none yet" if state["best"] is None else f"{state['best']:.4f}"
        print(f"  {score}; best so far {best}; elapsed {elapsed:.0f} s, about {left:.0f} s left", flush=True)

    return report


def _short(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def run(path, *, max_trials=None, epochs=None, logdir="logs", seed=None, resume=False, overwrite=False):
    """Runs the search of the experiment file at `path`; returns the exit code."""
    experiment = experiments.load(path)
    if seed is not None:
        experiment["seed"] = seed
    search = experiment["search"]
    max_trials = max_trials or search.get("max_trials", 8)
    epochs = epochs or search.get("epochs", 20)
    (x, y), (xv, yv), (xt, yt) = experiments.load_data(experiment)
    num_classes = int(max(y.max(), yv.max(), yt.max()) + 1)
    directory = os.path.join(logdir, experiment["name"])
    role = os.environ.get("KERASTUNER_TUNER_ID")  # set by `launch` for a distributed search
    resuming = os.path.isdir(directory) if role else prepare(directory, resume=resume, overwrite=overwrite)
    hypermodel = experiments.hypermodel(experiment, x.shape[1:], num_classes, len(x))
    objective = search.get("objective", "val_accuracy")
    name = search.get("tuner", "random")
    budget = {"max_epochs": search.get("max_epochs", epochs)} if name == "hyperband" else {"max_trials": max_trials}
    pruning = tuning.MedianPruning(search.get("warmup_epochs", 3), search.get("min_trials", 3)) \
        if search.get("pruning", False) else None
    tuner = tuning.get(name)(hypermodel, objective=objective, seed=experiment["seed"], pruning=pruning,
                             directory=os.path.join(directory, "tuner"), project_name="search", overwrite=False,
                             **budget)
    board_root = os.path.join(directory, "tensorboard")
    _io.write_json(os.path.join(directory, "search.json"), {
        "experiment": experiment, "objective": {"name": objective, "direction": tuner.oracle.objective.direction}})
    action = f"distributed search ({role})" if role else "resuming" if resuming else "starting"
    print(f"{action} {experiment['name']}: {len(x)} training, {len(xv)} validation, "
          f"{len(xt)} test examples; {name} search of {max_trials} trials x {epochs} epochs", flush=True)
    tuner.on_progress = _progress(max_trials, time.time())
    tuner.search(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=search.get("batch_size", 32),
                 verbose=0, callbacks=[keras.callbacks.TensorBoard(board_root)])
    if role not in (None, "chief"):
        return 0  # a worker: the chief sums up
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED" and t.score is not None
                 and math.isfinite(t.score)]
    if not completed:
        print(f"kreg: all {len(tuner.oracle.trials)} trials failed; see their messages in "
              f"{os.path.join(directory, 'tuner', 'search')}", file=sys.stderr)
        return ALL_FAILED
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_model = _load(tuner, best_trial)
    best_accuracy = best_model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]
    baseline_model, baseline_accuracy = _baseline(experiment, x, y, xv, yv, xt, yt, epochs, num_classes,
                                                  os.path.join(board_root, "baseline"))
    result = {
        "experiment": experiment["name"],
        "best_trial": best_trial.trial_id,
        "hyperparameters": best_trial.hyperparameters.values,
        objective: best_trial.score,
        "test_accuracy": best_accuracy,
        "baseline_test_accuracy": baseline_accuracy,
    }
    _io.write_json(os.path.join(directory, "result.json"), result)
    _save_weights(directory, tuner, completed, best_model, baseline_model)
    values = ", ".join(f"{k}={_short(v)}" for k, v in best_trial.hyperparameters.values.items())
    print(f"best trial {best_trial.trial_id}: {values}\n  {objective} {best_trial.score:.4f}; test accuracy "
          f"{best_accuracy:.4f} (at its best epoch) against {baseline_accuracy:.4f} for the unregularized network "
          f"(last epoch) ({best_accuracy - baseline_accuracy:+.4f})"
          f"\nSee it: tensorboard --logdir {board_root}\nReport: kreg report {directory}", flush=True)
    return 0


def _baseline(experiment, x, y, xv, yv, xt, yt, epochs, num_classes, board):
    """The same network with no regularization at all: no penalty, dropout, max-norm, augmentation, nor early stopping."""
    keras.utils.set_random_seed(experiment["seed"])
    model = experiments.hypermodel(experiment, x.shape[1:], num_classes, len(x), baseline=True).build(
        kt.HyperParameters())
    model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=experiment["search"].get("batch_size", 32),
              verbose=0, callbacks=[keras.callbacks.TensorBoard(board)])
    return model, model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]


def _load(tuner, trial):
    """The trial's model at its best epoch (Keras Tuner's checkpoint; its optimizer state is not needed)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return tuner.load_model(trial)


def _kernels(model):
    return np.concatenate([w.numpy().ravel() for w in model.trainable_weights if len(w.shape) >= 2])


def _save_weights(directory, tuner, completed, best_model, baseline_model):
    """Kernel weights for the report: the best trial, the baseline, and the best trial of each regularizer."""
    arrays = {"best": _kernels(best_model), "baseline": _kernels(baseline_model)}
    kinds = {}
    for trial in sorted(completed, key=lambda t: -t.score if tuner.oracle.objective.direction == "max" else t.score):
        kind = trial.hyperparameters.values.get("regularizer")
        if kind and kind not in kinds:
            kinds[kind] = trial
    for kind, trial in kinds.items():
        arrays[f"regularizer={kind}"] = _kernels(_load(tuner, trial))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _io.write_bytes(os.path.join(directory, "weights.npz"), buffer.getvalue())


def launch(argv, workers, *, logdir, experiment_path, resume, overwrite, timeout=None):
    """Runs a search as Keras Tuner's distributed mode: one chief oracle and `workers` workers on this host.

    Each is `kreg search` in its own process, told its part by Keras Tuner's
    variables (`KERASTUNER_TUNER_ID` "chief" or "tunerI", `KERASTUNER_ORACLE_IP`
    127.0.0.1, `KERASTUNER_ORACLE_PORT` a free port); they share the
    experiment's folder, so there is one set of results and one TensorBoard
    root. The chief prints the summary. Returns the chief's exit code.
    """
    experiment = experiments.load(experiment_path)
    prepare(os.path.join(logdir, experiment["name"]), resume=resume, overwrite=overwrite)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    command = [sys.executable, "-m", "kreg.cli", "search", *argv]
    chief = subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": "chief"})
    others = [subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": f"tuner{i}"},
                               stdout=subprocess.DEVNULL) for i in range(workers)]
    try:
        for process in others:
            process.wait(timeout=timeout)
        return chief.wait(timeout=timeout)
    finally:
        for process in [chief, *others]:
            if process.poll() is None:
                process.kill()
