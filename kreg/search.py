"""`kreg search`: run an experiment's search, resumably, and compare its best trial with the unregularized baseline."""

import contextlib
import errno
import io
import json
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import keras
import keras_tuner as kt
import numpy as np

from kreg import _io
from kreg import _state
from kreg import confirm
from kreg import experiments
from kreg import tuning
from kreg.cli import command

BAD_INPUT, ALL_FAILED, INTERRUPTED = 2, 3, 130
SearchError = _state.SearchError
LAUNCHED = "KREG_LAUNCHED_BY"  # set by `launch` for its chief and workers: the launcher holds the folder
DEAD_WORKERS = "KREG_DEAD_WORKERS"  # the file where `launch` lists the workers that died


def _progress(budget, started, direction):
    state = {"best": None, "done": 0}

    def report(event, trial):
        number = int(trial.trial_id) + 1
        if event == "begin":
            values = ", ".join(f"{k}={_short(v)}" for k, v in trial.hyperparameters.values.items())
            print(f"trial {trial.trial_id} ({number} of {budget}): {values}", flush=True)
            return
        state["done"] += 1
        elapsed = time.time() - started
        left = elapsed / state["done"] * max(budget - number, 0)
        score = "failed" if trial.status != "COMPLETED" else f"score {trial.score:.4f}"
        if trial.status == "COMPLETED" and (state["best"] is None or (trial.score > state["best"]) == (
                direction == "max")):
            state["best"] = trial.score
        best = "none yet" if state["best"] is None else f"{state['best']:.4f}"
        print(f"  trial {trial.trial_id} {score}; best so far {best}; elapsed {elapsed:.0f} s, about {left:.0f} s "
              f"left", flush=True)

    return report


def _short(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _resolved(path, **overrides):
    """The experiment, its settings as recorded in its folder (JSON values, no description), and its objective."""
    experiment = experiments.load(path, **overrides)
    # The confirmation's seeds are not the search's: more or fewer of them change no trial.
    settings = json.loads(json.dumps({k: v for k, v in experiment.items() if k not in ("description", "confirm")}))
    name = experiment["search"]["objective"]
    return experiment, settings, {"name": name, "direction": "min" if name.endswith("loss") else "max"}


def run(path, *, max_trials=None, epochs=None, logdir="logs", seed=None, resume=False, overwrite=False,
        deterministic=None, confirm=None):
    """Runs the search of the experiment file at `path`; returns the exit code.

    Every value is checked before anything is written: the experiment's keys
    and ranges, its data, the log folder. The experiment folder is claimed for
    the whole run (see `kreg._state`).
    """
    experiment, settings, objective = _resolved(path, max_trials=max_trials, epochs=epochs, seed=seed,
                                                deterministic=deterministic, confirm=confirm)
    data = experiments.load_data(experiment)
    directory = _state.folder(logdir, experiment["name"])
    role = os.environ.get("KERASTUNER_TUNER_ID")  # set by `launch` for a distributed search
    shared = LAUNCHED in os.environ or role not in (None, "chief")
    main = threading.current_thread() is threading.main_thread()  # where Python lets a handler be set
    previous = signal.signal(signal.SIGINT, _on_interrupt) if main else None
    try:
        with _state.claimed(directory, settings, objective, resume=resume, overwrite=overwrite,
                            tuner_file=f"{role or 'tuner0'}.json", shared=shared) as resuming:
            return _search(experiment, objective, data, directory, role, resuming)
    except KeyboardInterrupt:
        if not shared:
            print(f"kreg: interrupted; every finished trial is kept in {directory}. Run the same command again to "
                  f"resume.", file=sys.stderr)
        return INTERRUPTED
    except OSError as error:
        raise SearchError(_os_message(error, directory)) from None
    except _DiskFull as error:
        raise SearchError(_os_message(error.__cause__, directory)) from None
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        _interrupted.clear()


_interrupted = threading.Event()
_polling = threading.Event()


def _on_interrupt(signum, frame):
    """Ctrl-C: while training, raised at the next batch's end by `_Interrupt` (raised anywhere, it can land in a
    weakref callback, where Python prints it and goes on); at once otherwise."""
    _interrupted.set()
    if not _polling.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def _training():
    _polling.set()
    try:
        yield
    finally:
        _polling.clear()
    if _interrupted.is_set():
        raise KeyboardInterrupt


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if _interrupted.is_set():
            raise KeyboardInterrupt


class _DiskFull(kt.errors.FatalError):
    """A full disk met while a trial trains: it stops the search (Keras Tuner would fail the trial and go on)."""


def _stop_on_full_disk(hypermodel):
    fit = hypermodel.fit

    def checked(*args, **kwargs):
        try:
            return fit(*args, **kwargs)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _DiskFull(str(error)) from error
            raise

    hypermodel.fit = checked
    return hypermodel


def _os_message(error, directory):
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"No space left on the device{where}. Finished trials are kept in {directory}: free some space, "
                f"then run the same command again to resume.")
    return f"Cannot read or write{where}: {error.strerror or error}"


