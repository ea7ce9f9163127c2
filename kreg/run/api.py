"""`kreg.search`: what `kreg search` does, from Python, on an experiment file or on settings and your own functions.

The command and this function are the same pipeline (`kreg.run.plan.make`,
then `kreg.run.search.run`): the same checks before anything is written, the
same folder, lock, resume, confirmation and `result.json`.
"""

import dataclasses
import json
import os

from kreg.run import plan
from kreg.run import report
from kreg.run import search as searching


class SearchFailed(RuntimeError):
    """Every trial failed, or too many in a row: their messages are in the experiment's folder."""


@dataclasses.dataclass(frozen=True)
class Result:
    """A finished search: its folder and what `result.json` holds."""

    directory: str
    record: dict

    @property
    def best_hyperparameters(self):
        return self.record["hyperparameters"]

    @property
    def confirmation(self):
        return self.record["confirmation"]

    def summary(self):
        """The confirmation's lines, as `kreg search` prints them."""
        return "\n".join(report.summary(self.confirmation))


def search(experiment, *, build=None, load=None, logdir="logs", resume=False, overwrite=False, max_trials=None,
           epochs=None, seed=None, deterministic=None, confirm=None):
    """Searches an experiment's regularization, confirms the winner over seeds and returns the result.

    Args:
        experiment: an experiment file's path or a shipped example's name (as
            `kreg search` takes), or a dict of the same tables (`{"name": ...,
            "data": {...}, "model": {...}, "search": {...}, "space": {...}}`).
        build: with a dict, your Keras Tuner build function `hp ->
            keras.Model`, compiled (in place of `[model] builder`).
        load: with a dict, your data loader `(seed) -> (train, validation,
            test)` (in place of `[data] loader`): each split `(x, y)`, a
            `tf.data.Dataset` or a `keras.utils.PyDataset`.
        logdir: the folder of experiment folders (`LOGDIR/NAME`).
        resume: as `kreg search --resume`.
        overwrite: as `kreg search --overwrite`.
        max_trials: as `--max-trials` (None keeps the experiment's value).
        epochs: as `--epochs` (None keeps the experiment's value).
        seed: as `--seed` (None keeps the experiment's value).
        deterministic: as `--deterministic` (None keeps the experiment's value).
        confirm: as `--confirm`, the confirmation's seeds (None keeps the
            experiment's value).

    Returns:
        A `Result`.

    Raises:
        ValueError: a bad experiment, function or folder, before anything is
            written or trained (`kreg search` exits with 2).
        SearchFailed: the trials failed (`kreg search` exits with 3).
        KeyboardInterrupt: interrupted; every finished trial is kept.
    """
    if isinstance(experiment, (str, os.PathLike)):
        from kreg_startup import find

        experiment = find(os.fspath(experiment))
    made = plan.make(experiment, logdir=logdir, resume=resume, overwrite=overwrite, build=build, load=load,
                     max_trials=max_trials, epochs=epochs, seed=seed, deterministic=deterministic, confirm=confirm)
    code = searching.run(made)
    if code == searching.INTERRUPTED:
        raise KeyboardInterrupt
    if code == searching.ALL_FAILED:
        raise SearchFailed(f"the search of {made.name} stopped: its trials failed; their messages are in "
                           f"{os.path.join(made.directory, 'tuner', 'search')}")
    with open(os.path.join(made.directory, "result.json")) as f:
        return Result(made.directory, json.load(f))
