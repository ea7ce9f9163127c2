"""`ops` and `random` for kreg's augmentation: `keras.ops` and `keras.random`, or TensorFlow's inside `tf.data`.

Keras's image layers run inside a `tf.data` pipeline whatever Keras's backend:
called inside a TensorFlow graph with Keras on JAX or torch, they switch their
ops to the TensorFlow backend (`self.backend.set_backend("tensorflow")` in
`keras/src/layers/preprocessing/data_layer.py`) and draw from a TensorFlow
seed generator seeded as theirs. kreg's augmentation layers do the same through
`TFData`: their math is written once, with this module's `ops` and `random`,
which are `keras.ops` and `keras.random` except while such a layer runs inside
`tf.data` under another backend, where they are the same functions of Keras's
TensorFlow backend. A layer's seed generator and its `Scalar`s then have
TensorFlow twins (`seed_generator`, `scalar`): the pipeline draws its own
stream, and reads a magnitude set between epochs.

The TensorFlow backend's functions are found through `kreg._compat`
(`tensorflow_op`, `tensorflow_backend`): Keras has no public API for them.
TensorFlow is imported only when a layer first runs inside `tf.data`.
"""

import sys
import threading
import weakref

import keras

from kreg import _compat

_state = threading.local()
_TWINS = weakref.WeakKeyDictionary()  # a SeedGenerator -> its TensorFlow twin


def tensorflow_mode():
    return getattr(_state, "tensorflow", False)


class _Namespace:
    """`keras.ops` (or `keras.random`) names; in TensorFlow mode, the same name of Keras's TensorFlow backend."""

    def __init__(self, public):
        self._public = public

    def __getattr__(self, name):
        function = getattr(self._public, name)
        if not tensorflow_mode():
            return function
        if isinstance(function, type(sys)):  # ops.image
            return _Namespace(function)
        return _compat.tensorflow_op(function)


ops = _Namespace(keras.ops)
random = _Namespace(keras.random)


def in_tf_data(x):
    """Whether `x` is a TensorFlow graph tensor met with Keras on another backend (a `tf.data` map)."""
    tf = sys.modules.get("tensorflow")
    return (keras.backend.backend() != "tensorflow" and tf is not None and tf.inside_function()
            and not isinstance(x, keras.KerasTensor))


def seed_generator(generator):
    """`generator`, or in TensorFlow mode its TensorFlow twin (the same seed, its own stream)."""
    if not tensorflow_mode():
        return generator
    if generator not in _TWINS:
        import tensorflow as tf

        with tf.init_scope():
            _TWINS[generator] = keras.random.SeedGenerator(generator.get_config()["seed"],
                                                           backend=_compat.tensorflow_backend())
    return _TWINS[generator]


def scalar(value):
    """A `kreg._scalar_state.Scalar`'s variable, or in TensorFlow mode its TensorFlow twin."""
    return value.tensorflow_variable() if tensorflow_mode() else value.variable


class TFData:
    """A layer mixin: called inside `tf.data` with Keras on another backend, the layer runs on TensorFlow.

    Inputs are TensorFlow tensors there, and the call goes straight to `call`
    (the layer is built at init and casts itself), as Keras's `DataLayer`
    bypasses its own input conversion.
    """

    def __call__(self, *args, **kwargs):
        if not args or not in_tf_data(args[0]):
            return super().__call__(*args, **kwargs)
        _state.tensorflow = True
        try:
            return self.call(*args, **kwargs)
        finally:
            _state.tensorflow = False
