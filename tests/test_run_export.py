import json

import pandas as pd
import pytest

from kreg import cli

pytestmark = pytest.mark.one_backend  # slow end to end: the TensorFlow pass only (README)


def test_export_writes_every_trial_and_confirmation_run_and_round_trips_into_pandas(tmp_path, capsys):
    experiment = tmp_path / "e.toml"
    experiment.write_text('name = "e"\n[data]\ntrain_size = 200\nvalidation_size = 100\n[model]\nhidden = [16]\n'
                          '[search]\nmax_trials = 3\nepochs = 3\n[space.regularizer]\nchoices = ["none", "l2"]\n'
                          '[space.dropout]\nrate = [0.0, 0.5]\nstep = 0.1\n[confirm]\nseeds = 2\n')
    assert cli.main(["search", str(experiment), "--logdir", str(tmp_path)]) == 0
    folder = tmp_path / "e"
    assert cli.main(["export", str(folder)]) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()[-4:]] == [
        str(folder / name) for name in ("trials.csv", "trials.json", "confirmation.csv", "confirmation.json")]
    trials = pd.read_csv(folder / "trials.csv", dtype={"trial_id": str})
    assert trials.equals(pd.DataFrame(json.loads((folder / "trials.json").read_text())).astype(
        {"trial_id": str}).reindex(columns=trials.columns).astype(trials.dtypes.to_dict()))
    assert len(trials) == 3 and list(trials.columns[:7]) == ["trial_id", "status", "score", "best_epoch", "epochs",
                                                             "pruned", "seconds"]
    for row in trials.itertuples():
        saved = json.loads((folder / "tuner" / "search" / f"trial_{row.trial_id}" / "trial.json").read_text())
        assert row.score == pytest.approx(saved["score"]) == pytest.approx(row.best_val_accuracy)
        assert row.best_epoch == saved["best_step"] + 1 and row.epochs == 3 and row.seconds > 0
        values = saved["hyperparameters"]["values"]
        assert row.regularizer == values["regularizer"] and row.dropout_rate == values["dropout_rate"]
        assert pd.isna(row.l2) if "l2" not in values else row.l2 == pytest.approx(values["l2"])
        assert row.last_val_accuracy <= row.best_val_accuracy
    confirmation = pd.read_csv(folder / "confirmation.csv")
    assert confirmation.groupby("arm").size().to_dict() == {
        "baseline": 2, f"trial_{json.loads((folder / 'result.json').read_text())['best_trial']}": 2}
    result = json.loads((folder / "result.json").read_text())["confirmation"]["columns"]
    best = confirmation[confirmation.arm != "baseline"].sort_values("seed")
    assert list(best.test_accuracy) == pytest.approx(result[best.arm.iloc[0]]["test_accuracy"])


def test_export_of_a_folder_without_a_search_is_refused(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "holds no search" in capsys.readouterr().err
