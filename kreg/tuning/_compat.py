"""Where kreg reaches past Keras Tuner's public API, all in one place.

Each use names the Keras Tuner version it was checked against (1.4.8) and has a
test in `tests/test_tuning_compat.py` that fails loudly if Keras Tuner changes
underneath it.
"""

import contextlib
import decimal
import math
import os

import keras_tuner
import numpy as np
from keras_tuner.src.engine import conditions
from keras_tuner.src.engine.hyperparameters import hp_types
from keras_tuner.src import utils
from keras_tuner.src.engine import trial as trial_module

from kreg import _io
from kreg import _seeds

_FINISHED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


def finite(score):
    return score is not None and math.isfinite(score)


class _Oracle:
    """Mended over any Keras Tuner oracle class (mixed in by `adopt`).

    * `get_best_trials(n)` returns only completed trials with a finite score,
      however large `n` (1.4.8 pads the list with failed and running trials);
    * an infinite score is scored NaN, which Keras Tuner's `end_trial` already
      treats as an invalid trial (retried, then FAILED): -inf is never "best";
    * a search stops when `max_consecutive_failed_trials` trials in a row have
      failed, with a `TooManyFailedTrials` (a `RuntimeError`, as in 1.4.8) that
      holds the error of the first of them (1.4.8's holds the last one's);
      `end_trial` finishes first (1.4.8's check raises within it, so the last
      trial is neither saved nor dropped from `ongoing_trials`, and the
      oracle's lock is never released);
    * the saved state never lists a finished trial as ongoing (1.4.8's
      `end_trial` saves `oracle.json` before it drops the trial from
      `ongoing_trials`, so a kill in between re-runs a finished trial); on
      reload, an ongoing trial whose own `trial.json` says it finished is not
      queued again either;
    * a stepped float is the value its step makes (1.4.8 computes
      `min + index * step` in binary floating point: a rate of 0.1 stepped 3
      times is stored, logged and shown as 0.30000000000000004; here 0.3).
    """

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        if response.get("values"):
            response["values"] = on_steps(self.hyperparameters, response["values"])
        return response

    def end_trial(self, *args, **kwargs):
        error = self._end_and_check(*args, **kwargs)
        if error is not None:
            raise error  # outside the lock: 1.4.8's `synchronized` does not release it when its function raises

    @keras_tuner.synchronized
    def _end_and_check(self, *args, **kwargs):
        """Keras Tuner's `end_trial`; then, where the trial has ended (not sent for retry), `failure_streak`'s error."""
        ended = len(self.end_order)
        super().end_trial(*args, **kwargs)
        return failure_streak(self) if len(self.end_order) > ended else None

    def _check_consecutive_failures(self):
        """Off: 1.4.8 raises within `end_trial`, before it saves the trial and drops it from `ongoing_trials`."""

    def get_best_trials(self, num_trials=1):
        ranked = super().get_best_trials(len(self.trials))
        return [t for t in ranked if t.status == trial_module.TrialStatus.COMPLETED and finite(t.score)][:num_trials]

    def score_trial(self, trial):
        super().score_trial(trial)
        if not finite(trial.score):
            trial.score = float("nan")

    def get_state(self):
        state = super().get_state()
        state["ongoing_trials"] = {tuner_id: trial_id for tuner_id, trial_id in state["ongoing_trials"].items()
                                   if self.trials[trial_id].status not in _FINISHED}
        return state

    def reload(self):
        super().reload()  # sends every ongoing trial of the saved state for retry
        self.forget_finished()

    def forget_finished(self):
        """Drops the finished trials from the retry queue (a reload queues every saved ongoing trial)."""
        for trial_id in list(self._retry_queue):
            if self.trials[trial_id].status in _FINISHED:
                self._retry_queue.remove(trial_id)
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)


def on_steps(hyperparameters, values):
    """`values` with each linearly stepped `Float` rounded to the decimals of its minimum and step."""
    cleaned = dict(values)
    for hp in hyperparameters.space:
        value = cleaned.get(hp.name)
        if (isinstance(hp, hp_types.Float) and hp.step
                and hp.sampling in (None, "linear") and isinstance(value, float)):
            decimals = max(_decimals(hp.step), _decimals(hp.min_value))
            cleaned[hp.name] = round(value, decimals)
    return cleaned