def _search(experiment, objective, data, directory, role, resuming):
    (x, y), (xv, yv), (xt, yt) = data
    search = experiment["search"]
    max_trials, epochs = search["max_trials"], search["epochs"]
    num_classes = int(max(y.max(), yv.max(), yt.max()) + 1)
    hypermodel = _stop_on_full_disk(experiments.hypermodel(experiment, x.shape[1:], num_classes, len(x)))
    name = search["tuner"]
    budget = {"max_epochs": search["max_epochs"]} if name == "hyperband" else {"max_trials": max_trials}
    pruning = tuning.MedianPruning(search["warmup_epochs"], search["min_trials"]) if search["pruning"] else None
    tuner = tuning.get(name)(hypermodel, objective=kt.Objective(objective["name"], objective["direction"]),
                             seed=experiment["seed"], pruning=pruning, deterministic=search["deterministic"],
                             directory=os.path.join(directory, "tuner"), project_name="search", overwrite=False,
                             **budget)
    if "by" in experiment["confirm"] and role in (None, "chief"):  # before any training; a worker's oracle is remote
        _check_by(experiment["confirm"]["by"], [hp.name for hp in tuner.oracle.hyperparameters.space])
    board_root = os.path.join(directory, "tensorboard")
    action = f"distributed search ({role})" if role else "resuming" if resuming else "starting"
    print(f"{action} {experiment['name']}: {len(x)} training, {len(xv)} validation, "
          f"{len(xt)} test examples; {name} search of {max_trials} trials x {epochs} epochs", flush=True)
    tuner.on_progress = _progress(max_trials, time.time(), objective["direction"])
    if role == "chief" and DEAD_WORKERS in os.environ:
        _drop_dead_workers(tuner.oracle, os.environ[DEAD_WORKERS])
    with _training():
        tuner.search(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=search["batch_size"],
                     verbose=0, callbacks=[keras.callbacks.TensorBoard(board_root), _Interrupt()])
    if role not in (None, "chief"):
        return 0  # a worker: the chief sums up
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED" and t.score is not None
                 and math.isfinite(t.score)]
    if not completed:
        print(f"kreg: all {len(tuner.oracle.trials)} trials failed; see their messages in "
              f"{os.path.join(directory, 'tuner', 'search')}", file=sys.stderr)
        return ALL_FAILED
    # Best first; a tie goes to the earlier trial, whatever order a resumed oracle reloaded them in.
    ranked = sorted(completed, key=lambda t: (-t.score if objective["direction"] == "max" else t.score,
                                              int(t.trial_id) if str(t.trial_id).isdigit() else 0))
    best_trial = ranked[0]
    best_model = _load(tuner, best_trial)
    confirmation = _confirm(experiment, objective, data, hypermodel, ranked, directory, board_root)
    result = {
        "experiment": experiment["name"],
        "best_trial": best_trial.trial_id,
        "hyperparameters": best_trial.hyperparameters.values,
        objective["name"]: best_trial.score,
        "data": experiments.data_record(experiment, data),
        "confirmation": confirmation,
    }
    _io.write_json(os.path.join(directory, "result.json"), result)
    with np.load(os.path.join(directory, "confirm", "baseline-kernels.npz")) as kernels:
        _save_weights(directory, tuner, completed, best_trial, best_model, kernels["kernels"])
    values = ", ".join(f"{k}={_short(v)}" for k, v in best_trial.hyperparameters.values.items())
    print(f"best trial {best_trial.trial_id}: {values}; {objective['name']} {best_trial.score:.4f}", flush=True)
    print("\n".join(confirm.summary(confirmation)), flush=True)
    print(f"See it: {command('tensorboard', 'tensorboard.main')} --logdir {shlex.quote(board_root)}"
          f"\nReport: {command('kreg', 'kreg.cli')} report {shlex.quote(directory)}", flush=True)
    return 0


