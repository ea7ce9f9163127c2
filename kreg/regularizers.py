"""Weight penalties with the conventions of Keras and of the literature.

Two conventions for the strength `λ` of a penalty are in use:

* Keras's: `penalty = λ * sum(|w|)` (L1) and `λ * sum(w ** 2)` (L2), with no
  dependence on the size of the training set. `num_examples=None` gives this,
  numerically identical to `keras.regularizers.L1`, `L2` and `L1L2`.
* The literature's (course notes and Nielsen's book, where the cost is averaged
  over `n` training examples): `penalty = λ / (2 n) * sum(|w|)` and
  `λ / (2 n) * sum(w ** 2)`. The L2 gradient is then `λ / n * w`, so plain SGD
  with step `α` gives the "weight decay" update `w <- (1 - α λ / n) w - α dL/dw`.
  `num_examples=n` gives this; `num_examples=1` gives the `½ λ w²` form.

All penalties are computed in float32 when the input is float16 or bfloat16
(mixed precision), so they stay finite wherever float32 does.

References:
    Goodfellow, Bengio, Courville. Deep Learning, ch. 7.1 (2016).
    Nielsen. Neural Networks and Deep Learning, ch. 3 (2015).
    Zou, Hastie. Regularization and variable selection via the elastic net (2005).
    Yuan, Lin. Model selection and estimation in regression with grouped
    variables (2006).
"""

import keras
from keras import ops

from kreg import _ops
from kreg import _scalar_state
from kreg import _validation as v


def _strength(name):
    """A strength argument: a Python float for `get_config`, mirrored in the penalty's variable.

    Setting it (`regularizer.l2 = 0.1`, or `kreg.callbacks.RegularizationSchedule`)
    changes the penalty in an already compiled train step: no rebuild, no retrace.
    """

    def get(self):
        return self._values[name]

    def set(self, value):
        value = v.non_negative_float(type(self).__name__, name, value)
        values = {**self._values, name: value}
        _scalar_state.assign_state(self._state, self._stored(values), name=name, received=value)
        object.__setattr__(self, "_values", values)

    return property(get, set, doc=f"`{name}`, a float; may be set between epochs (no rebuild, no retrace).")


class _Penalty(keras.layers.Layer, keras.regularizers.Regularizer):
    """Shared plumbing: validated strengths, held in one float32 variable that is state of the layer holding the penalty.

    A penalty is also a layer without weights, so a layer given it
    (`Dense(kernel_regularizer=L2(0.1))`) tracks it as it tracks a sublayer:
    its strengths are in that layer's `variables` (not its `weights`), which
    JAX's stateless train step threads through, so a strength set between
    epochs reaches the compiled step on every backend. One variable for all of
    a penalty's strengths: Keras's JAX `train_on_batch` copies each state
    variable in and out on every call. The penalty is still called as a Keras
    regularizer, `penalty(weights)`.
    """

    strengths = ()

    def _init_strengths(self, num_examples=None, **values):
        keras.layers.Layer.__init__(self)
        _scalar_state.build_at_init(self)  # an unbuilt sublayer makes Keras re-build the model symbolically at every step
        owner = type(self).__name__
        values = {name: v.non_negative_float(owner, name, value) for name, value in values.items()}
        # Set past the layer's `__setattr__`: Keras would track the variable as a weight of the penalty.
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_state", keras.Variable(
            self._stored(values), dtype="float32", trainable=False, autocast=False, name="strengths"))
        self.num_examples = v.positive_int(owner, "num_examples", num_examples, allow_none=True)

    @property
    def variables(self):
        # A penalty has no weights, sublayers or seed generators: its state is its strengths. Keras's JAX
        # trainer collects the model's variables four times per `train_on_batch`: this skips Keras's walk.
        # On PyTorch none, as for a layer's rate (`_scalar_state.ScalarState`): out of the state_dict.
        return [] if _scalar_state._TORCH else [self._state]

    @staticmethod
    def _stored(values):
        # One strength is a scalar variable: read as it is, it compiles to a faster JAX step than a slice of a vector.
        return list(values.values()) if len(values) > 1 else next(iter(values.values()))

    def _coefficient(self, name, dtype):
        """`λ` in Keras's convention, `λ / (2 n)` in the literature's, as a `dtype` scalar."""
        state = self._state if len(self.strengths) == 1 else self._state[self.strengths.index(name)]
        strength = ops.cast(state, dtype)
        return strength if self.num_examples is None else strength / (2.0 * self.num_examples)


@keras.saving.register_keras_serializable(package="kreg")
class L1(_Penalty):
    """L1 penalty: `l1 * sum(|w|)`, or `l1 / (2 n) * sum(|w|)` with `n` given.

    The gradient is `l1 * sign(w)` (Keras's convention) or
    `l1 / (2 n) * sign(w)` (the literature's). A subgradient method never lands
    on exact zeros; for exact sparsity use `kreg.optimizers.ProximalL1`.

    Args:
        l1: the strength `λ`, a finite float >= 0.
        num_examples: `None` for Keras's convention, or the number of training
            examples `n` for the `λ / (2 n)` convention.

    Examples:
        >>> import numpy as np
        >>> w = np.array([[0.2, -0.1], [0.3, 0.4]], "float32")
        >>> round(float(L1(1.0)(w)), 6)
        1.0
        >>> round(float(L1(1.0, num_examples=5)(w)), 6)
        0.1
    """

    strengths = ("l1",)
    l1 = _strength("l1")

    def __init__(self, l1, *, num_examples=None):
        self._init_strengths(num_examples, l1=l1)

    def __call__(self, x):
        x = _ops.penalty_input(x)
        return self._coefficient("l1", x.dtype) * ops.sum(ops.absolute(x))

    def get_config(self):
        return {"l1": self.l1, "num_examples": self.num_examples}