def _decimals(number):
    """The decimal places of a float as written (0.1: 1, 0.25: 2, 2.0: 0)."""
    exponent = decimal.Decimal(repr(float(number))).as_tuple().exponent
    return max(-exponent, 0)


class TooManyFailedTrials(RuntimeError):
    """`max_consecutive_failed_trials` trials in a row have failed: the search stops."""


def failure_streak(oracle):
    """`TooManyFailedTrials` if the last `oracle.max_consecutive_failed_trials` ended trials all failed, else None.

    The trials in a row count from the last ended trial back (1.4.8's
    `Oracle._check_consecutive_failures` counts along `end_order`, the order in
    which trials ended, and raises `RuntimeError` with the last failed trial's
    message); the error holds the first one's message, its traceback.
    """
    streak = []
    for trial_id in reversed(oracle.end_order):
        if oracle.trials[trial_id].status != trial_module.TrialStatus.FAILED:
            break
        streak.insert(0, trial_id)
    limit = oracle.max_consecutive_failed_trials
    if limit is None or len(streak) < limit:
        return None
    first = oracle.trials[streak[0]]
    return TooManyFailedTrials(
        f"Number of consecutive failed trials reached the limit of {limit} (max_consecutive_failed_trials): trials "
        f"{', '.join(streak)} failed in a row. The first, trial {first.trial_id}, failed with:\n"
        f"{first.message or '(no message)'}")


_ADOPTED = {}


# Keras Tuner 1.4.8 draws the i-th random value of a search from `random.Random(seed + i)`: seeds 0 and 1 would
# share all but one draw. Seed s starts its counter at `kreg._seeds.draws(s)` instead.


def adopt(oracle, seed):
    """Mends `oracle` in place (see `_Oracle`) and gives it exactly `seed`.

    Keras Tuner 1.4.8's `Oracle.__init__` does `self.seed = seed or
    random.randint(1, 10000)`: `seed=0` draws a random seed. The seed and what
    the oracles derive from it at construction (the random-values counter;
    Bayesian optimization's `RandomState` and Gaussian process) are set again.
    The random-values counter starts at `kreg._seeds.draws(seed)`, so that different seeds
    draw different values (see `kreg._seeds`); a resumed search keeps its counter:
    set back to the start, it would redraw every finished trial, and Keras
    Tuner ends a search after 20 such collisions in a row.
    A worker's `OracleClient` is left alone: the chief's oracle answers it.
    """
    cls = type(oracle)
    if not hasattr(oracle, "_seed_state"):
        return oracle  # an OracleClient
    if cls not in _ADOPTED.values():
        if cls not in _ADOPTED:
            _ADOPTED[cls] = type(f"Kreg{cls.__name__}", (_Oracle, cls), {})
        oracle.__class__ = _ADOPTED[cls]
        oracle.forget_finished()  # the tuner has already reloaded a resumed search
    if seed is not None:
        oracle.seed = seed
        if not oracle.trials:  # a resumed search keeps the counter it reloaded
            oracle._seed_state = _seeds.draws(seed)
        if hasattr(oracle, "_random_state"):
            oracle._random_state = np.random.RandomState(_seeds.bayesian(seed))
        if hasattr(oracle, "gpr"):
            oracle.gpr = oracle._make_gpr()
    return oracle


@contextlib.contextmanager
def quiet_conditions():
    """Within the block, Keras Tuner's `conditions` module prints nothing.

    1.4.8's `conditions.Parent.to_proto` has a leftover debug `print` (one line per
    conditional hyperparameter sent between a chief and its workers). A module-level
    `print` in that module shadows the builtin for that module only; it is removed
    after the block. Keras Tuner's files are not changed.
    """
    conditions.print = lambda *args, **kwargs: None
    try:
        yield
    finally:
        del conditions.print


def checkpoint_path(tuner, trial_id):
    """The path of a trial's checkpoint (its best epoch's weights): 1.4.8's private `Tuner._get_checkpoint_fname`."""
    return tuner._get_checkpoint_fname(trial_id)


