"""Norm constraints on each output unit's incoming weights.

Keras's `MaxNorm` and `UnitNorm` default to `axis=0`, which is right for a Dense
kernel `(in, out)` and wrong for a conv kernel `(h, w, in, out)`: the norm is
then taken over the kernel's height only, and a filter whose norm is above the
limit stays above it. Here `axis="auto"` takes the norm over the fan-in axes
that the kernel's rank implies (see `kreg._ops.fan_in_axes`):

    Dense (in, out)                     axis 0
    Conv1D / Conv2D / Conv3D            every axis but the last
    separable `depthwise_kernel`        the spatial axes
    separable `pointwise_kernel`        every axis but the last

`DepthwiseConv1D/2D` name their kernel plain `kernel`, so a constraint cannot
tell it from a Conv kernel of the same rank; `kreg.attach` passes the spatial
axes for them explicitly, and a hand-built layer should pass `axis` too.

References:
    Srivastava et al. Dropout: a simple way to prevent neural networks from
    overfitting, section 5.1 (max-norm, c around 3 or 4) (2014).
"""

import keras
from keras import ops

from kreg import _ops
from kreg import _validation as v


@keras.saving.register_keras_serializable(package="kreg")
class MaxNorm(keras.constraints.Constraint):
    """Caps the norm of each output unit's incoming weights at `max_value`.

    `w_j <- w_j * min(1, max_value / ||w_j||_2)`: a unit within the limit is
    left exactly as it is (Keras's `MaxNorm` shrinks every unit by a factor
    `||w_j|| / (||w_j|| + 1e-7)`).

    Args:
        max_value: the limit `c`, a finite float > 0 (typical 1 to 5).
        axis: `"auto"` (fan-in axes from the kernel's rank), an int or a list of
            ints; an explicit axis is checked against the kernel when applied.

    Examples:
        >>> import numpy as np
        >>> w = np.array([[3.0, 0.3], [4.0, 0.4]], "float32")
        >>> print(np.asarray(MaxNorm(2.0)(w)))
        [[1.2 0.3]
         [1.6 0.4]]
    """

    def __init__(self, max_value, *, axis="auto"):
        self.max_value = v.positive_float("MaxNorm", "max_value", max_value)
        self.axis = v.axis_spec("MaxNorm", "axis", axis)

    def __call__(self, w):
        axes = _ops.fan_in_axes("MaxNorm", self.axis, w)
        w = ops.convert_to_tensor(w)
        norms = _ops.unit_norms(w, axes)
        limit = ops.cast(self.max_value, w.dtype)
        scale = ops.where(norms > limit, limit / ops.maximum(norms, limit), 1)
        return w * ops.cast(scale, w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@keras.saving.register_keras_serializable(package="kreg")
class UnitNorm(keras.constraints.Constraint):
    """Scales each output unit's incoming weights to norm 1 (a zero unit stays 0).

    Args:
        axis: `"auto"` (fan-in axes from the kernel's rank), an int or a list of
            ints; an explicit axis is checked against the kernel when applied.

    Examples:
        >>> import numpy as np
        >>> w = np.array([[3.0, 0.0], [4.0, 0.0]], "float32")
        >>> print(np.asarray(UnitNorm()(w)))
        [[0.6 0. ]
         [0.8 0. ]]
    """

    def __init__(self, *, axis="auto"):
        self.axis = v.axis_spec("UnitNorm", "axis", axis)

    def __call__(self, w):
        axes = _ops.fan_in_axes("UnitNorm", self.axis, w)
        w = ops.convert_to_tensor(w)
        norms = _ops.unit_norms(w, axes)
        return ops.where(norms > 0, w / ops.where(norms > 0, norms, 1), w)

    def get_config(self):
        return {"axis": self.axis}


ALL = {"max_norm": MaxNorm, "unit_norm": UnitNorm}


def get(name):
    """The constraint class registered under `name` (see `ALL`)."""
    if name not in ALL:
        raise ValueError(
            f"Unknown constraint: expected one of {sorted(ALL)}. Received: name={name!r}"
        )
    return ALL[name]
