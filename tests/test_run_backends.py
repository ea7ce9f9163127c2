"""`kreg search` end to end, resume included, on whichever backend runs the suite (both passes run it)."""

import json
import os
import subprocess
import sys

import pytest

from kreg import _events
from kreg import cli

TINY = """
name = "tiny"
[data]
train_size = 120
validation_size = 60
[model]
hidden = [16]
[search]
max_trials = {trials}
epochs = 2
[space.regularizer]
choices = ["none", "l2"]
num_examples = true
l2 = [1.0, 10.0]
[space.dropout]
rate = [0.0, 0.5]
[confirm]
seeds = 2
"""


def test_search_then_resume_on_this_backend(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=1))
    logdir = str(tmp_path / "logs")
    assert cli.main(["search", str(path), "--logdir", logdir]) == 0
    first = json.loads((tmp_path / "logs" / "tiny" / "result.json").read_text())
    path.write_text(TINY.format(trials=2))  # a higher budget: the one change a resume accepts
    assert cli.main(["search", str(path), "--logdir", logdir]) == 0
    out = capsys.readouterr().out
    assert "resuming tiny" in out and "trial 1 (2 of 2)" in out and "trial 0 (1 of" not in out.split("resuming")[1]
    second = json.loads((tmp_path / "logs" / "tiny" / "result.json").read_text())
    columns = second["confirmation"]["columns"]
    assert columns["early_stopping"] == first["confirmation"]["columns"]["early_stopping"]  # read back, not redone
    assert all(len(c["test_accuracy"]) == 2 for c in columns.values())


# Runs the `kreg` command with TensorFlow unimportable, as on a JAX or PyTorch install without it.
WITHOUT_TENSORFLOW = """
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTensorFlow())
import kreg_cli
code = kreg_cli.main(sys.argv[1:])
assert "tensorflow" not in sys.modules
sys.exit(code)
"""


@pytest.mark.one_backend  # its own process, on JAX, in the TensorFlow pass (the others run without TensorFlow)
def test_a_search_needs_no_tensorflow(tmp_path):
    pytest.importorskip("jax")
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=2))
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    outputs = []
    for command in (["search", str(path), "--logdir", str(tmp_path)], ["report", str(tmp_path / "tiny")]):
        done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *command], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout)
    assert "Confirmed over 2 fresh seeds" in outputs[0] and "wrote " in outputs[1]
    # Keras's scalars, written by kreg's TensorBoard callback: each epoch of each trial, and the baseline's.
    for run in (tmp_path / "tiny" / "tensorboard" / "0" / "execution0", tmp_path / "tiny" / "tensorboard" / "baseline"):
        for part, tags in (("train", {"epoch_accuracy", "epoch_loss", "epoch_learning_rate"}),
                           ("validation", {"epoch_accuracy", "epoch_loss", "evaluation_loss_vs_iterations"})):
            steps = {}
            for event in (e for f in sorted((run / part).iterdir()) for e in _events.read(f)):
                for value in event.summary.value:
                    steps.setdefault(value.tag, []).append(event.step)
            assert tags <= set(steps) and steps["epoch_loss"] == [0, 1], (run, part, sorted(steps))
    assert (tmp_path / "tiny" / "curves.png").stat().st_size > 1000


def test_a_backend_that_is_not_installed_is_one_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path / "keras")  # no keras.json of the user's: Keras's default, TensorFlow
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, "search", "digits", "--logdir",
                           str(tmp_path / "logs")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "kreg: error: Keras's backend (~/.keras/keras.json's, or Keras's default, tensorflow) needs tensorflow, " \
           "which is not installed here" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "logs").exists()
