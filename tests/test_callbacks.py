import copy
import os

import keras
from keras.ops import convert_to_numpy
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from conftest import boards
import kreg
from kreg.callbacks import FitDiagnosis, RegularizationMonitor, RegularizationSchedule, Schedule

RNG = np.random.default_rng(10)


def scalars(directory):
    events = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    events.Reload()
    values = {tag: [(e.step, make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)]
              for tag in events.Tags()["tensors"]}
    return {tag: [(step, float(value)) for step, value in events] for tag, events in values.items()
            if events[0][1].dtype.kind == "f"}


def regularized_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu", name="hidden", kernel_regularizer=kreg.regularizers.L1(0.01),
                           kernel_constraint=kreg.constraints.MaxNorm(1.0)),
        kreg.layers.Dropout(0.3, name="drop"),
        keras.layers.Dense(3, name="out", kernel_regularizer=kreg.regularizers.L2(0.01)),
    ])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss, metrics=["accuracy"], weighted_metrics=[kreg.metrics.DataLoss(loss)])
    return model


X = RNG.normal(size=(96, 8)).astype("float32")
Y = (X[:, 0] > 0).astype("int32") + (X[:, 1] > 1).astype("int32")


class MyTensorBoard(boards()[0]):  # Keras's, or kreg's where TensorFlow is not installed
    pass


def steps(logged, tag):
    return [step for step, _ in logged.get(tag, [])]


# Where the board is: listed after the monitor, before it, left out of `fit`, or none (`log_dir`).
ORDERS = ["monitor, board", "board, monitor", "board left out", "log_dir"]


def fit_in_order(tmp_path, order, model, epochs=3, extra=()):
    tensorboard = MyTensorBoard(str(tmp_path))  # a subclass: found by isinstance
    monitor = (RegularizationMonitor(str(tmp_path)) if order == "log_dir"
               else RegularizationMonitor(tensorboard=tensorboard))
    callbacks = {"monitor, board": [monitor, *extra, tensorboard], "board, monitor": [tensorboard, *extra, monitor],
                 "board left out": [monitor, *extra], "log_dir": [monitor, *extra]}[order]
    return model.fit(X, Y, batch_size=32, epochs=epochs, validation_data=(X[:32], Y[:32]), verbose=0,
                     callbacks=callbacks).history


@pytest.mark.parametrize("order", ORDERS)
def test_monitor_writes_what_tensorboard_reads_back_each_quantity_once(tmp_path, order):
    model = regularized_model()
    history = fit_in_order(tmp_path, order, model)
    train, validation = scalars(tmp_path / "train"), scalars(tmp_path / "validation")
    for tag in ["epoch_data_loss", "epoch_penalty", "dropout/drop/rate",
                "weights/sequential/hidden/kernel/l1", "weights/sequential/hidden/kernel/l2",
                "weights/sequential/hidden/kernel/zero_fraction", "weights/sequential/hidden/kernel/small_fraction",
                "weights/sequential/hidden/kernel/max_unit_norm", "weights/sequential/hidden/kernel/max_norm_limit",
                "weights/sequential/out/kernel/l1"]:
        tag = tag.replace("sequential", model.name)
        assert steps(train, tag) == [0, 1, 2], (order, tag)  # each epoch once: one writer for each quantity
    for tag in ["epoch_data_loss", "epoch_penalty"]:
        assert steps(validation, tag) == [0, 1, 2], (order, tag)
    assert not [tag for tag in [*train, *validation] if tag.startswith("regularization/")]
    assert ("epoch_loss" in train) == order.startswith(("monitor, board", "board, monitor"))
    data = np.array([value for _, value in train["epoch_data_loss"]])
    penalty = np.array([value for _, value in train["epoch_penalty"]])
    np.testing.assert_allclose(data + penalty, history["loss"], rtol=1e-5)
    np.testing.assert_allclose(penalty, history["penalty"], rtol=1e-6)
    val = np.array([value for _, value in validation["epoch_data_loss"]])
    val_penalty = np.array([value for _, value in validation["epoch_penalty"]])
    np.testing.assert_allclose(val + val_penalty, history["val_loss"], rtol=1e-5)
    assert (penalty > 0).all()
    kernel = convert_to_numpy(model.get_layer("hidden").kernel)
    l1 = train[f"weights/{model.name}/hidden/kernel/l1"][-1][1]
    assert l1 == pytest.approx(np.abs(kernel).sum(), rel=1e-5)
    assert train[f"weights/{model.name}/hidden/kernel/max_unit_norm"][-1][1] <= 1.0 + 1e-5
    assert train[f"weights/{model.name}/hidden/kernel/max_norm_limit"][-1][1] == 1.0
    assert train["dropout/drop/rate"][-1][1] == pytest.approx(0.3)


