"""`kreg search` and `kreg.search` on the user's own model (`[model] builder`) and data (`[data] loader`)."""

import json
import os
import textwrap

import keras
import numpy as np
import pytest

import kreg
from kreg import cli
from kreg.run import plan

# The user's files: a Keras Tuner build function with its own hyperparameter, and loaders of each kind.
OWN = textwrap.dedent('''
    import keras
    import numpy as np

    def images(seed):
        rng = np.random.default_rng(seed)
        def split(n):
            y = rng.integers(0, 3, n)
            x = rng.normal(size=(n, 8, 8, 1)).astype("float32") + y[:, None, None, None]
            return x, y
        return split(60), split(30), split(30)

    def build(hp):
        inputs = keras.Input((8, 8, 1))
        h = keras.layers.Conv2D(hp.Int("filters", 2, 4, step=2), 3, padding="same", activation="relu")(inputs)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dropout(0.25)(h)
        outputs = keras.layers.Dense(3, activation="softmax", name="out")(h)
        model = keras.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
''')
TOML = textwrap.dedent('''
    [data]
    loader = "own.py:images"
    [model]
    builder = "own.py:build"
    [search]
    max_trials = 2
    epochs = 2
    [space.regularizer]
    choices = ["l2"]
    [space.dropout]
    rate = [0.0, 0.5]
    [confirm]
    seeds = 2
''')


def experiment(tmp_path, toml=TOML, own=OWN, name="own.toml"):
    (tmp_path / "own.py").write_text(own)
    (tmp_path / name).write_text(toml)
    return str(tmp_path / name)


def regression(seed):
    rng = np.random.default_rng(seed)

    def split(n):
        x = rng.normal(size=(n, 5)).astype("float32")
        return x, (x @ np.arange(1.0, 6.0) + 0.1 * rng.normal(size=n)).astype("float32")

    return split(64), split(32), split(32)


