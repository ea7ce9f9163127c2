import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


def boards():
    """The TensorBoard callbacks a test can fit with here: Keras's where TensorFlow is installed, and kreg's."""
    import kreg

    keras_own = [keras.callbacks.TensorBoard] if importlib.util.find_spec("tensorflow") else []
    return [*keras_own, kreg.callbacks.TensorBoard]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tensorflow_only: tests TensorFlow machinery itself; skipped when KERAS_BACKEND is not tensorflow"
    )


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow machinery; the backend is {keras.backend.backend()}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)


def compiled(fn):
    """`fn` compiled on the current backend: `jax.jit`, `tf.function` or, on torch, `fn` itself."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def value_and_grad(fn, x):
    """`fn(x)` and its gradient with respect to `x`, as NumPy, on the current backend."""
    import numpy as np

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        value, grad = jax.value_and_grad(fn)(keras.ops.convert_to_tensor(x))
    elif backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(x)
        grad = tape.gradient(value, x)
    else:
        import torch

        x = torch.tensor(x, requires_grad=True)
        value = fn(x)
        (grad,) = torch.autograd.grad(value, x)
    return float(np.asarray(keras.ops.convert_to_numpy(value))), np.asarray(keras.ops.convert_to_numpy(grad))


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def errors_setting_inside_an_epoch(model, set_value):
    """The `RuntimeError` messages of `set_value()`, called after each batch of a 2-batch epoch of `model.fit`.

    On JAX the train step holds every variable during an epoch and writes its
    own copy back at the end: a value set then would be silently reverted.
    """
    import numpy as np

    errors = []

    def call(batch, logs):
        try:
            set_value()
        except RuntimeError as error:
            errors.append(str(error))

    inputs = model.inputs[0].shape[1:]
    model.fit(np.ones((32, *inputs)), np.zeros((32, *model.outputs[0].shape[1:])), batch_size=16, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=call)])
    return errors
