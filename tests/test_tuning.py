import json
import os
import re
import subprocess
import sys

import keras
import keras_tuner as kt
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata
from tensorboard.util.tensor_util import make_ndarray

from conftest import boards
import kreg
from kreg import tuning

(X, Y), (XV, YV), _ = kreg.data.digits(train_size=160, validation_size=80, label_noise=0.0)


Board = boards()[0]  # Keras's, or kreg's where TensorFlow is not installed


class BoardSubclass(Board):
    """Keras Tuner matches TensorBoard by class name; kreg by isinstance."""


def events(directory):
    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def plugin(accumulator, tag, parse):
    return parse(accumulator.SummaryMetadata(tag).plugin_data.content)


def scalar(accumulator, tag):
    return float(make_ndarray(accumulator.Tensors(tag)[-1].tensor_proto))


def search(tmp_path, tuner_name="random", trials=3, seed=1, epochs=3, **kwargs):
    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(24,), schedule=tuning.ScheduleSpace(2))
    budget = {"max_epochs": 2} if tuner_name == "hyperband" else {"max_trials": trials}
    tuner = tuning.get(tuner_name)(hypermodel, objective="val_accuracy", seed=seed, **budget,
                                   directory=str(tmp_path / "tuner"), project_name="p", **kwargs)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=epochs, batch_size=32, verbose=0,
                 callbacks=[BoardSubclass(str(tmp_path / "logs"))])
    return tuner


def test_tensorboard_reads_back_the_truth(tmp_path):
    tuner = search(tmp_path)
    root = events(tmp_path / "logs")
    experiment = plugin(root, metadata.EXPERIMENT_TAG, metadata.parse_experiment_plugin_data)
    domains = {h.name: h for h in experiment.hparam_infos}
    # Columns: the searched hyperparameters every trial has, the regularizer's strength (0 for none) and each
    # searched strength (0 where unused); after them, max_norm, blank where inactive; all are described.
    assert set(domains) == {"regularizer", "strength", "dropout_rate", "dropout_scaling", "max_norm_on", "schedule",
                            "l1", "l2", "group_lasso", "max_norm"}
    assert sorted(h.name for h in experiment.hparam_infos if not h.differs) == ["group_lasso", "l1", "l2", "max_norm"]
    assert sorted(x.string_value for x in domains["regularizer"].domain_discrete.values) == \
        sorted(["none", "l1", "l2", "elastic_net", "group_lasso"])
    assert (domains["dropout_rate"].domain_interval.min_value, domains["dropout_rate"].domain_interval.max_value) \
        == (0.0, 0.5)
    assert "l2 in [1e-06, 0.01] (float, log scale) when regularizer in ['l2', 'elastic_net']" \
        in experiment.description
    assert "max_norm in [1.0, 5.0] (float, linear scale) when max_norm_on in [True]" in experiment.description
    declared = [m.name.tag for m in experiment.metric_infos]
    assert declared[:2] == ["trial/best_val_accuracy", "trial/best_epoch"]
    assert "trial/pruned" not in declared  # no pruning, so never written
    for trial in tuner.oracle.trials.values():
        with open(tmp_path / "tuner" / "p" / f"trial_{trial.trial_id}" / "trial.json") as f:
            saved = json.load(f)
        session = events(tmp_path / "logs" / trial.trial_id)
        start = plugin(session, metadata.SESSION_START_INFO_TAG, metadata.parse_session_start_info_plugin_data)
        logged = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
                  for name, value in start.hparams.items()}
        values = saved["hyperparameters"]["values"]
        uses = {"none": [], "l1": ["l1"], "l2": ["l2"], "elastic_net": ["l1", "l2"], "group_lasso": ["group_lasso"]}
        unused = {"l1": 0.0, "l2": 0.0, "group_lasso": 0.0}
        assert logged == pytest.approx({**unused, **values,
                                        "strength": sum(values[n] for n in uses[values["regularizer"]])})
        if values["regularizer"] == "none":
            assert "l1" not in values and logged["l1"] == logged["l2"] == logged["strength"] == 0
        assert ("max_norm" in logged) == values["max_norm_on"]  # no natural 0: absent where inactive
        end = plugin(session, metadata.SESSION_END_INFO_TAG, metadata.parse_session_end_info_plugin_data)
        assert end.status == api_pb2.STATUS_SUCCESS
        validation = events(tmp_path / "logs" / trial.trial_id / "execution0" / "validation")
        history = [float(make_ndarray(e.tensor_proto)) for e in validation.Tensors("epoch_accuracy")]
        assert len(history) == 3
        assert scalar(session, "trial/best_val_accuracy") == pytest.approx(max(history))
        assert scalar(session, "trial/best_epoch") == int(np.argmax(history)) + 1 == saved["best_step"] + 1
        assert saved["score"] == pytest.approx(max(history))  # Keras Tuner's score is the best epoch too
        assert 0.0 <= scalar(session, "trial/sparsity") <= 1.0
        assert set(declared) <= set(session.Tags()["tensors"])  # every declared metric is written
        train = events(tmp_path / "logs" / trial.trial_id / "execution0" / "train")
        assert "epoch_loss" in train.Tags()["tensors"]
        assert any(tag.startswith("weights/") for tag in train.Tags()["tensors"])  # RegularizationMonitor


