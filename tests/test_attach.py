import keras
from keras.ops import convert_to_numpy
import numpy as np
import pytest

import kreg
from kreg import constraints, regularizers

RNG = np.random.default_rng(2)


def mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="relu", name="hidden"),
            keras.layers.Dropout(0.1, name="drop"),
            keras.layers.Dense(3, name="out"),
        ]
    )


def cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    inner = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Flatten(), keras.layers.Dense(3, name="inner_dense")])
    return keras.Model(inputs, inner(h))


@pytest.mark.parametrize("build", [mlp, cnn])
def test_same_weights_and_predictions_and_penalty_in_losses(build):
    model = build()
    x = RNG.normal(size=(4, *model.input_shape[1:])).astype("float32")
    regularized = kreg.attach(model, kernel_regularizer=regularizers.L2(0.1))
    for old, new in zip(model.weights, regularized.weights):
        np.testing.assert_array_equal(convert_to_numpy(old), convert_to_numpy(new))
    np.testing.assert_allclose(regularized.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    kernels = [w for w in model.trainable_weights if len(w.shape) >= 2]
    expected = sum(0.1 * float(np.square(convert_to_numpy(w)).sum()) for w in kernels)
    assert len(regularized.losses) == len(kernels)
    assert float(sum(regularized.losses)) == pytest.approx(expected, rel=1e-5)
    assert model.losses == []


def test_biases_stay_unregularized_unless_asked():
    model = mlp()
    only_kernels = kreg.attach(model, kernel_regularizer=regularizers.L1(1.0))
    with_biases = kreg.attach(model, kernel_regularizer=regularizers.L1(1.0), bias_regularizer=regularizers.L1(1.0))
    for layer in (only_kernels, with_biases):
        layer.layers[0].bias.assign(np.full(5, 10.0))
    assert float(sum(with_biases.losses)) - float(sum(only_kernels.losses)) == pytest.approx(50.0, rel=1e-5)


def test_penalty_changes_training():
    x = RNG.normal(size=(32, 6)).astype("float32")
    y = RNG.normal(size=(32, 3)).astype("float32")
    kernels = []
    for model in (mlp(), kreg.attach(mlp(), kernel_regularizer=regularizers.L2(1.0))):
        model.compile(keras.optimizers.SGD(0.05), "mse")
        model.fit(x, y, epochs=5, verbose=0)
        kernels.append(convert_to_numpy(model.get_layer("hidden").kernel))
    assert np.linalg.norm(kernels[1]) < np.linalg.norm(kernels[0])


@pytest.mark.parametrize(
    ("layers", "chosen"),
    [
        ("out", {"out"}),
        (["hidden", "out"], {"hidden", "out"}),
        (keras.layers.Dense, {"hidden", "out"}),
        (lambda layer: layer.name.startswith("hid"), {"hidden"}),
        (None, {"hidden", "out"}),
    ],
)
def test_layer_selection(layers, chosen):
    model = kreg.attach(mlp(), layers=layers, kernel_constraint=constraints.MaxNorm(1.0))
    got = {layer.name for layer in model.layers if getattr(layer, "kernel_constraint", None) is not None}
    assert got == chosen


def test_nested_layers_are_reached_and_depthwise_axes_resolved():
    model = kreg.attach(cnn(), layers=["inner_dense"], kernel_regularizer=regularizers.L1(0.5))
    inner = model.layers[-1]
    assert isinstance(inner.get_layer("inner_dense").kernel_regularizer, regularizers.L1)
    depthwise = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.DepthwiseConv2D(3)])
    attached = kreg.attach(depthwise, kernel_constraint=constraints.MaxNorm(2.0))
    assert attached.layers[0].depthwise_constraint.get_config() == {"max_value": 2.0, "axis": [0, 1]}


def test_errors():
    with pytest.raises(ValueError, match="no layer named \\['nope'\\]"):
        kreg.attach(mlp(), layers=["out", "nope"], kernel_regularizer=regularizers.L2(0.1))
    with pytest.raises(ValueError, match="no layer named \\['nope'\\]"):
        kreg.attach(mlp(), layers=("out", "nope"), kernel_regularizer=regularizers.L2(0.1))
    with pytest.raises(ValueError, match="'drop' \\(Dropout\\) has no `kernel_regularizer`"):
        kreg.attach(mlp(), layers=keras.layers.Dropout, kernel_regularizer=regularizers.L2(0.1))
    with pytest.raises(ValueError, match="at least one of"):
        kreg.attach(mlp())
    with pytest.raises(ValueError, match="Received: layers=3"):
        kreg.attach(mlp(), layers=3, kernel_regularizer=regularizers.L2(0.1))
    with pytest.raises(ValueError, match="built model"):
        kreg.attach(keras.Sequential([keras.layers.Dense(2)]), kernel_regularizer=regularizers.L2(0.1))
    with pytest.raises(ValueError, match="argument `model` of attach"):
        kreg.attach("model", kernel_regularizer=regularizers.L2(0.1))
