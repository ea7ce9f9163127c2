"""The penalty apart from the data loss, in the epoch logs."""

from kreg.callbacks._base import Callback


def add_penalties(logs, data_loss="data_loss"):
    """Adds `penalty = loss - data_loss` (and `val_penalty`) to `logs`; returns the keys added."""
    if data_loss not in logs:
        raise ValueError(
            f"No `{data_loss}` in the logs: compile the model with "
            f"metrics=[kreg.metrics.DataLoss(loss)]. Logged: {sorted(logs)}"
        )
    added = []
    for prefix in ("", "val_"):
        if prefix + "loss" in logs and prefix + data_loss in logs:
            logs[prefix + "penalty"] = float(logs[prefix + "loss"] - logs[prefix + data_loss])
            added.append(prefix + "penalty")
    return added


class LossBreakdown(Callback):
    """Logs `penalty = loss - data_loss` (and `val_penalty`) after each epoch.

    Keras's `loss` and `val_loss` are data loss plus every penalty. With
    `kreg.metrics.DataLoss` among the compiled metrics, this callback adds the
    difference to the epoch logs, so `History`, `TensorBoard` and any callback
    listed after it see `penalty` and `val_penalty` next to `data_loss`. The two
    averages are taken over the same examples, so `data_loss + penalty == loss`.

    Args:
        data_loss: the name of the `DataLoss` metric in the logs.

    Example:

    >>> import numpy as np, keras, kreg
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
    ...     1, kernel_initializer="ones", kernel_regularizer=kreg.regularizers.L2(0.5))])
    >>> model.compile("sgd", "mse", metrics=[kreg.metrics.DataLoss("mse")])
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

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            add_penalties(logs, self.data_loss)