def test_a_blank_holding_column_never_opens_the_page(tmp_path):
    # regularizer, strength, l2 and max_norm_on: four columns every trial has. TensorBoard opens on five and its
    # parallel coordinates skip a trial blank in a shown column, so max_norm (blank when off) is described only.
    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(8,), regularizer=tuning.RegularizerSpace(["none", "l2"]),
                                       dropout=None, schedule=None)
    tuner = tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=0,
                                directory=str(tmp_path / "tuner"), project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0, callbacks=[Board(str(tmp_path / "logs"))])
    experiment = plugin(events(tmp_path / "logs"), metadata.EXPERIMENT_TAG, metadata.parse_experiment_plugin_data)
    assert sorted(h.name for h in experiment.hparam_infos) == ["l2", "max_norm_on", "regularizer", "strength"]
    assert [h.name for h in experiment.hparam_infos if not h.differs] == ["l2"]
    assert "max_norm in [1.0, 5.0]" in experiment.description


def test_a_fixed_strength_within_a_choice_gets_its_column(tmp_path):
    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(8,), dropout=None, max_norm=None, schedule=None,
                                       regularizer=tuning.RegularizerSpace(["none", "l2"], l2=(0.01, 0.01)))
    tuner = tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=0,
                                directory=str(tmp_path / "tuner"), project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0, callbacks=[Board(str(tmp_path / "logs"))])
    experiment = plugin(events(tmp_path / "logs"), metadata.EXPERIMENT_TAG, metadata.parse_experiment_plugin_data)
    (l2,) = [h for h in experiment.hparam_infos if h.name == "l2"]
    assert "fixed at 0.01" in l2.description and l2.domain_interval.max_value == 0.01
    assert "l2 in [0.01] (fixed) when regularizer in ['l2']" in experiment.description


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
                 callbacks=[Board(str(tmp_path / "logs"))])
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
                 callbacks=[Board(str(tmp_path / "logs"))])
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
(x, y), (xv, yv), _ = kreg.data.digits(train_size=120, validation_size=60, label_noise=0.0)
hm = tuning.RegularizedMLP(10, (64,), hidden=(8,), schedule=None)
runs = {}
for name in sorted(tuning.TUNERS):
    for seed in (0, 7) if name == "random" else (0,):  # seed 7: a seed other than 0 gives other trials
        budget = {"max_epochs": 2} if name == "hyperband" else {"max_trials": 2}
        tuner = tuning.get(name)(hm, objective="val_accuracy", seed=seed, deterministic=True, **budget,
                                 directory=sys.argv[1], project_name=f"{name}{seed}")
        tuner.search(x, y, validation_data=(xv, yv), epochs=2, batch_size=32, verbose=0)
        runs[f"{name}{seed}"] = [tuner.oracle.seed] + [[t.hyperparameters.values, t.score]
                                                       for t in tuner.oracle.trials.values()]
print(json.dumps(runs))
"""


@pytest.mark.one_backend
def test_same_seed_same_trials_and_metrics_in_two_processes(tmp_path):
    """Seed 0 is a seed; with `deterministic=True` the scores repeat bit for bit, for every tuner."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [subprocess.Popen([sys.executable, "-c", SEARCH_SCRIPT, str(tmp_path / f"run{i}")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    runs = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    assert runs[0] == runs[1]  # JSON floats: bit for bit
    assert sorted(runs[0]) == sorted([f"{name}0" for name in tuning.TUNERS] + ["random7"])
    for key, (seed, *trials) in runs[0].items():
        assert seed == int(key[-1])
        assert len(trials) >= 2 and all(score is not None for _, score in trials)
    assert runs[0]["random0"][1:] != runs[0]["random7"][1:]


