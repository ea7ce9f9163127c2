"""The data loss as a metric, apart from the penalty that Keras folds into `loss`."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kreg")
class DataLoss(keras.metrics.Mean):
    """The compiled loss without any penalty, averaged over examples like `loss`.

    Keras reports `loss = data loss + penalties` (every regularizer and
    `add_loss` term). Give the model's loss to this metric and `fit` logs
    `data_loss` (and `val_data_loss`) beside it; `kreg.callbacks.LossBreakdown`
    then logs `penalty = loss - data_loss`.

    Args:
        loss: the loss given to `compile`: a name (`"mse"`), a function or a
            `keras.losses.Loss`.
        name: the metric's name in the logs.
        dtype: the metric's dtype.

    Example:

    >>> import numpy as np
    >>> metric = DataLoss("mse")
    >>> metric.update_state(np.zeros((2, 1)), np.array([[1.0], [3.0]]))
    >>> float(metric.result())
    5.0
    """

    def __init__(self, loss, name="data_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.loss = loss
        self._fn = keras.losses.get(loss)
        if self._fn is None or not callable(self._fn):
            raise ValueError(
                f"Invalid value for argument `loss` of DataLoss: expected a Keras loss "
                f"name, function or Loss. Received: loss={loss!r}"
            )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, self.dtype)
        y_true = ops.cast(y_true, self.dtype)
        # Per-example values, so batches are weighted by size as in `loss`.
        per_example = self._fn.call if isinstance(self._fn, keras.losses.Loss) else self._fn
        return super().update_state(per_example(y_true, y_pred), sample_weight=sample_weight)

    def get_config(self):
        loss = self.loss
        if not isinstance(loss, str):
            loss = keras.saving.serialize_keras_object(loss)
        return {"loss": loss, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if not isinstance(config["loss"], str):
            config["loss"] = keras.saving.deserialize_keras_object(config["loss"])
        return cls(**config)
