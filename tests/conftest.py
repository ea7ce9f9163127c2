import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


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
