"""The HParams dashboard as TensorBoard serves it: what the page receives over HTTP, read as the page reads it."""

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import keras
import keras_tuner as kt
import pytest

import kreg
from kreg import tuning

pytestmark = pytest.mark.one_backend  # slow end to end: the TensorFlow pass only (README)

(X, Y), (XV, YV), _ = kreg.data.digits(train_size=160, validation_size=80, label_noise=0.0)
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
SHOWN = 5  # TensorBoard 2.21's page ticks the first five hyperparameters and the first five metrics


class Board:
    """A `tensorboard` process on loopback, read through the hparams plugin's HTTP API."""

    def __init__(self, logdir):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
             "--port", str(self.port), "--load_fast", "false", "--reload_interval", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def post(self, route, body):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/data/plugin/hparams/{route}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def get(self, route, **query):
        """A GET of TensorBoard's `/data/ROUTE`."""
        url = f"http://127.0.0.1:{self.port}/data/{route}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def until(self, ready, what, deadline=60):
        """`ready()`'s first value other than None, polled while TensorBoard loads the logs."""
        start = time.time()
        while True:
            try:
                value = ready()
                if value is not None:
                    return value
            except OSError:
                pass
            if time.time() - start > deadline:
                raise TimeoutError(f"TensorBoard did not serve {what} in {deadline} s")
            time.sleep(0.5)

    def dashboard(self, sessions, deadline=60):
        """`(experiment, session_groups)` once TensorBoard has loaded `sessions` finished sessions."""
        def ready():
            experiment = self.post("experiment", {"experimentName": ""})
            columns = [{"hparam": h["name"]} for h in experiment.get("hparamInfos", [])] + \
                [{"metric": m["name"]} for m in experiment.get("metricInfos", [])]
            groups = self.post("session_groups", {"experimentName": "", "allowedStatuses": STATUSES,
                                                  "colParams": columns, "startIndex": 0,
                                                  "sliceSize": 1000})["sessionGroups"]
            finished = [g for g in groups if g["sessions"][0].get("status") in ("STATUS_SUCCESS", "STATUS_FAILURE")]
            return (experiment, groups) if len(finished) >= sessions else None

        return self.until(ready, f"{sessions} sessions", deadline)

    def close(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def board_at():
    boards = []
    yield lambda logdir: boards.append(Board(logdir)) or boards[-1]
    for board in boards:
        board.close()


def default_view(experiment):
    """The columns the page shows when it opens: it orders hyperparameters `differs` first, keeps five of each."""
    hparams = sorted(experiment["hparamInfos"], key=lambda h: not h.get("differs", False))[:SHOWN]
    return [h["name"] for h in hparams], [m["name"]["tag"] for m in experiment["metricInfos"][:SHOWN]]


def drawn(groups, hparams, metrics):
    """The session groups the parallel-coordinates plot draws: those with a value in every shown column."""
    def has(group, tag):
        return any(m["name"]["tag"] == tag and m.get("value") != "NaN" for m in group["metricValues"])
    return [g for g in groups if all(h in g["hparams"] for h in hparams) and all(has(g, m) for m in metrics)]


def test_the_default_view_shows_what_was_searched_and_draws_every_finished_trial(tmp_path, board_at):
    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(16,), regularizer=tuning.RegularizerSpace(
        ["none", "l1", "l2"]), dropout=tuning.DropoutSpace(scalings=["inverted"]), schedule=None)
    tuner = tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=4, seed=0,
                                pruning=tuning.MedianPruning(warmup_epochs=1, min_trials=1),
                                directory=str(tmp_path / "tuner"), project_name="p")
    tuner.search(X, Y, validation_data=(XV, YV), epochs=2, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))])
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    experiment, groups = board_at(tmp_path / "logs").dashboard(len(tuner.oracle.trials))
    hparams, metrics = default_view(experiment)
    # the searched choices, the strength the trial's regularizer uses and each searched strength (0 where the
    # trial's regularizer has no such term): every trial has them, so the default view draws every trial
    assert hparams == ["dropout_rate", "max_norm_on", "regularizer", "strength", "l1"]
    assert metrics == ["trial/best_val_accuracy", "trial/best_epoch", "trial/generalization_gap",
                       "trial/data_loss", "trial/pruned"]
    assert len(drawn(groups, hparams, metrics)) == len(completed) == 4
    values = {g["name"]: g["hparams"] for g in groups}
    for trial in completed:  # every active value, conditional ones included, reaches the page
        searched = trial.hyperparameters.values
        strength = {"none": 0.0, "l1": searched.get("l1"), "l2": searched.get("l2")}[searched["regularizer"]]
        assert values[trial.trial_id] == pytest.approx({"l1": 0.0, "l2": 0.0, **searched, "strength": strength})
    strengths = [v["strength"] for v in values.values()]
    assert all(s >= 0 for s in strengths) and any(s > 0 for s in strengths)
    (column,) = [h for h in experiment["hparamInfos"] if h["name"] == "strength"]
    assert column["type"] == "DATA_TYPE_FLOAT64" and column["domainInterval"]["minValue"] == 0.0
    assert "l1 in [1e-06, 0.01] (float, log scale) when regularizer in ['l1']" in experiment["description"]
    columns = {h["name"]: h for h in experiment["hparamInfos"]}
    assert "0 where the trial's regularizer has no l1 term" in columns["l1"]["description"]
    assert columns["l1"]["domainInterval"] == {"minValue": 0.0, "maxValue": 0.01}
    # max_norm has no natural 0 (blank where off): with four columns every trial has, it would open the page
    assert "max_norm" not in columns and "max_norm in [1.0, 5.0]" in experiment["description"]
    assert all(("max_norm" in v) == v["max_norm_on"] for v in values.values())
    assert "dropout_scaling = 'inverted'" in experiment["description"]