def regressor(hp):
    inputs = keras.Input((5,))
    h = keras.layers.Dropout(0.0)(keras.layers.Dense(16, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(keras.optimizers.Adam(1e-2), "mse", metrics=["mae"])
    return model


SMALL = {"search": {"max_trials": 2, "epochs": 2}, "confirm": {"seeds": 2}}


def test_a_users_model_and_loader_from_files_are_searched_confirmed_and_resumed(tmp_path, capsys):
    path = experiment(tmp_path)
    logdir = tmp_path / "logs"
    assert cli.main(["search", path, "--logdir", str(logdir)]) == 0
    out = capsys.readouterr().out
    assert "your model as built" in out and "(b) as built, early stopping" in out
    result = json.loads((logdir / "own" / "result.json").read_text())
    assert result["data"]["loader"] == "own.py:images" and result["data"]["train"] == 60
    values = result["hyperparameters"]
    assert values["filters"] in (2, 4) and values["regularizer"] == "l2" and "dropout_rate" in values
    # The baseline is the user's model with the best trial's own hyperparameters and no kreg space.
    assert result["confirmation"]["baseline_hyperparameters"] == {"filters": values["filters"]}
    assert result["confirmation"]["metric"] == "test_accuracy"
    trials = sorted((logdir / "own" / "tuner" / "search").glob("trial_*/trial.json"))
    assert len(trials) == 2
    # A resume re-reads the files, finds the same fingerprint, and redoes nothing.
    stamps = [t.stat().st_mtime_ns for t in trials]
    assert cli.main(["search", path, "--logdir", str(logdir), "--resume"]) == 0
    assert [t.stat().st_mtime_ns for t in trials] == stamps
    assert "resuming own" in capsys.readouterr().out


def test_the_dropout_space_sets_the_users_own_dropout_layers(tmp_path):
    made = plan.make(experiment(tmp_path), logdir=str(tmp_path / "logs"))
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.values.update({"dropout_rate": 0.4, "dropout_scaling": "test_time", "filters": 4})
    model = made.hypermodel.build(hp)
    dropouts = [layer for layer in model.layers if isinstance(layer, kreg.layers.Dropout)]
    assert [(d.rate, d.scaling) for d in dropouts] == [(0.4, "test_time")]
    assert len(model.losses) == 2  # the L2 penalty on both kernels (Conv2D and Dense)
    baseline = made.baseline.build(kt.HyperParameters())
    assert [type(layer) for layer in baseline.layers if "dropout" in layer.name] == [keras.layers.Dropout]
    assert baseline.layers[-2].rate == 0.25 and not baseline.losses  # the user's own Dropout, untouched


def test_a_regression_from_python_with_its_own_metric(tmp_path, capsys):
    result = kreg.search({"name": "reg", "search": {**SMALL["search"], "objective": "val_mae"},
                          "confirm": SMALL["confirm"], "space": {"regularizer": {"choices": ["l2"]}}},
                         build=regressor, load=regression, logdir=str(tmp_path))
    confirmation = result.confirmation
    assert confirmation["metric"] == "test_mae" and confirmation["direction"] == "min"
    assert len(confirmation["columns"]["early_stopping"]["test_mae"]) == 2
    assert "lower is better" in result.summary()
    record = json.loads((tmp_path / "reg" / "search.json").read_text())
    assert record["settings"]["model"]["builder"].endswith(":regressor")
    assert record["objective"] == {"name": "val_mae", "direction": "min"}
    assert "test mae" in capsys.readouterr().out


def test_a_multi_input_model_with_dict_data(tmp_path):
    def load(seed):
        rng = np.random.default_rng(seed)

        def split(n):
            y = rng.integers(0, 2, n)
            return {"a": rng.normal(size=(n, 3)) + y[:, None], "b": rng.normal(size=(n, 2))}, y

        return split(40), split(20), split(20)

    def build(hp):
        a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
        h = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([a, b]))
        model = keras.Model({"a": a, "b": b}, keras.layers.Dense(2, activation="softmax")(keras.layers.Dropout(0.1)(h)))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    result = kreg.search({"name": "two", **SMALL, "space": {"dropout": {"rate": [0.0, 0.3]}}}, build=build,
                         load=load, logdir=str(tmp_path))
    assert set(result.best_hyperparameters) == {"dropout_rate", "dropout_scaling"}
    assert 0 <= np.mean(result.confirmation["columns"]["trial_" + result.record["best_trial"]]["test_accuracy"]) <= 1


def test_a_tf_data_loader_is_streamed(tmp_path):
    tf = pytest.importorskip("tensorflow")

    def load(seed):
        return tuple(tf.data.Dataset.from_tensor_slices(split).batch(16) for split in regression(seed))

    result = kreg.search({"name": "streamed", "search": {**SMALL["search"], "objective": "val_loss"},
                          "confirm": SMALL["confirm"], "space": {"dropout": {"rate": [0.0, 0.2]}}},
                         build=regressor, load=load, logdir=str(tmp_path))
    assert result.record["data"]["train"] == "4 batches"
    assert result.confirmation["metric"] == "test_data_loss"


OWN_REFUSED = {  # (what the file or the experiment says, what the error names)
    "no such builder file": ({"model": {"builder": "nowhere.py:build"}}, "no file"),
    "no such function": ({"model": {"builder": "own.py:biuld"}}, "has no function 'biuld'"),
    "not a reference": ({"model": {"builder": "own.build"}}, '"file.py:function"'),
    "builder and kind": ({"model": {"builder": "own.py:build", "kind": "mlp"}}, "each name the model"),
    "layers without builder": ({"model": {"builder": None, "layers": ["out"]}}, "model.layers"),
    "a layer that is not there": ({"model": {"builder": "own.py:build", "layers": ["nope"]}}, "no layer named"),
    "loader with other data keys": ({"data": {"loader": "own.py:images", "train_size": 5}}, "train_size"),
    "loader raising": ({"data": {"loader": "own.py:raises"}}, "raised RuntimeError: disk on fire"),
    "loader of two splits": ({"data": {"loader": "own.py:two"}}, "must return (train, validation, test)"),
    "x and y of other lengths": ({"data": {"loader": "own.py:ragged"}}, "different numbers of examples"),
    "NaN in the data": ({"data": {"loader": "own.py:nan"}}, "NaN or infinite"),
    "labels past the classes": ({"data": {"loader": "own.py:five_classes"}}, "class indices in [0, 3)"),
    "uncompiled": ({"model": {"builder": "own.py:uncompiled"}}, "must return a compiled model"),
    "not a model": ({"model": {"builder": "own.py:not_a_model"}}, "must return a keras.Model"),
    "builder raising": ({"model": {"builder": "own.py:broken"}}, "ZeroDivisionError"),
    "a name of kreg's": ({"model": {"builder": "own.py:clash"}}, "names of kreg's spaces"),
    "smoothing on mse": ({"model": {"builder": "own.py:mse"}, "space": {"label_smoothing": {}}},
                         "applies to a cross-entropy loss"),
    "augment on vectors": ({"model": {"builder": "own.py:vectors"}, "data": {"loader": "own.py:flat"},
                            "space": {"augment": {"transforms": ["noise"]}}}, "in front of an image input"),
    "dropout on a model without": ({"model": {"builder": "own.py:no_dropout"}}, "has none"),
    "penalty on a subclassed model": ({"model": {"builder": "own.py:subclassed"}}, "subclassed"),
    "objective not reported": ({"search": {"objective": "val_mae"}}, "one of val_accuracy, val_data_loss"),
    "objective misspelt": ({"search": {"objective": "val_acuracy"}}, "Did you mean `val_accuracy`?"),
    "a metric of unknown direction": ({"model": {"builder": "own.py:custom_metric"},
                                       "search": {"objective": "val_score"}}, 'add direction = "max" or "min"'),
}
BROKEN = textwrap.dedent('''
    def raises(seed):
        raise RuntimeError("disk on fire")

    def two(seed):
        return images(seed)[:2]

    def ragged(seed):
        (x, y), v, t = images(seed)
        return (x, y[:-1]), v, t

    def nan(seed):
        (x, y), v, t = images(seed)
        x[0, 0, 0, 0] = np.nan
        return (x, y), v, t

    def five_classes(seed):
        (x, y), v, t = images(seed)
        return (x, y + 2), v, t

    def flat(seed):
        return tuple((x.reshape(len(x), -1), y) for x, y in images(seed))

    def uncompiled(hp):
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])

    def not_a_model(hp):
        return "a model"

    def broken(hp):
        return 1 / 0

    def clash(hp):
        hp.Float("l2", 0.0, 1.0)
        return build(hp)

    def compiled(model, loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
        model.compile("adam", loss, metrics=list(metrics))
        return model

    def mse(hp):
        return compiled(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dropout(0.1),
                                          keras.layers.Dense(3)]), loss="mse")

    def vectors(hp):
        return compiled(keras.Sequential([keras.Input((64,)), keras.layers.Dropout(0.1), keras.layers.Dense(3,
                                          activation="softmax")]))

    def no_dropout(hp):
        return compiled(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                          keras.layers.Dense(3, activation="softmax")]))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat, self.dense = keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.dense(self.flat(x))

    def subclassed(hp):
        return compiled(Net())

    def score(y_true, y_pred):
        return keras.ops.mean(y_pred)

    def custom_metric(hp):
        model = build(hp)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=[score])
        return model
''')


def _merged(change):
    """The base experiment with `change`'s keys, section by section (None removes a key)."""
    table = {"name": "own", "data": {"loader": "own.py:images"}, "model": {"builder": "own.py:build"},
             "search": {"max_trials": 1, "epochs": 1}, "space": {"regularizer": {"choices": ["l2"]},
                                                                   "dropout": {"rate": [0.0, 0.5]}}}
    for section, values in change.items():
        merged = {**table[section], **values}
        table[section] = {key: value for key, value in merged.items() if value is not None}
    return table


def _toml(table):
    lines = []
    for key, value in table.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for section in ("data", "model", "search"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.get(section, {}).items()]
    for name, options in table.get("space", {}).items():
        lines.append(f"[space.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("change", list(OWN_REFUSED))
def test_a_bad_builder_loader_or_space_is_refused_before_the_folder_is_touched(tmp_path, change, capsys):
    values, named = OWN_REFUSED[change]
    path = experiment(tmp_path, _toml(_merged(values)), OWN + BROKEN)
    logdir = tmp_path / "logs"
    assert cli.main(["search", path, "--logdir", str(logdir), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err, err
    assert not logdir.exists()


def test_python_functions_and_file_references_do_not_mix(tmp_path):
    with pytest.raises(ValueError, match="give one"):
        kreg.search({"name": "x", "model": {"builder": "own.py:build"}}, build=regressor, logdir=str(tmp_path))
    with pytest.raises(ValueError, match="build= and load= come with an experiment given as a dict"):
        kreg.search(experiment(tmp_path), build=regressor, logdir=str(tmp_path))
    with pytest.raises(ValueError, match="load= must be a function"):
        kreg.search({"name": "x"}, build=regressor, load="data.py:load", logdir=str(tmp_path))
    with pytest.raises(ValueError, match="`name` is needed"):
        kreg.search({}, build=regressor, load=regression, logdir=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["own.py", "own.toml"]


def test_the_documented_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/own-model.md's Python block, with a smaller budget, in an empty folder."""
    page = open(os.path.join(os.path.dirname(__file__), "..", "docs", "own-model.md")).read()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    smaller = code.replace('"max_trials": 4, "epochs": 20', '"max_trials": 2, "epochs": 2').replace(
        '"seeds": 3', '"seeds": 2')
    assert smaller != code
    monkeypatch.chdir(tmp_path)
    exec(compile(smaller, "docs/own-model.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'units'" in out and "lower is better" in out
    assert json.loads((tmp_path / "logs" / "mine" / "result.json").read_text())["confirmation"]["metric"] == "test_mae"


@pytest.mark.one_backend  # the folder machinery is the backend's business nowhere
def test_a_search_of_your_own_killed_after_its_first_trial_resumes_from_there(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path = experiment(tmp_path, TOML.replace("max_trials = 2", "max_trials = 3"))
    command = [sys.executable, "-m", "kreg.cli", "search", path, "--logdir", str(tmp_path / "logs")]
    first = tmp_path / "logs" / "own" / "tuner" / "search" / "trial_0" / "trial.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and not (
            first.exists() and json.loads(first.read_text())["status"] == "COMPLETED"):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stamp = first.stat().st_mtime_ns
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming own" in done.stdout and "trial 0 (" not in done.stdout  # trial 0 was not run again
    assert first.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "logs" / "own" / "result.json").read_text())["confirmation"]["metric"]


def test_the_python_entry_point_runs_a_shipped_example_by_name(tmp_path):
    result = kreg.search("diabetes", max_trials=1, epochs=2, confirm=2, logdir=str(tmp_path))
    assert result.directory == str(tmp_path / "diabetes")
    assert result.record["data"]["loader"] == "own/diabetes.py:load"
    assert result.confirmation["metric"] == "test_mae" and result.record["best_trial"] == "0"
    with pytest.raises(ValueError, match="No experiment `diabets`.*Did you mean `diabetes`"):
        kreg.search("diabets", logdir=str(tmp_path))


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x) // 16

    def __getitem__(self, i):
        return self.x[16 * i:16 * (i + 1)], self.y[16 * i:16 * (i + 1)]


def test_a_py_dataset_loader(tmp_path):
    def load(seed):
        return tuple(Batches(*split) for split in regression(seed))

    result = kreg.search({"name": "batches", "search": {**SMALL["search"], "objective": "val_mae"},
                          "confirm": SMALL["confirm"], "space": {"dropout": {"rate": [0.0, 0.2]}}},
                         build=regressor, load=load, logdir=str(tmp_path))
    assert result.record["data"]["train"] == "4 batches" and result.confirmation["metric"] == "test_mae"


def test_a_subclassed_model_takes_the_spaces_that_need_no_rebuilding():
    import keras_tuner as kt

    from kreg import tuning

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.dense(x)

    def build(hp):
        model = Net()
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    hypermodel = tuning.Regularize(build, regularizer=tuning.RegularizerSpace(["weight_decay"]), max_norm=None,
                                   label_smoothing=tuning.LabelSmoothingSpace((0.1, 0.1)))
    model = hypermodel.build(kt.HyperParameters())
    assert model.optimizer.weight_decay > 0 and model.loss.label_smoothing == 0.1
    model.fit(np.ones((8, 4)), np.zeros(8), epochs=1, verbose=0)
