"""A verdict on each epoch and on the run: underfitting, overfitting or a good fit."""

import math
import os

from kreg import _events
from kreg import _validation as v
from kreg.callbacks import _layout
from kreg.callbacks._base import Beside
from kreg.callbacks._base import Writers
from kreg.callbacks._base import check_destination

GOOD_FIT, UNDERFITTING, OVERFITTING = "good fit", "underfitting", "overfitting"
CODES = {GOOD_FIT: 0, UNDERFITTING: 1, OVERFITTING: 2}
NEXT_STEP = {
    UNDERFITTING: "high bias: fit the training set better first: a bigger network, longer training, "
    "a better optimizer or learning rate, or less regularization",
    OVERFITTING: "high variance: more data (or augmentation), more regularization (L2, dropout, max-norm), "
    "or stop early at the best validation epoch",
    GOOD_FIT: "keep these settings: training error is near the baseline and validation error near training error",
}
_ACCURACIES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


def classify(train_error, val_error, baseline_error, bias_threshold, variance_threshold):
    """The verdict of the usual recipe: bias first, then variance.

    `train_error - baseline_error > bias_threshold`: underfitting (high bias),
    whatever the gap, since a model that does not fit its training set has to
    be fixed first; else `val_error - train_error > variance_threshold`:
    overfitting (high variance); else a good fit.
    """
    if train_error - baseline_error > bias_threshold:
        return UNDERFITTING
    if val_error - train_error > variance_threshold:
        return OVERFITTING
    return GOOD_FIT


