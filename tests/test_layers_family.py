"""What kreg's dropout family shares: validation, seeds, a rate that changes without retrace, the schedule,
mc_predict and folding."""

import math

import keras
import numpy as np
import pytest

import kreg
from kreg.callbacks import RegularizationSchedule
from kreg.callbacks import Schedule
from kreg.layers import BaseDropout
from kreg.layers import DropBlock
from kreg.layers import DropPath
from kreg.layers import Dropout
from kreg.layers import SpatialDropout1D
from kreg.layers import SpatialDropout2D
from kreg.layers import SpatialDropout3D
from kreg.layers.dropout import quantized_keep

# (class, extra arguments, one input's shape)
FAMILY = [
    (Dropout, {}, (6, 8)),
    (SpatialDropout1D, {}, (6, 8)),
    (SpatialDropout2D, {}, (6, 6, 8)),
    (SpatialDropout3D, {}, (3, 3, 3, 8)),
    (DropPath, {}, (6, 6, 8)),
    (DropBlock, {"block_size": 3}, (6, 6, 8)),
]
IDS = [row[0].__name__ for row in FAMILY]


@pytest.mark.parametrize(("cls", "extra", "shape"), FAMILY, ids=IDS)
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, math.nan, math.inf, "0.5", True, None])
def test_invalid_rate(cls, extra, shape, rate):
    with pytest.raises(ValueError, match=rf"argument `rate` of {cls.__name__}: expected a float in \[0, 1\)\. "
                                         rf"Received: rate={rate!r}"):
        cls(rate, **extra)
    layer = cls(0.5, **extra)
    with pytest.raises(ValueError, match=rf"argument `rate` of {cls.__name__}"):
        layer.rate = rate
    assert layer.rate == 0.5


@pytest.mark.parametrize(("cls", "extra", "shape"), FAMILY, ids=IDS)
def test_invalid_scaling_and_seed(cls, extra, shape):
    with pytest.raises(ValueError, match=rf"`scaling` of {cls.__name__}: expected one of .*Received: scaling='paper'"):
        cls(0.5, scaling="paper", **extra)
    with pytest.raises(ValueError, match=rf"`seed` of {cls.__name__}: expected an int >= 0 or None\. "
                                         r"Received: seed=-1"):
        cls(0.5, seed=-1, **extra)


@pytest.mark.parametrize(("cls", "extra", "shape"), FAMILY, ids=IDS)
def test_seed_zero_is_a_seed(cls, extra, shape):
    x = np.ones((16, *shape), "float32")

    def draw(seed):
        return np.asarray(cls(0.5, seed=seed, **extra)(x, training=True))

    np.testing.assert_array_equal(draw(0), draw(0))
    assert (draw(0) != draw(1)).any() and (draw(0) != draw(None)).any()


@pytest.mark.parametrize(("cls", "extra", "shape"), FAMILY, ids=IDS)
def test_rate_changes_without_retracing(cls, extra, shape, monkeypatch):
    # Eagerly and compiled on every backend (issue 13: the mask used tf.random and tf.bitcast).
    traces = []
    original = cls.call

    def counting_call(self, inputs, training=False):
        traces.append(training)
        return original(self, inputs, training=training)

    monkeypatch.setattr(cls, "call", counting_call)
    layer = cls(0.5, scaling="test_time", seed=0, **extra)
    model = keras.Sequential([keras.Input(shape), layer, keras.layers.Flatten(),
                              keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x, y = np.ones((32, *shape), "float32"), np.zeros((32, 1), "float32")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    traced = len(traces)
    before = model.predict(x[:1], verbose=0)
    layer.rate = 0.25
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    after = model.predict(x[:1], verbose=0)
    if keras.backend.backend() == "torch":  # an eager step: `call` runs at each batch, predicted or trained
        assert traces[traced:] == [False, True, True, False]
    else:
        assert len(traces) == traced + 1  # the predict function, once; training never again
    assert layer.get_config()["rate"] == 0.25
    if cls is not DropBlock:  # DropBlock's factor is per position; its own tests check it
        np.testing.assert_allclose(after / before, float(quantized_keep(0.25)) / float(quantized_keep(0.5)),
                                   rtol=1e-5)
    else:
        assert not np.allclose(after, before)


def test_schedule_ramps_every_family_layer_or_only_the_chosen_classes():
    inputs = keras.Input((6, 6, 4))
    h = SpatialDropout2D(0.5, seed=0)(inputs)
    h = DropBlock(0.5, block_size=3, seed=0)(h)
    h = h + DropPath(0.5, seed=0)(keras.layers.Conv2D(4, 3, padding="same")(h))
    outputs = keras.layers.Dense(1)(Dropout(0.5, seed=0)(keras.layers.Flatten()(h)))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x, y = np.ones((8, 6, 6, 4), "float32"), np.zeros((8, 1), "float32")
    family = kreg._walk.layers(model, BaseDropout)
    assert [type(layer) for layer in family] == [SpatialDropout2D, DropBlock, DropPath, Dropout]
    model.fit(x, y, epochs=1, verbose=0, callbacks=[RegularizationSchedule(dropout_rate=0.2)])
    assert [layer.rate for layer in family] == [0.2] * 4
    # The DropBlock paper's linear schedule, for DropBlock alone: 0 -> 0.1 over 3 epochs.
    ramp = RegularizationSchedule(dropout_rate=Schedule("linear", 0.0, 0.1, epochs=3), dropout_layers=DropBlock)
    rates = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(family[1].rate))
    seen = []
    model.fit(x, y, epochs=3, verbose=0, callbacks=[ramp, rates])
    assert seen == pytest.approx([0.0, 0.05, 0.1]) and [family[i].rate for i in (0, 2, 3)] == [0.2] * 3
    schedule = RegularizationSchedule(dropout_rate=0.1, dropout_layers=DropPath)
    schedule.set_model(keras.Sequential([keras.Input((3,)), Dropout(0.1)]))
    with pytest.raises(ValueError, match=r"has no kreg Dropout layer of \['DropPath'\]"):
        schedule.on_train_begin()
    with pytest.raises(ValueError, match="`dropout_layers` of RegularizationSchedule"):
        RegularizationSchedule(dropout_rate=0.1, dropout_layers=keras.layers.Dropout)


@pytest.mark.parametrize(("cls", "extra", "shape"), FAMILY, ids=IDS)
def test_mc_predict_samples_each(cls, extra, shape):
    model = keras.Sequential([keras.Input(shape), cls(0.3, seed=0, **extra), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype("float32")
    mean, std = kreg.mc_predict(model, x, samples=10, seed=0)
    assert mean.shape == (4, 2) and (std > 0).all()
    np.testing.assert_array_equal(kreg.mc_predict(model, x, samples=10, seed=0)[0], mean)


def test_fold_and_convert_spatial_dropout_and_refuse_test_time_drop_block():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 3)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3),
                              SpatialDropout2D(0.3, scaling="test_time", seed=0), keras.layers.Conv2D(2, 3)])
    folded = kreg.fold_dropout_scaling(model)
    assert not kreg._walk.layers(folded, BaseDropout)
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    converted = kreg.convert_dropout_scaling(model, "inverted")
    np.testing.assert_allclose(converted.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model = keras.Sequential([keras.Input((6, 6, 3)), DropBlock(0.3, block_size=2, scaling="test_time"),
                              keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="fold_dropout_scaling cannot move DropBlock layer"):
        kreg.fold_dropout_scaling(model)
    with pytest.raises(ValueError, match="convert_dropout_scaling cannot move DropBlock layer"):
        kreg.convert_dropout_scaling(model, "inverted")