@pytest.mark.parametrize("name", sorted(tuning.TUNERS))
def test_seed_zero_reaches_the_oracle(tmp_path, name):
    budget = {"max_epochs": 2} if name == "hyperband" else {"max_trials": 2}
    tuner = tuning.get(name)(Slow(), objective="val_loss", seed=0, **budget, directory=str(tmp_path),
                             project_name="p")
    assert tuner.oracle.seed == 0
    with pytest.raises(ValueError, match="deterministic=True needs a seed"):
        tuning.get(name)(Slow(), objective="val_loss", deterministic=True, **budget, directory=str(tmp_path),
                         project_name="q")
    with pytest.raises(ValueError, match="Received: deterministic=1"):
        tuning.get(name)(Slow(), objective="val_loss", seed=0, deterministic=1, **budget,
                         directory=str(tmp_path), project_name="r")


class Frozen(kt.HyperModel):
    """A model that cannot learn (SGD with a zero step): every epoch ties."""

    def build(self, hp):
        hp.Choice("units", [8, 16])
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def test_tied_epochs_agree_with_keras_tuner(tmp_path):
    tuner = tuning.GridSearch(Frozen(), objective="val_accuracy", max_trials=1, directory=str(tmp_path / "t"),
                              project_name="p", seed=0)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=3, verbose=0,
                 callbacks=[Board(str(tmp_path / "logs"))])
    (trial,) = tuner.oracle.trials.values()
    assert trial.best_step == 0  # Keras Tuner (and its checkpoint) keep the first of tied epochs
    assert scalar(events(tmp_path / "logs" / trial.trial_id), "trial/best_epoch") == 1  # Keras's "Epoch 1/1"


class FlakyExecutions(kt.HyperModel):
    """Executions that differ by their seed; with `explode_first`, the first execution trains on NaN."""

    def __init__(self, explode_first):
        super().__init__()
        self.explode_first, self.calls = explode_first, 0

    def build(self, hp):
        hp.Choice("units", [8])
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, x, y, **kwargs):
        self.calls += 1
        return model.fit(x * (np.nan if self.explode_first and self.calls == 1 else 1.0), y, **kwargs)


@pytest.mark.parametrize("explode_first", [True, False])
def test_every_execution_counts(tmp_path, explode_first):
    tuner = tuning.GridSearch(FlakyExecutions(explode_first), objective="val_accuracy", max_trials=1, seed=3,
                              executions_per_trial=2, directory=str(tmp_path / "t"), project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=3, verbose=0,
                 callbacks=[Board(str(tmp_path / "logs"))])
    (trial,) = tuner.oracle.trials.values()
    session = events(tmp_path / "logs" / trial.trial_id)
    if explode_first:
        assert trial.status == "FAILED" and "became nan" in trial.message
        assert tuner.oracle.get_best_trials(1) == []
        return
    bests = []
    for execution in range(2):
        validation = events(tmp_path / "logs" / trial.trial_id / f"execution{execution}" / "validation")
        bests.append(max(float(make_ndarray(e.tensor_proto)) for e in validation.Tensors("epoch_accuracy")))
    assert bests[0] != bests[1]  # the executions really differ, so the mean is not the last one's best
    assert scalar(session, "trial/best_val_accuracy") == pytest.approx(trial.score) == pytest.approx(np.mean(bests))


def test_best_trials_are_completed_and_finite_however_many_are_asked(tmp_path):
    tuner = tuning.GridSearch(Exploding(), objective="val_loss", max_trials=2, directory=str(tmp_path / "t"),
                              project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=2, verbose=0)
    best = tuner.oracle.get_best_trials(5)
    assert [t.hyperparameters.get("explode") for t in best] == [False]
    assert len(tuner.get_best_models(2)) == 1
    assert len(tuner.get_best_hyperparameters(2)) == 1


