"""Each Keras internal kreg uses (`kreg/_compat.py`, checked against Keras 3.15.1) still means what it did.

A failure here means the installed Keras changed an internal: update `kreg/_compat.py`, not this test.
"""

import keras

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
