import keras
from keras.ops import convert_to_numpy
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
    model.compile("adam", loss, weighted_metrics=[kreg.metrics.DataLoss(loss)])
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
    expected = float(np.mean(convert_to_numpy(keras.losses.get(loss)(y, model.predict(x, verbose=0)))))
    assert result["data_loss"] == pytest.approx(expected, rel=1e-5)
    assert result["loss"] > result["data_loss"]


def test_loss_breakdown_needs_the_metric():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="DataLoss"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), callbacks=[kreg.callbacks.LossBreakdown()], verbose=0)


def frozen(l2, outputs=("out",)):
    """A model whose weights SGD(0) never moves: its penalty is `l2 * sum(kernel ** 2)` in every batch."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    regularizer = kreg.regularizers.L2(l2) if l2 else None
    h = keras.layers.Dense(5, activation="tanh", name="hidden", kernel_regularizer=regularizer)(inputs)
    heads = {name: keras.layers.Dense(3, name=name)(h) for name in outputs}
    return keras.Model(inputs, heads if len(outputs) > 1 else heads[outputs[0]])


X = RNG.normal(size=(50, 6)).astype("float32")  # 50 rows, batches of 16: the last one is partial
Y = RNG.integers(0, 3, size=50)
W = RNG.uniform(0.0, 3.0, size=50)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def per_example(model, x, y):
    return convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0),
                                                                                   from_logits=True))


@pytest.mark.parametrize("l2", [0.0, 0.05])
@pytest.mark.parametrize("weighting", ["class_weight", "sample_weight"])
def test_breakdown_under_class_and_sample_weights(weighting, l2):
    # issue 12, item 3: with class_weight={0: 1, 1: 3} and no regularizer the penalty was 0.858; with random
    # sample weights -1.08. Keras divides a weighted batch loss by the batch size, not by the sum of weights,
    # and gives sample (and class) weights only to `weighted_metrics`.
    model = frozen(l2)
    model.compile(keras.optimizers.SGD(0.0), LOSS, weighted_metrics=[kreg.metrics.DataLoss(LOSS)])
    weights = {"class_weight": dict(zip(range(3), [1.0, 3.0, 0.5]))} if weighting == "class_weight" else {
        "sample_weight": W}
    val_weights = RNG.uniform(0.0, 3.0, size=20)
    history = model.fit(X, Y, batch_size=16, verbose=0, validation_data=(X[:20], Y[:20], val_weights),
                        callbacks=[kreg.callbacks.LossBreakdown()], **weights).history
    w = np.array([weights["class_weight"][c] for c in Y]) if weighting == "class_weight" else W
    kernel = convert_to_numpy(model.get_layer("hidden").kernel)
    penalty = l2 * np.square(kernel).sum()
    # loss = sum_i(w_i * l_i) / N + penalty: NumPy's formula for what Keras's fit reports.
    np.testing.assert_allclose(history["data_loss"], np.mean(w * per_example(model, X, Y)), rtol=1e-5)
    np.testing.assert_allclose(history["val_data_loss"], np.mean(val_weights * per_example(model, X[:20], Y[:20])),
                               rtol=1e-5)
    for prefix in ("", "val_"):
        np.testing.assert_allclose(history[prefix + "penalty"], penalty, atol=1e-6, rtol=1e-5)
        np.testing.assert_allclose(np.add(history[prefix + "data_loss"], history[prefix + "penalty"]),
                                   history[prefix + "loss"], rtol=1e-6)
        assert min(history[prefix + "penalty"]) >= -1e-6  # zero, to float32 rounding, where there is none


def test_breakdown_with_several_outputs_and_loss_weights():
    model = frozen(0.05, outputs=("a", "b"))
    losses = {"a": LOSS, "b": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    model.compile(keras.optimizers.SGD(0.0), losses, loss_weights={"a": 0.5, "b": 2.0},
                  weighted_metrics={"a": [kreg.metrics.DataLoss(LOSS, loss_weight=0.5)],
                                    "b": [kreg.metrics.DataLoss(losses["b"], loss_weight=2.0)]})
    history = model.fit(X, {"a": Y, "b": 2 - Y}, sample_weight=W, batch_size=16, verbose=0,
                        validation_data=(X[:20], {"a": Y[:20], "b": 2 - Y[:20]}),
                        callbacks=[kreg.callbacks.LossBreakdown()]).history
    penalty = 0.05 * np.square(convert_to_numpy(model.get_layer("hidden").kernel)).sum()
    for prefix in ("", "val_"):
        np.testing.assert_allclose(history[prefix + "data_loss"], np.add(history[prefix + "a_data_loss"],
                                                                          history[prefix + "b_data_loss"]))
        np.testing.assert_allclose(history[prefix + "penalty"], penalty, rtol=1e-5)
        np.testing.assert_allclose(np.add(history[prefix + "data_loss"], history[prefix + "penalty"]),
                                   history[prefix + "loss"], rtol=1e-6)


# issue 12, item 3, with `DataLoss` in plain `metrics`, which Keras never weights: the reproduction
# (no regularizer, class_weight={0: 1, 1: 3}: penalty 0.858), random sample weights (penalty -1.08),
# validation sample weights, two outputs with loss_weights.
UNWEIGHTED_CASES = {
    "class_weight": dict(y=Y % 2, class_weight={0: 1.0, 1: 3.0}),
    "sample_weight": dict(y=Y, sample_weight=W),
    "validation sample_weight": dict(y=Y, validation_data=(X[:20], Y[:20], W[:20])),
    "two outputs": dict(y={"a": Y, "b": 2 - Y}, sample_weight=W),
}


@pytest.mark.parametrize("case", UNWEIGHTED_CASES)
def test_a_data_loss_in_plain_metrics_is_refused_and_in_weighted_metrics_is_exact(case):
    """Placed in `metrics` it is refused at the start of `fit`; in `weighted_metrics` the breakdown is exact."""
    two = case == "two outputs"
    l2 = 0.05 if two else 0.0
    fit = dict(UNWEIGHTED_CASES[case], batch_size=16, verbose=0, callbacks=[kreg.callbacks.LossBreakdown()])
    model = frozen(l2, outputs=("a", "b") if two else ("out",))
    compiled = dict(loss={"a": LOSS, "b": LOSS}, loss_weights={"a": 0.5, "b": 2.0}) if two else dict(loss=LOSS)

    def data_losses():
        if two:
            return {"a": [kreg.metrics.DataLoss(LOSS, loss_weight=0.5)], "b": [kreg.metrics.DataLoss(LOSS, 2.0)]}
        return [kreg.metrics.DataLoss(LOSS)]

    model.compile(keras.optimizers.SGD(0.0), metrics=data_losses(), **compiled)
    with pytest.raises(ValueError, match=r"DataLoss \['data_loss'.*compiled in `metrics`.*weighted_metrics"):
        model.fit(X, **fit)
    model.compile(keras.optimizers.SGD(0.0), weighted_metrics=data_losses(), **compiled)
    history = model.fit(X, **fit).history
    penalty = l2 * np.square(convert_to_numpy(model.get_layer("hidden").kernel)).sum()
    for prefix in ("", "val_") if "validation_data" in fit else ("",):
        np.testing.assert_allclose(history[prefix + "penalty"], penalty, atol=1e-6, rtol=1e-5)
        np.testing.assert_allclose(np.add(history[prefix + "data_loss"], history[prefix + "penalty"]),
                                   history[prefix + "loss"], rtol=1e-6)


def test_data_loss_checks_its_arguments():
    with pytest.raises(ValueError, match="argument `loss_weight` of DataLoss.*Received: loss_weight=-1"):
        kreg.metrics.DataLoss("mse", loss_weight=-1)
    with pytest.raises(ValueError, match="argument `loss` of DataLoss.*Received: loss='nope'"):
        kreg.metrics.DataLoss("nope")