class Layered(kt.HyperModel):
    """Keras Tuner's documented pattern: hyperparameters declared in a loop, some only in later trials."""

    def build(self, hp):
        model = keras.Sequential([keras.Input((64,))])
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 4, 12, step=4), activation="relu"))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def test_hyperparameters_declared_during_the_search_are_logged(tmp_path):
    tuner = tuning.RandomSearch(Layered(), objective="val_accuracy", max_trials=5, seed=2,
                                directory=str(tmp_path / "t"), project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0,
                 callbacks=[Board(str(tmp_path / "logs"))])
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    # The initial space is built with the defaults (one layer): `units_2` is created by the first trial with three.
    first = next(t for t in trials if "units_2" in t.hyperparameters.values)
    start = plugin(events(tmp_path / "logs" / first.trial_id), metadata.SESSION_START_INFO_TAG,
                   metadata.parse_session_start_info_plugin_data)
    assert start.hparams["units_2"].number_value == first.hyperparameters.values["units_2"]
    experiment = plugin(events(tmp_path / "logs"), metadata.EXPERIMENT_TAG, metadata.parse_experiment_plugin_data)
    domain = {h.name: h for h in experiment.hparam_infos}["units_2"].domain_interval
    assert (domain.min_value, domain.max_value) == (4, 12)


