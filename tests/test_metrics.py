import keras
import numpy as np
import pytest

import kreg

RNG = np.random.default_rng(3)


@pytest.mark.parametrize(
    "loss", ["sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(from_logits=True)]
)
def test_data_loss_plus_penalty_is_loss(loss):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer=kreg.regularizers.L2(0.05)),
            keras.layers.Dense(3, activation=None if not isinstance(loss, str) else "softmax",
                               activity_regularizer=kreg.regularizers.L1(0.01)),
        ]
    )
    model.compile("adam", loss, metrics=[kreg.metrics.DataLoss(loss)])
    x = RNG.normal(size=(50, 6)).astype("float32")  # 50: the last batch of 16 is partial
    y = RNG.integers(0, 3, size=50)
    history = model.fit(
        x, y, batch_size=16, epochs=3, validation_data=(x[:20], y[:20]),
        callbacks=[kreg.callbacks.LossBreakdown()], verbose=0,
    ).history
    for prefix in ("", "val_"):
        total = np.array(history[prefix + "loss"])
        data = np.array(history[prefix + "data_loss"])
        penalty = np.array(history[prefix + "penalty"])
        assert (penalty > 0).all()
        np.testing.assert_allclose(data + penalty, total, rtol=1e-6)
    # The data loss is the compiled loss of the predictions, with no penalty in it.
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = float(np.mean(keras.losses.get(loss)(y, model.predict(x, verbose=0))))
    assert result["data_loss"] == pytest.approx(expected, rel=1e-5)
    assert result["loss"] > result["data_loss"]


def test_loss_breakdown_needs_the_metric():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="DataLoss"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), callbacks=[kreg.callbacks.LossBreakdown()], verbose=0)
