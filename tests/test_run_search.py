import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import pytest

import kreg
import kreg_startup
from kreg import cli
from kreg.run import workers as launcher

pytestmark = pytest.mark.one_backend  # slow end to end: the TensorFlow pass only (README)

SHIPPED = list(kreg_startup.list_experiments())
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
[confirm]
seeds = 1
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
    assert {"mnist_quick", "digits", "dropout_scaling", "sparsity", "cnn_augment"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_experiment_runs_one_tiny_trial_and_reports(tmp_path, name, capsys):
    seeds = 2 if name == "digits" else 1  # the paired intervals once; every experiment's confirmation runs
    code = cli.main(["search", name, "--max-trials", "1", "--epochs", "1", "--confirm", str(seeds), "--logdir",
                     str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "trial 0 (1 of 1)" in out and f"tensorboard --logdir {tmp_path / name / 'tensorboard'}" in out
    assert f"Confirmed over {seeds} fresh seeds" in out and "(c) - (b)" in out
    assert cli.main(["report", str(tmp_path / name)]) == 0
    for png in ("curves.png", "weights.png", "hyperparameters.png", "trials.png", "confirm.png"):
        image = matplotlib.image.imread(tmp_path / name / png)
        assert image.ndim == 3 and image.shape[0] > 50
    confirmation = json.loads((tmp_path / name / "result.json").read_text())["confirmation"]
    columns, metric = confirmation["columns"], confirmation["metric"]  # the objective's metric on the test split
    assert list(columns)[:2] == ["last_epoch", "early_stopping"] and len(columns) == 3
    assert all(len(c[metric]) == len(c["test_data_loss"]) == seeds for c in columns.values())
    low, high = (0, 1) if metric == "test_accuracy" else (0, np.inf)  # accuracy, or diabetes' mean absolute error
    assert all(low <= a <= high for c in columns.values() for a in c[metric])


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


def test_existing_experiment_resumes_and_overwrite_stays_inside(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)
    (logdir / "keep.txt").write_text("not mine")
    before = files(logdir / "tiny" / "tuner")
    assert cli.main(["search", experiment, "--logdir", str(logdir)]) == 0  # resumes: nothing to do
    assert "resuming tiny" in capsys.readouterr().out
    after = files(logdir / "tiny" / "tuner")
    assert {k: v for k, v in after.items() if "trial_" in k} == {k: v for k, v in before.items() if "trial_" in k}
    assert cli.main(["search", experiment, "--logdir", str(logdir), "--overwrite"]) == 0
    assert (logdir / "keep.txt").read_text() == "not mine"
    assert cli.main(["search", experiment, "--logdir", str(tmp_path / "empty"), "--resume"]) == 2


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One finished search of `tiny(trials=1, epochs=1)`, made once; `finished` gives each test its own copy."""
    root = tmp_path_factory.mktemp("searched")
    assert search(tiny(root, trials=1, epochs=1), root / "logs") == 0
    return root


def finished(tmp_path, searched):
    shutil.copytree(searched / "logs", tmp_path / "logs", symlinks=True)
    return tiny(tmp_path, trials=1, epochs=1), tmp_path / "logs"


def search(experiment, logdir, *flags):
    return cli.main(["search", str(experiment), "--logdir", str(logdir), *flags])


def subprocess_command(experiment, logdir, *flags):
    return [sys.executable, "-m", "kreg.cli", "search", str(experiment), "--logdir", str(logdir), *flags]


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# `kreg search ARGS` in a process that imports kreg first and starts on a line on stdin: the next run's
# process imports while the current one runs, so a test of many runs waits for one import, not one each.
# A process never told (stdin closed when the test ends) exits without searching.
WARM = "import sys\nfrom kreg import cli\nif sys.stdin.readline() == 'go\\n':\n    sys.exit(cli.main(sys.argv[1:]))"


def warm(experiment, logdir, **kwargs):
    """A `kreg search` process, importing; `go(process)` starts its search."""
    return subprocess.Popen([sys.executable, "-c", WARM, "search", str(experiment), "--logdir", str(logdir)],
                            stdin=subprocess.PIPE, env=ENV, text=True, **kwargs)


def go(process):
    process.stdin.write("go\n")
    process.stdin.flush()
    return process


STATE = {"oracle": "oracle.json", "tuner": "tuner0.json", "trial": "trial_0/trial.json"}


@pytest.mark.parametrize("damage", ["truncated oracle", "empty tuner", "missing trial", "missing oracle",
                                    "{} oracle", "[] oracle", "{} trial", "[] trial", "[] tuner"])
def test_damaged_state_is_an_error_naming_the_file(tmp_path, searched, damage, capsys):
    experiment, logdir = finished(tmp_path, searched)
    how, what = damage.split()
    target = logdir / "tiny" / "tuner" / "search" / STATE[what]
    if how == "missing":
        target.unlink()
    else:
        text = target.read_bytes()
        target.write_bytes({"truncated": text[: len(text) // 2], "empty": b""}.get(how, how.encode()))
    before = files(logdir)
    capsys.readouterr()
    assert search(experiment, logdir, "--max-trials", "2") == 2
    err = capsys.readouterr().err
    assert str(target) in err and "Traceback" not in err
    assert files(logdir) == before  # nothing overwritten


def test_a_deleted_trial_folder_is_an_error_not_an_overwrite(tmp_path, capsys):
    experiment = tiny(tmp_path, trials=2, epochs=1)
    logdir = tmp_path / "logs"
    assert search(experiment, logdir) == 0
    project = logdir / "tiny" / "tuner" / "search"
    shutil.rmtree(project / "trial_0")
    before = files(logdir)
    assert search(experiment, logdir, "--max-trials", "3") == 2
    assert str(project / "trial_0" / "trial.json") in capsys.readouterr().err
    assert files(logdir) == before  # trial_1 was not overwritten by a new trial "1"


def test_a_damaged_checkpoint_of_the_best_trial_is_an_error_naming_it(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)
    checkpoint = logdir / "tiny" / "tuner" / "search" / "trial_0" / "checkpoint.weights.h5"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    capsys.readouterr()
    assert search(experiment, logdir) == 2
    err = capsys.readouterr().err
    assert str(checkpoint) in err and "damaged" in err


@pytest.mark.parametrize("name", ["..", "", ".", "/", "sub/dir", "a b"])
def test_overwrite_never_leaves_the_log_folder(tmp_path, name, capsys):
    """The issue's reproduction: name = ".." with --overwrite deleted the log folder's parent."""
    (tmp_path / "p" / "logs").mkdir(parents=True)
    (tmp_path / "p" / "precious").mkdir()
    (tmp_path / "p" / "precious" / "data.txt").write_text("keep")
    path = tmp_path / "dd.toml"
    path.write_text(f'name = "{name}"\n[data]\ntrain_size = 200\nvalidation_size = 100\n[model]\nhidden = [8]\n')
    before = files(tmp_path / "p")
    assert search(path, tmp_path / "p" / "logs", "--overwrite", "--max-trials", "1", "--epochs", "1") == 2
    assert f"name={name!r}" in capsys.readouterr().err
    assert files(tmp_path / "p") == before


def test_overwrite_deletes_only_a_folder_kreg_made(tmp_path, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    (logdir / "tiny").mkdir(parents=True)
    (logdir / "tiny" / "thesis.tex").write_text("mine")
    for flags in ([], ["--overwrite"], ["--resume"]):
        assert search(experiment, logdir, *flags) == 2
        assert f"{logdir / 'tiny'} exists and was not made by kreg search" in capsys.readouterr().err
    assert (logdir / "tiny" / "thesis.tex").read_text() == "mine"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (logdir / "tiny").rename(tmp_path / "moved")
    (logdir / "tiny").symlink_to(outside)  # a link out of the log folder
    assert search(experiment, logdir, "--overwrite") == 2
    assert "must lie directly inside the log folder" in capsys.readouterr().err
    assert os.listdir(outside) == []


def test_a_folder_of_an_earlier_kreg_is_not_resumed_blindly(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)
    marker = logdir / "tiny" / "search.json"
    record = json.loads(marker.read_text())
    marker.write_text(json.dumps({"experiment": record["settings"], "objective": record["objective"]}))
    assert search(experiment, logdir) == 2
    assert "records no settings" in capsys.readouterr().err
    assert search(experiment, logdir, "--overwrite") == 0


def test_one_run_per_folder_and_kill_releases_the_lock(tmp_path, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom kreg.run import folder\n"
                               "with folder._locked(sys.argv[1]):\n    print('locked', flush=True)\n"
                               "    time.sleep(120)", str(logdir / "tiny")], stdout=subprocess.PIPE, text=True, env=ENV)
    (logdir / "tiny").mkdir(parents=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.time()
        assert search(experiment, logdir) == 2
        assert time.time() - started < 30  # refused at once, not after a search
        assert f"in use by another kreg search (pid {holder.pid})" in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert search(experiment, logdir) == 0  # kill -9 released it


def test_a_resume_with_other_settings_is_refused_showing_what_changed(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)
    before = files(logdir)
    text = open(experiment).read()
    open(experiment, "w").write(text.replace("[search]", '[search]\nobjective = "val_loss"'))
    capsys.readouterr()
    assert search(experiment, logdir) == 2
    assert "search.objective: 'val_accuracy' in the folder, 'val_loss' now" in capsys.readouterr().err
    open(experiment, "w").write(text + "[space.dropout]\nrate = [0.0, 0.5]\n")
    assert search(experiment, logdir) == 2
    assert "space.dropout.rate: '(absent)' in the folder, [0.0, 0.5] now" in capsys.readouterr().err
    open(experiment, "w").write(text)
    for flags in (["--epochs", "2"], ["--seed", "5"]):
        assert search(experiment, logdir, *flags) == 2
    assert files(logdir) == before
    assert search(experiment, logdir, "--max-trials", "2") == 0  # raising the budget is safe
    assert "resuming tiny" in capsys.readouterr().out
    assert sorted(d for d in os.listdir(logdir / "tiny" / "tuner" / "search") if d.startswith("trial_")) == \
        ["trial_0", "trial_1"]
    assert search(experiment, logdir, "--max-trials", "2") == 0  # the raised budget is now the record
    assert search(experiment, logdir, "--epochs", "2", "--overwrite") == 0


def trial_states(project):
    """`{trial_id: (status, inode, mtime)}` of the trial files: a trial run again gets a new file."""
    out = {}
    for path in project.glob("trial_*/trial.json"):
        stat = path.stat()
        out[path.parent.name] = (json.loads(path.read_text())["status"], stat.st_ino, stat.st_mtime_ns)
    return out


def test_kill_minus_nine_at_many_points_loses_and_reruns_nothing(tmp_path):
    """Killed at a range of moments, resumed each time: every trial ends finished exactly once.

    Each kill comes a delay after an event: the start, a trial's folder
    appearing, a trial saved as finished (the moment Keras Tuner still lists it
    as running), the last one finished (the summary and the baseline).
    """
    experiment = tiny(tmp_path, trials=4, epochs=3)
    logdir = tmp_path / "logs"
    project = logdir / "tiny" / "tuner" / "search"
    events = {"start": lambda states: True,
              **{f"trial_{i} begun": lambda states, i=i: f"trial_{i}" in states for i in range(4)},
              **{f"trial_{i} finished": lambda states, i=i: states.get(f"trial_{i}", ("",))[0] == "COMPLETED"
                 for i in range(4)}}
    kills = [("start", 1.5), ("trial_0 begun", 0.0), ("trial_0 finished", 0.0), ("trial_1 begun", 0.02),
             ("trial_1 finished", 0.0), ("trial_2 finished", 0.05), ("trial_3 finished", 0.3)]
    finished, seen = {}, []
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = warm(experiment, logdir, **quiet)
    for i, (event, delay) in enumerate(kills):
        last = i == len(kills) - 1  # the next process is the final run: keep its errors
        process, ready = go(ready), warm(experiment, logdir, **{**quiet, "stderr": subprocess.PIPE} if last else quiet)
        deadline = time.time() + 120
        while not events[event](trial_states(project)) and process.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdin.close()
        now = trial_states(project)
        seen.append({k: v[0] for k, v in now.items()})
        assert {k: now[k] for k in finished} == finished, (event, delay)  # nothing finished was touched
        finished = {k: v for k, v in now.items() if v[0] == "COMPLETED"}
    assert any(len(s) == 1 and "COMPLETED" in s.values() for s in seen)  # a kill right after a trial's end
    _, err = go(ready).communicate(timeout=300)
    assert ready.returncode == 0, err[-2000:]
    now = trial_states(project)
    assert {k: now[k] for k in finished} == finished
    assert sorted(now) == ["trial_0", "trial_1", "trial_2", "trial_3"]
    assert all(v[0] == "COMPLETED" for v in now.values())


def test_a_finished_trial_listed_as_running_is_not_run_again(tmp_path, searched):
    """Keras Tuner saves `oracle.json` while the trial it just ended is still in `ongoing_trials`."""
    experiment, logdir = finished(tmp_path, searched)  # one trial searched
    project = logdir / "tiny" / "tuner" / "search"
    oracle = json.loads((project / "oracle.json").read_text())
    oracle["ongoing_trials"] = {"tuner0": "0"}  # the state a kill right after trial 0's end leaves
    (project / "oracle.json").write_text(json.dumps(oracle))
    before = trial_states(project)
    assert search(experiment, logdir, "--max-trials", "2") == 0
    after = trial_states(project)
    assert after["trial_0"] == before["trial_0"] and after["trial_1"][0] == "COMPLETED"


def test_a_folder_killed_before_any_trial_finished_starts_afresh(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)
    project = logdir / "tiny" / "tuner" / "search"
    trial = json.loads((project / "trial_0" / "trial.json").read_text())
    (project / "trial_0" / "trial.json").write_text(json.dumps({**trial, "status": "RUNNING"}))
    (project / "oracle.json").unlink()  # killed after trial 0 began: no oracle.json yet, nothing finished
    (project / "tuner0.json").unlink()
    for result in ("result.json", "weights.npz", "confirm"):  # nothing finished: no results either
        shutil.rmtree(logdir / "tiny" / result) if result == "confirm" else (logdir / "tiny" / result).unlink()
    capsys.readouterr()
    assert search(experiment, logdir) == 0
    assert "starting tiny" in capsys.readouterr().out
    assert json.loads((project / "trial_0" / "trial.json").read_text())["status"] == "COMPLETED"


def test_a_trial_begun_but_not_yet_in_the_oracle_is_run(tmp_path, searched):
    """A kill between Keras Tuner's writes of a new `trial.json` and of `oracle.json`: the trial runs on resume."""
    experiment, logdir = finished(tmp_path, searched)  # one trial searched
    project = logdir / "tiny" / "tuner" / "search"
    trial = json.loads((project / "trial_0" / "trial.json").read_text())
    (project / "trial_1").mkdir()
    (project / "trial_1" / "trial.json").write_text(json.dumps({**trial, "trial_id": "1", "status": "RUNNING",
                                                                "metrics": {"metrics": {}}, "score": None}))
    assert search(experiment, logdir, "--max-trials", "2") == 0
    assert json.loads((project / "trial_1" / "trial.json").read_text())["status"] == "COMPLETED"


def test_a_full_disk_while_training_stops_the_search_without_failing_the_trial(tmp_path, monkeypatch, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    fit = kreg.tuning.RegularizedMLP.fit

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "checkpoint.weights.h5")

    monkeypatch.setattr(kreg.tuning.RegularizedMLP, "fit", full)
    assert search(experiment, logdir) == 2
    assert "No space left on the device" in capsys.readouterr().err
    trial = logdir / "tiny" / "tuner" / "search" / "trial_0" / "trial.json"
    assert json.loads(trial.read_text())["status"] == "RUNNING"  # not FAILED: run again on resume
    monkeypatch.setattr(kreg.tuning.RegularizedMLP, "fit", fit)
    assert search(experiment, logdir) == 0
    assert json.loads(trial.read_text())["status"] == "COMPLETED"


def test_ctrl_c_prints_one_line_and_exits_130_then_resumes(tmp_path):
    experiment = tiny(tmp_path, trials=2, epochs=4)
    logdir = tmp_path / "logs"
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process, resume = go(warm(experiment, logdir, **pipes)), warm(experiment, logdir, **pipes)
    trial = logdir / "tiny" / "tuner" / "search" / "trial_0" / "trial.json"
    deadline = time.time() + 120
    while not (trial.exists() and json.loads(trial.read_text())["status"] == "COMPLETED") and time.time() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("kreg")]
    assert "Traceback" not in err and len(lines) == 1
    assert f"every finished trial is kept in {logdir / 'tiny'}" in lines[0] and "resume" in lines[0]
    out, err = go(resume).communicate(timeout=300)
    assert resume.returncode == 0 and "resuming tiny" in out, err[-2000:]


@pytest.mark.parametrize("where", ["a file", "under a file", "/proc"])
def test_a_logdir_that_cannot_be_a_folder_exits_2_naming_it(tmp_path, where, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    (tmp_path / "file").write_text("x")
    logdir = {"a file": tmp_path / "file", "under a file": tmp_path / "file" / "logs", "/proc": "/proc/kreg-logs"}[where]
    assert search(experiment, logdir) == 2
    err = capsys.readouterr().err
    assert str(logdir) in err and "Traceback" not in err


def test_a_full_disk_exits_2_and_leaves_a_resumable_folder(tmp_path, monkeypatch, capsys):
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    write = kreg._io.write_bytes

    def full(path, data):
        if str(path).endswith("result.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write(path, data)

    monkeypatch.setattr(kreg._io, "write_bytes", full)
    assert search(experiment, logdir) == 2
    err = capsys.readouterr().err
    assert "No space left" in err and str(logdir / "tiny" / "result.json") in err and "resume" in err
    monkeypatch.setattr(kreg._io, "write_bytes", write)
    assert search(experiment, logdir) == 0
    assert "resuming tiny" in capsys.readouterr().out


def test_trials_are_numbered_alike_in_progress_and_summary(tmp_path, capsys):
    assert search(tiny(tmp_path, trials=2, epochs=1), tmp_path / "logs") == 0
    out = capsys.readouterr().out
    best = json.loads((tmp_path / "logs" / "tiny" / "result.json").read_text())["best_trial"]
    assert f"best trial {best}:" in out and f"trial {best} score" in out
    assert "trial 0 (1 of 2)" in out and "trial 1 (2 of 2)" in out


def test_printed_commands_work_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert search(tiny(tmp_path, trials=1, epochs=1), tmp_path / "logs") == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        if line.startswith(("See it: ", "Report: ")):
            program = shlex.split(line.split(": ", 1)[1])[0]
            assert os.path.isabs(program) and os.access(program, os.X_OK), line
    report = next(line for line in out.splitlines() if line.startswith("Report: ")).split(": ", 1)[1]
    result = subprocess.run(shlex.split(report), env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_distributed_search_on_loopback(tmp_path):
    """Keras Tuner's chief and two workers, one experiment: every trial done once, one result, one root."""
    experiment = tiny(tmp_path, trials=4, epochs=1)
    with open(experiment, "a") as f:
        f.write('by = "regularizer"\n')  # [confirm]'s: checked by the chief, whose oracle knows the space
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
    assert "best trial" in result.stdout and "best with regularizer=" in result.stdout


def children(pid):
    """`{KERASTUNER_TUNER_ID: pid}` of the processes `pid` started."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                with open(f"/proc/{child}/environ", "rb") as e:
                    env = dict(v.split(b"=", 1) for v in e.read().split(b"\0") if b"=" in v)
                out[env.get(b"KERASTUNER_TUNER_ID", b"").decode()] = int(child)
    return out


def test_a_dead_worker_is_reported_and_the_others_finish(tmp_path):
    """`kill -9` of a worker mid-trial: reported, its trial run by the other worker, the launcher ends."""
    experiment = tiny(tmp_path, trials=4, epochs=4)
    logdir = tmp_path / "logs"
    project = logdir / "tiny" / "tuner" / "search"
    launcher = subprocess.Popen(subprocess_command(experiment, logdir, "--workers", "2"), env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and sum(json.loads(p.read_text())["status"] == "RUNNING"
                                             for p in project.glob("trial_*/trial.json")) < 2:
            time.sleep(0.05)  # until both workers run a trial
        victim = children(launcher.pid)["tuner1"]
        os.kill(victim, signal.SIGKILL)
        out, err = launcher.communicate(timeout=300)
    finally:
        launcher.kill()
    assert f"worker tuner1 (pid {victim}) died (killed by signal 9)" in err
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2", "3"]
    if launcher.returncode == 0:  # the other worker ran the dead one's trial
        assert all(t["status"] == "COMPLETED" for t in trials) and "best trial" in out
    else:
        assert launcher.returncode == 1 and "run the same command again" in err


def across_hosts(experiment, logdir, port, *roles):
    """`kreg search --chief 127.0.0.2:PORT` or `--worker 127.0.0.2:PORT` processes, one per role, as on other hosts."""
    return [subprocess.Popen(subprocess_command(experiment, logdir, f"--{role}", f"127.0.0.2:{port}", "--dead-after",
                                                "4"), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for role in roles]


def free_port(host):
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def running(project, count, timeout=120):
    deadline = time.time() + timeout
    while sum(json.loads(p.read_text())["status"] == "RUNNING" for p in project.glob("trial_*/trial.json")) < count:
        assert time.time() < deadline, f"fewer than {count} trials running after {timeout} s"
        time.sleep(0.05)


def test_a_search_across_hosts_outlives_a_dead_worker(tmp_path):
    """The chief serves on 127.0.0.2 (not the default loopback address); a worker killed mid-trial stops beating,
    the chief takes it as dead, and the other worker runs its trial."""
    experiment, logdir, port = tiny(tmp_path, trials=4, epochs=4), tmp_path / "logs", free_port("127.0.0.2")
    project = logdir / "tiny" / "tuner" / "search"
    processes = across_hosts(experiment, logdir, port, "chief", "worker", "worker")
    chief, survivor, victim = processes
    try:
        running(project, 2)
        victim.kill()
        out, err = chief.communicate(timeout=300)
        survivor_out, _ = survivor.communicate(timeout=60)
    finally:
        for process in processes:
            process.kill()
    assert f"-{victim.pid}-" in err.split("sent no heartbeat")[0] and err.count("taken as dead") == 1
    assert survivor.returncode == 0 and "waiting for the chief at 127.0.0.2" in survivor_out
    if chief.returncode == 1:  # the survivor had asked for its last trial before the victim was taken as dead
        assert "of the dead workers were not run again; run the same command again" in err
        processes = across_hosts(experiment, logdir, port, "chief", "worker")
        try:
            out, err = processes[0].communicate(timeout=300)
        finally:
            for process in processes:
                process.kill()
        chief = processes[0]
    assert chief.returncode == 0, err[-3000:]
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2", "3"]
    assert all(t["status"] == "COMPLETED" for t in trials) and "best trial" in out
    assert (logdir / "tiny" / "result.json").exists() and not os.listdir(logdir / "tiny" / "heartbeats")


def test_workers_stop_when_the_chief_dies_and_the_search_resumes(tmp_path):
    experiment, logdir, port = tiny(tmp_path, trials=3, epochs=4), tmp_path / "logs", free_port("127.0.0.2")
    project = logdir / "tiny" / "tuner" / "search"
    processes = across_hosts(experiment, logdir, port, "chief", "worker")
    try:
        running(project, 1)
        processes[0].kill()
        _, err = processes[1].communicate(timeout=60)
    finally:
        for process in processes:
            process.kill()
    # Its heartbeat stopped, or a call in flight broke: either way the worker says so and stops.
    assert processes[1].returncode == 1, err[-3000:]
    assert ("the chief sent no heartbeat for 4 s; this worker stops" in err
            or f"the chief at 127.0.0.2:{port} stopped answering (UNAVAILABLE); this worker stops" in err), err[-3000:]
    assert os.listdir(logdir / "tiny" / "heartbeats") == ["chief.json"]  # the dead chief's
    processes = across_hosts(experiment, logdir, port, "chief", "worker")  # the same commands again: resumed
    try:
        out, err = processes[0].communicate(timeout=300)
    finally:
        for process in processes:
            process.kill()
    assert processes[0].returncode == 0, err[-3000:]
    assert "taken as dead" not in err  # the earlier run's heartbeats are not this run's workers
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" for t in trials) and "best trial" in out


def test_chief_and_worker_flags_are_checked(capsys):
    for flags, says in ((["--chief", "127.0.0.2"], "argument --chief: expected HOST:PORT"),
                        (["--worker", "h:0"], "argument --worker: expected HOST:PORT with a port in [1, 65535]"),
                        (["--chief", "h:1", "--workers", "2"], "not allowed with argument"),
                        (["--chief", "h:1", "--dead-after", "0.5"], "expected a number of seconds in [1, 86400], "
                                                                     "received '0.5'"),
                        (["--chief", "h:1", "--dead-after", "nan"], "received 'nan'")):
        with pytest.raises(SystemExit) as exit:
            cli.main(["search", "digits", *flags])
        assert exit.value.code == 2 and says in capsys.readouterr().err, flags
    assert cli.main(["search", "digits", "--dead-after", "5"]) == 2
    assert "--dead-after applies to --chief and --worker only" in capsys.readouterr().err


class FakeProcess:
    """A `Popen` whose `poll()` returns the given codes in turn (None: still running), then the last one."""

    def __init__(self, *codes, pid=100):
        self.codes, self.pid, self.returncode = list(codes), pid, None

    def poll(self):
        self.returncode = self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]
        return self.returncode


def test_the_launcher_stops_when_every_worker_died(tmp_path, capsys):
    chief = FakeProcess(None)
    workers = {"tuner0": FakeProcess(None, -9, pid=1), "tuner1": FakeProcess(None, None, 1, pid=2)}
    assert launcher.supervise(chief, workers, str(tmp_path / "dead.json"), str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "worker tuner0 (pid 1) died (killed by signal 9)" in err and "worker tuner1 (pid 2) died (exit code 1)" in err
    assert "every worker died" in err and json.loads((tmp_path / "dead.json").read_text()) == ["tuner0", "tuner1"]


def test_the_launcher_reports_a_dead_chief(tmp_path, capsys):
    workers = {"tuner0": FakeProcess(None)}
    assert launcher.supervise(FakeProcess(None, -9, pid=7), workers, str(tmp_path / "d.json"), str(tmp_path)) == 1
    assert "the chief (pid 7) died (killed by signal 9)" in capsys.readouterr().err


def test_all_trials_failed_exits_3(tmp_path, capsys):
    path = tmp_path / "explode.toml"
    path.write_text(TINY.format(trials=2, epochs=2).replace('hidden = [32]', 'hidden = [32]\nlearning_rate = 1e30'))
    assert cli.main(["search", str(path), "--logdir", str(tmp_path / "logs")]) == 3
    assert "all 2 trials failed" in capsys.readouterr().err


DIGITS = 'source = "digits"\ntrain_size = 200\nvalidation_size = 100'
# Each turns the finished `tiny` experiment into one that must be refused before its folder is touched.
REFUSED = {
    "dropout rate above 1": ("", "[space.dropout]\nrate = [0.0, 1.5]\n", "rate"),
    "unknown transform": ("", '[space.augment]\ntransforms = ["warp"]\n', "transforms"),
    "drop_path on an MLP": ("", "[space.drop_path]\nrate = [0.0, 0.2]\n", 'apply to model.kind "cnn" only'),
    "drop_block on an MLP": ("", "[space.drop_block]\nrate = [0.0, 0.1]\n", 'apply to model.kind "cnn" only'),
    "filters on an MLP": ("hidden = [32]", "hidden = [32]\nfilters = [4]", "model keys ['filters']"),
    "kind rnn": ('kind = "mlp"', 'kind = "rnn"', "model.kind must be one of"),
    "hidden empty": ("hidden = [32]", "hidden = []", "hidden"),
    "hidden zero": ("hidden = [32]", "hidden = [0]", "hidden"),
    "negative learning rate": ("hidden = [32]", "hidden = [32]\nlearning_rate = -0.1", "learning_rate"),
    "learning rate past float32": ("hidden = [32]", "hidden = [32]\nlearning_rate = 1e308", "float32"),
    "negative l2": ("l2 = [1.0, 10.0]", "l2 = [-1, 10]", "l2"),
    "confirm by nothing": ("seeds = 1", 'seeds = 1\nby = "nonexistent"', "by='nonexistent'"),
    "too many examples": ("train_size = 200", "train_size = 100000", "train_size"),
    "label noise 1": ("train_size = 200", "train_size = 200\nlabel_noise = 1.0", "label_noise"),
    "rotation on flat data": ("", "[space.augment]\ntransforms = [\"rotation\"]\n", "need images"),
    "smoothing step past its range": ("", "[space.label_smoothing]\nsmoothing = [0.0, 0.2]\nstep = 1e308\n", "step"),
    "warm-up longer than training": ("", "[space.schedule]\nwarmup_epochs = 1000000000000000000\n", "warmup_epochs"),
    "seeds past 2**32": ("max_trials = 1", "max_trials = 4611686018427387904", "2**32"),
    "npz of the wrong layout": (DIGITS, 'source = "npz"\npath = "half.npz"', "lacks array 'x_test'"),
    "npz path naming a .npy file": (DIGITS, 'source = "npz"\npath = "one.npy"', "one array"),
    "text posing as npz": (DIGITS, 'source = "npz"\npath = "text.npz"', "text.npz"),
}


@pytest.mark.parametrize("flags", [["--overwrite"], ["--resume"], ["--workers", "2", "--overwrite"]],
                         ids=["overwrite", "resume", "workers"])
@pytest.mark.parametrize("change", list(REFUSED))
def test_a_refused_experiment_leaves_a_finished_folder_byte_for_byte(tmp_path, searched, change, flags, capsys):
    """The issue's reproduction: `--overwrite` cleared the folder before the model and the spaces were checked."""
    experiment, logdir = finished(tmp_path, searched)
    np.savez(tmp_path / "half.npz", x_train=np.zeros((20, 4)), y_train=np.zeros(20))
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "text.npz").write_text("x_train,y_train\n1,2\n")
    old, new, named = REFUSED[change]
    text = open(experiment).read()
    text = text.replace(old, new) if old else text + new
    text = text.replace('"half.npz"', repr(str(tmp_path / "half.npz"))).replace('"one.npy"', repr(str(
        tmp_path / "one.npy"))).replace('"text.npz"', repr(str(tmp_path / "text.npz")))
    assert text != open(experiment).read()
    open(experiment, "w").write(text)
    before = files(logdir)
    capsys.readouterr()
    assert search(experiment, logdir, *flags) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err, err
    assert files(logdir) == before


def test_a_missing_tuner_folder_is_an_error_not_a_restart(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)
    shutil.rmtree(logdir / "tiny" / "tuner")
    before = files(logdir)
    capsys.readouterr()
    assert search(experiment, logdir) == 2
    err = capsys.readouterr().err
    assert str(logdir / "tiny" / "tuner" / "search" / "oracle.json") in err and "missing" in err
    assert files(logdir) == before


def test_other_data_are_refused_on_resume(tmp_path, searched, capsys):
    """The folder records the data's fingerprint; other data at the same path give another one."""
    from kreg.run import plan

    experiment, logdir = finished(tmp_path, searched)
    marker = logdir / "tiny" / "search.json"
    record = json.loads(marker.read_text())
    assert len(record["settings"]["data"]["fingerprint"]) == 64
    record["settings"]["data"]["fingerprint"] = "0" * 64  # as if the folder's data had been other data
    marker.write_text(json.dumps(record))
    before = files(logdir)
    capsys.readouterr()
    assert search(experiment, logdir) == 2
    assert "data.fingerprint: '0000" in capsys.readouterr().err
    assert files(logdir) == before
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.random((40, 4)), y_train=np.arange(40) % 2, x_test=rng.random((10, 4)),
                  y_test=np.arange(10) % 2)
    np.savez(tmp_path / "d.npz", **arrays)
    path = tmp_path / "npz.toml"
    path.write_text(f'[data]\nsource = "npz"\npath = "{tmp_path / "d.npz"}"\n[model]\nhidden = [4]\n')
    first = plan.make(str(path), logdir=str(tmp_path / "l")).settings["data"]["fingerprint"]
    assert plan.make(str(path), logdir=str(tmp_path / "l")).settings["data"]["fingerprint"] == first
    arrays["x_train"][0, 0] += 1e-6
    np.savez(tmp_path / "d.npz", **arrays)  # the same path, other data
    assert plan.make(str(path), logdir=str(tmp_path / "l")).settings["data"]["fingerprint"] != first


def test_a_confirmation_only_grows(tmp_path, searched, capsys):
    experiment, logdir = finished(tmp_path, searched)  # confirmed on 1 seed
    assert search(experiment, logdir, "--confirm", "2") == 0
    result = json.loads((logdir / "tiny" / "result.json").read_text())
    assert len(result["confirmation"]["seeds"]) == 2
    before = files(logdir / "tiny" / "confirm")
    capsys.readouterr()
    assert search(experiment, logdir, "--confirm", "1") == 0
    assert "already holds 2 confirmed seeds" in capsys.readouterr().out
    after = json.loads((logdir / "tiny" / "result.json").read_text())
    assert after["confirmation"] == result["confirmation"]  # reported whole, not shrunk to one seed
    assert files(logdir / "tiny" / "confirm") == before


def test_a_folder_killed_while_it_was_claimed_is_resumed(tmp_path, capsys):
    """A kill -9 right after the folder was made left its lock and its marker's temporary file: kreg's own."""
    experiment = tiny(tmp_path, trials=1, epochs=1)
    logdir = tmp_path / "logs"
    (logdir / "tiny").mkdir(parents=True)
    (logdir / "tiny" / "kreg.lock").write_text("123\n")
    (logdir / "tiny" / ".tmp-0123456789ab-search.json").write_text('{"made_by"')
    assert search(experiment, logdir) == 0
    assert "starting tiny" in capsys.readouterr().out
    assert not list((logdir / "tiny").glob(".tmp-*"))
    (logdir / "other").mkdir()
    (logdir / "other" / ".tmp-0123456789ab-notes.txt").write_text("mine")  # not a marker's: not kreg's
    other = tmp_path / "other.toml"
    other.write_text(TINY.format(trials=1, epochs=1).replace('name = "tiny"', 'name = "other"'))
    assert search(other, logdir) == 2
    assert "was not made by kreg search" in capsys.readouterr().err


def test_a_search_whose_trials_all_fail_stops_after_three_naming_the_first(tmp_path, capsys):
    """It used to train its whole budget (`max_consecutive_failed_trials` was a million)."""
    path = tmp_path / "explode.toml"
    path.write_text(TINY.format(trials=6, epochs=2).replace('hidden = [32]', 'hidden = [32]\nlearning_rate = 1e30'))
    assert cli.main(["search", str(path), "--logdir", str(tmp_path / "logs")]) == 3
    err = capsys.readouterr().err
    stopped = err[err.index("kreg: the search stopped"):]
    assert "The first, trial 0, failed with" in stopped and "became" in stopped
    trials = sorted(p.name for p in (tmp_path / "logs" / "tiny" / "tuner" / "search").glob("trial_*"))
    assert trials == ["trial_0", "trial_1", "trial_2"]


def test_a_full_disk_inside_h5py_exits_2_without_a_traceback_and_resumes(tmp_path):
    """A real full disk (a 2 MB tmpfs): h5py's checkpoint write failed, then its file, left open, crashed the
    interpreter at exit (exit 139, after h5py's `OSError` tracebacks)."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("no small tmpfs can be mounted here (needs root)")
    experiment = tmp_path / "full.toml"
    experiment.write_text(TINY.format(trials=3, epochs=2).replace("hidden = [32]", "hidden = [256, 256]"))
    try:
        result = subprocess.run(subprocess_command(experiment, small / "logs"), env=ENV, capture_output=True,
                                text=True, timeout=300)
        shutil.copytree(small / "logs", tmp_path / "logs", symlinks=True)  # the same folder, on a disk with room
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "No space left on the device" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert search(experiment, tmp_path / "logs") == 0


def test_ctrl_c_stops_a_chief_that_is_serving(tmp_path):
    experiment, logdir, port = tiny(tmp_path, trials=3, epochs=4), tmp_path / "logs", free_port("127.0.0.2")
    (chief,) = across_hosts(experiment, logdir, port, "chief")  # no worker: it serves, and would wait
    try:
        deadline = time.time() + 120
        while not (logdir / "tiny" / "heartbeats" / "chief.json").exists():
            assert time.time() < deadline and chief.poll() is None, "the chief never beat"
            time.sleep(0.1)
        time.sleep(1)
        chief.send_signal(signal.SIGINT)
        _, err = chief.communicate(timeout=30)
    finally:
        chief.kill()
    assert chief.returncode == 130 and "interrupted" in err, err[-2000:]


def decisions(project):
    """`{trial: (objective by epoch, pruned)}` as each trial.json records them."""
    out = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        record = json.loads(path.read_text())
        metrics = record["metrics"]["metrics"]
        by_epoch = [o["value"][0] for o in metrics["val_accuracy_by_epoch"]["observations"]]
        out[path.parent.name] = (record["status"], by_epoch, metrics["pruned"]["observations"][-1]["value"][0])
    return out


def test_successive_halving_prunes_alike_after_a_kill_and_a_resume(tmp_path):
    """`kill -9` after trial 2 finished, then a resume: every trial stops where the uninterrupted search stopped it
    (the finished trials' objectives by epoch are read back from their trial.json)."""
    experiment = tiny(tmp_path, trials=6, epochs=4)
    text = open(experiment).read().replace("[search]", '[search]\npruning = "asha"\nmin_resource = 1\n'
                                                      "reduction_factor = 2\nmin_trials = 1")
    open(experiment, "w").write(text)
    assert search(experiment, tmp_path / "once") == 0
    once = decisions(tmp_path / "once" / "tiny" / "tuner" / "search")
    assert sorted(once) == [f"trial_{i}" for i in range(6)] and {s for s, _, _ in once.values()} == {"COMPLETED"}
    assert {p for _, _, p in once.values()} == {0.0, 1.0}  # some trials pruned, some not
    assert all(len(e) in (1, 2, 4) for _, e, _ in once.values())  # stopped at a rung (1, 2) or finished (4)
    assert once["trial_5"][2] == 1.0  # a trial after the kill is pruned: against the trials before it
    logdir = tmp_path / "killed"
    project = logdir / "tiny" / "tuner" / "search"
    process = go(warm(experiment, logdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.time() + 300
    while trial_states(project).get("trial_2", ("",))[0] != "COMPLETED" and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdin.close()
    assert len(trial_states(project)) < 6  # killed mid-search
    assert search(experiment, logdir) == 0  # resumes
    assert decisions(project) == once
