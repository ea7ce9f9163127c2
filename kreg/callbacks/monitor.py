"""TensorBoard scalars that show what regularization does to a model, epoch by epoch."""

import keras
import numpy as np
from tensorboard.plugins.histogram import summary_v2 as histogram_summary

from kreg import _ops
from kreg import _validation as v
from kreg import _walk
from kreg import constraints
from kreg.callbacks._base import Callback
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


class RegularizationMonitor(Callback):
    """Writes to TensorBoard, per epoch, what regularization does to the model.

    In the run's `train` and `validation` directories: `regularization/data_loss`
    and `regularization/penalty` (also added to the logs as `penalty` and
    `val_penalty`, as `LossBreakdown` does; needs `kreg.metrics.DataLoss` among
    the compiled metrics). In `train`, for each kernel (every trainable variable
    of rank >= 2, tagged by its path): `weights/PATH/l1`, `l2`, `zero_fraction`
    (exactly 0.0), `small_fraction` (`|w| < small`), and where a max-norm
    constraint is set `max_unit_norm` next to `max_norm_limit`; each kreg
    Dropout layer's current `dropout/NAME/rate`; with `histograms=True`, a
    histogram of each kernel.

    Args:
        log_dir: the run's TensorBoard directory; or
        tensorboard: the run's `keras.callbacks.TensorBoard` (or a subclass):
            its `log_dir` when training begins, so a tuner's per-trial
            directories are followed.
        histograms: also write kernel histograms (costlier).
        small: the threshold of `small_fraction`, a float > 0.
        data_loss: the name of the `DataLoss` metric in the logs (an error if it
            is missing); `"auto"`: "data_loss" where logged; `None`: no breakdown.
    """

    def __init__(self, log_dir=None, *, tensorboard=None, histograms=False, small=1e-3, data_loss="data_loss"):
        super().__init__()
        check_destination("RegularizationMonitor", log_dir, tensorboard)
        if log_dir is None and tensorboard is None:
            raise ValueError(
                "RegularizationMonitor needs `log_dir` or `tensorboard`. Received: log_dir=None, tensorboard=None"
            )
        if not isinstance(histograms, bool):
            raise v.invalid("RegularizationMonitor", "histograms", "a bool", histograms)
        self.log_dir = log_dir
        self.tensorboard = tensorboard
        self.histograms = histograms
        self.small = v.positive_float("RegularizationMonitor", "small", small)
        self.data_loss = data_loss
        self._writers = None

    def on_train_begin(self, logs=None):
        if self.data_loss is not None:
            check_weighted(self.model)  # a DataLoss in plain `metrics` would misreport the penalty
        self._writers = Writers(self.log_dir, self.tensorboard)

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
            add_penalties(logs, data_loss)
        for writer, prefix in ((self._writers.train, ""), (self._writers.validation, "val_")):
            if breakdown and prefix + "loss" in logs:
                write_scalars(writer, epoch, {
                    "regularization/data_loss": logs[prefix + data_loss],
                    "regularization/penalty": logs[prefix + "penalty"],
                })
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
