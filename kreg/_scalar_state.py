"""Schedulable values of layers and penalties: a float that `get_config` reports and compiled steps read.

A rate, a magnitude or a penalty's strength is kept as a Python value (for the
config) and a float32 variable (for the compiled step), so that a schedule can
change it between epochs on every backend without retracing.
"""

import keras

from kreg import _compat

_TORCH = keras.backend.backend() == "torch"  # see `ScalarState`


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

    On PyTorch the scalars stay out of `variables`: there Keras builds a
    module's parameters, and so its `state_dict`, from `variables`, and a rate
    that `load_state_dict` restored would change behind `.rate` and
    `get_config()`. The model's `state_dict` then has the keys of the same model
    with Keras's layers, and its eager step reads each scalar's variable itself.
    """

    def __setattr__(self, name, value):
        names = self.__dict__.get("_scalar_names", ())
        if isinstance(value, Scalar) and name not in names:
            object.__setattr__(self, "_scalar_names", (*names, name))  # a plain tuple: not tracked by Keras
        super().__setattr__(name, value)

    @property
    def variables(self):
        variables = super().variables
        if _TORCH:
            return variables
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
