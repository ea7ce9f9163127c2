import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import kreg
from kreg import cli


def test_train_writes_tensorboard_logs_with_the_penalty(tmp_path, capsys):
    code = cli.main(["train", "--epochs", "2", "--train-size", "100", "--logdir", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "baseline: test accuracy" in out and "regularized: test accuracy" in out
    (run_dir,) = tmp_path.iterdir()
    assert f"tensorboard --logdir {run_dir}" in out
    events = EventAccumulator(str(run_dir / "regularized" / "train"))
    events.Reload()
    tags = events.Tags()["tensors"] + events.Tags()["scalars"]
    assert {"epoch_loss", "epoch_data_loss", "epoch_penalty", "epoch_generalization_gap",
            "regularization/penalty", "fit/verdict"} <= set(tags)


def test_bad_input_exits_2(tmp_path, capsys):
    assert cli.main(["train", "--train-size", "0", "--logdir", str(tmp_path)]) == 2
    assert "train_size" in capsys.readouterr().err


def test_digits_split_and_label_noise():
    (x, y), (xv, yv), (xt, yt) = kreg.data.digits(train_size=400, label_noise=0.3, validation_size=200, flat=False)
    assert x.shape == (400, 8, 8, 1) and xv.shape == (200, 8, 8, 1) and len(xt) == 1797 - 600
    assert 0.0 <= x.min() and x.max() <= 1.0
    (_, clean), _, _ = kreg.data.digits(train_size=400, label_noise=0.0, validation_size=200)
    assert np.mean(clean != y) == pytest.approx(0.3, abs=0.06)
    with pytest.raises(ValueError, match="must leave a test set"):
        kreg.data.digits(train_size=1500, validation_size=297)
