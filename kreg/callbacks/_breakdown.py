"""The penalty apart from the data loss, in the epoch logs."""

import keras

from kreg import _compat, metrics
from kreg.callbacks._base import Callback


def data_loss_keys(logs, prefix, data_loss="data_loss"):
    """The data-loss entries of one run (`prefix` "" or "val_"): `data_loss`, else one `OUTPUT_data_loss` per output."""
    if prefix + data_loss in logs:
        return [prefix + data_loss]
    return [key for key in logs if key.startswith(prefix) and key.endswith("_" + data_loss)
            and not (prefix == "" and key.startswith("val_"))]


def add_penalties(logs, data_loss="data_loss"):
    """Adds `penalty = loss - data_loss` (and `val_penalty`) to `logs`; returns the keys added.

    With several outputs, each logged as `OUTPUT_data_loss`, their sum is added
    as `data_loss` (and `val_data_loss`) first.
    """
    if not data_loss_keys(logs, "", data_loss):
        raise ValueError(
            f"No `{data_loss}` in the logs: compile the model with "
            f"weighted_metrics=[kreg.metrics.DataLoss(loss)]. Logged: {sorted(logs)}"
        )
    added = []
    for prefix in ("", "val_"):
        keys = data_loss_keys(logs, prefix, data_loss)
        if prefix + "loss" in logs and keys:
            logs[prefix + data_loss] = float(sum(logs[key] for key in keys))
            logs[prefix + "penalty"] = float(logs[prefix + "loss"] - logs[prefix + data_loss])
            added.append(prefix + "penalty")
    return added


def check_weighted(model):
    """Raises a `ValueError` if `model` compiles a `kreg.metrics.DataLoss` in plain `metrics`.

    Keras gives sample and class weights only to `weighted_metrics`, and a
    callback cannot see whether `fit` or `validation_data` got weights, so a
    `DataLoss` in `metrics` would make `loss - data_loss` silently wrong (even
    negative) as soon as they do: it is refused whether or not they do.
    """
    misplaced = [m.name for m in keras.tree.flatten(_compat.compile_arguments(model).get("metrics"))
                 if isinstance(m, metrics.DataLoss)]
    if misplaced:
        raise ValueError(
            f"kreg.metrics.DataLoss {misplaced} is compiled in `metrics`, which Keras never weights, so the "
            f"penalty would be misreported under class or sample weights: compile it in `weighted_metrics` "
            f"instead (e.g. `model.compile(..., weighted_metrics=[kreg.metrics.DataLoss(loss)])`)"
        )


class LossBreakdown(Callback):
    """Logs `penalty = loss - data_loss` (and `val_penalty`) after each epoch.

    Keras's `loss` and `val_loss` are data loss plus every penalty. With
    `kreg.metrics.DataLoss` among the compiled metrics, this callback adds the
    difference to the epoch logs, so `History`, `TensorBoard` and any callback
    listed after it see `penalty` and `val_penalty` next to `data_loss`. Both
    are averaged as Keras averages `loss` (see `kreg.metrics.DataLoss`), so
    `data_loss + penalty == loss` and `penalty` is the mean of `sum(model.losses)`
    over the batches, under class weights, sample weights and several outputs.
    It needs `DataLoss` in `weighted_metrics`: at the start of `fit` it raises
    a `ValueError` for one in `metrics` (Keras would not weight it, and a
    callback cannot see whether `fit` gets weights).

    Args:
        data_loss: the name of the `DataLoss` metric in the logs.

    Examples:
        >>> import numpy as np, keras, kreg
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        ...     1, kernel_initializer="ones", kernel_regularizer=kreg.regularizers.L2(0.5))])
        >>> model.compile("sgd", "mse", weighted_metrics=[kreg.metrics.DataLoss("mse")])
        >>> x, y = np.zeros((4, 3)), np.zeros((4, 1))
        >>> h = model.fit(x, y, verbose=0, callbacks=[kreg.callbacks.LossBreakdown()])
        >>> round(h.history["penalty"][0], 4)
        1.5
    """

    def __init__(self, data_loss="data_loss"):
        super().__init__()
        if not isinstance(data_loss, str) or not data_loss:
            raise ValueError(
                f"Invalid value for argument `data_loss` of LossBreakdown: expected "
                f"a metric name. Received: data_loss={data_loss!r}"
            )
        self.data_loss = data_loss

    def on_train_begin(self, logs=None):
        check_weighted(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            add_penalties(logs, self.data_loss)
