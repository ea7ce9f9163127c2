"""Confirming a search's winner over fresh seeds, with confidence intervals and a paired test.

A search picks its best trial on the validation split, from one run each, so
its winner's edge may be luck. `Confirmation` retrains each arm (the best
configuration, the unregularized baseline, ...) on the same `K` fresh seeds
(new initialization and data order; the same splits) and evaluates each
retrained model once on the test set. `compare` pairs the arms seed by seed:
the mean difference, its 95% confidence interval and the two-sided p-value of
the paired t-test (SciPy's `ttest_rel`).

Why the paired t-test: a seed fixes both the initialization and the data order,
so the two arms of one seed share that luck, and pairing removes it from the
comparison; with the few seeds a confirmation can afford (3 to 10), the
Wilcoxon signed-rank test cannot reach p < 0.05 at all below 6 pairs, while the
t-test's interval is the usual one for a mean difference (it assumes the
differences are roughly normal; with 3 seeds the interval is wide, as it
should be).

Each (arm, seed) result is a JSON file written atomically once that run is
done, so a killed confirmation resumes without redoing a finished seed; a
damaged file is an error that names it.
"""

import io
import json
import math
import os

import keras
import keras_tuner as kt
import numpy as np
from scipy import stats

from kreg import _io
from kreg import callbacks as kreg_callbacks
from kreg.run import own
from kreg.tuning.spaces import NAMES
from kreg.tuning.spaces import unregularized


class _LastWeights(keras.callbacks.Callback):
    """Keeps the weights of the last epoch (put it before `EarlyStopping`, which restores the best ones)."""

    def on_train_end(self, logs=None):
        self.weights = self.model.get_weights()


def retrain(build, fit, data, *, seed, epochs, batch_size, monitor="val_accuracy", mode="max", last=False,
            callbacks=(), kernels=None):
    """Trains `build()` once with `seed` and evaluates it on the test set at its best validation epoch.

    The epoch is chosen as the search chooses a trial's: the first epoch with the
    best `monitor` over all `epochs` (Keras's `EarlyStopping` with
    `restore_best_weights=True` and a patience of the whole budget, so training
    never stops early and ties keep the first epoch, as Keras Tuner's checkpoint
    does).

    Args:
        build: `() -> compiled keras.Model`.
        fit: `(model, *args, **kwargs) -> History` (a hypermodel's `fit`, or `Model.fit`).
        data: `(train, validation, test)`, each `(x, y)` or a dataset (`kreg.run.own`).
        seed: seeds initialization and data order.
        last: also evaluate the last epoch's weights (the network without early stopping).
        callbacks: more callbacks for `fit`.
        kernels: a path where the last epoch's kernels (every trainable weight of
            rank >= 2, concatenated) are saved as `.npz` (key "kernels").

    Returns:
        `{"seed", "best_epoch", "test_METRIC"...}`: every metric the model reports on the test split
        (`test_accuracy`, `test_mae`, ...) and `test_data_loss`, with `"last": {...}` the same at the last epoch
        when `last`. The data loss is Keras's evaluated loss less the model's penalties (`model.losses`):
        Keras 3's `evaluate` adds them, so a regularized arm's loss would carry its penalty into a comparison
        with the unregularized one's.
    """
    train, validation, test = data
    keras.utils.set_random_seed(seed)
    model = build()
    keep = _LastWeights()
    best = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=epochs, restore_best_weights=True)
    args, kwargs = own.fit_arguments(train, batch_size)
    fit(model, *args, validation_data=validation, epochs=epochs, verbose=0, callbacks=[*callbacks, keep, best],
        **kwargs)
    result = {"seed": seed, "best_epoch": int(best.best_epoch), **_test(model, test, batch_size)}
    if last or kernels:
        model.set_weights(keep.weights)
    if last:
        result["last"] = _test(model, test, batch_size)
    if kernels:
        buffer = io.BytesIO()
        np.savez(buffer, kernels=kernels_of(model))
        _io.write_bytes(kernels, buffer.getvalue())
    return result


def kernels_of(model):
    """Every trainable weight of rank >= 2 (the kernels), flattened and concatenated."""
    return np.concatenate([keras.ops.convert_to_numpy(w).ravel() for w in model.trainable_weights if len(w.shape) >= 2])


def _test(model, test, batch_size):
    args, kwargs = own.fit_arguments(test, batch_size)
    scores = model.evaluate(*args, verbose=0, return_dict=True, **kwargs)
    penalty = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)  # the same at every batch
    result = {f"test_{name}": float(value) for name, value in scores.items() if name != "loss"}
    return {**result, "test_data_loss": float(scores["loss"]) - penalty}


