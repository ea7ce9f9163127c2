"""The newer choices of the search spaces: decoupled weight decay, Keras's orthogonal penalty, label smoothing."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

import kreg
from kreg import tuning

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = RNG.integers(0, 3, size=64)


def dense(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])


def trajectory(choice, strength, optimizer, steps=5):
    """Kernels after `steps` full-batch steps, with `choice` ("l2" or "weight_decay") from `RegularizerSpace`."""
    space = tuning.RegularizerSpace([choice], **{choice: (strength, strength)}, num_examples=len(X))
    hp = kt.HyperParameters()
    regularizer = space.build(hp)
    model = dense()
    if regularizer is not None:
        model = kreg.attach(model, kernel_regularizer=regularizer)
    model.compile(space.optimizer(hp, optimizer, model),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, Y, batch_size=len(X), epochs=steps, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_l2_and_weight_decay_agree_under_sgd_and_differ_under_adam():
    lam, n, lr = 3.0, len(X), 0.1
    # λ/(2n)·Σw² under SGD(α) is the decay α·λ/n per step: Keras's weight_decay = λ/n.
    coupled = trajectory("l2", lam, keras.optimizers.SGD(lr))
    decoupled = trajectory("weight_decay", lam / n, keras.optimizers.SGD(lr))
    plain = [keras.ops.convert_to_numpy(w) for w in dense().weights]
    assert np.abs(coupled[0] - plain[0]).max() > 1e-3  # the weights moved
    for a, b in zip(coupled, decoupled):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    coupled = trajectory("l2", lam, keras.optimizers.Adam(lr))
    decoupled = trajectory("weight_decay", lam / n, keras.optimizers.Adam(lr))
    assert np.abs(coupled[0] - decoupled[0]).max() > 1e-2


def test_weight_decay_spares_biases_and_is_absent_elsewhere():
    space = tuning.RegularizerSpace(["none", "weight_decay"], weight_decay=(0.5, 0.5))
    hp = kt.HyperParameters()
    hp.values["regularizer"] = "weight_decay"
    assert space.build(hp) is None  # no penalty: the optimizer decays
    model = dense()
    model.layers[0].bias.assign(np.ones(8))
    optimizer = space.optimizer(hp, keras.optimizers.SGD(0.1), model)
    assert optimizer.weight_decay == 0.5
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    model.compile(optimizer, lambda y, p: 0.0 * keras.ops.sum(p))  # a zero gradient: only the decay acts
    model.fit(X, Y, batch_size=len(X), epochs=1, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), kernel * (1 - 0.1 * 0.5),
                               rtol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].bias), np.ones(8))
    hp = kt.HyperParameters()
    hp.values["regularizer"] = "none"
    space.build(hp)
    assert "weight_decay" not in hp.values  # inactive: absent


def test_orthogonal_is_keras_own_on_dense_kernels_only():
    hp = kt.HyperParameters()
    regularizer = tuning.RegularizerSpace(["orthogonal"], orthogonal=(0.01, 0.01)).build(hp)
    assert isinstance(regularizer, keras.regularizers.OrthogonalRegularizer)
    assert regularizer.get_config() == {"factor": pytest.approx(0.01), "mode": "rows"}  # Keras keeps a float32
    model = tuning.RegularizedMLP(3, (6,), hidden=(8,), regularizer=tuning.RegularizerSpace(["orthogonal"]),
                                  schedule=None).build(kt.HyperParameters())
    assert len(model.losses) == 2
    with pytest.raises(ValueError, match="RegularizedCNN.*Received: regularizer=\\('l2', 'orthogonal'\\)"):
        tuning.RegularizedCNN(3, (8, 8, 1), regularizer=tuning.RegularizerSpace(["l2", "orthogonal"]))


def test_sparse_label_smoothing_is_keras_dense_label_smoothing():
    probs = keras.ops.softmax(RNG.normal(size=(5, 4)).astype("float32"))
    labels = np.array([0, 3, 1, 1, 2])
    plain = kreg.losses.SparseCategoricalCrossentropy()
    assert float(plain(labels, probs)) == pytest.approx(
        float(keras.losses.SparseCategoricalCrossentropy()(labels, probs)), rel=1e-6)
    smooth = kreg.losses.SparseCategoricalCrossentropy(label_smoothing=0.2)
    target = np.eye(4)[labels] * 0.8 + 0.2 / 4
    expected = -(target * np.log(keras.ops.convert_to_numpy(probs))).sum(axis=1).mean()
    assert float(smooth(labels, probs)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="Received: label_smoothing=1.5"):
        kreg.losses.SparseCategoricalCrossentropy(label_smoothing=1.5)


def test_label_smoothing_space_reaches_the_compiled_loss(tmp_path):
    hypermodel = tuning.RegularizedMLP(3, (6,), hidden=(8,), schedule=None,
                                       label_smoothing=tuning.LabelSmoothingSpace((0.1, 0.1)))
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values["label_smoothing"] == 0.1
    assert model.loss.label_smoothing == 0.1
    model.fit(X, Y, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    assert keras.saving.load_model(path).loss.label_smoothing == 0.1
    with pytest.raises(ValueError, match="Received: smoothing=\\(0.0, 1.0\\)"):
        tuning.LabelSmoothingSpace((0.0, 1.0))


def test_regularize_applies_weight_decay_to_the_users_optimizer():
    def build(hp):
        model = dense()
        model.compile(keras.optimizers.Adam(0.01), "mse")
        return model

    hypermodel = tuning.Regularize(build, regularizer=tuning.RegularizerSpace(["weight_decay"]), max_norm=None)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert model.optimizer.weight_decay == hp.values["weight_decay"]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    uncompiled = tuning.Regularize(lambda hp: dense(), regularizer=tuning.RegularizerSpace(["weight_decay"]))
    with pytest.raises(ValueError, match="must return a compiled model"):
        uncompiled.build(kt.HyperParameters())