@keras.saving.register_keras_serializable(package="kreg")
class L2(_Penalty):
    """L2 penalty: `l2 * sum(w ** 2)`, or `l2 / (2 n) * sum(w ** 2)` with `n` given.

    The gradient is `2 * l2 * w` (Keras's convention) or `l2 / n * w` (the
    literature's), the weight decay `w <- (1 - α l2 / n) w - α dL/dw` under SGD.

    Args:
        l2: the strength `λ`, a finite float >= 0.
        num_examples: `None` for Keras's convention, or the number of training
            examples `n` for the `λ / (2 n)` convention (`1` gives `½ λ w²`).

    Examples:
        >>> import numpy as np
        >>> w = np.array([[0.1, -0.05], [0.02, 0.15]], "float32")
        >>> round(float(L2(1.0)(w)), 6)
        0.0354
        >>> round(float(L2(2.0, num_examples=1)(w)), 6)
        0.0354
    """

    strengths = ("l2",)
    l2 = _strength("l2")

    def __init__(self, l2, *, num_examples=None):
        self._init_strengths(num_examples, l2=l2)

    def __call__(self, x):
        x = _ops.penalty_input(x)
        return self._coefficient("l2", x.dtype) * ops.sum(ops.square(x))

    def get_config(self):
        return {"l2": self.l2, "num_examples": self.num_examples}


@keras.saving.register_keras_serializable(package="kreg")
class ElasticNet(_Penalty):
    """Elastic net: `l1 * sum(|w|) + l2 * sum(w ** 2)`.

    With `num_examples=n`, both strengths follow the `λ / (2 n)` convention:
    `l1 / (2 n) * sum(|w|) + l2 / (2 n) * sum(w ** 2)`. With `num_examples=None`
    it is numerically identical to `keras.regularizers.L1L2(l1, l2)`.

    Args:
        l1: the L1 strength, a finite float >= 0.
        l2: the L2 strength, a finite float >= 0.
        num_examples: `None` (Keras's convention) or the number of training
            examples `n`.

    Examples:
        >>> import numpy as np
        >>> w = np.array([[0.2, -0.1], [0.3, 0.4]], "float32")
        >>> round(float(ElasticNet(1.0, 1.0)(w)), 6)
        1.3
    """

    strengths = ("l1", "l2")
    l1 = _strength("l1")
    l2 = _strength("l2")

    def __init__(self, l1, l2, *, num_examples=None):
        self._init_strengths(num_examples, l1=l1, l2=l2)

    def __call__(self, x):
        x = _ops.penalty_input(x)
        return (
            self._coefficient("l1", x.dtype) * ops.sum(ops.absolute(x))
            + self._coefficient("l2", x.dtype) * ops.sum(ops.square(x))
        )

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2, "num_examples": self.num_examples}


@keras.saving.register_keras_serializable(package="kreg")
class GroupLasso(_Penalty):
    """Group lasso over output units: `l * sum_j ||w_j||_2`.

    `w_j` is output unit `j`'s incoming weight vector (the fan-in axes, found as
    in `kreg.constraints.MaxNorm`). The penalty pushes whole units to zero:
    structured sparsity, a unit removed rather than single weights. The value
    and gradient are exact at a zero unit (gradient 0 there, not NaN).

    Args:
        l: the strength `λ`, a finite float >= 0.
        axis: `"auto"` (fan-in axes from the kernel's rank), an int or a list of
            ints: the axes summed inside each group's norm.

    Examples:
        >>> import numpy as np
        >>> w = np.array([[3.0, 0.0], [4.0, 0.0]], "float32")
        >>> float(GroupLasso(0.5)(w))
        2.5
    """

    strengths = ("l",)
    l = _strength("l")  # noqa: E741 (the usual name of the strength)

    def __init__(self, l, *, axis="auto"):  # noqa: E741
        self._init_strengths(l=l)
        self.axis = v.axis_spec("GroupLasso", "axis", axis)

    def __call__(self, x):
        axes = _ops.fan_in_axes("GroupLasso", self.axis, x)
        x = _ops.penalty_input(x)
        return self._coefficient("l", x.dtype) * ops.sum(_ops.unit_norms(x, axes))

    def get_config(self):
        return {"l": self.l, "axis": self.axis}


ALL = {
    "l1": L1,
    "l2": L2,
    "elastic_net": ElasticNet,
    "group_lasso": GroupLasso,
}


def get(name):
    """The regularizer class registered under `name` (see `ALL`)."""
    if name not in ALL:
        raise ValueError(
            f"Unknown regularizer: expected one of {sorted(ALL)}. Received: name={name!r}"
        )
    return ALL[name]
