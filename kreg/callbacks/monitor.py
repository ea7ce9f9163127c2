"""TensorBoard scalars that show what regularization does to a model, epoch by epoch."""

import os

import keras
import numpy as np
from tensorboard.plugins.histogram import summary_v2 as histogram_summary

from kreg import _ops
from kreg import _validation as v
from kreg import _walk
from kreg import constraints
from kreg.callbacks import _layout
from kreg.callbacks._base import Beside
from kreg.callbacks._base import Writers
from kreg.callbacks._base import check_destination
from kreg.callbacks._base import write_scalars
from kreg.callbacks._breakdown import add_penalties
from kreg.callbacks._breakdown import check_weighted
from kreg.callbacks._breakdown import data_loss_keys
from kreg.layers import Dropout


def kernel_stats(kernel, small=1e-3):
    """L1 and L2 norms, the fraction of exact zeros and of `|w| < small`, of a NumPy kernel."""
    flat = kernel.ravel()
    magnitude = np.abs(flat)
    return {
        "l1": float(magnitude.sum()),
        "l2": float(np.sqrt(np.dot(flat, flat))),
        "zero_fraction": np.count_nonzero(magnitude == 0) / flat.size,
        "small_fraction": np.count_nonzero(magnitude < small) / flat.size,
    }


def max_norm_stats(variable, kernel):
    """The largest per-unit norm and the limit, where a max-norm constraint is set; else {}."""
    constraint = getattr(variable, "constraint", None)
    if isinstance(constraint, constraints.MaxNorm):
        axes = _ops.fan_in_axes("MaxNorm", constraint.axis, variable)
    elif isinstance(constraint, keras.constraints.MaxNorm):
        axes = constraint.axis
    else:
        return {}
    norms = np.sqrt(np.square(kernel).sum(axis=tuple(np.atleast_1d(axes))))
    return {"max_unit_norm": float(norms.max()), "max_norm_limit": float(constraint.max_value)}