class Confirmation:
    """Runs each arm once per seed, resumably: one JSON file per (arm, seed) in `folder`.

    Args:
        folder: where the results go (created if needed).
        seeds: the seeds, the same for every arm (so results pair by seed).
        metrics: the numbers every result holds.
    """

    def __init__(self, folder, seeds, metrics=("test_accuracy", "test_data_loss")):
        self.folder = os.fspath(folder)
        self.seeds = list(seeds)
        self.metrics = tuple(metrics)

    def path(self, arm, seed):
        return os.path.join(self.folder, f"{arm}-seed{seed}.json")

    def load(self, arm, seed):
        """The finished result of `arm` on `seed`, or None; a damaged file is a `ValueError` naming it."""
        path = self.path(arm, seed)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                result = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"Confirmation state file {path} is damaged ({error}); delete it to run that seed "
                             f"again") from None
        if isinstance(result, dict) and "test_loss" in result and "test_data_loss" not in result:
            raise ValueError(f"Confirmation state file {path} was written by an earlier kreg, whose test_loss "
                             f"included the penalty; delete it to run that seed again")
        if not (isinstance(result, dict) and result.get("seed") == seed
                and all(isinstance(result.get(k), (int, float)) for k in self.metrics)):
            raise ValueError(f"Confirmation state file {path} is damaged (not a result of seed {seed}); delete it "
                             f"to run that seed again")
        return result

    def finished_seeds(self, seeds, arm):
        """How many of `seeds`, in order from the first, `arm` has finished (a damaged file is an error)."""
        count = 0
        for seed in seeds:
            if self.load(arm, seed) is None:
                break
            count += 1
        return count

    def run(self, arms, on_progress=None):
        """`{arm: [result per seed]}` for `arms`, `{name: seed -> result}`; finished (arm, seed) pairs are read back.

        Seeds run in order, each seed's arms together, so a confirmation stopped
        early still has complete pairs.
        """
        results = {arm: [] for arm in arms}
        for seed in self.seeds:
            for arm, run in arms.items():
                result = self.load(arm, seed)
                if result is None:
                    result = run(seed)
                    _io.write_json(self.path(arm, seed), result)
                    if on_progress is not None:
                        on_progress(arm, result)
                results[arm].append(result)
        return results


def compare(candidate, baseline, *, confidence=0.95):
    """Paired comparison of two lists of per-seed values (candidate minus baseline).

    Returns:
        `{"n", "mean", "std", "baseline_mean", "baseline_std", "difference", "ci_low", "ci_high",
        "p_value", "test"}`: means and sample standard deviations, the mean difference
        with its `confidence` interval and the two-sided p-value of SciPy's paired
        t-test. With one seed there is no interval: NaN. Where every seed's
        difference is the same `d` (tied arms give 0) there is no spread: the
        interval is `[d, d]` and the p-value the t-test's limit, 1 for `d = 0`
        and 0 otherwise, with `test` saying so.

    Examples:
        >>> out = compare([0.91, 0.93, 0.92], [0.85, 0.88, 0.86])
        >>> round(out["difference"], 4), round(out["ci_low"], 3), round(out["ci_high"], 3)
        (0.0567, 0.042, 0.071)
    """
    a, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"compare needs two lists of per-seed values of the same length. Received: "
                         f"candidate={list(candidate)!r}, baseline={list(baseline)!r}")
    out = {"n": int(a.size), "mean": float(a.mean()), "std": _std(a), "baseline_mean": float(b.mean()),
           "baseline_std": _std(b), "difference": float((a - b).mean()), "ci_low": math.nan, "ci_high": math.nan,
           "p_value": math.nan, "test": "paired t-test (scipy.stats.ttest_rel), two-sided"}
    if a.size > 1 and np.ptp(a - b) > 1e-12:
        test = stats.ttest_rel(a, b)
        interval = test.confidence_interval(confidence)
        out.update(ci_low=float(interval.low), ci_high=float(interval.high), p_value=float(test.pvalue))
    elif a.size > 1:  # equal differences (up to rounding): no spread, SciPy's t is 0/0 or d/0
        d = out["difference"] = out["difference"] if abs(out["difference"]) > 1e-12 else 0.0
        out.update(ci_low=d, ci_high=d, p_value=1.0 if d == 0 else 0.0,
                   test=f"none: every seed's difference is {d:+.4g} (no spread); the interval is that value")
    return out


def _std(values):
    return float(values.std(ddof=1)) if values.size > 1 else math.nan


