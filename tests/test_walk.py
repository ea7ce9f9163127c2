"""One walk finds every layer: nested Sequential/Functional models, subclassed models, custom layers."""

import keras
import numpy as np
import pytest

import kreg
from kreg import _walk
from kreg.callbacks import RegularizationSchedule

X = np.random.default_rng(11).normal(size=(16, 6)).astype("float32")


class Block(keras.layers.Layer):
    """A custom layer holding a Dense and a kreg Dropout (no config for them: not rebuildable)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(8, name="inner_dense")
        self.drop = kreg.layers.Dropout(0.5, scaling="test_time", seed=0, name="inner_drop")

    def call(self, x, training=None):
        return self.drop(self.dense(x), training=training)


class Net(keras.Model):
    """A subclassed model holding a Block and a Keras Dropout."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = Block(name="block")
        self.keras_drop = keras.layers.Dropout(0.3, name="keras_drop")
        self.out = keras.layers.Dense(2, name="out")

    def call(self, x, training=None):
        return self.out(self.keras_drop(self.block(x, training=training), training=training))


def functional_with_block():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(Block(name="block")(inputs)))


def functional_with_everything(subclassed=True):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    nested = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6, name="nested_dense"),
                               kreg.layers.Dropout(0.2, scaling="test_time", name="nested_drop")], name="nested")
    outputs = nested(inputs)
    return keras.Model(inputs, Net(name="net")(outputs) if subclassed else keras.layers.Dense(2)(outputs))


def test_walk_finds_every_layer_once_with_its_parent():
    model = functional_with_everything()
    found = {layer.name: parent.name for layer, parent in _walk.walk(model)}
    assert {name: found[name] for name in ("nested", "nested_drop", "net", "block", "inner_drop", "keras_drop")} == {
        "nested": model.name, "nested_drop": "nested", "net": model.name, "block": "net",
        "inner_drop": "block", "keras_drop": "net"}
    assert len(found) == len(_walk.walk(model))
    assert [layer.name for layer in _walk.layers(model, kreg.layers.Dropout)] == ["nested_drop", "inner_drop"]


def test_mc_predict_samples_a_dropout_inside_a_custom_layer():
    # issue 12, item 2: mc_predict returned std 0.0, as if there were no dropout.
    model = functional_with_block()
    mean, std = kreg.mc_predict(model, X, samples=20, seed=0)
    assert (std > 0).all()
    model = Net()
    model(X)
    assert (kreg.mc_predict(model, X, samples=20, seed=0)[1] > 0).all()


def test_monitor_and_schedule_reach_nested_dropouts(tmp_path):
    model = functional_with_everything()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    schedule = RegularizationSchedule(dropout_rate=0.1)
    monitor = kreg.callbacks.RegularizationMonitor(str(tmp_path), data_loss=None)
    model.fit(X, np.zeros((16, 2)), verbose=0, callbacks=[schedule, monitor])
    assert [layer.rate for layer in _walk.layers(model, kreg.layers.Dropout)] == [0.1, 0.1]


@pytest.mark.parametrize("apply", [kreg.fold_dropout_scaling, lambda m: kreg.convert_dropout_scaling(m, "inverted")],
                         ids=["fold", "convert"])
def test_folding_through_a_custom_layer_names_it(apply):
    model = functional_with_block()
    with pytest.raises(ValueError, match=r"layer 'inner_drop' \(Dropout\): it is inside a custom layer, "
                                         r"'block' \(Block\)"):
        apply(model)
    with pytest.raises(ValueError, match=r"layer 'nested_drop' \(Dropout\): it is inside a nested model, "
                                         r"'nested' \(Sequential\).*apply it to that model itself"):
        apply(functional_with_everything(subclassed=False))


def test_attach_names_a_layer_it_cannot_rebuild():
    model = functional_with_block()
    with pytest.raises(ValueError, match=r"attach cannot reach layer 'inner_dense' \(Dense\).*'block' \(Block\)"):
        kreg.attach(model, kernel_regularizer=kreg.regularizers.L2(0.1))
    regularized = kreg.attach(model, layers="head", kernel_regularizer=kreg.regularizers.L2(0.1))
    assert len(regularized.losses) == 1


class Residual(keras.layers.Layer):
    """A custom residual unit, `x + DropPath(Dense(x))`: the family is found inside it too."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(6)
        self.drop_path = kreg.layers.DropPath(0.5, seed=0)

    def call(self, x, training=None):
        return x + self.drop_path(self.dense(x), training=training)


def test_mc_predict_and_the_schedule_reach_a_drop_path_inside_a_custom_layer():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Residual(name="residual")(inputs)))
    assert (kreg.mc_predict(model, X, samples=20, seed=0)[1] > 0).all()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    model.fit(X, np.zeros((16, 2)), verbose=0, callbacks=[RegularizationSchedule(dropout_rate=0.1)])
    assert [layer.rate for layer in _walk.layers(model, kreg.layers.BaseDropout)] == [0.1]


def test_penalties_are_not_layers_of_the_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_regularizer=kreg.regularizers.L2(0.1))])
    assert [type(layer) for layer in _walk.layers(model)] == [keras.layers.InputLayer, keras.layers.Dense]
    regularized = kreg.attach(model, layers=lambda layer: not isinstance(layer, keras.layers.InputLayer),
                              kernel_constraint=kreg.constraints.MaxNorm(2.0))
    assert isinstance(regularized.layers[0].kernel_constraint, kreg.constraints.MaxNorm)
