"""Weight averaging (`kreg.callbacks.averaging`): EMA with timm's warm-up and SWA, checked against NumPy."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

import kreg
from kreg import tuning
from kreg.callbacks import averaging

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 5)).astype("float32")
Y = RNG.normal(size=(24, 2)).astype("float32")
XV = RNG.normal(size=(16, 5)).astype("float32")
YV = RNG.normal(size=(16, 2)).astype("float32")


def small(seed=0, batch_norm=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((5,)), keras.layers.Dense(4, activation="tanh")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    return keras.Sequential(layers + [keras.layers.Dense(2)])


def numpy_weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]


class Recorder(keras.callbacks.Callback):
    """The trainable weights at each epoch's end as the callbacks before the averaging one see them (raw)."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(numpy_weights(self.model))


def test_ema_decay_is_timms_warm_up():
    """timm ModelEmaV3.get_decay(step) with use_warmup: t = step - 1, 0 for t <= 0, else
    min(decay, 1 - (1 + t / gamma) ** -power)."""
    def timm(step, decay, power, gamma):
        t = max(0, step - 1)
        return 0.0 if t <= 0 else min(decay, 1 - (1 + t / gamma) ** -power)

    for decay, power, gamma in ((0.999, 0.75, 1.0), (0.99, 2 / 3, 1.0), (0.9, 0.5, 3.0)):
        for step in range(1, 400, 7):
            got = float(averaging.ema_decay(step - 1, decay, warmup_power=power, warmup_gamma=gamma))
            assert got == pytest.approx(timm(step, decay, power, gamma), abs=1e-6)


def test_ema_of_a_small_model_equals_numpy_with_the_warm_up():
    """Full-batch SGD, one step per epoch: the model `fit` leaves is the EMA of the steps' weights."""
    model = small()
    initial = numpy_weights(model)
    model.compile(averaging.use_ema(keras.optimizers.SGD(0.1), 0.9, warmup_power=0.5), "mse")
    recorder = Recorder()
    steps = 6
    model.fit(X, Y, batch_size=len(X), epochs=steps, shuffle=False, verbose=0, callbacks=[recorder])
    expected = [np.zeros_like(w) for w in initial]
    for t, weights in enumerate(recorder.weights):  # t updates before this one
        decay = min(0.9, 1 - (1 + t) ** -0.5)
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights)]
    for got, want in zip(numpy_weights(model), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected[0], recorder.weights[-1][0])  # the average is not the last step


def test_ema_validates_and_ends_with_the_average_and_training_goes_on_from_the_raw_weights():
    plain = small()
    plain.compile(keras.optimizers.SGD(0.1), "mse")
    reference = Recorder()
    plain.fit(X, Y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[reference])

    model = small()
    model.compile(averaging.use_ema(keras.optimizers.SGD(0.1), 0.8), "mse")
    raw = Recorder()  # without validation, the callbacks before the averaging one see the raw weights
    seen = Recorder()  # and those after it the averaged ones
    model.fit(X, Y, batch_size=8, epochs=4, shuffle=False, verbose=0,
              callbacks=[raw, averaging.ExponentialMovingAverage(), seen])
    for a, b in zip(raw.weights, reference.weights):  # the raw trajectory is plain training's
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert not np.allclose(seen.weights[-1][0], raw.weights[-1][0])
    for got, want in zip(numpy_weights(model), seen.weights[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-6)

    model = small()
    model.compile(averaging.use_ema(keras.optimizers.SGD(0.1), 0.8), "mse")
    history = model.fit(X, Y, batch_size=8, epochs=4, shuffle=False, verbose=0, validation_data=(XV, YV),
                        callbacks=[averaging.ExponentialMovingAverage()])
    val_loss = model.evaluate(XV, YV, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-5)


def test_early_stopping_keeps_averaged_weights():
    """Keras's SwapEMAWeights leaves the raw weights when fit stops before its budget; the averages stay here."""
    for callback, optimizer in ((averaging.ExponentialMovingAverage(),
                                 averaging.use_ema(keras.optimizers.SGD(0.1), 0.8)),
                                (averaging.StochasticWeightAveraging(2), keras.optimizers.SGD(0.1))):
        model = small()
        model.compile(optimizer, "mse")
        stop = keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)
        history = model.fit(X, Y, batch_size=8, epochs=5, verbose=0, validation_data=(XV, YV),
                            callbacks=[callback, stop])
        assert model.evaluate(XV, YV, verbose=0) == pytest.approx(min(history.history["val_loss"]), rel=1e-5)
        stopped = small()
        stopped.compile(averaging.use_ema(keras.optimizers.SGD(0.1), 0.8) if isinstance(
            callback, averaging.ExponentialMovingAverage) else keras.optimizers.SGD(0.1), "mse")

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                self.model.stop_training = epoch == 2  # the third of five epochs

        history = stopped.fit(X, Y, batch_size=8, epochs=5, verbose=0, validation_data=(XV, YV),
                              callbacks=[type(callback)(**({"start_epoch": 2} if "start_epoch" in vars(callback)
                                                           else {})), Stop()])
        assert len(history.history["val_loss"]) == 3
        assert stopped.evaluate(XV, YV, verbose=0) == pytest.approx(history.history["val_loss"][-1], rel=1e-5)