@pytest.mark.parametrize("order", ORDERS)
def test_the_diagnosis_reaches_tensorboard_once_whatever_the_order(tmp_path, order):
    tensorboard = MyTensorBoard(str(tmp_path))
    diagnosis = (FitDiagnosis(log_dir=str(tmp_path)) if order == "log_dir" else FitDiagnosis(tensorboard=tensorboard))
    callbacks = {"monitor, board": [diagnosis, tensorboard], "board, monitor": [tensorboard, diagnosis],
                 "board left out": [diagnosis], "log_dir": [diagnosis]}[order]
    history = regularized_model().fit(X, Y, batch_size=32, epochs=2, validation_data=(X[:32], Y[:32]), verbose=0,
                                      callbacks=callbacks).history
    train, validation = scalars(tmp_path / "train"), scalars(tmp_path / "validation")
    for tag in ["epoch_train_error", "epoch_generalization_gap", "epoch_avoidable_bias", "epoch_fit_verdict"]:
        assert steps(train, tag) == [0, 1], (order, tag)
    assert steps(validation, "epoch_error") == [0, 1]  # `val_error`, as the board names it
    np.testing.assert_allclose([value for _, value in train["epoch_generalization_gap"]],
                               history["generalization_gap"], rtol=1e-6)


def test_a_multi_output_breakdown_is_written_once_with_the_board_first(tmp_path):
    # With the board first, it wrote each output's data loss; the monitor adds (and writes) their sum and the penalty.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(4, kernel_regularizer=kreg.regularizers.L2(0.1))(inputs)
    model = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(hidden), "b": keras.layers.Dense(1, name="b")(hidden)})
    model.compile("sgd", {"a": "mse", "b": "mse"},
                  weighted_metrics={"a": [kreg.metrics.DataLoss("mse")], "b": [kreg.metrics.DataLoss("mse")]})
    board = MyTensorBoard(str(tmp_path))
    y = {"a": Y[:, None].astype("float32"), "b": Y[:, None].astype("float32")}
    history = model.fit(X, y, epochs=2, verbose=0, callbacks=[board, RegularizationMonitor(tensorboard=board)]).history
    train = scalars(tmp_path / "train")
    assert steps(train, "epoch_data_loss") == [0, 1] and steps(train, "epoch_penalty") == [0, 1]
    np.testing.assert_allclose([v for _, v in train["epoch_data_loss"]], history["data_loss"], rtol=1e-6)


def classifier(hidden, inputs):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((inputs,))] + [keras.layers.Dense(h, activation="relu") for h in hidden]
    model = keras.Sequential(layers + [keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["binary_accuracy"])
    return model


def diagnose(model, x, y, xv, yv, epochs, **kwargs):
    diagnosis = FitDiagnosis(**kwargs)
    history = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0,
                        callbacks=[diagnosis]).history
    return diagnosis, history


