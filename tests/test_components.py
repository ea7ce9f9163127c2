"""Shared checks driven by one table of kreg's public components.

Adding a component means adding a row: its class, constructor arguments (every
one with a non-default value, so a `get_config` that forgets one is caught) and
the layer slot it goes in.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import compiled

import kreg
from kreg import augment, constraints, regularizers
from kreg.layers import DropBlock, DropPath, Dropout, SpatialDropout2D

COMPONENTS = [
    ("l1", regularizers.L1, {"l1": 0.01, "num_examples": 50}, "kernel_regularizer"),
    ("l1_activity", regularizers.L1, {"l1": 0.02, "num_examples": 9}, "activity_regularizer"),
    ("l2", regularizers.L2, {"l2": 0.1, "num_examples": 7}, "kernel_regularizer"),
    ("l2_bias", regularizers.L2, {"l2": 0.3, "num_examples": None}, "bias_regularizer"),
    ("elastic_net", regularizers.ElasticNet, {"l1": 0.01, "l2": 0.03, "num_examples": 3}, "kernel_regularizer"),
    ("group_lasso", regularizers.GroupLasso, {"l": 0.05, "axis": [0, 1, 2]}, "kernel_regularizer"),
    ("max_norm", constraints.MaxNorm, {"max_value": 0.7, "axis": [0, 1, 2]}, "kernel_constraint"),
    ("unit_norm", constraints.UnitNorm, {"axis": [0, 1, 2]}, "kernel_constraint"),
]
IDS = [row[0] for row in COMPONENTS]
LAYERS = [
    ("dropout", Dropout, {"rate": 0.37, "scaling": "test_time", "noise_shape": (None, 1, 1, None), "seed": 11}),
    ("spatial_dropout", SpatialDropout2D, {"rate": 0.37, "scaling": "test_time", "data_format": "channels_last",
                                           "seed": 0}),
    ("drop_path", DropPath, {"rate": 0.37, "scaling": "test_time", "seed": 12}),
    # "inverted" (the default): DropBlock's "test_time" factor differs by position (its own tests check it).
    ("drop_block", DropBlock, {"rate": 0.3, "block_size": 2, "scaling": "inverted", "data_format": "channels_last",
                               "seed": 13}),
    ("flip", augment.RandomFlip, {"mode": "vertical", "probability": 0.3, "seed": 5}),
    ("rotation", augment.RandomRotation, {"magnitude": 12.5, "probability": 0.7, "seed": 5}),
    ("crop", augment.RandomCrop, {"magnitude": 0.3, "probability": 0.6, "seed": 2}),
    ("translation", augment.RandomTranslation, {"magnitude": 0.2, "probability": 0.4, "seed": 3}),
    ("brightness", augment.RandomBrightness,
     {"magnitude": 0.2, "value_range": [-1.0, 2.0], "probability": 0.5, "seed": 1}),
    ("contrast", augment.RandomContrast, {"magnitude": 0.3, "value_range": [-1.0, 2.0], "probability": 0.5, "seed": 1}),
    ("saturation", augment.RandomSaturation,
     {"magnitude": 0.4, "value_range": [-1.0, 2.0], "probability": 0.5, "seed": 1}),
    ("hue", augment.RandomHue, {"magnitude": 0.1, "value_range": [-1.0, 2.0], "probability": 0.5, "seed": 1}),
    ("noise", augment.GaussianNoise, {"magnitude": 0.3, "probability": 0.9, "seed": 4}),
    ("feature_dropout", augment.FeatureDropout, {"magnitude": 0.2, "probability": 0.8, "seed": 4}),
    ("policy", augment.Policy, {"transforms": [augment.RandomFlip(seed=1), augment.RandomRotation(5.0, seed=2),
                                               augment.GaussianNoise(0.1)],
                                "seed": 8, "fill_mode": "wrap", "interpolation": "nearest"}),
]
LAYER_IDS = [row[0] for row in LAYERS]
# Each layer's Keras counterpart: the same weights (none), seed state kept out of them, the same masking and the
# same output dtypes for float inputs. Deliberate difference: kreg's image layers return uint8 for uint8 images
# (the input's dtype, as every kreg layer), Keras's most float32.
COUNTERPARTS = {
    "dropout": lambda: keras.layers.Dropout(0.37, noise_shape=(None, 1, 1, None)),
    "spatial_dropout": lambda: keras.layers.SpatialDropout2D(0.37),
    "drop_path": lambda: keras.layers.Dropout(0.37, noise_shape=(None, 1, 1, 1)),
    "drop_block": lambda: keras.layers.Dropout(0.3),
    "flip": lambda: keras.layers.RandomFlip("vertical"),
    "rotation": lambda: keras.layers.RandomRotation(12.5 / 360),
    "crop": lambda: keras.layers.RandomZoom(-0.3),
    "translation": lambda: keras.layers.RandomTranslation(0.2, 0.2),
    "brightness": lambda: keras.layers.RandomBrightness(0.2, value_range=(-1.0, 2.0)),
    "contrast": lambda: keras.layers.RandomContrast(0.3, value_range=(-1.0, 2.0)),
    "saturation": lambda: keras.layers.RandomSaturation(0.4, value_range=(-1.0, 2.0)),
    "hue": lambda: keras.layers.RandomHue(0.1, value_range=(-1.0, 2.0)),
    "noise": lambda: keras.layers.GaussianNoise(0.3),
    "feature_dropout": lambda: keras.layers.Dropout(0.2),
    "policy": lambda: keras.Sequential([keras.layers.RandomFlip(), keras.layers.RandomRotation(5.0 / 360),
                                        keras.layers.GaussianNoise(0.1)]),
}
# 32 images: a transform applied with probability >= 0.3 leaves all unchanged with chance 0.7 ** 32 < 1e-4.
IMAGES = np.random.default_rng(12).uniform(size=(32, 6, 6, 3)).astype("float32")
# The layers that are not for images only.
ANY_INPUT = ("dropout", "spatial_dropout", "drop_path", "drop_block", "noise", "feature_dropout")
X = np.random.default_rng(4).normal(size=(4, 6, 6, 2)).astype("float32")
Y = np.random.default_rng(5).normal(size=(4, 2)).astype("float32")


def build(cls, kwargs, slot):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, name="conv"), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    return kreg.attach(model, layers="conv", **{slot: cls(**kwargs)})


def build_with_layer(cls, kwargs):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, name="conv"), cls(**kwargs, name="under_test"),
         keras.layers.Flatten(), keras.layers.Dense(2)]
    )


def expected_config(kwargs):
    """`kwargs` as a config holds them: layers serialized."""
    def one(value):
        if isinstance(value, list) and value and isinstance(value[0], keras.layers.Layer):
            return [keras.saving.serialize_keras_object(layer) for layer in value]
        return value

    return {key: one(value) for key, value in kwargs.items()}


def plain(value):
    if isinstance(value, (list, tuple)):
        return all(plain(item) for item in value)
    return value is None or type(value) in (int, float, str, bool)


@pytest.mark.parametrize(("name", "cls", "kwargs", "slot"), COMPONENTS, ids=IDS)
def test_config_is_the_constructor_arguments(name, cls, kwargs, slot):
    config = cls(**kwargs).get_config()
    assert config == kwargs
    assert all(plain(value) for value in config.values())
    assert cls.from_config(json.loads(json.dumps(config))).get_config() == config


@pytest.mark.parametrize(("name", "cls", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_layer_config_is_the_constructor_arguments(name, cls, kwargs):
    config = cls(**kwargs).get_config()
    assert {key: config[key] for key in kwargs} == expected_config(kwargs)
    # Plain values, except Keras's own dtype policy and serialized sub-layers.
    assert all(plain(value) for key, value in config.items() if key not in ("dtype", "transforms"))
    again = cls.from_config(json.loads(json.dumps(config))).get_config()
    assert again == config


@pytest.mark.parametrize(("name", "cls", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_layer_symbolic_and_eager_agree(name, cls, kwargs):
    model = build_with_layer(cls, kwargs)
    eager = keras.ops.convert_to_numpy(model(X, training=False))
    np.testing.assert_allclose(model.predict(X, verbose=0), eager, rtol=1e-6)


@pytest.mark.parametrize(("name", "cls", "kwargs", "slot"), COMPONENTS, ids=IDS)
def test_symbolic_and_eager_agree(name, cls, kwargs, slot):
    component = cls(**kwargs)
    kernel = np.random.default_rng(6).normal(size=(3, 3, 2, 4)).astype("float32")
    eager = keras.ops.convert_to_numpy(component(kernel))
    traced = keras.ops.convert_to_numpy(compiled(component.__call__)(keras.ops.convert_to_tensor(kernel)))
    np.testing.assert_allclose(traced, eager, rtol=1e-6)


@pytest.mark.parametrize(("name", "cls", "kwargs", "slot"), COMPONENTS, ids=IDS)
def test_training_step_under_mixed_float16(name, cls, kwargs, slot, mixed_float16):
    model = build(cls, kwargs, slot)
    model.compile("sgd", "mse")
    loss = model.train_on_batch(X, Y)
    assert np.isfinite(loss)
    assert all(keras.backend.standardize_dtype(loss.dtype) == "float32" for loss in model.losses)


def inference(model):
    """`model`'s inference output on `X`, eager (as the fresh process computes it, with no compile per model)."""
    return keras.ops.convert_to_numpy(model(X, training=False))


