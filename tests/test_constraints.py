import keras
from keras.ops import convert_to_numpy
import numpy as np
import pytest

import kreg
from kreg import constraints

RNG = np.random.default_rng(1)


def unit_norms(kernel, axes):
    return np.sqrt(np.square(kernel).sum(axis=axes))


def test_conv_filters_are_capped_after_a_step():
    layer = keras.layers.Conv2D(
        6, 3, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
        kernel_constraint=constraints.MaxNorm(2.0),
    )
    model = keras.Sequential([keras.Input((8, 8, 3)), layer, keras.layers.Flatten()])
    assert unit_norms(convert_to_numpy(layer.kernel), (0, 1, 2)).max() > 2.0
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.train_on_batch(RNG.normal(size=(4, 8, 8, 3)), RNG.normal(size=(4, 216)))
    assert unit_norms(convert_to_numpy(layer.kernel), (0, 1, 2)).max() <= 2.0 + 1e-6


def test_keras_max_norm_leaves_conv_filters_above_the_limit():
    # Why axis="auto" exists: Keras's default axis=0 caps the kernel's height only.
    kernel = RNG.normal(size=(3, 3, 4, 5)).astype("float32")
    capped = np.asarray(keras.constraints.MaxNorm(2.0)(kernel))
    assert unit_norms(capped, (0, 1, 2)).max() > 2.0
    ours = np.asarray(constraints.MaxNorm(2.0)(kernel))
    assert unit_norms(ours, (0, 1, 2)).max() <= 2.0 + 1e-6


@pytest.mark.parametrize("shape", [(5, 4), (3, 5, 4), (3, 3, 5, 4), (2, 2, 2, 5, 4)])
def test_units_inside_the_limit_are_untouched(shape):
    kernel = RNG.normal(size=shape).astype("float32")
    axes = tuple(range(len(shape) - 1))
    norms = unit_norms(kernel, axes)
    limit = float(np.median(norms))
    capped = np.asarray(constraints.MaxNorm(limit)(kernel))
    inside = norms <= limit
    np.testing.assert_array_equal(capped[..., inside], kernel[..., inside])
    np.testing.assert_allclose(unit_norms(capped, axes)[~inside], limit, rtol=1e-6)


@pytest.mark.parametrize("shape", [(5, 4), (3, 3, 5, 4)])
def test_unit_norm(shape):
    kernel = RNG.normal(size=shape).astype("float32")
    kernel[..., 0] = 0.0
    normed = np.asarray(constraints.UnitNorm()(kernel))
    norms = unit_norms(normed, tuple(range(len(shape) - 1)))
    np.testing.assert_allclose(norms[1:], 1.0, rtol=1e-6)
    assert norms[0] == 0.0


def test_explicit_axis_is_checked_against_the_kernel():
    constraint = constraints.MaxNorm(1.0, axis=[0, 3])
    with pytest.raises(ValueError, match=r"axis 3 is out of range for a kernel of shape \(5, 4\)"):
        constraint(np.ones((5, 4), "float32"))
    with pytest.raises(ValueError, match="axes repeat"):
        constraints.MaxNorm(1.0, axis=[0, -2])(np.ones((5, 4), "float32"))
    with pytest.raises(ValueError, match="rank >= 2"):
        constraints.MaxNorm(1.0)(np.ones((5,), "float32"))


def test_explicit_axis_is_used():
    kernel = RNG.normal(size=(5, 4)).astype("float32") * 10
    rows = np.asarray(constraints.MaxNorm(1.0, axis=1)(kernel))
    np.testing.assert_allclose(unit_norms(rows, 1), 1.0, rtol=1e-6)


def filter_norms_after_attach(layer, input_shape, kernel_name, axes):
    model = keras.Sequential([keras.Input(input_shape), layer])
    model = kreg.attach(model, kernel_constraint=constraints.MaxNorm(0.5))
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x = RNG.normal(size=(2, *input_shape))
    model.train_on_batch(x, keras.ops.convert_to_numpy(model(x)))
    kernel = getattr(model.layers[0], kernel_name).numpy()
    return unit_norms(kernel, axes)


@pytest.mark.parametrize(
    ("layer", "input_shape", "kernel_name", "axes"),
    [
        (keras.layers.Dense(4, kernel_initializer="ones"), (6,), "kernel", (0,)),
        (keras.layers.Conv1D(4, 3, kernel_initializer="ones"), (8, 3), "kernel", (0, 1)),
        (keras.layers.Conv3D(4, 2, kernel_initializer="ones"), (4, 4, 4, 2), "kernel", (0, 1, 2, 3)),
        (keras.layers.DepthwiseConv2D(3, depth_multiplier=2, depthwise_initializer="ones"),
         (6, 6, 3), "kernel", (0, 1)),
        (keras.layers.SeparableConv2D(4, 3, depthwise_initializer="ones"), (6, 6, 3),
         "depthwise_kernel", (0, 1)),
        (keras.layers.SeparableConv2D(4, 3, pointwise_initializer="ones"), (6, 6, 3),
         "pointwise_kernel", (0, 1, 2)),
        (keras.layers.Conv2DTranspose(4, 3, kernel_initializer="ones"), (5, 5, 2),
         "kernel", (0, 1, 3)),
    ],
    ids=["dense", "conv1d", "conv3d", "depthwise", "separable_depthwise", "separable_pointwise",
         "conv2d_transpose"],
)
def test_each_unit_is_capped_for_every_kernel_kind(layer, input_shape, kernel_name, axes):
    # Every unit starts far above 0.5 (all ones); after one step each is exactly 0.5.
    norms = filter_norms_after_attach(layer, input_shape, kernel_name, axes)
    np.testing.assert_allclose(norms, 0.5, rtol=1e-5)


def test_registry():
    assert constraints.get("max_norm") is constraints.MaxNorm
    with pytest.raises(ValueError, match="Received: name='min_norm'"):
        constraints.get("min_norm")


def test_a_compiled_step_with_a_penalty_and_max_norm_is_the_numpy_formula():
    # Deterministic math gives the same numbers on every backend: one SGD step of fit with L2 and MaxNorm,
    # and its logged loss, against NumPy (float64) to float32 tolerance.
    lam, lr, limit = 0.1, 0.5, 1.0
    rng = np.random.default_rng(4)  # its own draws, whatever ran before: norms 1.94, 0.49, 1.74 after the step
    x = rng.normal(size=(8, 5)).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    w0 = rng.normal(size=(5, 3)).astype("float32")
    layer = keras.layers.Dense(3, use_bias=False, kernel_regularizer=kreg.regularizers.L2(lam),
                               kernel_constraint=constraints.MaxNorm(limit))
    model = keras.Sequential([keras.Input((5,)), layer])
    layer.kernel.assign(w0)
    model.compile(keras.optimizers.SGD(lr), "mse")
    loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    w = w0.astype("float64")
    assert loss == pytest.approx(np.mean((x @ w - y) ** 2) + lam * np.square(w).sum(), rel=1e-5)
    w = w - lr * (2 * x.T @ (x @ w - y) / y.size + 2 * lam * w)
    norms = unit_norms(w, 0)
    w = w * np.minimum(1.0, limit / norms)
    assert (norms > limit).any() and (norms < limit).any()  # both branches of the cap are exercised
    np.testing.assert_allclose(convert_to_numpy(layer.kernel), w, rtol=1e-5, atol=1e-6)
