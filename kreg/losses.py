"""Label smoothing for integer labels, which Keras's sparse cross-entropy lacks."""

import keras
from keras import ops

from kreg import _validation as v


@keras.saving.register_keras_serializable(package="kreg")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Keras's sparse categorical cross-entropy, with `label_smoothing` as Keras's dense one has it.

    Integer labels `y` in `[0, K)` become one-hot rows smoothed towards the
    uniform distribution, `(1 - label_smoothing) * one_hot(y) + label_smoothing / K`,
    and the loss is `keras.losses.categorical_crossentropy` of those: with
    `label_smoothing=0` it equals `keras.losses.SparseCategoricalCrossentropy`.

    Args:
        label_smoothing: a float in [0, 1] (default 0.0).
        from_logits: whether `y_pred` holds logits (default False: probabilities).
        reduction: as for any `keras.losses.Loss`.
        name: as for any `keras.losses.Loss`.
        dtype: as for any `keras.losses.Loss`.

    Examples:
        >>> import numpy as np
        >>> loss = SparseCategoricalCrossentropy(label_smoothing=0.1)
        >>> round(float(loss(np.array([0]), np.array([[0.9, 0.1]]))), 4)  # targets [0.95, 0.05]
        0.2152

    References:
        Szegedy et al. Rethinking the Inception architecture for computer vision (CVPR 2016).
    """

    def __init__(self, label_smoothing=0.0, from_logits=False, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = v.fraction("SparseCategoricalCrossentropy", "label_smoothing", label_smoothing)
        if not isinstance(from_logits, bool):
            raise v.invalid("SparseCategoricalCrossentropy", "from_logits", "a bool", from_logits)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        target = ops.one_hot(labels, classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(target, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config
