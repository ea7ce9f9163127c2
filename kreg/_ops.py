"""Small pure functions on tensors shared by regularizers and constraints."""

import keras
from keras import ops

from kreg import _compat


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


def assign_state(variable, value, *, name, received):
    """`variable.assign(value)`, refused (naming `name` and `received`) while JAX's `fit` holds the variable."""
    if _compat.held_by_jax_trainer(variable):
        raise RuntimeError(
            f"`{name}` cannot change inside an epoch on the JAX backend: the train step holds it until the "
            f"epoch ends and would then restore the old value. Change it between epochs (`on_epoch_begin`, as "
            f"kreg.callbacks.RegularizationSchedule does). Received: {received!r}"
        )
    variable.assign(value)


class Scalar:
    """A schedulable float: the Python value that `get_config` reports, and a float32 variable compiled steps read.

    Only `assign` changes it, and it changes both, so the value, the config and
    the behaviour cannot disagree. Not autocast under mixed precision (a rate
    keeps float32 resolution); assigning it needs no rebuild and no retrace.
    """

    def __init__(self, name, value):
        self.value = value
        self.variable = keras.Variable(value, dtype="float32", trainable=False, autocast=False, name=name)
        self._tensorflow = None

    def tensorflow_variable(self):
        """A TensorFlow variable that `assign` keeps equal: what a `tf.data` pipeline reads under another backend."""
        if self._tensorflow is None:
            import tensorflow as tf

            with tf.init_scope():
                self._tensorflow = tf.Variable(self.value, dtype="float32", trainable=False)
        return self._tensorflow

    def assign(self, value):
        assign_state(self.variable, value, name=self.variable.name, received=value)
        self.value = value
        if self._tensorflow is not None:
            self._tensorflow.assign(value)


def scalar_property(name, check):
    """A property over the `Scalar` at `self._<name>`, validated by `check(self, value)` when set."""

    def get(self):
        return getattr(self, "_" + name).value

    def set(self, value):
        getattr(self, "_" + name).assign(check(self, value))

    return property(get, set, doc=f"`{name}`, a float; may be set between epochs (no rebuild, no retrace).")


class ScalarState:
    """A layer mixin: its `Scalar` attributes are state, like a seed generator's, not weights.

    Keras's `Layer.weights` (what `get_weights`, `set_weights`, `load_weights`
    and `.weights.h5` files see) holds what the layer tracks as variables;
    `Layer.variables` adds the seed generators' states, and is what a parent
    layer or model collects (`non_trainable_variables`, which the JAX trainer
    threads through its stateless train step). A `Scalar` is a plain object,
    which Keras's attribute tracking ignores, so its variable is in neither
    list until this property adds it to `variables`: the model's weights are
    those of the same model with Keras's layers, and the compiled step, on any
    backend, reads the current value.

    The attributes that hold a `Scalar` are noted when set, so `variables`,
    which Keras's JAX trainer reads several times per `train_on_batch` for every
    layer, does not scan the layer's attributes each time.
    """

    def __setattr__(self, name, value):
        names = self.__dict__.get("_scalar_names", ())
        if isinstance(value, Scalar) and name not in names:
            object.__setattr__(self, "_scalar_names", (*names, name))  # a plain tuple: not tracked by Keras
        super().__setattr__(name, value)

    @property
    def variables(self):
        variables = super().variables
        own = self.__dict__
        for name in own.get("_scalar_names", ()):
            scalar = own.get(name)
            if isinstance(scalar, Scalar):
                variables.append(scalar.variable)
        return variables


def build_at_init(layer):
    """Marks a layer without weights to create built, unless a subclass overrides `build`.

    What Keras's own stateless layers do at the end of `__init__` (`Dropout`,
    `Activation`: a subclass with its own `build` must still get it called).
    """
    if type(layer).build is keras.layers.Layer.build:
        layer.built = True
