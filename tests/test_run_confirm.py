import json
import math
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from scipy import stats
from tensorboard.util import tensor_util

import kreg
from kreg.run import confirm
from kreg.run import report
from kreg.tuning.spaces import unregularized

DATA = kreg.data.digits(train_size=120, validation_size=60, label_noise=0.0)


def test_compare_is_the_paired_t_interval():
    a, b = [0.90, 0.93, 0.91, 0.95], [0.88, 0.90, 0.91, 0.90]
    d = np.subtract(a, b)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    out = confirm.compare(a, b)
    assert out["difference"] == pytest.approx(d.mean())
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert out["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), len(d) - 1))
    assert out["std"] == pytest.approx(np.std(a, ddof=1)) and out["baseline_mean"] == pytest.approx(np.mean(b))


def test_compare_without_spread_states_its_result():
    assert math.isnan(confirm.compare([0.9], [0.8])["ci_low"])  # one seed: nothing to say of the spread
    shifted = confirm.compare([0.9, 0.8], [0.8, 0.7])
    assert shifted["difference"] == shifted["ci_low"] == shifted["ci_high"] == pytest.approx(0.1)
    assert shifted["p_value"] == 0.0 and "no spread" in shifted["test"]
    tied = confirm.compare([0.93, 0.91, 0.92], [0.93, 0.91, 0.92])  # the winner is the baseline, trained alike
    assert (tied["difference"], tied["ci_low"], tied["ci_high"], tied["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    assert report.interval_text(shifted) == "exactly +0.1000 on each of the 2 seeds (no spread: no t-test)"
    with pytest.raises(ValueError, match=r"Received: candidate=\[0.9\], baseline=\[\]"):
        confirm.compare([0.9], [])


def build():
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, x, y, **kwargs):
    fit.history = model.fit(x, y, **kwargs)
    return fit.history


def test_retrain_keeps_the_first_best_validation_epoch_and_the_last():
    result = confirm.retrain(build, fit, DATA, seed=3, epochs=6, batch_size=32, last=True)
    history = fit.history.history["val_accuracy"]
    assert result["best_epoch"] == int(np.argmax(history))  # argmax: the first of tied epochs
    again = confirm.retrain(build, fit, DATA, seed=3, epochs=6, batch_size=32, last=True)
    assert again == result  # the seed repeats initialization and data order
    other = confirm.retrain(build, fit, DATA, seed=4, epochs=6, batch_size=32)
    assert other["test_data_loss"] != result["test_data_loss"] and "last" not in other
    assert 0.0 <= result["last"]["test_accuracy"] <= 1.0


def test_a_confirmation_resumes_and_names_a_damaged_file(tmp_path):
    calls = []

    def arm(name):
        return lambda seed: calls.append((name, seed)) or {"seed": seed, "test_accuracy": seed / 10,
                                                            "test_data_loss": 1.0}

    run = confirm.Confirmation(tmp_path, [1, 2])
    first = run.run({"best": arm("best"), "baseline": arm("baseline")})
    assert calls == [("best", 1), ("baseline", 1), ("best", 2), ("baseline", 2)]
    assert run.run({"best": arm("best"), "baseline": arm("baseline")}) == first and len(calls) == 4
    (tmp_path / "best-seed2.json").write_text("{")
    with pytest.raises(ValueError, match="best-seed2.json is damaged"):
        run.run({"best": arm("best")})
    (tmp_path / "best-seed2.json").write_text("[]")
    with pytest.raises(ValueError, match="best-seed2.json is damaged"):
        run.run({"best": arm("best")})


KILLED = """
import sys, time
from kreg.run import confirm
def arm(seed):
    time.sleep(0.4)
    print(seed, flush=True)
    return {"seed": seed, "test_accuracy": 0.5, "test_data_loss": 1.0}
confirm.Confirmation(sys.argv[1], range(40)).run({"a": arm, "b": arm})
"""


@pytest.mark.one_backend
def test_a_killed_confirmation_loses_and_redoes_nothing(tmp_path):
    """Killed after 1, 3 and 6 finished runs (three processes at once: one start's wait for all)."""
    folders = {after: tmp_path / str(after) for after in (1, 3, 6)}
    for folder in folders.values():
        folder.mkdir()  # a process killed before its first file is written leaves the folder empty
    processes = {after: subprocess.Popen([sys.executable, "-c", KILLED, str(folder)], stdout=subprocess.PIPE,
                                         text=True) for after, folder in folders.items()}
    for after, process in processes.items():
        for _ in range(after):
            process.stdout.readline()  # a run that finished (its file may or may not be written yet)
        process.kill()
        process.wait()
    for after, folder in folders.items():
        # a kill inside a write leaves at most its temporary file (`.tmp-…-a-seed3.json`), which is no finished run
        done = {name for name in os.listdir(folder) if name.endswith(".json") and not name.startswith(".tmp-")}
        assert len(done) >= after - 1, after  # the last printed run may have died before its file was written
        for name in done:  # every file is whole
            assert json.loads((folder / name).read_text())["test_data_loss"] == 1.0
        redone = []
        confirm.Confirmation(folder, range(max(3, after))).run(
            {"a": lambda s: redone.append(("a", s)) or {"seed": s, "test_accuracy": 0.5, "test_data_loss": 1.0},
             "b": lambda s: redone.append(("b", s)) or {"seed": s, "test_accuracy": 0.5, "test_data_loss": 1.0}})
        assert not {f"{arm}-seed{seed}.json" for arm, seed in redone} & done, after


def test_interval_and_the_plot(tmp_path):
    mean, low, high = confirm.interval([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9) and high - mean == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3))
    assert math.isnan(confirm.interval([0.5])[1])
    path = tmp_path / "confirm.png"
    report.plot([("(a) baseline", [0.7, 0.72, 0.71]), ("(c) best", [0.9, 0.91, 0.93])], path)
    image = __import__("matplotlib.image", fromlist=["imread"]).imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 200


def test_unregularized_means_no_regularization_at_all():
    assert unregularized({"regularizer": "none", "dropout_rate": 0.0, "max_norm_on": False})
    assert unregularized({"regularizer": "none", "augment_flip": False, "schedule": True})
    assert not unregularized({"regularizer": "l2", "l2": 1.0})
    assert not unregularized({"regularizer": "none", "dropout_rate": 0.1})
    assert not unregularized({"augment_flip": True})


def test_a_search_is_confirmed_against_both_baselines(tmp_path):
    from kreg import tuning

    hypermodel = tuning.RegularizedMLP(10, (64,), hidden=(16,), schedule=None,
                                       regularizer=tuning.RegularizerSpace(["none", "l2"]))
    baseline = tuning.RegularizedMLP(10, (64,), hidden=(16,), regularizer=None, dropout=None, max_norm=None,
                                     schedule=None)
    tuner = tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=0,
                                directory=str(tmp_path / "t"), project_name="p")
    (x, y), (xv, yv), _ = DATA
    tuner.search(x, y, validation_data=(xv, yv), epochs=2, verbose=0)
    trials = tuner.oracle.get_best_trials(2)
    out = confirm.search(hypermodel=hypermodel, baseline=baseline, trials=trials, data=DATA,
                         folder=tmp_path / "confirm", seeds=[5, 6], epochs=3, batch_size=32,
                         monitor="val_accuracy", mode="max", board=str(tmp_path / "board" / "baseline"))
    keys = ["last_epoch", "early_stopping"] + [f"trial_{t.trial_id}" for t in trials]
    assert list(out["columns"]) == keys
    assert out["columns"]["early_stopping"]["label"].startswith("(b)")
    assert out["columns"][keys[2]]["label"] == f"(c) best searched, trial {trials[0].trial_id}"
    ours = out["comparisons"][f"{keys[2]} - early_stopping"]["test_accuracy"]
    assert ours["difference"] == pytest.approx(np.mean(out["columns"][keys[2]]["test_accuracy"])
                                               - np.mean(out["columns"]["early_stopping"]["test_accuracy"]))
    assert out["winner_unregularized"] == unregularized(trials[0].hyperparameters.values)
    assert f"{keys[3]} - {keys[2]}" in out["comparisons"]  # the next trial against the best
    results = [n for n in os.listdir(tmp_path / "confirm") if n.endswith(".json")]
    assert len(results) == 2 * 3  # baseline and two trials, two seeds each
    with np.load(tmp_path / "confirm" / "baseline-kernels.npz") as kernels:
        assert kernels["kernels"].size == 64 * 16 + 16 * 10
    assert os.listdir(tmp_path / "board" / "baseline")  # the first seed's baseline logged its epochs
    report.log_confirmation(out, str(tmp_path / "board" / "confirm"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "board" / "confirm"), size_guidance={"tensors": 0})
    events.Reload()
    assert events.Tags()["tensors"] == ["confirm/summary"]  # one card: seeds are no steps of a chart
    card = tensor_util.make_ndarray(events.Tensors("confirm/summary")[0].tensor_proto).item().decode()
    assert card == "\n".join(report.confirmation_markdown(out, plot=False))
    row = next(line for line in card.splitlines() if line.startswith("| (b)"))
    assert row.split(" | ")[1:3] == [f"{v:.4f}" for v in out["columns"]["early_stopping"]["test_accuracy"]]
    text = "\n".join(report.summary(out))
    assert "Confirmed over 2 fresh seeds" in text and "(c) - (b)" in text and "(b) - (a)" in text
    again = confirm.search(hypermodel=hypermodel, baseline=baseline, trials=trials, data=DATA,
                           folder=tmp_path / "confirm", seeds=[5, 6], epochs=3, batch_size=32,
                           monitor="val_accuracy", mode="max", on_progress=lambda *a: pytest.fail("re-ran"))
    assert json.dumps(again, sort_keys=True) == json.dumps(out, sort_keys=True)  # NaN == NaN (a p-value of 2 equal differences)
    labelled = confirm.search(hypermodel=hypermodel, baseline=baseline, trials=trials[:1], data=DATA,
                              folder=tmp_path / "confirm", seeds=[5], epochs=3, batch_size=32,
                              monitor="val_accuracy", mode="max", by="regularizer")
    value = trials[0].hyperparameters.values["regularizer"]
    assert labelled["columns"][keys[2]]["label"] == f"(c) best with regularizer={value}, trial {trials[0].trial_id}"


