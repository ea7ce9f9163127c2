import json
import warnings

import matplotlib.image
import numpy as np
import pytest

from kreg import cli
from kreg.run import report

pytestmark = pytest.mark.one_backend  # slow end to end: the TensorFlow pass only (README)


def test_a_search_with_no_finished_trial_reports_without_warnings(tmp_path, capsys):
    folder = tmp_path / "exp"
    (folder / "tuner" / "search" / "trial_0").mkdir(parents=True)
    (folder / "search.json").write_text(json.dumps({"objective": {"name": "val_accuracy", "direction": "max"}}))
    trial = {"trial_id": "0", "status": "FAILED", "hyperparameters": {"values": {"regularizer": "l2"}},
             "metrics": {}, "score": None}
    (folder / "tuner" / "search" / "trial_0" / "trial.json").write_text(json.dumps(trial))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels found to put in legend" included
        written = report.make(str(folder))
    assert "1 trials, 0 completed" in (folder / "report.md").read_text()
    for path in written[:3]:
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 50 and image[..., :3].min() < 0.5  # some text drawn, not a blank page


def test_the_best_trial_is_not_drawn_twice_nor_hidden(tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text('name = "t"\n[data]\ntrain_size = 200\nvalidation_size = 100\n[model]\nhidden = [16]\n'
                    '[search]\nmax_trials = 3\nepochs = 1\n[space.regularizer]\nchoices = ["none", "l2"]\n')
    assert cli.main(["search", str(toml), "--logdir", str(tmp_path / "logs"), "--confirm", "1"]) == 0
    with np.load(tmp_path / "logs" / "t" / "weights.npz") as weights:
        others = [k for k in weights.files if k != "best"]
        assert "baseline" in others
        assert not any(np.array_equal(weights["best"], weights[k]) for k in others)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(report.make(str(tmp_path / "logs" / "t"))) == 7  # with trials.png, history.png, confirm.png
    assert "## Confirmation over 1 fresh seeds" in (tmp_path / "logs" / "t" / "report.md").read_text()


def _run(folder, train, validation):
    from kreg import _events

    for split, values in (("train", train), ("validation", validation)):
        writer = _events.Writer(folder / split)
        for epoch, value in enumerate(values):
            writer.write(_events.scalars({"epoch_accuracy": value}), epoch)
        writer.close()


def test_the_report_states_the_gap_it_measured_not_overfitting(tmp_path):
    # The curves' title used to say "the gap is overfitting" whatever the curves showed. Training accuracy is
    # measured with dropout on and can sit below validation: the report now gives each run's measured gap.
    folder = tmp_path / "exp"
    (folder / "tuner" / "search" / "trial_0").mkdir(parents=True)
    (folder / "search.json").write_text(json.dumps({"objective": {"name": "val_accuracy", "direction": "max"},
                                                    "settings": {"data": {"label_noise": 0.3}}}))
    trial = {"trial_id": "0", "status": "COMPLETED", "hyperparameters": {"values": {"dropout": 0.5}},
             "metrics": {}, "score": 0.9}
    (folder / "tuner" / "search" / "trial_0" / "trial.json").write_text(json.dumps(trial))
    _run(folder / "tensorboard" / "0" / "execution0", [0.5, 0.7, 0.8], [0.6, 0.8, 0.9])  # below validation
    _run(folder / "tensorboard" / "baseline", [0.8, 0.99], [0.8, 0.85])  # above it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report.make(str(folder))
    text = (folder / "report.md").read_text()
    assert "| trial 0 | 0.8000 | 0.9000 | -0.1000 |" in text
    assert "| baseline (unregularized) | 0.9900 | 0.8500 | +0.1400 |" in text
    assert "overfitting" not in text and "30% of which are flipped here" in text
    image = matplotlib.image.imread(folder / "curves.png")
    assert image[..., :3].min() < 0.5


@pytest.mark.parametrize("content", ["[]", "{}", "{not json", '{"objective": 1}'])
def test_a_damaged_search_json_is_named(tmp_path, content):
    (tmp_path / "tuner" / "search").mkdir(parents=True)
    (tmp_path / "search.json").write_text(content)
    with pytest.raises(ValueError, match=rf"Cannot read {tmp_path / 'search.json'} .*a `kreg search` folder"):
        report.make(str(tmp_path))


@pytest.mark.parametrize("folder, why", [("", "does not exist"), ("..", "holds no search"),
                                         ("missing", "does not exist"), ("file", "is not a folder")])
def test_a_folder_without_a_search_is_named(tmp_path, monkeypatch, folder, why):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=rf"{folder!r} {why}"):
        report.make(folder)


def test_every_trial_is_drawn_and_a_pruned_one_is_marked_where_it_stopped(tmp_path):
    from kreg import _events

    trials = []
    for trial_id, epochs, pruned in (("0", 6, False), ("1", 2, True), ("2", 6, False)):
        writer = _events.Writer(tmp_path / "tensorboard" / trial_id / "execution0" / "validation")
        for step in range(epochs):
            writer.write(_events.scalars({"epoch_accuracy": 0.5 + 0.05 * step + 0.01 * int(trial_id)}), step)
        writer.close()
        metrics = {"pruned": {"observations": [{"value": [float(pruned)], "step": epochs - 1}]}}
        trials.append({"trial_id": trial_id, "metrics": {"metrics": metrics}})
    figures = []
    for marked in (True, False):
        if not marked:
            trials[1]["metrics"]["metrics"]["pruned"]["observations"][0]["value"] = [0.0]
        path = tmp_path / f"trials-{marked}.png"
        report.every_trial_png(str(tmp_path), trials, "2", str(path))
        figures.append(matplotlib.image.imread(path)[..., :3])
    red = [np.sum((f[..., 0] > 0.7) & (f[..., 1] < 0.35) & (f[..., 2] < 0.35)) for f in figures]
    assert red[0] > 20 and red[1] == 0  # C3's x and its legend entry: only where a trial was pruned
    blue = np.sum((figures[1][..., 2] > 0.6) & (figures[1][..., 0] < 0.3))
    assert blue > 100  # the best trial's line
