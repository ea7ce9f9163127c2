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
