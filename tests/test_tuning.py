import json
import os
import subprocess
import sys

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata

import kreg
from kreg import tuning

(X, Y), (XV, YV), _ = kreg.data.digits(train_size=160, validation_size=80, label_noise=0.0)


class BoardSubclass(keras.callbacks.TensorBoard):
    """Keras Tuner matches TensorBoard by class name; kreg by isinstance."""


def events(directory):
    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def plugin(accumulator, tag, parse):
    return parse(accumulator.SummaryMetadata(tag).plugin_data.content)


def scalar(accumulator, tag):
    return float(tf.make_ndarray(accumulator.Tensors(tag)[-1].tensor_proto))


def search(tmp_path, tuner_name="random", trials=3, seed=1, **kwargs):
    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(24,), schedule=tuning.ScheduleSpace(2))
    budget = {"max_epochs": 2} if tuner_name == "hyperband" else {"max_trials": trials}
    tuner = tuning.get(tuner_name)(hypermodel, objective="val_accuracy", seed=seed, **budget,
                                   directory=str(tmp_path / "tuner"), project_name="p", **kwargs)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=3, batch_size=32, verbose=0,
                 callbacks=[BoardSubclass(str(tmp_path / "logs"))])
    return tuner


def test_tensorboard_reads_back_the_truth(tmp_path):
    tuner = search(tmp_path)
    root = events(tmp_path / "logs")
    experiment = plugin(root, metadata.EXPERIMENT_TAG, metadata.parse_experiment_plugin_data)
    domains = {h.name: h for h in experiment.hparam_infos}
    assert set(domains) == {"regularizer", "l1", "l2", "group_lasso", "dropout_rate", "dropout_scaling",
                            "max_norm_on", "max_norm", "schedule"}
    assert sorted(x.string_value for x in domains["regularizer"].domain_discrete.values) == \
        sorted(["none", "l1", "l2", "elastic_net", "group_lasso"])
    assert (domains["l2"].domain_interval.min_value, domains["l2"].domain_interval.max_value) == (1e-6, 1e-2)
    assert "log scale" in domains["l2"].description
    assert (domains["max_norm"].domain_interval.min_value, domains["max_norm"].domain_interval.max_value) == (1, 5)
    assert {m.name.tag for m in experiment.metric_infos} >= {"trial/best_val_accuracy", "trial/pruned",
                                                             "trial/generalization_gap", "trial/sparsity"}
    for trial in tuner.oracle.trials.values():
        with open(tmp_path / "tuner" / "p" / f"trial_{trial.trial_id}" / "trial.json") as f:
            saved = json.load(f)
        session = events(tmp_path / "logs" / trial.trial_id)
        start = plugin(session, metadata.SESSION_START_INFO_TAG, metadata.parse_session_start_info_plugin_data)
        logged = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
                  for name, value in start.hparams.items()}
        assert logged == pytest.approx(saved["hyperparameters"]["values"])
        if saved["hyperparameters"]["values"]["regularizer"] == "none":
            assert "l1" not in logged and "l2" not in logged  # inactive values are absent
        end = plugin(session, metadata.SESSION_END_INFO_TAG, metadata.parse_session_end_info_plugin_data)
        assert end.status == api_pb2.STATUS_SUCCESS
        validation = events(tmp_path / "logs" / trial.trial_id / "execution0" / "validation")
        history = [float(tf.make_ndarray(e.tensor_proto)) for e in validation.Tensors("epoch_accuracy")]
        assert len(history) == 3
        assert scalar(session, "trial/best_val_accuracy") == pytest.approx(max(history))
        assert scalar(session, "trial/best_epoch") == int(np.argmax(history))
        assert saved["score"] == pytest.approx(max(history))  # Keras Tuner's score is the best epoch too
        assert 0.0 <= scalar(session, "trial/sparsity") <= 1.0
        train = events(tmp_path / "logs" / trial.trial_id / "execution0" / "train")
        assert "epoch_loss" in train.Tags()["tensors"]
        assert any(tag.startswith("weights/") for tag in train.Tags()["tensors"])  # RegularizationMonitor


