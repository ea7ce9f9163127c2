"""Small pure functions on tensors shared by regularizers and constraints."""

import keras
from keras import ops


def penalty_input(x):
    """Casts half-precision input to float32 so sums of squares cannot overflow.

    Kernel variables are float32 under `mixed_float16` already; activations
    (activity regularizers) are float16, whose sum of squares overflows past
    65504 and whose dtype Keras cannot add to the float32 loss.
    """
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):  # torch's dtypes are not strings
        return ops.cast(x, "float32")
    return x


def fan_in_axes(owner, axis, x):
    """The axes that hold each output unit's incoming weights, as a tuple.

    With `axis="auto"` they follow from the kernel's rank: all axes but the last
    (Dense `(in, out)`, Conv1D/2D/3D `(*kernel_size, in, out)`, the separable
    `pointwise_kernel`), or all but the last two for a variable named
    `depthwise_kernel` (`(*kernel_size, in, multiplier)`: each output channel
    sees only its spatial window). An explicit axis is checked against `x`.
    """
    shape = tuple(x.shape)
    rank = len(shape)
    if axis == "auto":
        if rank < 2:
            raise ValueError(
                f'{owner} with axis="auto" needs a kernel of rank >= 2 '
                f"(one incoming weight vector per output unit). Received a "
                f"tensor of shape {shape}; pass an explicit `axis`."
            )
        name = str(getattr(x, "name", "") or "")
        spatial = name.split("/")[-1].split(":")[0] == "depthwise_kernel"
        return tuple(range(rank - 2 if spatial else rank - 1))
    axes = [axis] if isinstance(axis, int) else list(axis)
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(
                f"Invalid value for argument `axis` of {owner}: axis {a} is out "
                f"of range for a kernel of shape {shape}. Received: axis={axis!r}"
            )
    normalized = sorted({a % rank for a in axes})
    if len(normalized) != len(axes):
        raise ValueError(
            f"Invalid value for argument `axis` of {owner}: axes repeat for a "
            f"kernel of shape {shape}. Received: axis={axis!r}"
        )
    return tuple(normalized)


def unit_norms(x, axes):
    """Euclidean norm of each output unit's incoming weights (keepdims).

    Exact at zero in value and gradient: a zero unit has norm 0 and gradient 0
    (a plain `sqrt` would give NaN there).
    """
    squares = ops.sum(ops.square(x), axis=axes, keepdims=True)
    positive = squares > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, squares, 1)), 0)
