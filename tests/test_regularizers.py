import keras
import numpy as np
import pytest
from conftest import errors_setting_inside_an_epoch
from conftest import value_and_grad

from kreg import _walk
from kreg import regularizers

RNG = np.random.default_rng(0)
W = RNG.normal(size=(7, 5)).astype("float32")


def test_worked_examples():
    a = np.array([[0.2, -0.1], [0.3, 0.4]], "float32")
    b = np.array([[0.1, -0.05], [0.02, 0.15]], "float32")
    assert float(regularizers.L1(1.0)(a)) == pytest.approx(1.00, abs=1e-6)
    assert float(regularizers.L1(1.0)(b)) == pytest.approx(0.32, abs=1e-6)
    assert np.sqrt(float(regularizers.L2(1.0)(b))) == pytest.approx(0.188, abs=5e-4)


@pytest.mark.parametrize("n", [None, 1, 50])
def test_l1_value_and_gradient(n):
    coefficient = 0.3 if n is None else 0.3 / (2 * n)
    value, grad = value_and_grad(regularizers.L1(0.3, num_examples=n), W)
    assert value == pytest.approx(coefficient * np.abs(W).sum(), rel=1e-6)
    np.testing.assert_allclose(grad, coefficient * np.sign(W), rtol=1e-6)


@pytest.mark.parametrize("n", [None, 1, 50])
def test_l2_value_and_gradient(n):
    value, grad = value_and_grad(regularizers.L2(0.3, num_examples=n), W)
    if n is None:
        assert value == pytest.approx(0.3 * np.square(W).sum(), rel=1e-6)
        np.testing.assert_allclose(grad, 2 * 0.3 * W, rtol=1e-6)
    else:
        assert value == pytest.approx(0.3 / (2 * n) * np.square(W).sum(), rel=1e-6)
        np.testing.assert_allclose(grad, 0.3 / n * W, rtol=1e-6)


def test_half_lambda_form_with_one_example():
    w = np.array([[1.5, -2.0]], "float32")
    assert float(regularizers.L2(0.4, num_examples=1)(w)) == pytest.approx(0.5 * 0.4 * 6.25)


@pytest.mark.parametrize("n", [None, 20])
def test_elastic_net_value_and_gradient(n):
    scale = 1.0 if n is None else 1.0 / (2 * n)
    value, grad = value_and_grad(regularizers.ElasticNet(0.2, 0.5, num_examples=n), W)
    expected = scale * (0.2 * np.abs(W).sum() + 0.5 * np.square(W).sum())
    assert value == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(grad, scale * (0.2 * np.sign(W) + 2 * 0.5 * W), rtol=1e-6)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (regularizers.L1(0.013), keras.regularizers.L1(0.013)),
        (regularizers.L2(0.013), keras.regularizers.L2(0.013)),
        (regularizers.ElasticNet(0.013, 0.007), keras.regularizers.L1L2(0.013, 0.007)),
        (regularizers.ElasticNet(0.0, 0.007), keras.regularizers.L1L2(0.0, 0.007)),
    ],
)
def test_keras_convention_is_bitwise_identical(ours, theirs):
    w = RNG.normal(size=(64, 33)).astype("float32")
    assert np.asarray(ours(w)).tobytes() == np.asarray(theirs(w)).tobytes()


def test_sgd_with_l2_is_weight_decay():
    n, lam, alpha = 40, 3.0, 0.1
    x = RNG.normal(size=(8, 5)).astype("float32")
    y = RNG.normal(size=(8, 2)).astype("float32")
    w0 = RNG.normal(size=(5, 2)).astype("float32")
    layer = keras.layers.Dense(2, use_bias=False, kernel_regularizer=regularizers.L2(lam, num_examples=n))
    model = keras.Sequential([keras.Input((5,)), layer])
    layer.kernel.assign(w0)
    data_grad = 2 * x.T @ (x @ w0 - y) / y.size  # the gradient of mean((x w - y) ** 2)
    model.compile(optimizer=keras.optimizers.SGD(alpha), loss="mse")
    model.train_on_batch(x, y)
    expected = (1 - alpha * lam / n) * w0 - alpha * data_grad
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel), expected, rtol=1e-5, atol=1e-6)


def test_group_lasso_sums_unit_norms():
    value, grad = value_and_grad(regularizers.GroupLasso(0.7), W)
    norms = np.linalg.norm(W, axis=0)
    assert value == pytest.approx(0.7 * norms.sum(), rel=1e-6)
    np.testing.assert_allclose(grad, 0.7 * W / norms, rtol=1e-5)


def test_group_lasso_groups_conv_filters_and_is_finite_at_zero():
    kernel = RNG.normal(size=(3, 3, 4, 6)).astype("float32")
    kernel[..., 2] = 0.0
    value, grad = value_and_grad(regularizers.GroupLasso(1.0), kernel)
    assert value == pytest.approx(np.linalg.norm(kernel.reshape(-1, 6), axis=0).sum(), rel=1e-6)
    assert np.isfinite(grad).all()
    assert (grad[..., 2] == 0).all()


