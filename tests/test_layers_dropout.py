import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import errors_setting_inside_an_epoch

from kreg.layers import Dropout
from kreg.layers.dropout import quantized_keep

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
def test_fraction_dropped_and_kept_values(scaling):
    rate = 0.3
    keep = float(quantized_keep(rate))
    assert keep == pytest.approx(0.7, abs=2**-16)
    a = RNG.uniform(0.5, 2.0, size=(1000, 1000)).astype("float32")
    out = np.asarray(Dropout(rate, scaling=scaling, seed=3)(a, training=True))
    dropped = out == 0
    # 1M Bernoulli(0.3) draws: standard error 4.6e-4, tolerance 5 of them.
    assert dropped.mean() == pytest.approx(rate, abs=0.0023)
    expected = a / keep if scaling == "inverted" else a
    np.testing.assert_allclose(out[~dropped], expected[~dropped], rtol=1e-6)


@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
def test_mean_of_training_passes_is_the_inference_output(scaling):
    layer = Dropout(0.4, scaling=scaling, seed=1)
    a = RNG.uniform(0.5, 2.0, size=(1, 64)).astype("float32")
    passes = np.asarray(layer(np.repeat(a, 20000, axis=0), training=True))
    inference = np.asarray(layer(a, training=False))[0]
    keep = float(quantized_keep(0.4))
    # Per element: std of one pass a*sqrt(keep*(1-keep))/(keep or 1); of the mean, / sqrt(20000).
    scale = 1 / keep if scaling == "inverted" else 1.0
    tolerance = 5 * a[0] * scale * np.sqrt(keep * (1 - keep)) / np.sqrt(20000)
    assert (np.abs(passes.mean(axis=0) - inference) <= tolerance).all()
    expected = a[0] if scaling == "inverted" else a[0] * keep
    np.testing.assert_allclose(inference, expected, rtol=1e-6)


def test_noise_shape_shares_the_mask_along_broadcast_axes():
    layer = Dropout(0.5, noise_shape=(None, 1, 1, None), seed=2)
    out = np.asarray(layer(np.ones((8, 5, 5, 16), "float32"), training=True))
    assert (out == out[:, :1, :1, :]).all()
    assert 0 < (out == 0).mean() < 1
    with pytest.raises(ValueError, match="noise_shape"):
        layer(np.ones((8, 5), "float32"), training=True)


@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
def test_rate_zero_is_the_identity(scaling):
    a = RNG.normal(size=(16, 9)).astype("float32")
    layer = Dropout(0.0, scaling=scaling, seed=0)
    for training in (True, False):
        np.testing.assert_array_equal(np.asarray(layer(a, training=training)), a)


def masks(seed):
    return np.asarray(Dropout(0.5, seed=seed)(np.ones((4, 256), "float32"), training=True))


MASK_SCRIPT = """
import sys, numpy as np
from kreg.layers import Dropout
out = [np.asarray(Dropout(0.5, seed=s)(np.ones((4, 256), "float32"), training=True)) for s in (0, 9)]
np.save(sys.argv[1], np.stack(out))
"""


def test_same_seed_same_masks_across_processes(tmp_path):
    path = str(tmp_path / "masks.npy")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", MASK_SCRIPT, path], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    other = np.load(path)
    np.testing.assert_array_equal(other[0], masks(0))
    np.testing.assert_array_equal(other[1], masks(9))
    assert (masks(0) != masks(1)).any()
    assert (masks(0) != masks(None)).any()  # seed=0 is a seed, not "no seed"


def mlp(dropout, rate):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), dropout(rate), keras.layers.Dense(3)])


def drop_fraction(layer):
    # 1M Bernoulli draws: standard error <= 5e-4, so 0.003 is 6 of them.
    return float((np.asarray(layer(np.ones((1000, 1000), "float32"), training=True)) == 0).mean())


