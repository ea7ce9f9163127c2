import keras
import numpy as np
import pytest

from kreg.layers import DropPath
from kreg.layers.dropout import quantized_keep

RNG = np.random.default_rng(31)


def timm_drop_path(x, mask, keep, scale_by_keep):
    """timm's drop_path (timm/layers/drop.py) in NumPy, given the per-example Bernoulli mask it would draw."""
    random_tensor = mask.reshape((x.shape[0],) + (1,) * (x.ndim - 1)).astype(x.dtype)
    if keep > 0.0 and scale_by_keep:
        random_tensor = random_tensor / keep
    return x * random_tensor


@pytest.mark.parametrize("shape", [(20000, 3), (5000, 2, 2, 3)])
@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
def test_whole_examples_dropped_at_the_rate(shape, scaling):
    rate, keep = 0.2, float(quantized_keep(0.2))
    x = RNG.uniform(0.5, 2.0, size=shape).astype("float32")
    layer = DropPath(rate, scaling=scaling, seed=0)
    out = np.asarray(layer(x, training=True))
    flat = out.reshape(len(x), -1)
    dropped = (flat == 0).all(axis=1)
    assert ((flat == 0).any(axis=1) == dropped).all()  # per example: all or nothing
    # n Bernoulli(0.2) example draws: standard error sqrt(0.16 / n) <= 5.7e-3, tolerance 5 of them.
    assert dropped.mean() == pytest.approx(rate, abs=5 * np.sqrt(rate * (1 - rate) / len(x)))
    # Kept examples: timm's DropPath with scale_by_keep=True (inverted) or the paper's unscaled training.
    expected = timm_drop_path(x, ~dropped, keep, scale_by_keep=scaling == "inverted")
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    inference = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(inference, x * keep if scaling == "test_time" else x, rtol=1e-6)


@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
def test_a_residual_block_is_the_identity_for_dropped_examples_and_unbiased(scaling):
    inputs = keras.Input((4,))
    branch = keras.layers.Dense(4, kernel_initializer="ones", bias_initializer="ones")(inputs)
    model = keras.Model(inputs, inputs + DropPath(0.5, scaling=scaling, seed=3)(branch))
    x = np.repeat(RNG.uniform(size=(1, 4)).astype("float32"), 4000, axis=0)
    out = keras.ops.convert_to_numpy(model(x, training=True))
    f = x @ np.ones((4, 4), "float32") + 1
    identity = np.isclose(out, x).all(axis=1)
    full = np.isclose(out, x + f * (2 if scaling == "inverted" else 1)).all(axis=1)
    assert (identity | full).all() and 0.45 < identity.mean() < 0.55  # 4000 draws: 5 standard errors 0.04
    # The mean of training passes is the inference output (the paper's test-time rule for "test_time").
    inference = keras.ops.convert_to_numpy(model(x[:1], training=False))[0]
    np.testing.assert_allclose(inference, x[0] + f[0] * (0.5 if scaling == "test_time" else 1), rtol=1e-6)
    sem = f[0] * (1 if scaling == "test_time" else 2) * 0.5 / np.sqrt(4000)
    assert (np.abs(out.mean(axis=0) - inference) <= 5 * sem).all()


def test_rate_zero_is_the_identity():
    x = RNG.normal(size=(16, 3)).astype("float32")
    for scaling in ("inverted", "test_time"):
        for training in (True, False):
            np.testing.assert_array_equal(np.asarray(DropPath(0.0, scaling=scaling, seed=0)(x, training=training)), x)