def penalty(model):
    model(X)  # activity penalties come from the last call
    return float(sum(model.losses)) if model.losses else 0.0


LOAD_SCRIPT = """
import json, sys
import keras, numpy as np
import kreg  # registers kreg's objects: no custom_objects needed
x = np.load(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path, safe_mode=True)
    pred = keras.ops.convert_to_numpy(model(x, training=False)).tolist()  # eager: no compile per model
    model(x)  # activity penalties come from the last eager call
    optimizer = model.optimizer
    out[path] = {
        "pred": pred,
        "penalty": float(sum(model.losses)) if model.losses else 0.0,
        "conv": model.get_layer("conv").get_config(),
        "under_test": model.layers[1].get_config(),
        "optimizer": None if optimizer is None else [type(optimizer).__name__, optimizer.get_config().get("l1"),
                                                     int(optimizer.iterations)],
    }
print(json.dumps(out))
"""


def saved_components(tmp_path):
    """Each regularizer and constraint on a trained model, saved; and a model compiled with kreg's optimizer."""
    expected = {}
    for name, cls, kwargs, slot in COMPONENTS:
        model = build(cls, kwargs, slot)
        model.compile("sgd", "mse")
        model.train_on_batch(X, Y)
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        expected[path] = (inference(model), penalty(model), slot, kwargs)
    model = build(regularizers.L2, {"l2": 0.1, "num_examples": 7}, "kernel_regularizer")
    model.compile(kreg.optimizers.ProximalL1(keras.optimizers.Adam(0.01), 0.05), "mse",
                  metrics=[kreg.metrics.DataLoss("mse")])
    model.fit(X, Y, batch_size=2, epochs=1, verbose=0)
    proximal = str(tmp_path / "proximal.keras")
    model.save(proximal)
    return expected, {proximal: inference(model)}


