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


def largest_singular_value(kernel):
    kernel = keras.ops.convert_to_numpy(kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


needs_tensorflow = pytest.mark.skipif(keras.backend.backend() == "jax", reason="SpectralNormSpace refuses JAX")


def test_spectral_norm_space_refuses_jax_where_keras_keeps_the_unnormalized_kernel():
    # The reason, measured: after `fit` on JAX the kernel keeps its norm, so `predict` is off by sigma.
    keras.utils.set_random_seed(0)
    layer = keras.layers.SpectralNormalization(keras.layers.Dense(8), power_iterations=20)
    model = keras.Sequential([keras.Input((6,)), layer])
    layer.layer.kernel.assign(layer.layer.kernel * 10.0)
    model.compile(keras.optimizers.SGD(0.0), "mse")
    model.fit(X, np.zeros((len(X), 8)), batch_size=len(X), epochs=1, verbose=0)
    sigma = largest_singular_value(layer.layer.kernel)
    if keras.backend.backend() != "jax":
        assert sigma == pytest.approx(1.0, abs=1e-3)
        return
    assert sigma > 5
    with pytest.raises(ValueError, match="SpectralNormSpace needs the TensorFlow backend.*Received: backend 'jax'"):
        tuning.spaces.SpectralNormSpace()


@needs_tensorflow
def test_spectral_norm_wraps_the_hidden_layers_in_keras_own(tmp_path):
    space = tuning.spaces.SpectralNormSpace(power_iterations=(20,), optional=False)
    hypermodel = tuning.RegularizedMLP(3, (6,), hidden=(8, 8), regularizer=None, max_norm=None, dropout=None,
                                       schedule=None, spectral_norm=space)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values == {"spectral_norm": True, "spectral_norm_power_iterations": 20}
    wrapped = [layer for layer in model.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 2 and all(w.power_iterations == 20 for w in wrapped)
    assert isinstance(model.layers[-1], keras.layers.Dense)  # the output layer keeps its scale
    for layer in wrapped:
        layer.layer.kernel.assign(layer.layer.kernel * 10.0)
    model.fit(X, Y, batch_size=len(X), epochs=1, verbose=0)  # one step: normalized in the forward pass
    for layer in wrapped:
        assert largest_singular_value(layer.layer.kernel) == pytest.approx(1.0, abs=0.02)
    path = str(tmp_path / "spectral.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    cnn = tuning.RegularizedCNN(3, (8, 8, 1), filters=(2,), dense=4, residual=True, schedule=None,
                                spectral_norm=space).build(kt.HyperParameters())
    kinds = [type(layer.layer) for layer in cnn.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert kinds == [keras.layers.Conv2D] * 3 + [keras.layers.Dense]


@needs_tensorflow
def test_spectral_norm_space_domains_and_validation():
    from kreg.tuning.spaces import SpectralNormSpace, hparams_domain

    hp = kt.HyperParameters()
    assert SpectralNormSpace((1, 3)).build(hp) in (None, 1, 3)
    domains = {p.name: hparams_domain(p) for p in hp.space}
    assert domains["spectral_norm"][0].values == [False, True]
    assert domains["spectral_norm_power_iterations"][0].values == [1, 3]
    hp = kt.HyperParameters()
    hp.Fixed("spectral_norm", False)
    assert SpectralNormSpace((1, 3)).build(hp) is None
    model = tuning.RegularizedMLP(3, (6,), hidden=(8,), schedule=None, spectral_norm=SpectralNormSpace()).build(hp)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in model.layers)
    for bad in ((), (0,), (1, 1), (1.5,), "1", None, [[1]]):
        with pytest.raises(ValueError, match="argument `power_iterations` of SpectralNormSpace"):
            SpectralNormSpace(bad)
    with pytest.raises(ValueError, match="argument `optional` of SpectralNormSpace: expected a bool"):
        SpectralNormSpace(optional=1)
    with pytest.raises(ValueError, match="argument `spectral_norm` of RegularizedMLP"):
        tuning.RegularizedMLP(3, (6,), spectral_norm=tuning.MaxNormSpace())


def test_augment_space_searches_keras_own_augmentations():
    space = tuning.AugmentSpace(["rand_augment", "aug_mix", "erasing"], value_range=(0, 255), seed=4,
                                magnitudes={"rand_augment": (0.1, 0.1)})
    hp = kt.HyperParameters()
    for name in ("rand_augment", "aug_mix", "erasing"):
        hp.Fixed(f"augment_{name}", True)
    hp.Fixed("augment_aug_mix_magnitude", 0.25)
    hp.Fixed("augment_erasing_magnitude", 0.2)
    policy = space.build(hp)
    layers = [member.layer for member in policy.transforms]
    assert [type(layer) for layer in layers] == [keras.layers.RandAugment, keras.layers.AugMix,
                                                  keras.layers.RandomErasing]
    assert layers[0].factor == (0, 0.1) and layers[1].factor == (0, 0.25)
    assert layers[2].scale == (0.02, 0.2) and layers[2].factor == (1.0, 1.0)
    assert all(layer.value_range == (0, 255) and layer.seed == 4 for layer in layers)
    assert all(member.probability == 1.0 for member in policy.transforms) and policy.seed == 4
    hp = kt.HyperParameters()
    tuning.AugmentSpace(["erasing", "flip"]).build(hp)
    domains = {p.name: p for p in hp.space}
    assert (domains["augment_erasing_magnitude"].min_value, domains["augment_erasing_magnitude"].max_value) == (
        0.0, 0.33)
    with pytest.raises(ValueError, match="argument `magnitudes` of AugmentSpace: expected \\{'aug_mix': "
                                         "\\(min, max\\)\\} within \\[0, 1\\]"):
        tuning.AugmentSpace(["aug_mix"], magnitudes={"aug_mix": (0.0, 1.5)})
    with pytest.raises(ValueError, match="argument `value_range` of AugmentSpace"):
        tuning.AugmentSpace(value_range=(1, 0))


def test_a_cnn_trains_with_keras_augmentations_on_gray_images():
    hypermodel = tuning.RegularizedCNN(3, (8, 8, 1), filters=(4,), dense=8, regularizer=None, max_norm=None,
                                       schedule=None, augment=tuning.AugmentSpace(["rand_augment", "erasing"]))
    hp = kt.HyperParameters()
    hp.Fixed("augment_rand_augment", True)
    hp.Fixed("augment_erasing", True)
    model = hypermodel.build(hp)
    x = RNG.uniform(size=(16, 8, 8, 1)).astype("float32")
    history = model.fit(x, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_a_warm_up_of_fewer_than_two_epochs_says_two():
    """`warmup_epochs = 0` used to say "int >= 1", then 1 was refused as "int >= 2"."""
    for value in (0, 1, -3, 2.5, True):
        with pytest.raises(ValueError, match=rf"expected an int >= 2. Received: warmup_epochs={value!r}"):
            tuning.ScheduleSpace(value)


@pytest.mark.parametrize("make, name", [
    (lambda: tuning.LabelSmoothingSpace((0.0, 0.2), step=1e308), "step"),
    (lambda: tuning.DropoutSpace((0.0, 0.05), step=0.1), "step"),
    (lambda: tuning.DropPathSpace((0.0, 0.1), step=0.2), "step"),
])
def test_a_grid_step_wider_than_its_range_is_refused(make, name):
    """Keras Tuner would draw only the range's min: a search over one value that looks like a range."""
    with pytest.raises(ValueError, match=rf"argument `{name}` .*the width of"):
        make()
    assert tuning.DropoutSpace((0.0, 0.0), step=0.1).rate == (0.0, 0.0)  # a fixed rate has no width to step


def test_a_space_names_itself_with_its_ranges():
    assert repr(tuning.DropPathSpace()) == ("DropPathSpace(rate=(0.0, 0.3), step=0.05, scalings=('inverted',))")
    assert "object at 0x" not in repr(tuning.AugmentSpace(["flip"]))


def test_image_augmentations_need_images():
    tuning.AugmentSpace(["noise", "feature_dropout"]).check_input((64,))
    tuning.AugmentSpace(["rotation"]).check_input((8, 8, 1))
    with pytest.raises(ValueError, match=r"argument `transforms` of AugmentSpace: .*need images.*Received: "
                                         r"transforms=\['flip', 'noise'\]"):
        tuning.AugmentSpace(["flip", "noise"]).check_input((64,))


def test_the_registry_says_what_regularizes():
    """`unregularized` reads every registered space: a fixed max-norm (no `max_norm_on`) is regularization."""
    from kreg.tuning import spaces

    assert spaces.unregularized({"regularizer": "none", "dropout_rate": 0.0, "max_norm_on": False, "max_norm": 3.0})
    assert not spaces.unregularized({"regularizer": "none", "max_norm": 3.0})  # optional = false: always on
    assert not spaces.unregularized({"drop_block_rate": 0.1})
    assert spaces.unregularized({"schedule": True, "augment_flip": False, "label_smoothing": 0.0})
    assert set(spaces.SPACES) >= {"regularizer", "dropout", "drop_path"} and spaces.get("dropout") is tuning.DropoutSpace
    with pytest.raises(ValueError, match="Unknown search space"):
        spaces.get("dropuot")


def test_default_strengths_follow_the_convention_in_use():
    """The same penalties in either convention: λ/(2n) with n = 500 covers what λ covers in Keras's."""
    keras_range = tuning.RegularizerSpace(["l1", "l2"])
    literature = tuning.RegularizerSpace(["l1", "l2"], num_examples=500)
    assert keras_range.l2 == (1e-6, 1e-2)
    assert literature.l1 == literature.l2 == pytest.approx((1e-3, 10.0))
    weights = np.linspace(-1.0, 1.0, 12, dtype="float32").reshape(3, 4)
    for low_or_high in (0, 1):
        keras_penalty = kreg.regularizers.L2(keras_range.l2[low_or_high])(weights)
        literature_penalty = kreg.regularizers.L2(literature.l2[low_or_high], num_examples=500)(weights)
        assert float(literature_penalty) == pytest.approx(float(keras_penalty), rel=1e-6)
    assert tuning.RegularizerSpace(["l2"], l2=(1.0, 30.0), num_examples=500).l2 == (1.0, 30.0)  # given: kept


def test_proximal_l1_takes_the_convention_too():
    hp = kt.HyperParameters()
    space = tuning.RegularizerSpace(["proximal_l1"], l1=(2.0, 2.0 + 1e-9), num_examples=100)
    space.build(hp)
    wrapped = space.optimizer(hp, keras.optimizers.SGD(0.1), keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    assert wrapped.l1 == pytest.approx(hp.get("l1") / 200)
    plain = tuning.RegularizerSpace(["proximal_l1"], l1=(2.0, 2.0 + 1e-9))
    hp = kt.HyperParameters()
    plain.build(hp)
    assert plain.optimizer(hp, keras.optimizers.SGD(0.1), None).l1 == pytest.approx(hp.get("l1"))


def test_regularize_adds_no_space_it_was_not_given():
    def build(hp):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile("adam", "mse")
        return model

    hp = kt.HyperParameters()
    tuning.Regularize(build).build(hp)
    names = [p.name for p in hp.space]
    assert names[0] == "regularizer" and not [n for n in names if n.startswith("max_norm")]
    tuning.Regularize(build, max_norm=tuning.MaxNormSpace()).build(hp)
    assert "max_norm_on" in [p.name for p in hp.space]


def test_averaging_space_declares_its_values_in_conditional_scopes():
    space = tuning.AveragingSpace()
    hp = kt.HyperParameters()
    assert space.build(hp) == ("none", None)
    assert [p.name for p in hp.space] == ["averaging", "ema_decay", "swa_start"]
    assert hp.values == {"averaging": "none"}  # no inactive decay or start in a trial without averaging
    decay = next(p for p in hp.space if p.name == "ema_decay")
    assert decay.sampling == "reverse_log" and (decay.min_value, decay.max_value) == (0.99, 0.999)
    hp = kt.HyperParameters()
    hp.values["averaging"] = "swa"
    kind, start = space.build(hp)
    assert kind == "swa" and 0.5 <= start <= 0.8 and "ema_decay" not in hp.values
    assert tuning.AveragingSpace(["ema"], ema_decay=(0.9, 0.9)).build(kt.HyperParameters()) == ("ema", 0.9)
    assert not space.regularizes({"averaging": "none"}) and space.regularizes({"averaging": "swa"})
    assert tuning.spaces.get("averaging") is tuning.AveragingSpace


@pytest.mark.parametrize("arguments, match", [
    ({"choices": ["ema", "polyak"]}, r"`choices` of AveragingSpace: expected a non-empty list of distinct names"),
    ({"ema_decay": (0.9, 1.0)}, r"`ema_decay` of AveragingSpace: expected a pair \(min, max\) with 0 < min <= max < 1"),
    ({"ema_decay": (0.0, 0.9)}, r"`ema_decay` of AveragingSpace: expected a pair \(min, max\) with 0 < min"),
    ({"swa_start": (0.5, 1.0)}, r"`swa_start` of AveragingSpace: expected a pair \(min, max\) within \[0, 1\)"),
    ({"swa_start": (-0.1, 0.5)}, r"`swa_start` of AveragingSpace: expected a pair \(min, max\) with 0 <= min"),
])
def test_averaging_space_validation(arguments, match):
    with pytest.raises(ValueError, match=match):
        tuning.AveragingSpace(**arguments)