def _check_by(by, names):
    if by not in names:
        raise ValueError(f"`confirm.by` must name a hyperparameter of the trials, one of {sorted(set(names))}. "
                         f"Received: by={by!r}")


def _confirm(experiment, objective, data, hypermodel, ranked, directory, board_root):
    """Retrains the best trials and the unregularized network on fresh seeds (`kreg.confirm`); resumable."""
    (x, _), _, _ = data
    settings, search = experiment["confirm"], experiment["search"]
    seeds = confirm.seeds_for(experiment["seed"], settings["seeds"])
    if "by" in settings:  # the best trial of each value of that hyperparameter, best first
        values = [t.hyperparameters.values.get(settings["by"]) for t in ranked]
        if all(value is None for value in values):
            _check_by(settings["by"], [name for t in ranked for name in t.hyperparameters.values])
        trials = [t for i, t in enumerate(ranked) if values[i] not in values[:i]]
    else:
        trials = ranked[: settings["top"]]
    baseline = experiments.hypermodel(experiment, x.shape[1:], hypermodel.num_classes, len(x), baseline=True)
    print(f"confirming: the unregularized network and the best {len(trials)} trial(s) on {len(seeds)} fresh seeds",
          flush=True)

    def progress(arm, result):
        print(f"  {arm}, seed {result['seed']}: test accuracy {result['test_accuracy']:.4f}", flush=True)

    with _training():
        confirmation = confirm.search(
            hypermodel=hypermodel, baseline=baseline, trials=trials, data=data,
            folder=os.path.join(directory, "confirm"), seeds=seeds, epochs=search["epochs"],
            batch_size=search["batch_size"], monitor=objective["name"], mode=objective["direction"],
            callbacks=[_Interrupt()], board=os.path.join(board_root, "baseline"), by=settings.get("by"),
            on_progress=progress)
    confirm.log(confirmation, os.path.join(board_root, "confirm"))
    confirm.plot_confirmation(confirmation, os.path.join(directory, "confirm.png"))
    return confirmation


def _load(tuner, trial):
    """The trial's model at its best epoch (Keras Tuner's checkpoint; its optimizer state is not needed)."""
    path = tuner._get_checkpoint_fname(trial.trial_id)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return tuner.load_model(trial)
    except (OSError, ValueError) as error:  # h5py's OSError, or Keras's ValueError, for a damaged file
        raise SearchError(f"Cannot load trial {trial.trial_id}'s checkpoint {path}: it is missing or damaged "
                          f"({str(error).splitlines()[0]}). Use --overwrite to start this experiment again.") from None


def _kernels(model):
    return np.concatenate([w.numpy().ravel() for w in model.trainable_weights if len(w.shape) >= 2])


def _save_weights(directory, tuner, completed, best_trial, best_model, baseline_kernels):
    """Kernel weights for the report: the best trial, the baseline (its last epoch), and the best trial of each
    regularizer."""
    arrays = {"best": _kernels(best_model), "baseline": baseline_kernels}
    kinds = {}
    for trial in sorted(completed, key=lambda t: -t.score if tuner.oracle.objective.direction == "max" else t.score):
        kind = trial.hyperparameters.values.get("regularizer")
        if kind and kind not in kinds:
            kinds[kind] = trial
    for kind, trial in kinds.items():
        if trial is not best_trial:  # the best trial is "best" already: a copy would hide behind it
            arrays[f"regularizer={kind}"] = _kernels(_load(tuner, trial))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _io.write_bytes(os.path.join(directory, "weights.npz"), buffer.getvalue())


