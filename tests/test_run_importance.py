import json
import math
import random
import re
import warnings

import matplotlib.image
import pytest

from kreg.run import importance
from kreg.run import report

REGULARIZERS = ["none", "l1", "l2", "elastic_net"]
STRENGTH = {"l1": ["l1"], "l2": ["l2"], "elastic_net": ["l1", "l2"], "none": []}


def _space():
    """The `hyperparameters.space` Keras Tuner writes into each `trial.json` of a regularizer and dropout search."""
    def strength(name, users):
        return {"class_name": "Float", "config": {
            "name": name, "default": 1e-06, "min_value": 1e-06, "max_value": 0.01, "step": None, "sampling": "log",
            "conditions": [{"class_name": "Parent", "config": {"name": "regularizer", "values": users}}]}}

    return [{"class_name": "Choice", "config": {"name": "regularizer", "default": "none", "conditions": [],
                                                "values": REGULARIZERS, "ordered": False}},
            strength("l1", ["l1", "elastic_net"]), strength("l2", ["l2", "elastic_net"]),
            {"class_name": "Float", "config": {"name": "dropout_rate", "default": 0.0, "conditions": [],
                                               "min_value": 0.0, "max_value": 0.5, "step": 0.1, "sampling": "linear"}},
            {"class_name": "Fixed", "config": {"name": "dropout_scaling", "conditions": [], "value": "inverted"}},
            {"class_name": "Boolean", "config": {"name": "max_norm_on", "default": False, "conditions": []}}]


def _trials(n, decides, *, seed=0, pruned=()):
    """`n` trial records as `report.read_trials` reads them, drawn at random, the objective set by `decides`
    ("dropout_rate"; or "strength": strengths below 1e-4 help, the rate a little) plus a little noise."""
    rng = random.Random(seed)
    trials = []
    for i in range(n):
        regularizer = rng.choice(REGULARIZERS)
        values = {"regularizer": regularizer, "dropout_rate": round(rng.randrange(6) * 0.1, 1),
                  "dropout_scaling": "inverted", "max_norm_on": rng.random() < 0.5}
        values.update({name: 10 ** rng.uniform(-6, -2) for name in STRENGTH[regularizer]})
        strength = sum(values[name] for name in STRENGTH[regularizer])
        if decides == "dropout_rate":
            score = 0.95 - 0.6 * values["dropout_rate"]
        else:  # and a little from the rate: it comes first if the strength is weighed on a linear scale
            score = 0.7 + 0.2 * (0 < strength < 1e-4) - 0.2 * values["dropout_rate"]
        metrics = {"pruned": {"observations": [{"value": [float(i in pruned)], "step": 1}]}}
        trials.append({"trial_id": f"{i:02d}", "status": "COMPLETED", "score": score + rng.gauss(0, 0.01),
                       "hyperparameters": {"space": _space(), "values": values}, "metrics": {"metrics": metrics}})
    return trials


def _search(folder, trials):
    """A search folder holding `trials`, as `kreg search` leaves one (no TensorBoard logs)."""
    (folder / "search.json").parent.mkdir(parents=True, exist_ok=True)
    (folder / "search.json").write_text(json.dumps({"objective": {"name": "val_accuracy", "direction": "max"}}))
    for trial in trials:
        (folder / "tuner" / "search" / f"trial_{trial['trial_id']}").mkdir(parents=True)
        (folder / "tuner" / "search" / f"trial_{trial['trial_id']}" / "trial.json").write_text(json.dumps(trial))
    return folder


@pytest.mark.parametrize("decides", ["dropout_rate", "strength"])
def test_the_hyperparameter_that_decides_the_objective_ranks_first(decides):
    # "strength": strengths below 1e-4 help, so it ranks first only if the strengths are weighed on their log scale
    # (fed as they are, fANOVA weighs almost only the top decade of 1e-6 .. 1e-2 and puts the rate first).
    result = importance.importances(_trials(30, decides))
    assert list(result.shares)[0] == decides
    assert math.isclose(sum(result.shares.values()), 1.0)
    assert result.caveat is None and result.trials == 30
    assert set(result.shares) == {"regularizer", "strength", "dropout_rate", "max_norm_on"}  # no constant
    assert result.conditional == ("l1", "l2")  # each active in only some trials: named, not weighed