def test_swa_is_the_equal_average_of_the_epochs_from_its_start():
    model = small()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    raw = Recorder()
    seen = Recorder()
    model.fit(X, Y, batch_size=8, epochs=5, shuffle=False, verbose=0,
              callbacks=[raw, averaging.StochasticWeightAveraging(start_epoch=3), seen])
    for epoch in range(5):  # epochs 1 and 2 as they are, then the mean of epochs 3.. e (Keras's numbering)
        expected = raw.weights[epoch] if epoch < 2 else [np.mean(ws, axis=0) for ws in zip(*raw.weights[2:epoch + 1])]
        for got, want in zip(seen.weights[epoch], expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    model = small()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    history = model.fit(X, Y, batch_size=8, epochs=5, shuffle=False, verbose=0, validation_data=(XV, YV),
                        callbacks=[averaging.StochasticWeightAveraging(start_epoch=3)])
    assert model.evaluate(XV, YV, verbose=0) == pytest.approx(history.history["val_loss"][-1], rel=1e-5)


def test_swa_update_and_start_epoch():
    weights = RNG.normal(size=(4, 3))
    average = weights[0]
    for count, w in enumerate(weights[1:], 1):
        average = averaging.swa_update(average, w, count)
    np.testing.assert_allclose(average, weights.mean(axis=0))
    assert [averaging.swa_start_epoch(f, 10) for f in (0.0, 0.5, 0.75, 0.99)] == [1, 6, 8, 10]


def test_batch_norm_statistics_are_re_estimated_over_the_data():
    """Izmailov's cumulative average: the data's mean, and the batch-size-weighted mean of the batch variances."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=0.9)])
    data = RNG.normal(loc=2.0, scale=3.0, size=(10, 3)).astype("float32")
    averaging.reestimate_batch_norm(model, data, batch_size=4)  # batches of 4, 4, 2
    layer = model.layers[0]
    batches = [data[:4], data[4:8], data[8:]]
    variance = sum(len(b) * b.var(axis=0) for b in batches) / len(data)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), variance, rtol=1e-5)
    assert layer.momentum == 0.9
    assert averaging.bn_momentum(0, 4) == 0.0 and averaging.bn_momentum(8, 2) == 0.8


def test_swa_with_batch_norm_needs_the_data_and_saves_its_average(tmp_path):
    model = small(batch_norm=True)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    with pytest.raises(ValueError, match="give the callback data=x_train. Received: data=None"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[averaging.StochasticWeightAveraging()])
    model = small(batch_norm=True)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    model.fit(X, Y, batch_size=8, epochs=3, verbose=0, validation_data=(XV, YV),
              callbacks=[averaging.StochasticWeightAveraging(2, data=X, batch_size=8)])
    bn = model.layers[1]
    hidden = keras.ops.convert_to_numpy(model.layers[0](X))  # the averaged first layer's outputs
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), hidden.mean(axis=0), rtol=1e-4, atol=1e-6)
    path = str(tmp_path / "swa.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.predict(XV, verbose=0)),
                               keras.ops.convert_to_numpy(model.predict(XV, verbose=0)), rtol=1e-6)


def test_ema_model_saves_and_loads_with_its_averaged_weights(tmp_path):
    model = small()
    model.compile(averaging.use_ema(keras.optimizers.Adam(0.01), 0.9), "mse")
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[averaging.ExponentialMovingAverage()])
    path = str(tmp_path / "ema.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.predict(XV, verbose=0)),
                               keras.ops.convert_to_numpy(model.predict(XV, verbose=0)), rtol=1e-6)
    assert loaded.optimizer.use_ema and loaded.optimizer.ema_momentum == 0.9


def test_validation():
    with pytest.raises(ValueError, match=r"`decay` of use_ema: expected a float in \[0, 1\). Received: decay=1.0"):
        averaging.use_ema(keras.optimizers.SGD(), 1.0)
    with pytest.raises(ValueError, match="`warmup_power` of use_ema"):
        averaging.use_ema(keras.optimizers.SGD(), 0.9, warmup_power=0)
    with pytest.raises(ValueError, match="`warmup_gamma` of use_ema"):
        averaging.use_ema(keras.optimizers.SGD(), 0.9, warmup_gamma=-1.0)
    with pytest.raises(ValueError, match="`optimizer` of use_ema"):
        averaging.use_ema("adam", 0.9)
    model = small()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="not built yet"):
        averaging.use_ema(model.optimizer, 0.9)
    with pytest.raises(ValueError, match="compile model .* with kreg.callbacks.averaging.use_ema"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[averaging.ExponentialMovingAverage()])
    with pytest.raises(ValueError, match="`start_epoch` of StochasticWeightAveraging: expected an int >= 1"):
        averaging.StochasticWeightAveraging(0)
    with pytest.raises(ValueError, match="`batch_size` of StochasticWeightAveraging"):
        averaging.StochasticWeightAveraging(1, batch_size=0)


@pytest.mark.parametrize("kind", ["ema", "swa"])
def test_the_hypermodel_trains_with_the_trials_averaging(kind):
    """RegularizedMLP and Regularize: the space picks the optimizer and the callback, first in the list."""
    space = tuning.AveragingSpace([kind], ema_decay=(0.9, 0.9), swa_start=(0.5, 0.5))
    hypermodel = tuning.RegularizedMLP(2, (5,), hidden=(4,), regularizer=None, dropout=None, max_norm=None,
                                       schedule=None, averaging=space)
    y = (X[:, 0] > 0).astype("int32")
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values == ({"averaging": "ema", "ema_decay": 0.9} if kind == "ema"
                         else {"averaging": "swa", "swa_start": 0.5})
    assert model.optimizer.use_ema is (kind == "ema")
    raw, seen = Recorder(), Recorder()
    hypermodel.fit(hp, model, X, y, batch_size=8, epochs=4, verbose=0, callbacks=[seen])
    assert len(seen.weights) == 4

    def build(hp):
        model = small()
        model.compile(keras.optimizers.Adam(0.01), "mse")
        return model

    own = tuning.Regularize(build, regularizer=None, averaging=space)
    hp = kt.HyperParameters()
    model = own.build(hp)
    assert model.optimizer.use_ema is (kind == "ema")
    own.fit(hp, model, X, Y, batch_size=8, epochs=2, verbose=0, validation_data=(XV, YV), callbacks=[raw])
    assert tuning.spaces.unregularized({"averaging": "none"}) and not tuning.spaces.unregularized(hp.values)
