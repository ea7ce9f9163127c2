"""Regularization's Custom Scalars page (`kreg/callbacks/_layout.py`), as TensorBoard serves it over HTTP."""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from tensorboard.plugins.custom_scalar import layout_pb2

from conftest import boards
import kreg
from kreg import tuning
from kreg.callbacks import _layout
from test_callbacks import X, Y, regularized_model
from test_tuning_dashboard import Board
from test_tuning_dashboard import board_at  # noqa: F401  (a fixture)


def get(board, route, **query):
    """A GET of the custom_scalars plugin's `route` (its routes: `/layout`, `/scalars`, `/download_data`)."""
    return board.get(f"plugin/custom_scalars/{route}", **query)


def served(board, runs, deadline=60):
    """`(layout, {run: [scalar tags]})` once TensorBoard serves a layout and `runs` runs of scalars."""
    def ready():
        layout = get(board, "layout")
        tags = {run: sorted(tags) for run, tags in board.get("plugin/scalars/tags").items()}
        return (layout, tags) if layout and len(tags) >= runs else None

    return board.until(ready, f"a layout and {runs} runs", deadline)


def charts(layout):
    return {chart["title"]: chart["multiline"]["tag"] for category in layout["category"]
            for chart in category["chart"]}



def test_the_layout_is_written_without_tensorflow_once_in_the_pages_order(tmp_path):
    code = ("import sys; from kreg.callbacks import _layout; _layout.write(sys.argv[1], _layout.FIT); "
            "_layout.write(sys.argv[1], _layout.MONITOR); sys.exit('tensorflow' in sys.modules)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120,
                   env={**os.environ, "KERAS_BACKEND": "jax"})  # Keras's TensorFlow backend would load it
    layout = _layout.read(tmp_path)
    assert [c.title for c in layout.category] == [c.title for c in _layout.CATEGORIES]  # not in the order written
    before = os.stat(tmp_path / _layout.FILE)
    _layout.write(tmp_path, _layout.MONITOR)  # nothing new: the file is left as it is
    assert os.stat(tmp_path / _layout.FILE).st_mtime_ns == before.st_mtime_ns
    assert len(os.listdir(tmp_path)) == 1


@pytest.mark.one_backend
def test_tensorboard_serves_one_page_whose_charts_match_the_runs_tags(tmp_path, board_at):
    board = boards()[0](str(tmp_path / "run"))
    diagnosis = kreg.callbacks.FitDiagnosis(tensorboard=board)
    for _ in range(2):  # a second fit into the same folder writes no second layout
        regularized_model().fit(X, Y, batch_size=32, epochs=3, validation_data=(X[:32], Y[:32]), verbose=0,
                                callbacks=[kreg.callbacks.RegularizationMonitor(tensorboard=board), diagnosis, board])
    assert [f for f in os.listdir(tmp_path / "run" / "train") if "custom-scalars" in f] == [_layout.FILE]
    tensorboard = board_at(tmp_path)
    layout, tags = served(tensorboard, 2)
    assert [c["title"] for c in layout["category"]] == [c.title for c in _layout.CATEGORIES]
    drawn = charts(layout)
    assert len(drawn) == sum(len(c.chart) for c in _layout.CATEGORIES)  # no chart twice
    # Each chart draws real tags, fetched as the page fetches them: one request per run and regex.
    lines = {}
    for title, regexes in drawn.items():
        for run in tags:
            for regex in regexes:
                answer = get(tensorboard, "scalars", run=run, tag=regex)
                assert answer["regex_valid"], regex
                lines.setdefault(title, set()).update((run, tag) for tag in answer["tag_to_events"])
                assert sorted(answer["tag_to_events"]) == sorted(t for t in tags[run] if re.match(regex, t))
    assert all(lines.values()), [title for title, found in lines.items() if not found]
    breakdown = lines["Data loss, penalty and their sum, the loss (training and validation)"]
    assert breakdown == {(run, f"epoch_{name}") for run in ("run/train", "run/validation")
                         for name in ("loss", "data_loss", "penalty")}
    limit = lines["Largest unit norm against its max-norm limit"]  # the limit beside the norm it bounds
    assert {tag.rsplit("/", 1)[1] for _, tag in limit} == {"max_unit_norm", "max_norm_limit"}
    errors = lines["Error on training and validation data"]
    assert errors == {("run/train", "epoch_train_error"), ("run/validation", "epoch_error")}
    penalty = get(tensorboard, "scalars", run="run/train", tag="^epoch_penalty$")["tag_to_events"]["epoch_penalty"]
    assert [point[1] for point in penalty] == [0, 1, 2, 0, 1, 2]  # two fits, each epoch once


@pytest.mark.one_backend
def test_a_search_folder_opens_on_one_merged_page(tmp_path, board_at):
    hypermodel = tuning.RegularizedMLP(10, (8,), hidden=(8,), regularizer=tuning.RegularizerSpace(["l2"]),
                                       dropout=None, max_norm=None, schedule=None)
    tuner = tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=0,
                                directory=str(tmp_path / "tuner"), project_name="p")
    board = kreg.callbacks.TensorBoard(str(tmp_path / "logs"))
    # A user's own monitor writes its copy of the page in each execution; the search writes one at its root.
    tuner.search(X, Y, validation_data=(X[:32], Y[:32]), epochs=2, verbose=0,
                 callbacks=[kreg.callbacks.RegularizationMonitor(tensorboard=board), board])
    assert _layout.read(tmp_path / "logs") == layout_pb2.Layout(category=_layout.MONITOR)
    assert len(list((tmp_path / "logs").rglob(_layout.FILE))) == 1 + 2  # the root's, and one per execution
    layout, tags = served(board_at(tmp_path / "logs"), 4)
    assert [c["title"] for c in layout["category"]] == [c.title for c in _layout.MONITOR]
    assert len(charts(layout)) == sum(len(c.chart) for c in _layout.MONITOR)
    trial_runs = [run for run in tags if run.endswith("/train")]
    assert len(trial_runs) == 2 and all("epoch_penalty" in tags[run] for run in trial_runs)
