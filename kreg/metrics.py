"""The data loss as a metric, apart from the penalty that Keras folds into `loss`."""

import keras
from keras import ops

from kreg import _validation as v


class _PerExample(keras.losses.Loss):
    """A loss function as a `Loss`, reduced as `compile` reduces it (`"sum_over_batch_size"`)."""

    def __init__(self, fn):
        super().__init__(name=getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kreg")
class DataLoss(keras.metrics.Mean):
    """The compiled loss without any penalty, averaged over batches exactly as Keras averages `loss`.

    Keras reports, per batch `b` of `n_b` examples,
    `loss_b = sum_k w_k * L_k(y_k, y_pred_k, sample_weight) + sum(model.losses)`
    (`L_k` the loss of output `k` with its own reduction, by default
    `sum_i(l_i * s_i) / n_b`; `w_k` its `loss_weights` entry; class weights
    arrive as sample weights), and `loss = sum_b(n_b * loss_b) / sum_b(n_b)`.
    This metric reports `w * L(y, y_pred, sample_weight)` averaged the same
    way, so over all outputs `sum(data losses) + mean penalty == loss` in every
    case `fit` supports (class and sample weights, validation sample weights,
    several outputs with `loss_weights`). `kreg.callbacks.LossBreakdown` then
    logs `penalty = loss - data_loss`.

    Compile it in `weighted_metrics`: Keras gives sample and class weights to
    those only (plain `metrics` are always unweighted), so in `metrics` it is
    the unweighted data loss, which differs from the data part of `loss` as
    soon as `fit` gets weights. `LossBreakdown` therefore refuses, with a
    `ValueError` at the start of `fit`, a `DataLoss` compiled in `metrics`.

    With several outputs, give each output its own `DataLoss` with that
    output's loss and weight (`weighted_metrics={"a": [DataLoss("mse", loss_weight=0.5)],
    ...}`): Keras logs them as `a_data_loss`, ..., and `LossBreakdown` adds
    their sum as `data_loss`.

    Args:
        loss: the loss given to `compile` (for this output): a name (`"mse"`),
            a function or a `keras.losses.Loss`.
        loss_weight: this output's entry of `compile(loss_weights=...)`, a
            float >= 0 (default 1.0).
        name: the metric's name in the logs.
        dtype: the metric's dtype.

    Examples:
        >>> import numpy as np
        >>> metric = DataLoss("mse")
        >>> metric.update_state(np.zeros((2, 1)), np.array([[1.0], [3.0]]), sample_weight=np.array([1.0, 0.5]))
        >>> float(metric.result())  # (1 * 1 + 9 * 0.5) / 2 examples, as Keras's loss
        2.75
    """

    def __init__(self, loss, loss_weight=1.0, name="data_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.loss = loss
        self.loss_weight = v.non_negative_float("DataLoss", "loss_weight", loss_weight)
        try:
            fn = keras.losses.get(loss)
        except ValueError:
            fn = None
        if fn is None or not callable(fn):
            raise v.invalid("DataLoss", "loss", "a Keras loss name, function or Loss", loss)
        self._loss = fn if isinstance(fn, keras.losses.Loss) else _PerExample(fn)

    def update_state(self, y_true, y_pred, sample_weight=None):
        value = ops.cast(self._loss(y_true, y_pred, sample_weight), self.dtype) * self.loss_weight
        return super().update_state(value, sample_weight=ops.shape(keras.tree.flatten(y_pred)[0])[0])

    def get_config(self):
        loss = self.loss
        if not isinstance(loss, str):
            loss = keras.saving.serialize_keras_object(loss)
        return {"loss": loss, "loss_weight": self.loss_weight, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if not isinstance(config["loss"], str):
            config["loss"] = keras.saving.deserialize_keras_object(config["loss"])
        return cls(**config)