def saved_layers(tmp_path):
    """Each layer on a trained model, saved."""
    expected = {}
    for name, cls, kwargs in LAYERS:
        model = build_with_layer(cls, kwargs)
        model(X, training=True)  # the layer works in training too
        model.compile("sgd", "mse")
        model.train_on_batch(X, Y)
        path = str(tmp_path / f"layer_{name}.keras")
        model.save(path)
        expected[path] = (inference(model), penalty(model), None, kwargs)
    return expected, {}


@pytest.mark.parametrize("saved", [saved_components, saved_layers], ids=["components", "layers"])
def test_save_and_load_in_a_fresh_process(tmp_path, saved):
    expected, optimized = saved(tmp_path)  # in two halves, which pytest-xdist runs side by side
    np.save(tmp_path / "x.npy", X)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / "x.npy"), *expected, *optimized],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for path, (pred, pen, slot, kwargs) in expected.items():
        np.testing.assert_array_equal(np.array(loaded[path]["pred"], "float32"), pred)
        assert loaded[path]["penalty"] == pytest.approx(pen, rel=1e-6)
        if slot is None:  # a layer row
            assert {key: loaded[path]["under_test"][key] for key in kwargs} == json.loads(
                json.dumps(expected_config(kwargs)))
            continue
        assert loaded[path]["conv"][slot]["config"] == kwargs
        assert loaded[path]["conv"][slot]["module"] in ("kreg.regularizers", "kreg.constraints")
    for path, pred in optimized.items():
        assert loaded[path]["optimizer"] == ["ProximalL1", 0.05, 2]
        np.testing.assert_array_equal(np.array(loaded[path]["pred"], "float32"), pred)


