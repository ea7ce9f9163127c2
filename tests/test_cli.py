import os
import subprocess
import sys

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
            "fit/verdict"} <= set(tags)
    assert not [tag for tag in tags if tag.startswith("regularization/")]  # each quantity under one tag


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


class _Built(Exception):
    pass


def _record_tuner(monkeypatch):
    from kreg.run import search

    seen = {}

    def get(name):
        def build(*args, **kwargs):
            seen.update(kwargs)
            raise _Built

        return build

    monkeypatch.setattr(search.tuning, "get", get)
    return seen


def test_deterministic_flag_and_key_reach_the_tuner(tmp_path, monkeypatch):
    seen = _record_tuner(monkeypatch)
    path = tmp_path / "d.toml"
    path.write_text('[data]\ntrain_size = 200\nvalidation_size = 100\n[model]\nhidden = [8]\n')
    with pytest.raises(_Built):
        cli.main(["search", str(path), "--logdir", str(tmp_path / "a")])
    assert seen["deterministic"] is False
    with pytest.raises(_Built):
        cli.main(["search", str(path), "--logdir", str(tmp_path / "b"), "--deterministic"])
    assert seen["deterministic"] is True
    path.write_text(path.read_text() + "[search]\ndeterministic = true\n")
    with pytest.raises(_Built):
        cli.main(["search", str(path), "--logdir", str(tmp_path / "c")])
    assert seen["deterministic"] is True and seen["seed"] == 0


def test_train_prints_a_tensorboard_command_that_works_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["train", "--epochs", "1", "--train-size", "100", "--logdir", str(tmp_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("See the runs: "))
    program = line.split(": ", 1)[1].split()[0]
    assert os.path.isabs(program) and os.access(program, os.X_OK)


@pytest.mark.parametrize("flags, says", [(["--max-trials", "x"], "argument --max-trials: expected an int, received 'x'"),
                                         (["--workers", "0"], "argument --workers: expected an int >= 1, received 0")])
def test_a_flag_that_is_no_count_is_named(flags, says, capsys):
    """argparse used to say "invalid _positive value": the name of kreg's function, not the flag's."""
    with pytest.raises(SystemExit) as exit:
        cli.main(["search", "digits", *flags])
    assert exit.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, says", [("--max-trials", "0", "--max-trials must be an int >= 1. Received: 0"),
                                               ("--seed", "-1", "--seed must be an int >= 0. Received: -1")])
def test_a_bad_flag_value_is_blamed_on_the_flag(tmp_path, flag, value, says, capsys):
    assert cli.main(["search", "digits", flag, value, "--logdir", str(tmp_path)]) == 2
    assert says in capsys.readouterr().err and not os.listdir(tmp_path)


def test_train_refuses_zero_epochs(tmp_path, capsys):
    assert cli.main(["train", "--epochs", "0", "--logdir", str(tmp_path)]) == 2
    assert "--epochs" in capsys.readouterr().err and not os.listdir(tmp_path)


HEAVY = ("keras", "tensorflow", "keras_tuner", "jax", "torch", "kreg")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list"], ["search", "--help"], ["train", "--help"]])
def test_help_version_and_list_import_no_keras(args):
    """Checked as the issue asks, with `python -X importtime`: every module imported is listed on stderr."""
    code = f"import kreg_cli\ntry:\n    kreg_cli.main({args!r})\nexcept SystemExit:\n    pass"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                            timeout=120)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert imported and not {name for name in imported if name.split(".")[0] in HEAVY}
    assert result.stdout.strip()  # it printed what was asked


def test_version_is_the_package_metadata(capsys):
    import importlib.metadata

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"kreg {importlib.metadata.version('kreg')}" == f"kreg {kreg.__version__}"


@pytest.mark.tensorflow_only
def test_commands_print_no_tensorflow_start_up_log_unless_the_user_asks(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\nmax_trials = 0\n")
    command = [sys.executable, "-m", "kreg_cli", "search", str(bad), "--logdir", str(tmp_path / "logs")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 2 and quiet.stderr.splitlines() == [
        f"kreg: error: {bad}: `search.max_trials` must be an int >= 1. Received: max_trials=0"]
    loud = subprocess.run(command, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, capture_output=True, text=True,
                          timeout=300)
    assert loud.returncode == 2 and "I0000" in loud.stderr  # the user's own setting wins: nothing filtered
