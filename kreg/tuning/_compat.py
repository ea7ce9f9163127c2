"""Where kreg reaches past Keras Tuner's public API, all in one place.

Each use names the Keras Tuner version it was checked against (1.4.8) and has a
test in `tests/test_tuning_compat.py` that fails loudly if Keras Tuner changes
underneath it.
"""

import contextlib
import math

import numpy as np
from keras_tuner.src.engine import conditions
from keras_tuner.src.engine import trial as trial_module

_FINISHED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


def finite(score):
    return score is not None and math.isfinite(score)


class _Oracle:
    """Mended over any Keras Tuner oracle class (mixed in by `adopt`).

    * `get_best_trials(n)` returns only completed trials with a finite score,
      however large `n` (1.4.8 pads the list with failed and running trials);
    * an infinite score is scored NaN, which Keras Tuner's `end_trial` already
      treats as an invalid trial (retried, then FAILED): -inf is never "best";
    * the saved state never lists a finished trial as ongoing (1.4.8's
      `end_trial` saves `oracle.json` before it drops the trial from
      `ongoing_trials`, so a kill in between re-runs a finished trial); on
      reload, an ongoing trial whose own `trial.json` says it finished is not
      queued again either.
    """

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


_ADOPTED = {}


# Keras Tuner 1.4.8 draws the i-th random value of a search from `random.Random(seed + i)`: seeds 0 and 1 would
# share all but one draw. Seed s starts its counter at s * _STREAM, a prime (seed 0 keeps Keras Tuner's stream):
# two seeds share no draw unless a search draws a million values.
_STREAM = 1_000_003


def adopt(oracle, seed):
    """Mends `oracle` in place (see `_Oracle`) and gives it exactly `seed`.

    Keras Tuner 1.4.8's `Oracle.__init__` does `self.seed = seed or
    random.randint(1, 10000)`: `seed=0` draws a random seed. The seed and what
    the oracles derive from it at construction (the random-values counter;
    Bayesian optimization's `RandomState` and Gaussian process) are set again.
    The random-values counter starts at `seed * 1_000_003`, so that different seeds
    draw different values (see `_STREAM`); a resumed search keeps its counter:
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
            oracle._seed_state = seed * _STREAM
        if hasattr(oracle, "_random_state"):
            oracle._random_state = np.random.RandomState(seed)
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