def test_overfitting_underfitting_and_good_fit(tmp_path):
    # A large network on 32 examples with random labels: it memorizes them.
    x, xv = RNG.normal(size=(32, 20)), RNG.normal(size=(200, 20))
    y, yv = RNG.integers(0, 2, 32), RNG.integers(0, 2, 200)
    diagnosis, history = diagnose(classifier([256, 256], 20), x, y, xv, yv, 60, log_dir=str(tmp_path))
    assert diagnosis.verdict == "overfitting"
    assert history["fit_verdict"][-1] == 2
    assert history["generalization_gap"][-1] == pytest.approx(
        history["binary_accuracy"][-1] - history["val_binary_accuracy"][-1], abs=1e-6)
    assert "more regularization" in diagnosis.recommendation
    assert "fit/summary" in EventAccumulator_tags(tmp_path / "train")
    # A linear model on XOR: it cannot fit.
    xor = RNG.uniform(-1, 1, size=(400, 2))
    labels = (xor[:, 0] * xor[:, 1] > 0).astype("int32")
    diagnosis, _ = diagnose(classifier([], 2), xor[:300], labels[:300], xor[300:], labels[300:], 20)
    assert diagnosis.verdict == "underfitting"
    assert "bigger network" in diagnosis.recommendation
    # Two well-separated blobs and a logistic regression: both errors low and close.
    blobs = np.concatenate([RNG.normal(-2, 1, size=(200, 2)), RNG.normal(2, 1, size=(200, 2))])
    labels = np.repeat([0, 1], 200)
    order = RNG.permutation(400)
    blobs, labels = blobs[order], labels[order]
    diagnosis, _ = diagnose(classifier([], 2), blobs[:300], labels[:300], blobs[300:], labels[300:], 20)
    assert diagnosis.verdict == "good fit"


def EventAccumulator_tags(directory):
    events = EventAccumulator(str(directory))
    events.Reload()
    return events.Tags()["tensors"]


def test_early_stopping_restores_the_best_epoch_and_kreg_records_it():
    x, xv = RNG.normal(size=(24, 10)), RNG.normal(size=(100, 10))
    y, yv = x[:, :1] + RNG.normal(size=(24, 1)), xv[:, :1] + RNG.normal(size=(100, 1))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.003), "mse")
    snapshots = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    diagnosis = FitDiagnosis(error="loss", patience=3)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(x, y, validation_data=(xv, yv), epochs=200, verbose=0,
                        callbacks=[record, diagnosis, stop]).history
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) < 200  # it stopped early
    assert diagnosis.best_epoch == best
    assert diagnosis.stopped_epoch == len(history["val_loss"]) - 1
    assert diagnosis.overfitting_onset == best
    for restored, kept in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(restored, kept)
    # the texts and the logs number epochs as Keras prints them ("Epoch 1/200" is epoch 0 of the callbacks)
    assert f"best validation error at epoch {best + 1}; last epoch {len(history['val_loss'])} " in diagnosis.summary()
    assert history["best_epoch"][-1] == best + 1


def test_dropout_schedule_without_retracing(monkeypatch):
    traces = []
    original = kreg.layers.Dropout.call

    def counting_call(self, inputs, training=False):
        traces.append(training)
        return original(self, inputs, training=training)

    monkeypatch.setattr(kreg.layers.Dropout, "call", counting_call)
    model = regularized_model()
    rates = []
    counts = []
    seen = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: (
        rates.append(model.get_layer("drop").rate), counts.append(len(traces))))
    schedule = RegularizationSchedule(dropout_rate=Schedule("linear", 0.5, 0.1, epochs=5))
    history = model.fit(X, Y, batch_size=32, epochs=5, verbose=0, callbacks=[schedule, seen]).history
    np.testing.assert_allclose(rates, [0.5, 0.4, 0.3, 0.2, 0.1], atol=1e-12)
    np.testing.assert_allclose(history["dropout_rate"], [0.5, 0.4, 0.3, 0.2, 0.1])
    if keras.backend.backend() == "torch":  # an eager step: `call` runs at each of the 3 batches of an epoch
        assert counts[0] >= 3 and np.diff(counts).tolist() == [3] * 4
    else:
        assert counts[0] > 0 and counts == [counts[0]] * 5  # traced in the first epoch, never again