class RegularizationMonitor(Beside):
    """Writes to TensorBoard, per epoch, what regularization does to the model, and lays out a page to see it.

    The loss broken down: `penalty = loss - data_loss` (and `val_penalty`) is
    added to the logs, as `LossBreakdown` does (it needs `kreg.metrics.DataLoss`
    in the compiled `weighted_metrics`), so `History`, a tuner's objective and
    a `TensorBoard` callback see it. In TensorBoard each quantity has one tag,
    the one Keras's `TensorBoard` callback gives a logged metric:
    `epoch_data_loss` and `epoch_penalty`, in the `train` and `validation` runs.

    Who writes them depends on where the board is, never on luck: Keras's
    `TensorBoard` (and kreg's) writes every key of the logs as it finds them,
    so a board listed after this callback writes `epoch_data_loss` and
    `epoch_penalty`, and this callback writes neither; a board listed before it
    has written `epoch_data_loss` (a compiled metric) but not yet seen the
    penalty, so this callback writes `epoch_penalty` into the board's runs
    itself; with `log_dir`, or a `tensorboard` left out of `fit`, it writes
    both. It tells these apart by the order in which Keras's `CallbackList`
    hands the callbacks their `params` (`kreg.callbacks._base.Beside`). The
    alternatives write twice or lose a value: writing the breakdown under
    tags of its own (as kreg did, `regularization/*`) duplicates the board's
    `epoch_*` tags; leaving it all to the board loses the penalty when the
    board runs first. (`LossBreakdown` is not needed beside this callback;
    given both, list `LossBreakdown` first.)

    In `train`, for each kernel (every trainable variable of rank >= 2, tagged
    by its path): `weights/PATH/l1`, `l2`, `zero_fraction` (exactly 0.0),
    `small_fraction` (`|w| < small`), and where a max-norm constraint is set
    `max_unit_norm` next to `max_norm_limit`; each kreg Dropout layer's current
    `dropout/NAME/rate`; with `histograms=True`, a histogram of each kernel.

    With `layout=True` it also writes, once, a page for TensorBoard's Custom
    Scalars dashboard into the `train` run (`kreg.callbacks._layout`): data
    loss against penalty, training against validation, every kernel's norms,
    each max-norm limit on the chart of the unit norms it bounds.

    Args:
        log_dir: the run's TensorBoard directory; or
        tensorboard: the run's `keras.callbacks.TensorBoard` (or a subclass):
            its `log_dir` when training begins, so a tuner's per-trial
            directories are followed.
        histograms: also write kernel histograms (costlier).
        small: the threshold of `small_fraction`, a float > 0.
        data_loss: the name of the `DataLoss` metric in the logs (an error if it
            is missing); `"auto"`: "data_loss" where logged; `None`: no breakdown.
        layout: write the Custom Scalars page (a bool; a search writes one page
            for all its trials instead).

    Examples:
        >>> import keras, numpy as np, os, tempfile, kreg
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        ...     1, kernel_regularizer=kreg.regularizers.L2(0.1))])
        >>> model.compile("sgd", "mse", weighted_metrics=[kreg.metrics.DataLoss("mse")])
        >>> board = kreg.callbacks.TensorBoard(tempfile.mkdtemp())
        >>> history = model.fit(np.ones((4, 2)), np.ones(4), verbose=0,
        ...                     callbacks=[board, RegularizationMonitor(tensorboard=board)])
        >>> "penalty" in history.history  # the board ran first: the monitor wrote `epoch_penalty` itself
        True
        >>> sorted(os.listdir(os.path.join(board.log_dir, "train")))[0]
        'events.out.tfevents.0.kreg-custom-scalars'
    """

    def __init__(self, log_dir=None, *, tensorboard=None, histograms=False, small=1e-3, data_loss="data_loss",
                 layout=True):
        super().__init__()
        check_destination("RegularizationMonitor", log_dir, tensorboard)
        if log_dir is None and tensorboard is None:
            raise ValueError(
                "RegularizationMonitor needs `log_dir` or `tensorboard`. Received: log_dir=None, tensorboard=None"
            )
        if not isinstance(histograms, bool):
            raise v.invalid("RegularizationMonitor", "histograms", "a bool", histograms)
        if not isinstance(layout, bool):
            raise v.invalid("RegularizationMonitor", "layout", "a bool", layout)
        self.log_dir = log_dir
        self.tensorboard = tensorboard
        self.histograms = histograms
        self.small = v.positive_float("RegularizationMonitor", "small", small)
        self.data_loss = data_loss
        self.layout = layout
        self._writers = None

    def on_train_begin(self, logs=None):
        if self.data_loss is not None:
            check_weighted(self.model)  # a DataLoss in plain `metrics` would misreport the penalty
        self._writers = Writers(self.log_dir, self.tensorboard)
        if self.layout:
            _layout.write(os.path.join(self._writers.root, "train"), _layout.MONITOR)

    def on_train_end(self, logs=None):
        if self._writers is not None:
            self._writers.close()
            self._writers = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        data_loss = "data_loss" if self.data_loss == "auto" else self.data_loss
        breakdown = self.data_loss is not None and (
            self.data_loss != "auto" or bool(data_loss_keys(logs, "", data_loss)))
        if breakdown:
            before = set(logs)
            add_penalties(logs, data_loss)
            # A board listed before this callback wrote the logs as they were (the data loss of each output, not
            # their sum); else nobody wrote any of it. See the class docstring.
            mine = [key for key in logs if key not in before] if self.board_wrote_logs() else [
                key for key in (data_loss, "val_" + data_loss, "penalty", "val_penalty") if key in logs]
            self.write_missed(epoch, {key: logs[key] for key in mine})
        values = {}
        for variable in self.model.trainable_variables:
            if len(variable.shape) < 2:
                continue
            kernel = keras.ops.convert_to_numpy(variable)
            stats = {**kernel_stats(kernel, self.small), **max_norm_stats(variable, kernel)}
            values.update({f"weights/{variable.path}/{name}": value for name, value in stats.items()})
            if self.histograms:
                self._writers.train.write(histogram_summary.histogram_pb(f"weights/{variable.path}", kernel), epoch)
        for layer in _walk.layers(self.model, Dropout):
            values[f"dropout/{layer.name}/rate"] = layer.rate
        write_scalars(self._writers.train, epoch, values)