def test_importances_are_the_same_every_time():
    trials = _trials(20, "dropout_rate", seed=3)
    assert importance.importances(trials) == importance.importances(trials)
    assert importance.importances(trials, seed=0) == importance.importances(trials)  # 0 is the default seed
    assert importance.importances(trials, seed=1).shares != importance.importances(trials).shares


@pytest.mark.parametrize("n, pruned, expected", [
    (19, (), "19 completed trials for 4 hyperparameters, and this ranking is to be trusted from 20 on"),
    (22, (0, 1, 2), "19 completed trials for 4 hyperparameters"),  # pruned trials are not weighed
])
def test_too_few_trials_to_tell_is_said_in_plain_words(n, pruned, expected):
    result = importance.importances(_trials(n, "dropout_rate", pruned=pruned))
    assert result.caveat.startswith("Too few trials to tell which hyperparameter mattered")
    assert expected in result.caveat
    assert result.shares and result.pruned == len(pruned)


def test_with_nothing_to_weigh_there_is_no_table_and_a_reason():
    one = importance.importances(_trials(1, "dropout_rate"))
    assert one.shares == {} and one.caveat == "1 completed trial: at least 2 are needed to weigh anything."
    failed = [{**t, "status": "FAILED", "score": None} for t in _trials(3, "dropout_rate")]
    assert importance.importances(failed).caveat.startswith("0 completed trials")
    same = [{**t, "hyperparameters": {"values": {"units": 8}}} for t in _trials(5, "dropout_rate")]
    assert importance.importances(same).caveat.startswith("No hyperparameter present in every completed trial")


def test_one_regularizer_searched_gets_no_second_strength_column():
    trials = _trials(12, "dropout_rate", seed=1)
    fixed = {"class_name": "Fixed", "config": {"name": "regularizer", "conditions": [], "value": "l2"}}
    for trial in trials:  # as a search with choices = ["l2"] writes them: a fixed choice, l2 in every trial
        space = [e for e in trial["hyperparameters"]["space"] if e["config"]["name"] not in ("regularizer", "l1")]
        values = trial["hyperparameters"]["values"]
        values.pop("l1", None)
        values.update(regularizer="l2", l2=values.get("l2", 1e-3))
        trial["hyperparameters"]["space"] = [fixed, *space]
    names = [h.name for h in importance.hyperparameters(trials)]
    assert names == ["l2", "dropout_rate", "max_norm_on"]  # the choice is constant; strength would be l2 again