def test_a_scheduled_rate_changes_what_the_compiled_step_computes():
    # Weights fixed (SGD(0)), all-ones inputs and kernel, test-time scaling: the training loss
    # (mean absolute output) is the number of kept units, 1000 * (1 - rate). Under JAX the step is
    # stateless: the rate must be in the state the trainer threads through it.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1000,)), kreg.layers.Dropout(0.5, scaling="test_time", seed=0),
                              keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    model.compile(keras.optimizers.SGD(0.0), "mae")
    schedule = RegularizationSchedule(dropout_rate=Schedule("linear", 0.5, 0.1, epochs=3))
    history = model.fit(np.ones((64, 1000), "float32"), np.zeros((64, 1)), batch_size=32, epochs=3, verbose=0,
                        callbacks=[schedule]).history
    # 64,000 Bernoulli draws per epoch: standard error of the kept fraction <= 0.002; tolerance 0.01.
    np.testing.assert_allclose(np.array(history["loss"]) / 1000, [0.5, 0.7, 0.9], atol=0.01)


def test_a_dropout_scale_keeps_each_layers_own_rate_in_proportion():
    model = keras.Sequential([keras.Input((8,)), kreg.layers.Dropout(0.2), keras.layers.Dense(8),
                              kreg.layers.Dropout(0.4), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        [layer.rate for layer in model.layers if isinstance(layer, kreg.layers.Dropout)]))
    schedule = RegularizationSchedule(dropout_scale=Schedule("linear", 0.0, 1.0, epochs=3))
    history = model.fit(np.ones((8, 8)), np.zeros((8, 2)), epochs=4, verbose=0, callbacks=[schedule, record]).history
    np.testing.assert_allclose(seen, [[0.0, 0.0], [0.1, 0.2], [0.2, 0.4], [0.2, 0.4]], atol=1e-12)
    np.testing.assert_allclose(history["dropout_scale"], [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(history["dropout_rate"], [0.0, 0.2, 0.4, 0.4])  # the largest rate set
    model.fit(np.ones((8, 8)), np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[schedule, record])
    np.testing.assert_allclose(seen[-1], [0.0, 0.0], atol=1e-12)  # a second fit scales the first rates again


def test_penalty_and_augment_scales():
    keras.utils.set_random_seed(0)
    policy = kreg.augment.Policy([kreg.augment.RandomRotation(20.0), kreg.augment.GaussianNoise(0.2)])
    model = keras.Sequential([keras.Input((4, 4, 1)), policy, keras.layers.Flatten(),
                              keras.layers.Dense(2, kernel_regularizer=kreg.regularizers.ElasticNet(0.1, 0.2))])
    model.compile("sgd", "mse")
    regularizer = model.layers[-1].kernel_regularizer
    schedule = RegularizationSchedule(penalty_scale=Schedule("cosine", 0.0, 1.0, epochs=3),
                                      augment_scale=Schedule("linear", 1.0, 0.5, epochs=3))
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        (regularizer.l1, regularizer.l2, policy.transforms[0].magnitude, policy.transforms[1].magnitude)))
    model.fit(RNG.normal(size=(16, 4, 4, 1)), np.zeros((16, 2)), epochs=3, verbose=0, callbacks=[schedule, record])
    np.testing.assert_allclose(seen, [(0.0, 0.0, 20.0, 0.2), (0.05, 0.1, 15.0, 0.15), (0.1, 0.2, 10.0, 0.1)],
                               atol=1e-12)
    # The penalty the train step computes follows the variable.
    w = convert_to_numpy(model.layers[-1].kernel)
    assert float(sum(model.losses)) == pytest.approx(0.1 * np.abs(w).sum() + 0.2 * np.square(w).sum(), rel=1e-5)


def test_schedule_needs_a_target():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="has no kreg Dropout layer"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0,
                  callbacks=[RegularizationSchedule(dropout_rate=0.2)])