def interval(values, *, confidence=0.95):
    """`(mean, low, high)`: the mean of per-seed values and its t-interval (NaN bounds with one value)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


# -- a search's confirmation: (a) the unregularized network at its last epoch, (b) with early stopping, (c) the best -----
LABELS = {"last_epoch": "(a) unregularized, last epoch", "early_stopping": "(b) unregularized, early stopping"}


def test_metric(objective):
    """What the confirmation compares on the test split for a search's `objective`: its metric, the data loss
    for a loss (the penalty excluded).

    >>> test_metric("val_accuracy"), test_metric("val_mae"), test_metric("val_loss")
    ('test_accuracy', 'test_mae', 'test_data_loss')
    """
    metric = objective[4:] if objective.startswith("val_") else objective
    return "test_data_loss" if metric in ("loss", "data_loss") else f"test_{metric}"


def search(*, hypermodel, baseline, trials, data, folder, seeds, epochs, batch_size, monitor, mode,
           callbacks=(), board=None, by=None, on_progress=None, baseline_name="unregularized"):
    """Retrains the `baseline` and each of `trials` (best first) on `seeds`; compares them.

    The baseline is the model without kreg's regularization: kreg's network
    without any, or the user's build function as they wrote it (their own
    regularization, such as their Dropout at its rate, stays), with the best
    trial's values of the build function's own hyperparameters. Every model is
    selected as the search selects a trial (its best epoch of `monitor`); the
    baseline is also evaluated at its last epoch. The test set is used once per
    retrained model. The first seed's baseline logs to the TensorBoard run
    `board` (when given) and leaves its last epoch's kernels in
    `folder/baseline-kernels.npz`. With `by` (a hyperparameter's name), each
    trial's label names its value of `by`. `baseline_name` names the baseline
    in the labels.

    Returns:
        The confirmation, as `result.json` holds it: `seeds`, `metric` (the
        test metric of `monitor`, `test_metric`) and its `direction` (`mode`),
        `baseline_hyperparameters`, `columns` (per column: its
        label and its per-seed `metric` and `test_data_loss`), `comparisons`
        (`compare` of each: early stopping against the last epoch, each trial
        against early stopping and against the last epoch, each other trial
        against the best), `winner_unregularized`.
    """
    metric = test_metric(monitor)
    metrics = tuple(dict.fromkeys((metric, "test_data_loss")))
    own_values = {k: v for k, v in trials[0].hyperparameters.values.items() if k not in NAMES}

    def baseline_build():
        hp = kt.HyperParameters()
        hp.values.update(own_values)  # Keras Tuner keeps a value set before its hyperparameter is declared
        return baseline.build(hp)

    def arm(build, fit, last=False):
        def run(seed):
            first = last and seed == seeds[0]
            extra = [kreg_callbacks.TensorBoard(board)] if first and board else []  # no TensorFlow needed
            return retrain(build, fit, data, seed=seed, epochs=epochs, batch_size=batch_size, monitor=monitor,
                           mode=mode, last=last, callbacks=[*callbacks, *extra],
                           kernels=os.path.join(folder, "baseline-kernels.npz") if first else None)
        return run

    arms = {"baseline": arm(baseline_build, lambda m, *a, **k: m.fit(*a, **k), last=True)}
    for trial in trials:
        hp = trial.hyperparameters
        arms[f"trial_{trial.trial_id}"] = arm(lambda hp=hp: hypermodel.build(hp.copy()),
                                              lambda m, *a, hp=hp, **k: hypermodel.fit(hp, m, *a, **k))
    results = Confirmation(folder, seeds, metrics).run(arms, on_progress)
    columns = {"last_epoch": [r["last"] for r in results["baseline"]], "early_stopping": results["baseline"]}
    labels = {key: label.replace("unregularized", baseline_name) for key, label in LABELS.items()}
    for i, trial in enumerate(trials):
        key = f"trial_{trial.trial_id}"
        columns[key] = results[key]
        which = f"best with {by}={trial.hyperparameters.values.get(by)}" if by else \
            f"{'best' if i == 0 else 'next'} searched"
        labels[key] = f"({chr(ord('c') + i)}) {which}, trial {trial.trial_id}"
    pairs = [("early_stopping", "last_epoch")] + [(f"trial_{t.trial_id}", other) for t in trials
                                                  for other in ("early_stopping", "last_epoch")]
    pairs += [(f"trial_{t.trial_id}", f"trial_{trials[0].trial_id}") for t in trials[1:]]  # each against the best
    comparisons = {f"{a} - {b}": {m: compare([r[m] for r in columns[a]], [r[m] for r in columns[b]])
                                  for m in metrics} for a, b in pairs}
    return {"seeds": list(seeds), "selection": f"the first epoch with the best {monitor}", "metric": metric,
            "direction": mode,
            "baseline_hyperparameters": own_values,
            "columns": {key: {"label": labels[key], **{m: [r[m] for r in rows] for m in metrics}}
                        for key, rows in columns.items()},
            "comparisons": comparisons, "best_trial": trials[0].trial_id,
            "winner_unregularized": unregularized(trials[0].hyperparameters.values)}