def seed_states(layer):
    return [v for v in layer.variables if "seed_generator_state" in v.path]


@pytest.mark.parametrize(("name", "cls", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_layer_state_and_masking_are_those_of_its_keras_counterpart(name, cls, kwargs):
    layer, theirs = cls(**kwargs), COUNTERPARTS[name]()
    layer(IMAGES, training=True), theirs(IMAGES, training=True)
    for attribute in ("weights", "trainable_weights", "non_trainable_weights"):
        assert len(getattr(layer, attribute)) == len(getattr(theirs, attribute)), attribute
    assert layer.built and layer.supports_masking == theirs.supports_masking
    assert seed_states(layer) and not any(v is w for v in seed_states(layer) for w in layer.weights)
    if layer.supports_masking:
        mask = np.arange(32) < 20
        np.testing.assert_array_equal(np.asarray(layer.compute_mask(IMAGES, mask)), mask)


@pytest.mark.parametrize("dtype", ["float32", "uint8", "mixed_float16"])
@pytest.mark.parametrize(("name", "cls", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_layer_output_shape_and_dtype(name, cls, kwargs, dtype):
    if dtype == "uint8" and name in ANY_INPUT:
        pytest.skip("uint8 applies to image layers")
    keras.mixed_precision.set_global_policy("mixed_float16" if dtype == "mixed_float16" else "float32")
    try:
        layer, theirs = cls(**kwargs), COUNTERPARTS[name]()
        x = (IMAGES * 255).astype("uint8") if dtype == "uint8" else IMAGES
        for training in (True, False):
            out = layer(x, training=training)
            assert tuple(out.shape) == x.shape == tuple(layer.compute_output_shape(x.shape))
            expected = "uint8" if dtype == "uint8" else keras.backend.standardize_dtype(
                theirs(x, training=training).dtype)
            assert keras.backend.standardize_dtype(out.dtype) == expected
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(("name", "cls", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_layer_training_and_inference(name, cls, kwargs):
    layer = cls(**kwargs)
    inference = np.asarray(layer(IMAGES, training=False))
    keep = 1.0 - layer.rate if kwargs.get("scaling") == "test_time" else 1.0  # test-time scaling: x * keep
    np.testing.assert_allclose(inference, IMAGES * keep, rtol=1e-4)
    trained = np.asarray(layer(IMAGES, training=True))
    assert not np.allclose(trained, inference)
    # Seeded: a fresh layer of the same config draws the same.
    np.testing.assert_array_equal(np.asarray(cls(**kwargs)(IMAGES, training=True)), trained)


@pytest.mark.parametrize(("name", "cls", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_layer_in_a_tf_data_pipeline(name, cls, kwargs):
    if keras.backend.backend() != "tensorflow" and not issubclass(cls, (augment.Transform, augment.Policy)):
        pytest.skip("under other backends only augmentation layers run in tf.data (as Keras's image layers)")
    tf = pytest.importorskip("tensorflow")
    layer = cls(**kwargs)
    ds = tf.data.Dataset.from_tensor_slices(IMAGES).batch(16).map(lambda x: layer(x, training=True))
    batches = [b.numpy() for b in ds]
    assert [b.shape for b in batches] == [(16, 6, 6, 3)] * 2
    assert not np.allclose(np.concatenate(batches), IMAGES)


def test_mixup_cutmix_state_is_that_of_kerass_mixup():
    # Two inputs (images and labels), so not a row of LAYERS; the same state checks, against keras.layers.MixUp.
    layer, theirs = augment.MixUpCutMix(cutmix_alpha=1.0, num_classes=3, seed=0), keras.layers.MixUp()
    images, labels = layer(IMAGES, np.arange(32) % 3, training=True)
    assert images.shape == IMAGES.shape and labels.shape == (32, 3)
    assert len(layer.weights) == len(theirs.weights) == 0 and layer.built
    assert seed_states(layer) and layer.supports_masking == theirs.supports_masking