@pytest.mark.one_backend  # a fresh process's import, whatever the backend
def test_import_kreg_binds_tuning():
    result = subprocess.run([sys.executable, "-c", "import kreg; print(kreg.tuning.RandomSearch.__name__)"],
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.stdout.strip() == "RandomSearch", result.stderr[-1000:]


@pytest.mark.parametrize("name", sorted(tuning.TUNERS))
def test_every_tuner_by_name(tmp_path, name):
    tuner = search(tmp_path, name, trials=2, epochs=1)
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


@pytest.mark.parametrize("name", sorted(tuning.TUNERS))
def test_no_hypermodel_is_refused_as_keras_tuner_refuses_it(tmp_path, name):
    """kreg's own `run_trial` defeated Keras Tuner's check: every trial then failed with an AttributeError.

    (Keras Tuner's `Hyperband` has its own `run_trial`, so Keras Tuner does not refuse it either; kreg does.)
    """
    budget = {"max_epochs": 2} if name == "hyperband" else {"max_trials": 2}
    with pytest.raises(ValueError) as keras_tuners:
        kt.RandomSearch(objective="loss", max_trials=2, directory=str(tmp_path), project_name="kt")
    with pytest.raises(ValueError) as kregs:
        tuning.get(name)(objective="loss", **budget, directory=str(tmp_path), project_name="kreg")
    assert str(kregs.value) == str(keras_tuners.value) and "Received `hypermodel=None`" in str(kregs.value)

    class OwnTrials(tuning.get(name)):  # Keras Tuner's pattern: the search space defined in `run_trial`
        def run_trial(self, trial, *args, **kwargs):
            return {"loss": trial.hyperparameters.Float("x", 0.0, 1.0)}

    tuner = OwnTrials(objective="loss", **budget, directory=str(tmp_path), project_name="own", seed=0)
    if name != "hyperband":  # Keras Tuner's Hyperband draws no trial from an empty space
        tuner.search(verbose=0)
        assert {t.status for t in tuner.oracle.trials.values()} == {"COMPLETED"}


@pytest.mark.parametrize("value", [0, -1, 1.5, True, None, "3"])
def test_max_consecutive_failed_trials_is_an_int_of_at_least_1(tmp_path, value):
    with pytest.raises(ValueError, match=r"Invalid value for argument `max_consecutive_failed_trials` of "
                                         r"RandomSearch: expected an int >= 1\. Received: "
                                         rf"max_consecutive_failed_trials={re.escape(repr(value))}"):
        tuning.RandomSearch(Slow(), objective="val_loss", max_trials=2, max_consecutive_failed_trials=value,
                            directory=str(tmp_path), project_name="p")


class Failing(kt.HyperModel):
    """Trial `i` (a grid, in order) fails where `pattern[i]` is "nan" (a NaN loss) or "error" (its fit raises)."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern

    def build(self, hp):
        hp.Int("i", 0, len(self.pattern) - 1)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, x, y, **kwargs):
        i = hp.get("i")
        if self.pattern[i] == "error":
            raise ValueError(f"fit of trial {i} broke")
        return model.fit(x * (np.nan if self.pattern[i] == "nan" else 1.0), y, **kwargs)


def failing_search(tmp_path, pattern, **kwargs):
    tuner = tuning.GridSearch(Failing(pattern), objective="val_loss", max_trials=len(pattern), seed=0,
                              directory=str(tmp_path / "t"), project_name="p", **kwargs)
    tuner.search(X[:32], Y[:32], validation_data=(XV[:16], YV[:16]), epochs=1, verbose=0,
                 callbacks=[Board(str(tmp_path / "logs"))])
    return tuner


@pytest.mark.parametrize("failure", ["nan", "error"])
def test_a_search_whose_trials_all_fail_stops_after_three_with_the_first_error(tmp_path, failure):
    """A NaN trial (failed by kreg) counts as a failed trial, like one whose code raises."""
    with pytest.raises(RuntimeError, match="reached the limit of 3") as stopped:
        failing_search(tmp_path, [failure] * 8)
    message = str(stopped.value)
    assert "trials 0, 1, 2 failed in a row" in message and "Traceback" in message
    assert ("Trial 0 failed: loss became nan" if failure == "nan" else "fit of trial 0 broke") in message
    state = json.loads((tmp_path / "t" / "p" / "oracle.json").read_text())
    assert state["end_order"] == ["0", "1", "2"] and state["ongoing_trials"] == {}  # the last one saved too
    for trial_id in "012":
        saved = json.loads((tmp_path / "t" / "p" / f"trial_{trial_id}" / "trial.json").read_text())
        assert saved["status"] == "FAILED"
        end = plugin(events(tmp_path / "logs" / trial_id), metadata.SESSION_END_INFO_TAG,
                     metadata.parse_session_end_info_plugin_data)
        assert end.status == api_pb2.STATUS_FAILURE


def test_only_failures_in_a_row_stop_a_search(tmp_path):
    """A failed trial among completed ones is a result: the search goes on."""
    tuner = failing_search(tmp_path / "a", ["nan", "ok", "error", "ok", "nan", "ok"], max_consecutive_failed_trials=2)
    statuses = [t.status for t in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))]
    assert statuses == ["FAILED", "COMPLETED"] * 3
    with pytest.raises(RuntimeError, match=r"trials 1, 2 failed in a row\. The first, trial 1, failed with:") as e:
        failing_search(tmp_path / "b", ["ok", "error", "nan", "ok"], max_consecutive_failed_trials=2)
    assert "fit of trial 1 broke" in str(e.value) and "loss became nan" not in str(e.value)


def test_kerass_tensorboard_without_tensorflow_is_refused_before_any_trial(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else find_spec(name, *a))
    tuner = tuning.GridSearch(Slow(), objective="val_loss", max_trials=1, directory=str(tmp_path / "t"), project_name="p")
    with pytest.raises(ValueError, match=r"`callbacks` of GridSearch.search: Keras's TensorBoard callback writes "
                                         r"through tf.summary.*kreg.callbacks.TensorBoard"):
        tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0,
                     callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))])
    assert not tuner.oracle.trials and not (tmp_path / "logs").exists()
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0,  # kreg's own writes without TensorFlow
                 callbacks=[kreg.callbacks.TensorBoard(str(tmp_path / "logs"))])
    assert len(tuner.oracle.trials) == 1 and (tmp_path / "logs" / "0" / "execution0" / "train").is_dir()


def run_rule(rule, curves, direction="min"):
    """Runs trials one after another, each epoch by epoch as `_TrialCallback` does: each trial's epochs trained
    (numbered from 1) and whether the rule stopped it."""
    finished, out = [], []
    for curve in curves:
        history, pruned = [], False
        for epoch, value in enumerate(curve):
            history.append(value)
            pruned = rule.prunes(epoch, list(history), finished, direction)
            if pruned:
                break
        out.append((len(history), pruned))
        finished.append(history)
    return out


# A worked example (val_loss, lower is better), eta = 3, rungs at 1, 3 and 9 epochs, min_trials = 1. At a rung of n
# values the best max(1, n // 3) go on; a tie with the last of them goes on.
WORKED = [
    [0.90, 0.80, 0.50, 0.45, 0.44, 0.43, 0.42, 0.41, 0.40, 0.39],  # t0: alone everywhere, runs all 10 epochs
    [0.80, 0.70, 0.60, 0.50, 0.49, 0.48, 0.47, 0.46, 0.45, 0.44],  # t1: 1 epoch: best of [0.9, 0.8]; 3: 0.6 > 0.5
    [0.85, 0.30, 0.20, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10],  # t2: 1 epoch: 0.85 not the best of 3 (0.8)
    [0.75, 0.60, 0.45, 0.44, 0.43, 0.42, 0.41, 0.40, 0.41, 0.38],  # t3: best at 1 (of 4) and 3 (of 3); 9: 0.41 > 0.40
    [0.75, 0.70, 0.50, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40],  # t4: ties t3 at 1 (kept); 3: 0.5 ties t0: 4 // 3 = 1
    [0.95, 0.70, 0.50, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40],  # t5: 6 values at 1: the best 2 go on: not 0.95
]


def test_successive_halving_worked_example():
    rule = tuning.SuccessiveHalvingPruning(min_resource=1, reduction_factor=3, min_trials=1)
    assert rule.rungs(10) == [1, 3, 9]
    assert run_rule(rule, WORKED) == [(10, False), (3, True), (1, True), (9, True), (3, True), (1, True)]
    # t4's 0.5 at 3 epochs: [0.45 (t3), 0.5 (t0), 0.5 (t4), 0.6 (t1)], 4 // 3 = 1 kept: 0.45; t4 stops.
    # With eta = 2 the best 2 of 4 go on at 2 epochs, t4 included (a tie with the last kept goes on).
    rule2 = tuning.SuccessiveHalvingPruning(min_resource=2, reduction_factor=2, min_trials=1)
    assert rule2.rungs(10) == [2, 4, 8]
    assert rule2.prunes(1, [0.75, 0.70], [[0.9, 0.8], [0.8, 0.7], [0.85, 0.3]], "min") is False  # 0.70 ties 2nd
    assert rule2.prunes(1, [0.75, 0.71], [[0.9, 0.8], [0.8, 0.7], [0.85, 0.3]], "min") is True
    assert rule2.prunes(0, [0.99], [[0.1]], "min") is False  # 1 epoch is no rung
    # Higher is better (val_accuracy): the same ranks, mirrored.
    flipped = [[1 - value for value in curve] for curve in WORKED]
    assert run_rule(rule, flipped, "max") == run_rule(rule, WORKED)


def test_successive_halving_waits_for_min_trials_at_each_rung():
    """Optuna's `n_min_trials` (optuna #2441): with fewer earlier trials at a rung than `min_trials`, no ranking."""
    rule = tuning.SuccessiveHalvingPruning(min_resource=1, reduction_factor=3, min_trials=3)
    # t1 and t2 would stop at 1 epoch with min_trials = 1 (see above); here only 1 and 2 trials precede them.
    out = run_rule(rule, WORKED)
    assert out[:3] == [(10, False), (10, False), (10, False)]
    # t3 is judged at 1 epoch against 3 trials (0.75, the best of 4: goes on), then at 3 against t0, t1 and t2,
    # which now reached 3 epochs: 0.45 is not the best of [0.20, 0.45, 0.50, 0.60].
    assert out[3] == (3, True)
    # A rung counts the earlier trials that reached it: pruned trials count where they got to, not beyond.
    assert rule.prunes(2, [0.9, 0.9, 0.9], [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [0.2]], "min") is False  # 2 at 3
    assert rule.prunes(2, [0.9, 0.9, 0.9], [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2]], "min") is True


