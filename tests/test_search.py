import json
import os
import shutil
import signal
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import pytest

import kreg
from kreg import cli, experiments

SHIPPED = experiments.list_experiments("experiments")
TINY = """
name = "tiny"
seed = 0
[data]
source = "digits"
train_size = 200
validation_size = 100
[model]
kind = "mlp"
hidden = [32]
[search]
max_trials = {trials}
epochs = {epochs}
[space.regularizer]
choices = ["none", "l2"]
num_examples = true
l2 = [1.0, 10.0]
"""


def tiny(tmp_path, trials=2, epochs=2):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=trials, epochs=epochs))
    return str(path)


def files(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_shipped_experiments_include_the_default_and_the_issue_list():
    assert {"digits", "dropout_scaling", "sparsity", "cnn_augment"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_experiment_runs_one_tiny_trial_and_reports(tmp_path, name, capsys):
    code = cli.main(["search", name, "--max-trials", "1", "--epochs", "1", "--logdir", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "trial 1 of 1" in out and f"tensorboard --logdir {tmp_path / name / 'tensorboard'}" in out
    assert cli.main(["report", str(tmp_path / name)]) == 0
    for png in ("curves.png", "weights.png", "hyperparameters.png"):
        image = matplotlib.image.imread(tmp_path / name / png)
        assert image.ndim == 3 and image.shape[0] > 50
    result = json.loads((tmp_path / name / "result.json").read_text())
    assert 0 <= result["test_accuracy"] <= 1 and 0 <= result["baseline_test_accuracy"] <= 1


def test_unknown_keys_suggest_the_closest(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[search]\nmax_trails = 3\n')
    assert cli.main(["search", str(path), "--logdir", str(tmp_path)]) == 2
    assert "unknown key `search.max_trails`. Did you mean `max_trials`?" in capsys.readouterr().err
    path.write_text('[space.regulariser]\nchoices = ["l2"]\n')
    assert cli.main(["search", str(path), "--logdir", str(tmp_path)]) == 2
    assert "Did you mean `regularizer`?" in capsys.readouterr().err
    assert cli.main(["search", "digts", "--logdir", str(tmp_path)]) == 2
    assert "Did you mean `digits`?" in capsys.readouterr().err


def test_npz_and_csv_files(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (50, 6, 6), dtype="uint8"),
             y_train=rng.integers(0, 10, 50), x_test=rng.integers(0, 256, (10, 6, 6), dtype="uint8"),
             y_test=rng.integers(0, 10, 10))
    (x, y), (xv, yv), (xt, yt) = kreg.data.load_npz(tmp_path / "mnist.npz", validation_size=0.2)
    assert x.shape == (40, 6, 6, 1) and xv.shape == (10, 6, 6, 1) and xt.shape == (10, 6, 6, 1)
    assert 0 <= x.min() and x.max() <= 1 and x.dtype == np.float32
    table = np.column_stack([rng.normal(size=(40, 3)), rng.integers(0, 2, 40)])
    np.savetxt(tmp_path / "t.csv", table, delimiter=",", header="a,b,c,label", comments="")
    (x, y), (xv, yv), (xt, yt) = kreg.data.load_csv(tmp_path / "t.csv", test_size=0.25, validation_size=0.2)
    assert x.shape[1] == 3 and len(x) + len(xv) + len(xt) == 40 and len(xt) == 10
    assert set(np.concatenate([y, yv, yt])) <= {0, 1}
    with pytest.raises(ValueError, match="lacks array 'x_test'"):
        np.savez(tmp_path / "half.npz", x_train=x, y_train=y)
        kreg.data.load_npz(tmp_path / "half.npz")


def test_existing_experiment_resumes_and_overwrite_stays_inside(tmp_path, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    assert cli.main(["search", experiment, "--logdir", str(logdir)]) == 0
    (logdir / "keep.txt").write_text("not mine")
    before = files(logdir / "tiny" / "tuner")
    assert cli.main(["search", experiment, "--logdir", str(logdir)]) == 0  # resumes: nothing to do
    assert "resuming tiny" in capsys.readouterr().out
    after = files(logdir / "tiny" / "tuner")
    assert {k: v for k, v in after.items() if "trial_" in k} == {k: v for k, v in before.items() if "trial_" in k}
    assert cli.main(["search", experiment, "--logdir", str(logdir), "--overwrite"]) == 0
    assert (logdir / "keep.txt").read_text() == "not mine"
    assert cli.main(["search", experiment, "--logdir", str(tmp_path / "empty"), "--resume"]) == 2


@pytest.mark.parametrize("damage", ["truncated oracle", "empty tuner", "missing trial", "missing oracle"])
def test_damaged_state_is_an_error_naming_the_file(tmp_path, damage, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    assert cli.main(["search", experiment, "--logdir", str(logdir)]) == 0
    project = logdir / "tiny" / "tuner" / "search"
    target = {"truncated oracle": project / "oracle.json", "empty tuner": project / "tuner0.json",
              "missing trial": project / "trial_0" / "trial.json",
              "missing oracle": project / "oracle.json"}[damage]
    if damage.startswith("missing"):
        target.unlink()
    else:
        text = target.read_bytes()
        target.write_bytes(text[: len(text) // 2] if damage.startswith("truncated") else b"")
    before = files(logdir)
    assert cli.main(["search", experiment, "--logdir", str(logdir), "--max-trials", "2"]) == 2
    assert str(target) in capsys.readouterr().err
    assert files(logdir) == before  # nothing overwritten


def test_kill_minus_nine_then_resume(tmp_path):
    experiment = tiny(tmp_path, trials=3, epochs=25)
    logdir = tmp_path / "logs"
    project = logdir / "tiny" / "tuner" / "search"
    command = [sys.executable, "-m", "kreg.cli", "search", experiment, "--logdir", str(logdir)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # kill while trial 1 runs, trial 0 finished
            trial = project / "trial_0" / "trial.json"
            if trial.exists() and json.loads(trial.read_text() or "{}").get("status") == "COMPLETED" \
                    and (project / "trial_1").exists():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the search never reached its second trial")
        time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    finished = {k: v for k, v in files(project).items() if k.startswith("trial_0")}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    now = files(project)
    assert {k: now[k] for k in finished} == finished  # finished work untouched, byte for byte
    trials = [json.loads(now[k]) for k in now if k.endswith("trial.json")]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" for t in trials)


def test_distributed_search_on_loopback(tmp_path):
    """Keras Tuner's chief and two workers, one experiment: every trial done once, one result, one root."""
    experiment = tiny(tmp_path, trials=4, epochs=2)
    logdir = tmp_path / "logs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "kreg.cli", "search", experiment, "--logdir", str(logdir),
                             "--workers", "2"], env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    project = logdir / "tiny" / "tuner" / "search"
    trials = [json.loads((project / d / "trial.json").read_text()) for d in os.listdir(project)
              if d.startswith("trial_")]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2", "3"]
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert {"tuner0.json", "tuner1.json"} <= set(os.listdir(project))  # both workers took part
    assert (logdir / "tiny" / "result.json").exists()
    sessions = [d for d in os.listdir(logdir / "tiny" / "tensorboard") if d.isdigit()]
    assert sorted(sessions) == ["0", "1", "2", "3"]
    assert "best trial" in result.stdout


def test_all_trials_failed_exits_3(tmp_path, capsys):
    path = tmp_path / "explode.toml"
    path.write_text(TINY.format(trials=2, epochs=2).replace('hidden = [32]', 'hidden = [32]\nlearning_rate = 1e30'))
    assert cli.main(["search", str(path), "--logdir", str(tmp_path / "logs")]) == 3
    assert "all 2 trials failed" in capsys.readouterr().err