@pytest.mark.parametrize("board", boards())
def test_callbacks_survive_deepcopy(tmp_path, board):
    tensorboard = board(str(tmp_path / "a"))
    callbacks = [RegularizationMonitor(tensorboard=tensorboard), tensorboard,
                 FitDiagnosis(tensorboard=tensorboard),
                 RegularizationSchedule(dropout_rate=Schedule("linear", 0.4, 0.2, epochs=2)),
                 kreg.callbacks.LossBreakdown()]
    copies = copy.deepcopy(callbacks)
    assert copies[0].tensorboard is copies[1] and copies[2].tensorboard is copies[1]
    copies[1].log_dir = str(tmp_path / "trial")  # what a tuner does for each trial
    model = regularized_model()
    model.fit(X, Y, epochs=2, validation_data=(X, Y), verbose=0, callbacks=copies)
    assert (tmp_path / "trial" / "train").is_dir()
    ours = [FitDiagnosis(log_dir=str(tmp_path / "c")), copies[3], copies[4], RegularizationMonitor(str(tmp_path / "b"))]
    model.fit(X, Y, epochs=1, validation_data=(X, Y), verbose=0, callbacks=ours)
    again = copy.deepcopy(ours)  # after training too: no model, no layer, no open writer is copied
    assert all(callback.model is None for callback in again)
    model.fit(X, Y, epochs=2, validation_data=(X, Y), verbose=0, callbacks=again)


def test_onset_of_overfitting_is_cleared_when_validation_improves_again():
    # issue 12, item 4: onset stayed 0 although the best epoch was 6, and summary() said both.
    diagnosis = FitDiagnosis(patience=3)
    diagnosis.on_train_begin()
    for epoch, (acc, val) in enumerate(zip([.4, .5, .6, .7, .8, .9, .97], [.4, .4, .4, .4, .6, .8, .95])):
        diagnosis.on_epoch_end(epoch, {"accuracy": acc, "val_accuracy": val})
        if epoch == 3:
            assert diagnosis.overfitting_onset == 0  # three epochs without improvement, training still better
    assert diagnosis.best_epoch == 6 and diagnosis.overfitting_onset is None
    assert "stopped improving" not in diagnosis.summary()


@pytest.mark.parametrize("kind", boards())
def test_callbacks_with_a_tensorboard_survive_deepcopy_after_a_fit(tmp_path, kind):
    # issue 12, item 5: TypeError: cannot pickle 'module' object (Keras's TensorBoard after a fit).
    board = kind(str(tmp_path / "first"))
    ours = [FitDiagnosis(tensorboard=board), RegularizationMonitor(tensorboard=board)]
    model = regularized_model()
    model.fit(X, Y, epochs=1, validation_data=(X, Y), verbose=0, callbacks=[*ours, board])
    copies = copy.deepcopy(ours)
    assert copies[0].tensorboard is copies[1].tensorboard and copies[0].tensorboard is not board
    copies[0].tensorboard.log_dir = str(tmp_path / "second")
    model.fit(X, Y, epochs=1, validation_data=(X, Y), verbose=0, callbacks=[*copies, copies[0].tensorboard])
    assert "fit/summary" in EventAccumulator_tags(tmp_path / "second" / "train")
    assert copy.deepcopy(ours[0]).tensorboard.log_dir == str(tmp_path / "first")


def test_a_scheduled_magnitude_changes_what_the_compiled_step_computes():
    # As for the dropout rate: the magnitude is state the (on JAX, stateless) train step reads.
    # Zero inputs, Gaussian noise of std s, a fixed all-ones Dense: the training loss (mse against 0) is 16 s**2.
    model = keras.Sequential([keras.Input((16,)), kreg.augment.GaussianNoise(1.0, seed=0),
                              keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    schedule = RegularizationSchedule(augment_scale=Schedule("linear", 0.0, 1.0, epochs=3))
    history = model.fit(np.zeros((512, 16), "float32"), np.zeros((512, 1)), batch_size=128, epochs=3, verbose=0,
                        callbacks=[schedule]).history
    # 512 draws of a chi-square(1) times 16 s**2 per epoch: relative standard error sqrt(2 / 512) = 0.0625;
    # tolerance 0.25 (4 of them).
    assert history["loss"][0] == 0.0
    np.testing.assert_allclose(history["loss"][1:], [16 * 0.25, 16 * 1.0], rtol=0.25)


def test_the_monitor_refuses_a_data_loss_that_keras_would_not_weight(tmp_path):
    model = regularized_model()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss, metrics=[kreg.metrics.DataLoss(loss)])
    with pytest.raises(ValueError, match="compile it in `weighted_metrics`"):
        model.fit(X, Y, epochs=1, verbose=0, class_weight={0: 1.0, 1: 3.0, 2: 1.0},
                  callbacks=[RegularizationMonitor(str(tmp_path))])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[RegularizationMonitor(str(tmp_path), data_loss=None)])


