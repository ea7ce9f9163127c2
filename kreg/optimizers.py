"""Proximal L1: exact zeros with any Keras optimizer.

A penalty `λ * sum(|w|)` added to the loss is followed by its subgradient
`λ * sign(w)`, which jumps over zero and never lands on it: with SGD or Adam,
Keras's `L1` leaves weights of size ~`learning_rate * λ` oscillating around 0.
The proximal step of the L1 norm does land on zero. After the wrapped
optimizer's update at step `t`, with learning rate `α_t` (a schedule's value at
that step), every selected weight is soft-thresholded:

    w <- sign(w) * max(|w| - α_t * λ, 0)

For plain SGD this is proximal gradient descent (ISTA) on `loss + λ * sum(|w|)`;
for adaptive optimizers it is the decoupled form, like AdamW's weight decay.

References:
    Parikh, Boyd. Proximal Algorithms, section 6.5.2 (2014).
    Duchi, Singer. Efficient online and batch learning using forward backward
    splitting (2009).
"""

import keras
from keras import ops

from kreg import _compat
from kreg import _validation as v


def soft_threshold(w, threshold):
    """`sign(w) * max(|w| - threshold, 0)`: the proximal map of `threshold * |w|`."""
    return ops.sign(w) * ops.maximum(ops.absolute(w) - threshold, 0)


@keras.saving.register_keras_serializable(package="kreg")
class ProximalL1(keras.optimizers.Optimizer):
    """Wraps an optimizer and soft-thresholds weights after each of its updates.

    The threshold at step `t` is `learning_rate_t * l1`, with `learning_rate_t`
    the wrapped optimizer's learning rate at that step (schedules included).
    Weights end exactly at 0.0 once their gradient stays below `l1` in size.

    Args:
        optimizer: the `keras.optimizers.Optimizer` that makes the update.
        l1: the strength `λ` of the L1 penalty, a finite float >= 0.
        var_names: `None` to threshold every trainable variable of rank >= 2
            (kernels and embeddings; biases and normalization scales are left
            alone, as in the literature), or a list of substrings: a variable
            is thresholded when one of them occurs in its `path`
            (e.g. `["dense/kernel"]`).
        name: the optimizer's name.

    Examples:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> opt = ProximalL1(keras.optimizers.SGD(0.1), l1=1.0)
        >>> model.compile(optimizer=opt, loss="mse")
        >>> x = np.zeros((8, 4), "float32"); y = np.zeros((8, 1), "float32")  # no data gradient
        >>> _ = model.fit(x, y, epochs=20, verbose=0)
        >>> float(np.abs(model.layers[0].kernel.numpy()).max())
        0.0
    """

    def __init__(self, optimizer, l1, *, var_names=None, name=None):
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise v.invalid("ProximalL1", "optimizer", "a keras.optimizers.Optimizer", optimizer)
        l1 = v.non_negative_float("ProximalL1", "l1", l1)
        if var_names is not None and not (
            isinstance(var_names, (list, tuple))
            and var_names
            and all(isinstance(s, str) and s for s in var_names)
        ):
            raise v.invalid(
                "ProximalL1", "var_names", "None or a non-empty list of non-empty strings", var_names
            )
        super().__init__(learning_rate=0.0, name=name or "proximal_l1")
        self.inner_optimizer = optimizer
        self.l1 = l1
        self.var_names = None if var_names is None else list(var_names)

    def _thresholded(self, variable):
        if self.var_names is None:
            return len(variable.shape) >= 2
        return any(s in variable.path for s in self.var_names)

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return super().variables + self.inner_optimizer.variables

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            trainable_variables = _compat.built_variables(self.inner_optimizer)
        trainable_variables = list(trainable_variables)
        # The rate of this step: read before the wrapped update moves `iterations`.
        threshold = ops.convert_to_tensor(self.inner_optimizer.learning_rate) * self.l1
        self.inner_optimizer.apply(grads, trainable_variables)
        for grad, variable in zip(grads, trainable_variables):
            if grad is not None and self._thresholded(variable):
                variable.assign(soft_threshold(variable, ops.cast(threshold, variable.dtype)))

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "l1": self.l1,
            "var_names": self.var_names,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(optimizer, **config)