def test_the_test_loss_compared_across_arms_is_the_data_loss():
    """Keras 3's `evaluate` adds the penalties: a Dense with L2(10) reported 39.14 = data loss 0.74 + penalty 38.40."""

    def heavy():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(
            10, activation="softmax", kernel_regularizer=kreg.regularizers.L2(10.0))])
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    kept = {}

    def fit_and_keep(model, x, y, **kwargs):
        kept["model"] = model
        return model.fit(x, y, **kwargs)

    result = confirm.retrain(heavy, fit_and_keep, DATA, seed=0, epochs=2, batch_size=32)
    (_, _), _, (xt, yt) = DATA
    model = kept["model"]
    by_hand = float(np.mean(keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(yt, model.predict(xt, verbose=0)))))
    evaluated = model.evaluate(xt, yt, verbose=0, return_dict=True)["loss"]
    assert result["test_data_loss"] == pytest.approx(by_hand, rel=1e-4)
    assert evaluated > by_hand + 1.0  # the penalty that used to be compared


def test_tied_arms_say_why_there_is_no_interval_instead_of_nan():
    tied = confirm.compare([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert report.interval_text(tied) == "the same on all 3 seeds (no spread: no t-test)"
    assert report.interval_text(confirm.compare([0.9], [0.8])) == "no 95% CI nor p-value: one seed"
    assert report.interval_text(confirm.compare([0.9, 0.8], [0.7, 0.75])) == "95% CI [-0.8280, +1.0780], paired t-test p = 0.344"