def retry_trial(oracle, tuner_id):
    """Forgets the dead worker `tuner_id` and queues its running trial again, under the oracle's lock; saves.

    1.4.8's chief waits for every worker it has seen (`tuner_ids`) to ask for a
    trial once more; a worker killed mid-trial never does, and its trial stays
    in `ongoing_trials`. The trial goes to the private `_retry_queue`, from
    which the next worker to ask is given it. Returns the queued trial's id,
    or None where the worker was running no trial.
    """

    def drop(oracle, tuner_id):
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        if trial is not None:
            oracle._retry_queue.append(trial.trial_id)
        oracle.save()
        return None if trial is None else trial.trial_id

    return keras_tuner.synchronized(drop)(oracle, tuner_id)


# Keras Tuner 1.4.8's state files in a project folder, as `Oracle.save` and `Trial.save` write them: kreg reads
# them to judge a folder before any tuner exists (a resume, a dead worker's leftovers), and requeues trials that a
# kill left behind.
ORACLE_FILE = "oracle.json"
STATE_SHAPES = {
    "oracle": {"ongoing_trials": dict, "start_order": list, "end_order": list, "retry_queue": list},
    "trial": {"trial_id": str, "status": str, "hyperparameters": dict, "metrics": dict},
    "tuner": {},
}
FINISHED_STATUSES = tuple(str(status) for status in _FINISHED)


def trial_file(project, trial_id):
    """The `trial.json` of a trial in a project folder."""
    return os.path.join(project, f"trial_{trial_id}", "trial.json")


def oracle_state(project_state):
    """`(ended, running, queued)` trial ids of an `oracle.json`'s contents."""
    return project_state["end_order"], list(project_state["ongoing_trials"].values()), project_state["retry_queue"]


def requeue(project_state, trial_ids):
    """An `oracle.json`'s contents with `trial_ids` queued to run again, as a reloaded oracle reads them."""
    return {**project_state, "retry_queue": project_state["retry_queue"] + list(trial_ids),
            "start_order": project_state["start_order"] + [t for t in trial_ids
                                                           if t not in project_state["start_order"]]}


def retry_queue(oracle):
    """The ids of the trials queued to run again, in the order queued (1.4.8's private `Oracle._retry_queue`, a copy).

    1.4.8's `create_trial` hands out the last one first.
    """
    return list(oracle._retry_queue)


@contextlib.contextmanager
def atomic_state():
    """Within the block, Keras Tuner writes its state files (oracle, tuner, trials) atomically.

    Keras Tuner's `utils.save_json` opens the file and then writes it, so a kill
    in between leaves an empty `trial.json` and the next resume dies on it. Its
    state files all go through that one function: it is swapped for
    `kreg._io.write_json` for the block and restored after (checked against 1.4.8).
    """
    original = utils.save_json
    utils.save_json = _io.write_json
    try:
        yield
    finally:
        utils.save_json = original


class ExecutionHook:
    """A tuner mixin: `configure_execution(callbacks, trial, execution)` runs before each execution of a trial.

    1.4.8's `Tuner.run_trial` calls its private `_configure_tensorboard_dir(callbacks, trial, execution)` once per
    execution, with the execution's callbacks (a list it then fits with), before it adds its own; its version
    recognises a TensorBoard callback by its class name and adds TensorFlow's HParams callback (TensorFlow
    backend only). This hook replaces it whole.
    """

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        self.configure_execution(callbacks, trial, execution)

    def configure_execution(self, callbacks, trial, execution):
        raise NotImplementedError


def execution_dir(tuner, logdir, trial_id, execution):
    """`LOGDIR/TRIAL_ID/executionN`, the folder of one execution's TensorBoard logs (1.4.8's private
    `Tuner._get_tensorboard_dir`)."""
    return tuner._get_tensorboard_dir(logdir, trial_id, execution)


def infer_direction(objective):
    """"min" or "max" for a metric's name as Keras Tuner infers it (a loss is "min"), or None where it cannot tell."""
    from keras_tuner.src.engine import metrics_tracking

    if objective.endswith("loss"):
        return "min"
    try:
        return metrics_tracking.infer_metric_direction(objective)
    except Exception:  # Keras Tuner deserializes the name as a Keras metric: an unknown one may raise
        return None
