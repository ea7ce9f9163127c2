import keras
from keras.ops import convert_to_numpy
import numpy as np
import pytest

import kreg
from kreg.layers import Dropout
from kreg.layers.dropout import quantized_keep

RNG = np.random.default_rng(8)
X = RNG.normal(size=(16, 10)).astype("float32")


def bn_model(rate):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(12),
            keras.layers.BatchNormalization(),
            Dropout(rate, seed=0),
            keras.layers.Dense(6),
            keras.layers.Dropout(rate),
            keras.layers.Dense(2),
        ]
    )
    bn = model.layers[1]
    bn.moving_mean.assign(RNG.normal(size=12))
    bn.moving_variance.assign(RNG.uniform(0.5, 2.0, size=12))
    return model


def test_mc_predict_keeps_batchnorm_in_inference_mode():
    model = bn_model(0.0)
    bn = model.layers[1]
    stats = [convert_to_numpy(bn.moving_mean).copy(), convert_to_numpy(bn.moving_variance).copy()]
    mean, std = kreg.mc_predict(model, X, samples=5, seed=0, batch_size=5)
    np.testing.assert_array_equal(std, 0.0)
    np.testing.assert_allclose(mean, model.predict(X, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(convert_to_numpy(bn.moving_mean), stats[0])
    np.testing.assert_array_equal(convert_to_numpy(bn.moving_variance), stats[1])
    # In training mode BatchNorm would normalize with the batch's statistics.
    assert not np.allclose(mean, convert_to_numpy(model(X, training=True)), rtol=1e-3)


def test_mc_predict_samples_every_dropout_and_repeats_with_a_seed():
    model = bn_model(0.3)
    bn = model.layers[1]
    stats = convert_to_numpy(bn.moving_mean).copy()
    states = [convert_to_numpy(layer.seed_generator.state) for layer in (model.layers[2], model.layers[4])]
    on_torch = keras.backend.backend() == "torch"  # Keras's unseeded Dropout draws from torch's generator there
    if on_torch:
        import torch

        generator = torch.random.get_rng_state()
    mean, std = kreg.mc_predict(model, X, samples=50, seed=4)
    again, std_again = kreg.mc_predict(model, X, samples=50, seed=4)
    other, _ = kreg.mc_predict(model, X, samples=50, seed=5)
    np.testing.assert_array_equal(mean, again)
    np.testing.assert_array_equal(std, std_again)
    assert (std > 0).all()
    assert not np.array_equal(mean, other)
    np.testing.assert_array_equal(convert_to_numpy(bn.moving_mean), stats)
    for layer, state in zip((model.layers[2], model.layers[4]), states):
        np.testing.assert_array_equal(convert_to_numpy(layer.seed_generator.state), state)
    if on_torch:
        assert torch.equal(torch.random.get_rng_state(), generator)  # put back
    # Unbiased: the MC mean approaches the deterministic (inverted) prediction.
    np.testing.assert_allclose(mean, model.predict(X, verbose=0), atol=6 * std.max() / np.sqrt(50))
    # And the patch is gone: inference is deterministic again.
    np.testing.assert_array_equal(model.predict(X, verbose=0), model.predict(X, verbose=0))


def mlp():
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(32, activation="relu"),
            Dropout(0.3, scaling="test_time"),
            keras.layers.Dense(16, activation="relu"),
            Dropout(0.2, scaling="inverted"),
            keras.layers.Dense(3),
        ]
    )


def cnn():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((8, 8, 3))
    h = Dropout(0.25, scaling="test_time", name="before_conv")(inputs)
    h = keras.layers.Conv2D(4, 3, activation="relu")(h)
    h = Dropout(0.5, scaling="test_time", noise_shape=(None, 1, 1, None), name="before_flatten")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


@pytest.mark.parametrize("build", [mlp, cnn])
def test_fold_matches_and_removes_the_dropouts(build):
    model = build()
    x = RNG.normal(size=(8, *model.input_shape[1:])).astype("float32")
    folded = kreg.fold_dropout_scaling(model)
    assert not any(isinstance(layer, Dropout) for layer in folded.layers)
    expected = model.predict(x, verbose=0)
    got = folded.predict(x, verbose=0)
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()


def test_fold_scales_the_next_kernel_by_keep():
    model = mlp()
    folded = kreg.fold_dropout_scaling(model)
    keep = float(quantized_keep(0.3))
    np.testing.assert_allclose(convert_to_numpy(folded.layers[1].kernel),
                               keep * convert_to_numpy(model.layers[2].kernel), rtol=1e-6)
    np.testing.assert_array_equal(convert_to_numpy(folded.layers[2].kernel), convert_to_numpy(model.layers[4].kernel))


def test_fold_refuses_a_consumer_it_cannot_fold_into():
    inputs = keras.Input((4,))
    h = Dropout(0.5, scaling="test_time", name="drop")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Activation("relu", name="act")(h))
    with pytest.raises(ValueError, match="'drop' feeds layer 'act' \\(Activation\\)"):
        kreg.fold_dropout_scaling(keras.Model(inputs, outputs))
    last = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), Dropout(0.5, scaling="test_time", name="end")])
    with pytest.raises(ValueError, match="'end' has no Dense or Conv layer after it"):
        kreg.fold_dropout_scaling(last)


@pytest.mark.parametrize("build", [mlp, cnn])
def test_convert_keeps_outputs_both_ways(build):
    model = build()
    x = RNG.normal(size=(8, *model.input_shape[1:])).astype("float32")
    inverted = kreg.convert_dropout_scaling(model, "inverted")
    assert {layer.scaling for layer in inverted.layers if isinstance(layer, Dropout)} == {"inverted"}
    np.testing.assert_allclose(inverted.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    back = kreg.convert_dropout_scaling(inverted, "test_time")
    assert {layer.scaling for layer in back.layers if isinstance(layer, Dropout)} == {"test_time"}
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # A round trip gives back the kernels (mlp's second dropout was inverted from the start).
    again = kreg.convert_dropout_scaling(back, "inverted")
    for old, new in zip(inverted.weights, again.weights):
        np.testing.assert_allclose(convert_to_numpy(new), convert_to_numpy(old), rtol=1e-6)


def test_convert_keeps_training_outputs_under_the_same_mask():
    layers = lambda scaling: [keras.Input((10,)), keras.layers.Dense(32, kernel_initializer="ones"),  # noqa: E731
                              Dropout(0.4, scaling=scaling, seed=3), keras.layers.Dense(3)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(layers("test_time"))
    converted = kreg.convert_dropout_scaling(model, "inverted")
    fresh = kreg.convert_dropout_scaling(converted, "test_time")  # a twin whose seed stream is unused
    np.testing.assert_allclose(convert_to_numpy(converted(X, training=True)), convert_to_numpy(fresh(X, training=True)),
                               rtol=1e-5, atol=1e-5)
