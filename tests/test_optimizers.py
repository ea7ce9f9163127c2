import keras
from keras.ops import convert_to_numpy
import numpy as np
import pytest

from kreg.optimizers import ProximalL1, soft_threshold

RNG = np.random.default_rng(0)
N, D, RELEVANT = 256, 20, np.array([2.0, -1.5, 1.0], "float32")


def sparse_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    w = np.zeros(D, "float32")
    w[:3] = RELEVANT
    y = x @ w + 0.1 * rng.normal(size=N).astype("float32")
    return x, y[:, None]


def fit_linear(optimizer, regularizer=None, epochs=20):
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(1, kernel_regularizer=regularizer)
    model = keras.Sequential([keras.Input((D,)), layer])
    model.compile(optimizer, "mse")
    x, y = sparse_regression()
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return convert_to_numpy(layer.kernel)[:, 0]


def test_soft_threshold():
    w = np.array([-2.0, -0.5, 0.0, 0.2, 1.0], "float32")
    np.testing.assert_array_equal(np.asarray(soft_threshold(w, 0.5)), [-1.5, 0.0, 0.0, 0.0, 0.5])


def test_proximal_l1_zeroes_irrelevant_weights_where_keras_l1_does_not():
    ours = fit_linear(ProximalL1(keras.optimizers.Adam(0.05), l1=0.2))
    theirs = fit_linear(keras.optimizers.Adam(0.05), keras.regularizers.L1(0.05))
    irrelevant = D - len(RELEVANT)
    assert (ours[3:] == 0.0).sum() >= 0.9 * irrelevant
    np.testing.assert_allclose(ours[:3], RELEVANT, atol=0.25)
    assert (theirs[3:] == 0.0).sum() < 0.9 * irrelevant


def test_proximal_l1_with_sgd():
    w = fit_linear(ProximalL1(keras.optimizers.SGD(0.05), l1=0.1))
    assert (w[3:] == 0.0).sum() >= 0.9 * (D - 3)
    np.testing.assert_allclose(w[:3], RELEVANT, atol=0.25)


def test_threshold_follows_the_learning_rate_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    l1 = 0.3
    x = RNG.normal(size=(16, 4)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")
    w0 = RNG.normal(size=(4, 1)).astype("float32")
    layer = keras.layers.Dense(1, use_bias=False)
    model = keras.Sequential([keras.Input((4,)), layer])
    layer.kernel.assign(w0)
    model.compile(ProximalL1(keras.optimizers.SGD(schedule), l1), "mse")
    w = w0.astype("float64")
    for step in range(4):
        model.train_on_batch(x, y)
        lr = 0.1 * 0.5**step
        w = w - lr * 2 / len(x) * x.T @ (x @ w - y)
        w = np.sign(w) * np.maximum(np.abs(w) - lr * l1, 0)
    np.testing.assert_allclose(convert_to_numpy(layer.kernel), w, rtol=1e-5, atol=1e-6)


def test_only_kernels_by_default_and_var_names_select():
    x, y = np.zeros((8, 3), "float32"), np.ones((8, 1), "float32")
    for var_names, kernel_zero, bias_zero in ((None, True, False), (["bias"], False, True)):
        keras.utils.set_random_seed(0)
        layer = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")
        model = keras.Sequential([keras.Input((3,)), layer])
        model.compile(ProximalL1(keras.optimizers.SGD(0.1), 100.0, var_names=var_names), "mse")
        model.train_on_batch(x, y)
        assert (convert_to_numpy(layer.kernel) == 0).all() == kernel_zero
        assert (convert_to_numpy(layer.bias) == 0).all() == bias_zero


def test_delegates_learning_rate_and_iterations():
    inner = keras.optimizers.Adam(0.003)
    opt = ProximalL1(inner, 0.1)
    assert float(opt.learning_rate) == pytest.approx(0.003)
    opt.learning_rate = 0.01
    assert float(inner.learning_rate) == pytest.approx(0.01)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(opt, "mse")
    model.fit(np.ones((6, 2)), np.ones((6, 1)), batch_size=2, verbose=0)
    assert int(opt.iterations) == int(inner.iterations) == 3


def test_trains_under_mixed_float16(mixed_float16):
    w = fit_linear(ProximalL1(keras.optimizers.Adam(0.05), l1=0.2), epochs=5)
    assert np.isfinite(w).all()
    assert (w[3:] == 0.0).sum() > 0