def test_successive_halving_agrees_with_optuna():
    """The same decisions as Optuna's `SuccessiveHalvingPruner` (bootstrap_count=0 is min_trials=1) on random
    curves, trial after trial, each reporting every epoch as step = epochs trained."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    for min_resource, eta, rate, direction in [(1, 3, 0, "min"), (1, 2, 0, "max"), (2, 2, 1, "min"), (1, 4, 0, "max")]:
        curves = np.round(rng.uniform(size=(30, 12)), 2).tolist()  # 2 decimals: ties happen
        ours = run_rule(tuning.SuccessiveHalvingPruning(min_resource, eta, rate, min_trials=1), curves, direction)
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=eta,
                                                        min_early_stopping_rate=rate)
        study = optuna.create_study(direction="minimize" if direction == "min" else "maximize", pruner=pruner)
        theirs = []
        for curve in curves:
            trial, pruned = study.ask(), False
            for epoch, value in enumerate(curve):
                trial.report(value, step=epoch + 1)
                pruned = trial.should_prune()  # once a step: a second call judges the next rung
                if pruned:
                    break
            theirs.append((epoch + 1, pruned))
            study.tell(trial, state=optuna.trial.TrialState.PRUNED if pruned else None,
                       values=None if pruned else curve[-1])
        assert ours == theirs, (min_resource, eta, rate, direction)


def test_median_rule_as_before():
    rule = tuning.MedianPruning(warmup_epochs=1, min_trials=2)
    others = [[0.9, 0.5, 0.4], [0.8, 0.6, 0.3]]
    assert rule.prunes(0, [0.99], others, "min") is False  # warm-up
    assert rule.prunes(1, [0.9, 0.56], others, "min") is True  # best so far 0.56 > median(0.5, 0.6) = 0.55
    assert rule.prunes(1, [0.9, 0.55], others, "min") is False  # equal to the median: goes on
    assert rule.prunes(1, [0.9, 0.56], others[:1], "min") is False  # one earlier trial: fewer than min_trials
    assert rule.prunes(2, [0.1, 0.9, 0.9], others, "min") is False  # the best so far counts, not the last


@pytest.mark.parametrize("kwargs, name, expected", [
    ({"min_resource": 0}, "min_resource", "an int >= 1"), ({"min_resource": 1.0}, "min_resource", "an int >= 1"),
    ({"reduction_factor": 1}, "reduction_factor", "an int >= 2"),
    ({"reduction_factor": True}, "reduction_factor", "an int >= 2"),
    ({"reduction_factor": float("nan")}, "reduction_factor", "an int >= 2"),
    ({"min_early_stopping_rate": -1}, "min_early_stopping_rate", "an int >= 0"),
    ({"min_early_stopping_rate": "0"}, "min_early_stopping_rate", "an int >= 0"),
    ({"min_trials": 0}, "min_trials", "an int >= 1")])
def test_successive_halving_arguments_are_checked(kwargs, name, expected):
    with pytest.raises(ValueError, match=rf"argument `{name}` of SuccessiveHalvingPruning: expected {expected}\. "
                                         rf"Received: {name}="):
        tuning.SuccessiveHalvingPruning(**kwargs)


def test_hyperband_takes_no_pruning(tmp_path):
    for rule in (tuning.MedianPruning(), tuning.SuccessiveHalvingPruning()):
        with pytest.raises(ValueError, match="argument `pruning` of Hyperband: expected None: Hyperband stops"):
            tuning.Hyperband(Slow(), objective="val_loss", max_epochs=2, directory=str(tmp_path), pruning=rule)


def test_successive_halving_prunes_and_its_history_survives_a_reload(tmp_path):
    """Each finished trial's objective by epoch is in its trial.json: a tuner reloaded from the folder (a resumed
    search) ranks against the same values as the one that ran the trials."""
    rule = tuning.SuccessiveHalvingPruning(min_resource=2, reduction_factor=2, min_trials=1)
    kwargs = dict(objective="val_loss", max_trials=3, directory=str(tmp_path / "t"), project_name="p", pruning=rule)
    tuner = tuning.GridSearch(Slow(), **kwargs)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=4, verbose=0, callbacks=[Board(str(tmp_path / "logs"))])
    trials = {t.hyperparameters.get("lr"): t for t in tuner.oracle.trials.values()}
    assert len(tuner.epoch_history[trials[0.01].trial_id]) == 4  # the first trial: alone at every rung
    assert len(tuner.epoch_history[trials[0.0].trial_id]) == 2  # lr 0 learns nothing: stopped at the first rung
    assert trials[0.0].metrics.get_last_value("pruned") == 1.0
    assert scalar(events(tmp_path / "logs" / trials[0.0].trial_id), "trial/pruned") == 1.0
    experiment = plugin(events(tmp_path / "logs"), metadata.EXPERIMENT_TAG, metadata.parse_experiment_plugin_data)
    (pruned,) = [m for m in experiment.metric_infos if m.name.tag == "trial/pruned"]
    assert pruned.description == "1 if successive halving (ASHA) stopped the trial early"
    resumed = tuning.GridSearch(Slow(), **kwargs)  # overwrite=False: reloads the oracle from its files
    assert resumed.epoch_history == {}
    resumed._recall_epochs()
    assert resumed.epoch_history == tuner.epoch_history  # bit for bit: JSON keeps a float's repr