def fitted(board, epochs=2):
    model = regularized_model()
    model.fit(X, Y, validation_data=(X, Y), epochs=epochs, batch_size=32, verbose=0, callbacks=[board])
    return model


@pytest.mark.tensorflow_only
def test_tensorboard_writes_the_scalars_kerass_writes(tmp_path):
    # kreg.callbacks.TensorBoard stands in for Keras's where TensorFlow is missing: same runs, tags, steps, values.
    logged = {}
    for name, board in (("keras", keras.callbacks.TensorBoard(str(tmp_path / "keras"), write_graph=False)),
                        ("kreg", kreg.callbacks.TensorBoard(str(tmp_path / "kreg")))):
        fitted(board).evaluate(X, Y, verbose=0, callbacks=[board])
        logged[name] = {run: scalars(tmp_path / name / run) for run in ("train", "validation")}
    for run in ("train", "validation"):
        theirs, ours = logged["keras"][run], logged["kreg"][run]
        assert sorted(ours) == sorted(theirs), run
        for tag in theirs:  # sorted: Keras's evaluate after fit opens a new file, whose name may sort first
            assert sorted(s for s, _ in ours[tag]) == sorted(s for s, _ in theirs[tag]), (run, tag)
    assert {"epoch_loss", "epoch_data_loss", "epoch_learning_rate"} <= set(logged["kreg"]["train"])
    assert {"epoch_loss", "evaluation_loss_vs_iterations"} <= set(logged["kreg"]["validation"])
    # The same seed and data: Keras's and kreg's runs saw the same numbers.
    np.testing.assert_allclose([v for _, v in logged["kreg"]["train"]["epoch_loss"]],
                               [v for _, v in logged["keras"]["train"]["epoch_loss"]], rtol=1e-6)


def test_tensorboard_logs_each_epoch_and_copies_without_its_writers(tmp_path):
    board = kreg.callbacks.TensorBoard(str(tmp_path))
    model = fitted(board, epochs=3)
    logged = scalars(tmp_path / "train")
    history = model.history.history
    assert [s for s, _ in logged["epoch_loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in logged["epoch_loss"]], history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars(tmp_path / "validation")["epoch_accuracy"]],
                               history["val_accuracy"], rtol=1e-6)

    def crash(batch, logs):
        raise RuntimeError("killed mid-epoch")

    # A fit that dies after its first epoch leaves writers open; a copy (a trial's) shares none of them.
    crashing = [board, keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: e and crash(e, logs))]
    with pytest.raises(RuntimeError, match="killed"):
        regularized_model().fit(X, Y, validation_data=(X, Y), epochs=2, verbose=0, callbacks=crashing)
    assert board._runs  # open
    # Copied directly, and through a callback that refers to it (copied first: kreg's callbacks copy it then).
    monitor, clone = copy.deepcopy([RegularizationMonitor(tensorboard=board), board])
    assert monitor.tensorboard is clone and clone is not board
    assert clone.log_dir == board.log_dir and clone._runs == {} and clone.model is None
    assert copy.deepcopy(board)._runs == {}
    clone.log_dir = str(tmp_path / "trial")  # what a tuner does for each trial
    regularized_model().fit(X, Y, validation_data=(X, Y), epochs=1, verbose=0, callbacks=[monitor, clone])
    assert [s for s, _ in scalars(tmp_path / "trial" / "train")["epoch_loss"]] == [0]
    # The fit that raised leaves no writer behind in the original either: its next fit writes new files.
    before = set(os.listdir(tmp_path / "train"))
    regularized_model().fit(X, Y, epochs=1, verbose=0, callbacks=[board])
    assert not board._runs and len(set(os.listdir(tmp_path / "train")) - before) == 1