def test_rate_is_not_a_weight_so_set_weights_cannot_change_it():
    # issue 12, item 1: the rate was a non-trainable weight that set_weights overwrote.
    source, target = mlp(Dropout, 0.5), mlp(Dropout, 0.1)
    assert len(source.get_weights()) == len(mlp(keras.layers.Dropout, 0.5).get_weights()) == 4
    assert source.layers[1].weights == [] and source.layers[1].get_weights() == []
    target.set_weights(source.get_weights())
    layer = target.layers[1]
    assert layer.rate == layer.get_config()["rate"] == 0.1
    assert drop_fraction(layer) == pytest.approx(0.1, abs=0.003)
    # Weights move between a model with kreg's Dropout and one with Keras's, both ways, in order.
    keras_model = mlp(keras.layers.Dropout, 0.5)
    keras_model.set_weights(target.get_weights())
    target.set_weights(keras_model.get_weights())
    for ours, theirs in zip(target.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_load_weights_keeps_the_rate_and_a_keras_file_the_configured_one(tmp_path):
    source, target = mlp(Dropout, 0.5), mlp(Dropout, 0.1)
    source.save_weights(tmp_path / "source.weights.h5")
    target.load_weights(tmp_path / "source.weights.h5")
    assert target.layers[1].rate == 0.1
    assert drop_fraction(target.layers[1]) == pytest.approx(0.1, abs=0.003)
    target.layers[1].rate = 0.3  # changed after construction: the file holds the current value
    target.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.layers[1].rate == loaded.layers[1].get_config()["rate"] == 0.3
    assert drop_fraction(loaded.layers[1]) == pytest.approx(0.3, abs=0.003)


def test_rate_is_state_the_compiled_step_reads():
    # The rate's variable is among the model's non-trainable variables (which JAX's stateless step threads).
    model = mlp(Dropout, 0.5)
    layer = model.layers[1]
    assert not any(v is layer._rate.variable for v in model.weights)
    if keras.backend.backend() == "torch":  # out of the module's parameters: see the next test
        assert [v.name for v in layer.non_trainable_variables] == ["seed_generator_state"]
        return
    assert [v.name for v in layer.non_trainable_variables] == ["seed_generator_state", "rate"]
    assert any(v is layer._rate.variable for v in model.non_trainable_variables)


def test_a_torch_state_dict_is_kerass_and_leaves_the_rate_alone():
    # issue 23: the rate was a torch parameter, so load_state_dict changed what the layer did behind `.rate`.
    if keras.backend.backend() != "torch":
        pytest.skip("PyTorch's state_dict")
    import re

    def keys(model):  # layer and seed generator names without Keras's `_N` suffixes
        return sorted(re.sub(r"_\d+(?=/|$)", "", key) for key in model.state_dict())

    ours, theirs = mlp(Dropout, 0.5), mlp(keras.layers.Dropout, 0.5)
    assert keys(ours) == keys(theirs) and len(keys(ours)) == 2 * 5  # kernels, biases, seed: model and functional
    ours.layers[1].rate = 0.1
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())), strict=True)
    assert ours.layers[1].rate == ours.layers[1].get_config()["rate"] == 0.1
    assert drop_fraction(ours.layers[1]) == pytest.approx(0.1, abs=0.003)


def test_noise_shape_is_a_tuple_like_keras():
    for given in ([None, 1, 4], (None, 1, 4)):
        layer = Dropout(0.5, noise_shape=given)
        assert layer.noise_shape == keras.layers.Dropout(0.5, noise_shape=given).noise_shape == (None, 1, 4)
        assert isinstance(layer.get_config()["noise_shape"], tuple)


def test_mixed_float16(mixed_float16):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), Dropout(0.3, scaling="test_time"),
                              keras.layers.Dense(1, dtype="float32")])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((32, 8)), np.ones((32, 1)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.layers[1].compute_dtype == "float16"


def test_a_rate_set_inside_a_jax_epoch_is_an_error_not_a_silent_revert():
    # On JAX the train step holds every variable during an epoch and writes its own copy back at the end:
    # a rate set then would be reverted while `.rate` kept the new value.
    layer = Dropout(0.5, seed=0)
    model = keras.Sequential([keras.Input((8,)), layer, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    errors = errors_setting_inside_an_epoch(model, lambda: setattr(layer, "rate", 0.1))
    if keras.backend.backend() == "jax":
        assert errors and "between epochs" in errors[0] and layer.rate == 0.5
    else:  # TensorFlow reads the variable itself at every step: a change inside an epoch takes effect
        assert not errors and layer.rate == 0.1
    assert float(keras.ops.convert_to_numpy(layer._rate.variable)) == pytest.approx(layer.rate)


def test_odd_sizes_and_a_dynamic_batch():
    # An odd element count draws one 16-bit half too many; the mask keeps exactly the input's shape.
    layer = Dropout(0.25, seed=5)
    out = np.asarray(layer(np.ones((999, 1001), "float32"), training=True))
    # 999,999 Bernoulli(0.25) draws: standard error 4.3e-4; tolerance 6 of them.
    assert out.shape == (999, 1001) and (out == 0).mean() == pytest.approx(0.25, abs=0.0026)
    model = keras.Sequential([keras.Input((7,)), Dropout(0.5, seed=1), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((51, 7)), np.zeros((51, 1)), batch_size=16, verbose=0)  # last batch: 3 x 7
    assert np.isfinite(history.history["loss"]).all()