class FitDiagnosis(Beside):
    """Classifies each epoch and the run as underfitting, overfitting or a good fit.

    The error is `1 - accuracy` for classifiers (an accuracy metric in the
    logs), else the data loss (`kreg.metrics.DataLoss`) or the loss. With
    `avoidable bias = train_error - baseline_error` and
    `generalization gap = val_error - train_error`:

    * underfitting (high bias): `avoidable bias > bias_threshold`;
    * overfitting (high variance): not underfitting, and
      `generalization gap > variance_threshold`;
    * good fit: neither.

    The thresholds are in the units of the error: for `1 - accuracy`, 0.05
    means 5 points of accuracy. `baseline_error` is the best error one can hope
    for (human level, the best known model, or the label-noise rate); 0 by
    default. It also finds the epoch after which the validation error stopped
    improving (by more than `min_delta` for `patience` epochs) while the
    training error still fell: where to stop early.

    Each epoch adds to the logs (so `History`, TensorBoard and a tuner's
    objective can use them): `train_error`, `val_error`, `avoidable_bias`,
    `generalization_gap`, `fit_verdict` (0 good fit, 1 underfitting, 2
    overfitting) and `best_epoch` (numbered from 1, as Keras's progress bar
    prints "Epoch 5/5"). With `log_dir` or `tensorboard` it writes
    each epoch's verdict and, at the end, the run's verdict, the recommended
    next step, the best and the last epoch as TensorBoard text (`fit/verdict`,
    `fit/summary`), and the Custom Scalars page's diagnosis charts
    (`kreg.callbacks._layout`). Those entries reach TensorBoard once, as
    `epoch_train_error`, `epoch_generalization_gap`, ... (and the validation
    run's `epoch_error`): from a `tensorboard` callback listed after this one,
    else written by this one, as `RegularizationMonitor` does its penalty.
    The run's verdict is the last epoch's. After training, `verdict`,
    `recommendation`, `best_epoch`, `stopped_epoch`,
    `overfitting_onset` and `history` hold the same; the attributes count
    epochs from 0, as Keras's callbacks receive them (`EarlyStopping`'s
    `stopped_epoch` too), and the texts from 1, as Keras prints them.

    Args:
        baseline_error: the reachable error, a float >= 0.
        bias_threshold: the largest avoidable bias of a good fit, >= 0.
        variance_threshold: the largest generalization gap of a good fit, >= 0.
        error: `"auto"` or the name of the metric in the logs (a name ending in
            "accuracy" or "acc" is turned into `1 - accuracy`).
        patience: epochs without validation improvement before the onset of
            overfitting is declared, an int >= 1.
        min_delta: the smallest decrease of the validation error that counts.
        log_dir: a folder to write the verdict into as TensorBoard text (optional).
        tensorboard: or a `keras.callbacks.TensorBoard` to write beside (optional).
    """

    def __init__(self, *, baseline_error=0.0, bias_threshold=0.05, variance_threshold=0.05, error="auto",
                 patience=3, min_delta=0.0, log_dir=None, tensorboard=None):
        super().__init__()
        owner = "FitDiagnosis"
        self.baseline_error = v.non_negative_float(owner, "baseline_error", baseline_error)
        self.bias_threshold = v.non_negative_float(owner, "bias_threshold", bias_threshold)
        self.variance_threshold = v.non_negative_float(owner, "variance_threshold", variance_threshold)
        if not isinstance(error, str) or not error:
            raise v.invalid(owner, "error", '"auto" or a metric name', error)
        self.error = error
        self.patience = v.positive_int(owner, "patience", patience)
        self.min_delta = v.non_negative_float(owner, "min_delta", min_delta)
        check_destination(owner, log_dir, tensorboard)
        self.log_dir = log_dir
        self.tensorboard = tensorboard
        self._writers = None

    def on_train_begin(self, logs=None):
        self.history = []
        self.best_epoch = self.stopped_epoch = self.overfitting_onset = None
        self.verdict = self.recommendation = None
        self._best = (math.inf, None)  # (validation error, training error there)
        if self.log_dir is not None or self.tensorboard is not None:
            self._writers = Writers(self.log_dir, self.tensorboard)
            _layout.write(os.path.join(self._writers.root, "train"), _layout.FIT)

    def _key(self, logs):
        if self.error != "auto":
            key = self.error
        else:
            key = next((k for k in _ACCURACIES if k in logs), "data_loss" if "data_loss" in logs else "loss")
        for name in (key, "val_" + key):
            if name not in logs:
                raise ValueError(
                    f"FitDiagnosis needs `{name}` in the logs (fit with validation data). Logged: {sorted(logs)}"
                )
        return key

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        key = self._key(logs)
        accuracy = key.endswith("accuracy") or key == "acc"
        train_error, val_error = (1 - logs[key], 1 - logs["val_" + key]) if accuracy else (
            logs[key], logs["val_" + key])
        verdict = classify(train_error, val_error, self.baseline_error, self.bias_threshold, self.variance_threshold)
        if val_error < self._best[0] - self.min_delta:
            self._best, self.best_epoch = (val_error, train_error), epoch
            self.overfitting_onset = None  # validation improved again: no onset before the best epoch
        elif self.best_epoch is not None and epoch - self.best_epoch >= self.patience \
                and train_error < self._best[1]:
            self.overfitting_onset = self.best_epoch
        self.stopped_epoch = epoch
        entry = {
            "train_error": float(train_error),
            "val_error": float(val_error),
            "avoidable_bias": float(train_error - self.baseline_error),
            "generalization_gap": float(val_error - train_error),
            "fit_verdict": CODES[verdict],
        }
        if self.best_epoch is not None:
            entry["best_epoch"] = self.best_epoch + 1  # as Keras prints it
        logs.update(entry)
        self.write_missed(epoch, entry)
        self.history.append({**entry, "verdict": verdict})
        self.verdict, self.recommendation = verdict, NEXT_STEP[verdict]
        if self._writers is not None:
            self._writers.train.write(_events.text("fit/verdict", f"{verdict} (train error {train_error:.4f}, "
                                                                  f"validation error {val_error:.4f})"), epoch)

    def summary(self):
        """The run's verdict, the next step, and where validation error was best, as text."""
        if not self.history:
            return "FitDiagnosis: no epoch seen"
        last = self.history[-1]
        lines = [
            f"verdict: {self.verdict} (epoch {self.stopped_epoch + 1}: train error {last['train_error']:.4f}, "
            f"validation error {last['val_error']:.4f}, baseline {self.baseline_error:.4f}; thresholds: "
            f"bias {self.bias_threshold}, variance {self.variance_threshold})",
            f"next step: {self.recommendation}",
            f"best validation error at epoch {self.best_epoch + 1}; last epoch {self.stopped_epoch + 1} (epochs "
            f"counted from 1, as Keras prints them; the logs' fit_verdict: 0 good fit, 1 underfitting, 2 overfitting)",
        ]
        if self.overfitting_onset is not None:
            lines.append(
                f"validation error stopped improving after epoch {self.overfitting_onset + 1} while training error "
                f"kept falling: stop there (keras.callbacks.EarlyStopping(restore_best_weights=True))"
            )
        return "\n".join(lines)

    def on_train_end(self, logs=None):
        if self._writers is not None:
            self._writers.train.write(_events.text("fit/summary", self.summary()), self.stopped_epoch or 0)
            self._writers.close()
            self._writers = None