def test_half_precision_penalty_is_float32_and_finite():
    x = np.full((256, 64), 200.0, "float16")  # sum of squares 6.6e8: inf in float16
    for regularizer in (regularizers.L2(1.0), regularizers.ElasticNet(1.0, 1.0), regularizers.GroupLasso(1.0)):
        penalty = regularizer(x)
        assert keras.backend.standardize_dtype(penalty.dtype) == "float32"
        assert np.isfinite(float(penalty))


def test_activity_regularizer_trains_under_mixed_float16(mixed_float16):
    # Keras's own activity regularizers crash here (float16 loss added to float32).
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activity_regularizer=regularizers.L2(0.01)),
            keras.layers.Dense(2, dtype="float32", kernel_regularizer=regularizers.L1(0.01)),
        ]
    )
    model.compile("sgd", "mse")
    history = model.fit(np.ones((16, 4)), np.ones((16, 2)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(keras.backend.standardize_dtype(loss.dtype) == "float32" for loss in model.losses)


def test_registry():
    assert regularizers.get("elastic_net") is regularizers.ElasticNet
    with pytest.raises(ValueError, match="Received: name='l3'"):
        regularizers.get("l3")


def test_a_penalty_schedule_reaches_the_compiled_train_step():
    # issue 13: on JAX the strengths were variables the model did not track, so the compiled step kept the
    # strength it was traced with: the logged loss had no penalty at any epoch. With a learning rate of 0 the
    # loss of epoch e is the NumPy formula below, on every backend.
    from kreg.callbacks import RegularizationSchedule, Schedule

    x = RNG.normal(size=(8, 5)).astype("float32")
    y = RNG.normal(size=(8, 2)).astype("float32")
    w = RNG.normal(size=(5, 2)).astype("float32")
    layer = keras.layers.Dense(2, use_bias=False, kernel_regularizer=regularizers.L2(0.5))
    model = keras.Sequential([keras.Input((5,)), layer])
    layer.kernel.assign(w)
    model.compile(keras.optimizers.SGD(0.0), "mse")
    schedule = RegularizationSchedule(penalty_scale=Schedule("linear", 0.0, 1.0, epochs=3))
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[schedule])
    data_loss = np.mean((x @ w - y) ** 2)
    expected = [data_loss + scale * 0.5 * np.square(w).sum() for scale in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)
    assert layer.kernel_regularizer.l2 == 0.5  # the schedule scales from the strength it found
    # The strength is the layer's state, not a weight: the weights are those of Keras's L2.
    assert [w.name for w in layer.weights] == ["kernel"] and len(layer.get_weights()) == 1
    tracked = any(v is layer.kernel_regularizer._state for v in model.non_trainable_variables)
    assert tracked == (keras.backend.backend() != "torch")  # torch: out of the state_dict (kreg._scalar_state)
    # Built at init as Keras's stateless layers: an unbuilt sublayer made Keras rebuild the model every step.
    assert all(sublayer.built for sublayer in _walk.layers(model))


@pytest.mark.parametrize(
    "penalty, strengths",
    [
        (regularizers.L1(0.1), [0.1]),
        (regularizers.L2(0.2, num_examples=10), [0.2]),
        (regularizers.ElasticNet(0.3, 0.4), [0.3, 0.4]),
        (regularizers.GroupLasso(0.5), [0.5]),
    ],
)
def test_a_penalty_state_is_its_strengths(penalty, strengths):
    # A penalty's strengths are one variable, a scalar when there is one (Keras's JAX train_on_batch copies
    # every state variable in and out on each call), listed by the penalty itself, not through Keras's walk
    # (which that call runs four times): every strength, in order, is state of the layer that holds the
    # penalty, and setting one changes that variable and only that strength.
    layer = keras.layers.Dense(2, kernel_regularizer=penalty)
    layer.build((None, 3))
    state = penalty._state
    assert np.atleast_1d(keras.ops.convert_to_numpy(state)).tolist() == pytest.approx(strengths)
    if keras.backend.backend() == "torch":  # out of the module's parameters and state_dict (kreg._scalar_state)
        assert penalty.variables == [] and sorted(k.rsplit("/", 1)[-1] for k in layer.state_dict()) == ["bias", "kernel"]
    else:
        assert penalty.variables == [state] and any(v is state for v in layer.non_trainable_variables)
    assert penalty.weights == [] and [w.name for w in layer.weights] == ["kernel", "bias"]
    setattr(penalty, penalty.strengths[-1], 0.05)
    assert np.atleast_1d(keras.ops.convert_to_numpy(state)).tolist() == pytest.approx([*strengths[:-1], 0.05])
    assert penalty.get_config()[penalty.strengths[-1]] == 0.05


def test_a_strength_set_inside_a_jax_epoch_is_an_error_not_a_silent_revert():
    # As for a dropout rate: JAX's fit holds the penalty's variable during an epoch and writes its own copy back.
    penalty = regularizers.ElasticNet(0.1, 0.2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_regularizer=penalty)])
    model.compile("sgd", "mse")
    errors = errors_setting_inside_an_epoch(model, lambda: setattr(penalty, "l2", 0.3))
    if keras.backend.backend() == "jax":
        assert errors and errors[0].startswith("`l2` cannot change") and "Received: 0.3" in errors[0]
        assert penalty.l2 == 0.2
    else:
        assert not errors and penalty.l2 == 0.3
    assert keras.ops.convert_to_numpy(penalty._state).tolist() == pytest.approx([0.1, penalty.l2])
