"""`kreg search` end to end, resume included, on whichever backend runs the suite (both passes run it)."""

import json

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