class Exploding(kt.HyperModel):
    """A grid of two trials: one trains on NaN targets, one learns."""

    def build(self, hp):
        hp.Boolean("explode")
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, x, y, **kwargs):
        return model.fit(x * (np.nan if hp.get("explode") else 1.0), y, **kwargs)


def test_a_nan_trial_fails_and_is_never_best(tmp_path):
    tuner = tuning.GridSearch(Exploding(), objective="val_loss", max_trials=2, directory=str(tmp_path / "t"),
                              project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=3, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))])
    statuses = {t.hyperparameters.get("explode"): t for t in tuner.oracle.trials.values()}
    assert statuses[True].status == "FAILED" and statuses[False].status == "COMPLETED"
    (best,) = tuner.oracle.get_best_trials(1)
    assert not best.hyperparameters.get("explode") and np.isfinite(best.score)
    end = plugin(events(tmp_path / "logs" / statuses[True].trial_id), metadata.SESSION_END_INFO_TAG,
                 metadata.parse_session_end_info_plugin_data)
    assert end.status == api_pb2.STATUS_FAILURE


class Slow(kt.HyperModel):
    """Trials that learn (lr 0.01) and one that cannot (lr 0)."""

    def build(self, hp):
        lr = hp.Choice("lr", [0.01, 0.02, 0.0])
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def test_median_pruning_stops_and_marks_a_bad_trial(tmp_path):
    tuner = tuning.GridSearch(Slow(), objective="val_loss", max_trials=3, directory=str(tmp_path / "t"),
                              project_name="p", pruning=tuning.MedianPruning(warmup_epochs=1, min_trials=2))
    tuner.search(X, Y, validation_data=(XV, YV), epochs=6, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))])
    trials = {t.hyperparameters.get("lr"): t for t in tuner.oracle.trials.values()}
    bad = trials[0.0]
    assert len(tuner.epoch_history[bad.trial_id]) < 6  # stopped early
    assert len(tuner.epoch_history[trials[0.01].trial_id]) == 6
    assert bad.metrics.get_last_value("pruned") == 1.0
    assert trials[0.01].metrics.get_last_value("pruned") == 0.0
    assert scalar(events(tmp_path / "logs" / bad.trial_id), "trial/pruned") == 1.0


SEARCH_SCRIPT = """
import json, sys
import kreg
from kreg import tuning
(x, y), (xv, yv), _ = kreg.data.digits(train_size=160, validation_size=80, label_noise=0.0)
hm = tuning.RegularizedMLP(10, (64,), hidden=(24,), schedule=tuning.ScheduleSpace(2))
tuner = tuning.RandomSearch(hm, objective="val_accuracy", max_trials=3, seed=1, directory=sys.argv[1],
                            project_name="p")
tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=32, verbose=0)
print(json.dumps([[t.hyperparameters.values, t.score] for t in tuner.oracle.trials.values()]))
"""


def test_same_seed_same_trials_in_two_processes(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = []
    for i in range(2):
        result = subprocess.run([sys.executable, "-c", SEARCH_SCRIPT, str(tmp_path / f"run{i}")],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert len({json.dumps(values, sort_keys=True) for values, _ in runs[0]}) == 3


@pytest.mark.parametrize("name", sorted(tuning.TUNERS))
def test_every_tuner_by_name(tmp_path, name):
    tuner = search(tmp_path, name, trials=2)
    assert any(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    assert isinstance(tuner, kt.Tuner)
    with pytest.raises(ValueError, match="Received: name='annealing'"):
        tuning.get("annealing")


def test_regularize_a_users_builder(tmp_path):
    def build(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    hypermodel = tuning.Regularize(build, regularizer=tuning.RegularizerSpace(["l2"]),
                                   max_norm=tuning.MaxNormSpace(optional=False))
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert isinstance(model.layers[0].kernel_regularizer, kreg.regularizers.L2)
    assert isinstance(model.layers[0].kernel_constraint, kreg.constraints.MaxNorm)
    assert model.compiled and len(model.losses) == 2
    assert set(hp.values) == {"units", "regularizer", "l2", "max_norm"}