class UsersModel(kt.HyperModel):
    """A user's own model with its own metrics (no accuracy, no data loss)."""

    def build(self, hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 4, 8, step=4)),
                                  keras.layers.Dense(1)])
        model.compile("adam", "mse", metrics=["mae"])
        return model


def test_every_declared_metric_is_written_for_every_finished_trial(tmp_path, board_at):
    tuner = tuning.RandomSearch(UsersModel(), objective="val_loss", max_trials=2, seed=1,
                                directory=str(tmp_path / "tuner"), project_name="p")
    tuner.search(X, Y.astype("float32"), validation_data=(XV, YV.astype("float32")), epochs=2, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))])
    experiment, groups = board_at(tmp_path / "logs").dashboard(2)
    declared = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert "trial/final_mae" in declared and "trial/data_loss" not in declared
    assert "trial/final_accuracy" not in declared
    assert len(drawn(groups, [h["name"] for h in experiment["hparamInfos"]], declared)) == 2


def test_a_users_own_search_reaches_the_dashboard(tmp_path, board_at):
    """`kreg.search` on a build function with its own hyperparameter and a regression objective."""
    def build(hp):
        inputs = keras.Input((64,))
        h = keras.layers.Dropout(0.1)(keras.layers.Dense(hp.Int("units", 4, 12, step=4), activation="relu")(inputs))
        model = keras.Model(inputs, keras.layers.Dense(1)(h))
        model.compile("adam", "mse", metrics=["mae"])
        return model

    def load(seed):
        return (X, Y.astype("float32")), (XV, YV.astype("float32")), (XV, YV.astype("float32"))

    result = kreg.search({"name": "mine", "search": {"objective": "val_mae", "max_trials": 3, "epochs": 2},
                          "space": {"regularizer": {"choices": ["none", "l2"]}, "dropout": {"rate": [0.0, 0.4]}},
                          "confirm": {"seeds": 1}}, build=build, load=load, logdir=str(tmp_path))
    experiment, groups = board_at(tmp_path / "mine" / "tensorboard").dashboard(3)
    domains = {h["name"]: h for h in experiment["hparamInfos"]}
    assert domains["units"]["domainInterval"] == {"minValue": 4, "maxValue": 12}  # the user's own, with its domain
    assert {"units", "dropout_rate", "regularizer"} <= set(domains)
    assert "trial/best_val_mae" in [m["name"]["tag"] for m in experiment["metricInfos"]]
    best = next(g for g in groups if g["name"] == result.record["best_trial"])
    assert best["hparams"]["units"] == result.best_hyperparameters["units"]
