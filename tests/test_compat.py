"""Each Keras internal kreg uses (`kreg/_compat.py`, checked against Keras 3.15.1) still means what it did.

A failure here means the installed Keras changed an internal: update `kreg/_compat.py`, not this test.
"""

import keras
import pytest

import kreg
from kreg import _compat


def graph():
    inputs = keras.Input((3,))
    shared = keras.layers.Dense(3, name="shared")
    h = shared(shared(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(h)), shared


def test_sublayers_lists_tracked_layers_in_order():
    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.first = keras.layers.Dense(2)
            self.rest = [keras.layers.Dropout(0.1), keras.layers.Dense(1)]

    block = Block()
    assert _compat.sublayers(block) == [block.first, *block.rest], "Layer._flatten_layers changed (kreg._compat)"
    model, shared = graph()
    assert _compat.sublayers(model) == model.layers, "Layer._flatten_layers changed (kreg._compat)"


def test_consumers_and_times_called():
    model, shared = graph()
    out = model.get_layer("out")
    assert _compat.consumers(shared) == [shared, out], "Operation._outbound_nodes changed (kreg._compat)"
    assert _compat.times_called(shared) == 2 and _compat.times_called(out) == 1, \
        "Operation._inbound_nodes changed (kreg._compat)"


def test_copy_tensorboard_resets_exactly_the_state_that_cannot_be_copied(tmp_path):
    import copy

    import numpy as np

    pytest.importorskip("tensorflow")  # Keras's callback writes through tf.summary
    board = keras.callbacks.TensorBoard(str(tmp_path))
    model, _ = graph()
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0, callbacks=[board])
    state = vars(board)
    assert set(_compat._TENSORBOARD_RUN_STATE) <= set(state), "TensorBoard's run state changed (kreg._compat)"
    for key, value in state.items():
        if key not in _compat._TENSORBOARD_RUN_STATE:
            try:
                copy.deepcopy(value)
            except TypeError as error:
                raise AssertionError(f"TensorBoard.{key} cannot be copied: add it to kreg._compat") from error
    clone = _compat.copy_tensorboard(board, {})
    assert clone.log_dir == board.log_dir and clone.model is None


def test_built_variables_are_those_build_got():
    model, _ = graph()
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    assert _compat.built_variables(optimizer) == model.trainable_variables, \
        "BaseOptimizer._trainable_variables changed (kreg._compat)"


def augmentation_ops():
    """`(namespace, name)` of every `ops.NAME(` / `random.NAME(` call in kreg.augment (through `_backend`)."""
    import pathlib
    import re

    import kreg.augment

    source = "".join(path.read_text() for path in pathlib.Path(kreg.augment.__file__).parent.glob("*.py"))
    found = set(re.findall(r"(?<![\w.])(ops|random)\.((?:image\.)?[a-z_]+)\(", source))
    return sorted((namespace, name) for namespace, name in found if hasattr(keras, namespace) and hasattr(
        getattr(keras, namespace), name.split(".")[0]))


def test_tensorflow_op_finds_each_op_augmentation_uses():
    import functools

    pytest.importorskip("tensorflow")

    ops = augmentation_ops()
    assert ("ops", "image.affine_transform") in ops and ("random", "uniform") in ops, ops
    for namespace, name in ops:
        public = functools.reduce(getattr, name.split("."), getattr(keras, namespace))
        found = _compat.tensorflow_op(public)
        assert found.__module__.startswith("keras.src.backend.tensorflow.") and found.__name__ == public.__name__, \
            f"keras.{namespace}.{name} has no TensorFlow twin where kreg._compat.tensorflow_op looks: Keras changed"


def test_tensorflow_backend_runs_ops_and_seeds_on_tensorflow():
    import numpy as np

    tf = pytest.importorskip("tensorflow")
    backend = _compat.tensorflow_backend()
    generator = keras.random.SeedGenerator(7, backend=backend)
    assert isinstance(generator.state.value, tf.Variable), "SeedGenerator(backend=) changed (kreg._compat)"
    draws = _compat.tensorflow_op(keras.random.uniform)((3,), seed=generator)
    assert isinstance(draws, tf.Tensor) and draws.shape == (3,)
    clipped = _compat.tensorflow_op(keras.ops.clip)(tf.constant([-2.0, 0.5, 2.0]), -1.0, 1.0)
    assert isinstance(clipped, tf.Tensor) and np.allclose(clipped.numpy(), [-1.0, 0.5, 1.0])


@pytest.mark.tensorflow_only
def test_tensorflow_seed_is_the_seed_keras_random_uses():
    import tensorflow as tf

    ours = tf.random.stateless_uniform((5,), _compat.tensorflow_seed(keras.random.SeedGenerator(7)))
    theirs = keras.random.uniform((5,), seed=keras.random.SeedGenerator(7))
    assert ours.numpy().tolist() == keras.ops.convert_to_numpy(theirs).tolist()


def test_compile_arguments_are_those_compile_got():
    model, _ = graph()
    assert _compat.compile_arguments(model) == {}
    metric, weighted = keras.metrics.MeanSquaredError(), keras.metrics.MeanAbsoluteError()
    model.compile("sgd", "mse", metrics=[metric], weighted_metrics={"out": [weighted]})
    arguments = _compat.compile_arguments(model)
    assert arguments["metrics"] == [metric] and arguments["weighted_metrics"] == {"out": [weighted]}, \
        "Trainer._compile_config changed (kreg._compat)"
    assert arguments["metrics"][0] is metric and arguments["loss"] == "mse"


def test_a_clone_of_a_compiled_sequential_model_is_uncompiled_whatever_its_metrics():
    def score(y_true, y_pred):  # not registered for serialization: Keras cannot compile a copy from config
        return keras.ops.mean(y_pred)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse", metrics=[score])
    with pytest.raises(TypeError, match="Could not locate function 'score'"):  # Keras's own clone: if this passes,
        keras.models.clone_model(model)  # Keras fixed it and `seen_uncompiled` can go
    with _compat.seen_uncompiled(model):
        copy = keras.models.clone_model(model)
    assert model.compiled and not copy.compiled, "Trainer.compiled changed (kreg._compat)"
    assert not kreg.attach(model, kernel_regularizer=kreg.regularizers.L2(0.1)).compiled