@pytest.mark.parametrize("kwargs, message", [
    ({"direction": "up"},
     "argument `direction` of importances: expected one of ['max', 'min']. Received: direction='up'"),
    ({"seed": -1}, "argument `seed` of importances: expected an int >= 0. Received: seed=-1"),
    ({"seed": True}, "Received: seed=True"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        importance.importances(_trials(3, "dropout_rate"), **kwargs)


def test_a_value_that_cannot_be_weighed_is_named():
    trials = _trials(3, "dropout_rate")
    trials[1]["hyperparameters"]["values"]["layers"] = [16, 8]
    with pytest.raises(ValueError, match=re.escape("Trial '01' has hyperparameter layers=[16, 8]: kreg report weighs")):
        importance.importances(trials)


def test_the_slice_plots_draw_conditional_ones_where_active_on_log_axes(monkeypatch, tmp_path):
    drawn = {}

    def keep(figure, path):  # the figure as it would be saved
        drawn.update({ax.get_title(): ax for ax in figure.axes if ax.get_title()})

    monkeypatch.setattr(importance._figure, "save", keep)
    trials = _trials(30, "strength")
    importance.slice_png(trials, "val_accuracy", tmp_path / "x.png", importance.importances(trials).shares)
    titles = list(drawn)
    assert titles[0].startswith("strength (the regularizer's), importance 0.")  # the most important first
    assert not any(t.startswith("dropout_scaling") for t in titles)  # a constant gets no panel
    axes = {t.split(",")[0].split(" ")[0]: ax for t, ax in drawn.items()}
    active = {"l1": sum("l1" in t["hyperparameters"]["values"] for t in trials),
              "strength": sum(t["hyperparameters"]["values"]["regularizer"] != "none" for t in trials)}
    for name in ("strength", "l1", "l2", "dropout_rate", "regularizer"):
        ax = axes[name]
        assert ax.get_xscale() == ("log" if name in ("strength", "l1", "l2") else "linear")
        assert ax.get_ylabel() == "val_accuracy"
    for name, count in active.items():
        assert len(axes[name].lines) == count < 30  # only the trials where it is active ("none" has no strength)
        assert f"active in {count} of 30 trials" in [t for t in titles if t.startswith(name)][0]


def test_the_report_has_the_importances_the_caveat_and_the_pngs(tmp_path, capfd):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO)
    folder = _search(tmp_path / "exp", _trials(8, "dropout_rate", pruned=(2,)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna's ExperimentalWarning included
        written = report.make(str(folder))
    assert optuna.logging.get_verbosity() == optuna.logging.INFO  # Optuna's verbosity left as it was
    out, err = capfd.readouterr()
    assert "study" not in out + err.lower() and "Trial" not in err  # none of Optuna's logs
    text = (folder / "report.md").read_text()
    assert "## Which hyperparameter mattered" in text and "| hyperparameter | importance |" in text
    assert "| dropout_rate | " in text and "**Too few trials to tell which hyperparameter mattered: 7 completed" in text
    assert "1 pruned trial left out" in text and "Not weighed, as only some trials use them" in text
    assert "](hyperparameters.png)" in text and "](history.png)" in text
    assert "| dropout_rate | " in out  # printed too
    for name in ("hyperparameters.png", "history.png"):
        assert str(folder / name) in written
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(folder / name)
        assert image.shape[0] > 300 and image[..., :3].min() < 0.5  # drawn, not blank


@pytest.mark.parametrize("direction, best_of", [("max", max), ("min", min)])
def test_the_history_draws_every_scored_trial_and_the_best_so_far(monkeypatch, tmp_path, direction, best_of):
    drawn = []
    monkeypatch.setattr(importance._figure, "save", lambda figure, path: drawn.extend(figure.axes))
    trials = _trials(6, "dropout_rate", pruned=(4,))
    trials.append({"trial_id": "06", "status": "FAILED", "score": None, "hyperparameters": {"values": {}}})
    importance.history_png(trials, "val_accuracy", tmp_path / "x.png", direction)
    (ax,) = drawn
    points = {line.get_label(): line for line in ax.lines}
    assert len(points["trial"].get_xdata()) == 5 and list(points["pruned trial (fewer epochs)"].get_xdata()) == [4]
    best = points["best so far"].get_ydata()
    scores = [t["score"] for t in trials[:6]]
    assert list(best) == [best_of(scores[:i + 1]) for i in range(6)]
    assert "1 trial with no score not drawn" in ax.get_title() and ax.get_xlabel() == "trial"


def test_strength_spans_the_searched_range_and_none_is_weighed_a_decade_below():
    trials = _trials(20, "dropout_rate")
    (strength,) = [h for h in importance.hyperparameters(trials) if h.name == "strength"]
    assert (strength.low, strength.high, strength.log, strength.zero) == (1e-6, 0.01, True, 1e-7)
    none = next(t for t in trials if t["hyperparameters"]["values"]["regularizer"] == "none")
    assert importance.value(none, strength) == 0.0 and importance._scaled(strength, 0.0) == pytest.approx(-7)