def launch(argv, workers, *, logdir, experiment_path, resume, overwrite, **overrides):
    """Runs a search as Keras Tuner's distributed mode: one chief oracle and `workers` workers on this host.

    Each is `kreg search` in its own process, told its part by Keras Tuner's
    variables (`KERASTUNER_TUNER_ID` "chief" or "tunerI", `KERASTUNER_ORACLE_IP`
    127.0.0.1, `KERASTUNER_ORACLE_PORT` a free port); they share the
    experiment's folder, which this process claims for them, so there is one
    set of results and one TensorBoard root. Each worker gets its share of the
    cores (TensorFlow's and OpenMP's thread counts). The chief prints the
    summary. A worker that dies is reported and its running trial goes back to
    the queue for the others; when every worker has died, the chief is stopped.
    Returns the chief's exit code, or 1 where trials are left to run.
    """
    experiment, settings, objective = _resolved(experiment_path, **overrides)
    directory = _state.folder(logdir, experiment["name"])
    with _state.claimed(directory, settings, objective, resume=resume, overwrite=overwrite, tuner_file="chief.json"):
        dead_file = os.path.join(directory, "dead_workers.json")
        if os.path.exists(dead_file):
            os.unlink(dead_file)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
                LAUNCHED: str(os.getpid()), DEAD_WORKERS: dead_file}
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        share = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads, "OMP_NUM_THREADS": threads}
        command = [sys.executable, "-m", "kreg.cli", "search", *argv]
        chief = subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": "chief"})
        others = {f"tuner{i}": subprocess.Popen(command, env={**base, **share, "KERASTUNER_TUNER_ID": f"tuner{i}"},
                                                stdout=subprocess.DEVNULL) for i in range(workers)}
        try:
            return _supervise(chief, others, dead_file, directory)
        except KeyboardInterrupt:
            print(f"kreg: interrupted; every finished trial is kept in {directory}. Run the same command again to "
                  f"resume.", file=sys.stderr)
            return INTERRUPTED
        finally:
            for process in [chief, *others.values()]:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def _supervise(chief, workers, dead_file, directory):
    """Waits for the chief, reporting dead workers to it (see `_drop_dead_workers`); returns the exit code."""
    dead = {}
    while chief.poll() is None:
        for tuner_id, process in workers.items():
            if process.poll() not in (None, 0) and tuner_id not in dead:
                dead[tuner_id] = process.returncode
                print(f"kreg: worker {tuner_id} (pid {process.pid}) died ({_how(process.returncode)}); its running "
                      f"trial goes back to the queue", file=sys.stderr, flush=True)
                _io.write_json(dead_file, sorted(dead))
        if len(dead) == len(workers):
            print(f"kreg: every worker died, so the search stopped; finished trials are kept in {directory}. Run "
                  f"the same command again to resume.", file=sys.stderr)
            return 1
        time.sleep(0.2)
    if chief.returncode < 0:
        print(f"kreg: the chief (pid {chief.pid}) died ({_how(chief.returncode)}); finished trials are kept in "
              f"{directory}. Run the same command again to resume.", file=sys.stderr)
        return 1
    left = _state.read(os.path.join(directory, "tuner", "search", "oracle.json"), "oracle")["retry_queue"] \
        if dead and chief.returncode == 0 else []
    if left:
        print(f"kreg: trials {', '.join(left)} of the dead workers were not run again; run the same command "
              f"again to run them.", file=sys.stderr)
        return 1
    return chief.returncode


def _how(returncode):
    return f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"


def _drop_dead_workers(oracle, path):
    """In the chief: a thread that drops the workers listed in `path`, sending their running trials back to the queue.

    Keras Tuner's chief waits for every worker it has seen to ask for a trial
    once more; a worker killed mid-trial never does. Under the oracle's own lock
    (`keras_tuner.synchronized`), the dead worker is forgotten and its trial
    retried by the next worker that asks.
    """

    def drop(oracle, tuner_id):
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        if trial is not None:
            oracle._retry_queue.append(trial.trial_id)
        oracle.save()

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
                kt.synchronized(drop)(oracle, tuner_id)
                dropped.add(tuner_id)

    threading.Thread(target=watch, daemon=True, name="kreg-dead-workers").start()
