"""What kreg's callbacks share: deep copies without the model, and TensorBoard writers."""

import copy
import os

import keras

from kreg import _compat
from kreg import _events
from kreg import _validation as v


class Callback(keras.callbacks.Callback):
    """A callback that survives `copy.deepcopy` (Keras Tuner copies callbacks for each trial).

    The copy shares no model and no open file: attributes named in `_transient`
    start empty (None) in the copy; the rest is copied (through `memo`, so a
    reference to another callback of the same list follows that callback's copy).
    A `keras.callbacks.TensorBoard` it refers to is copied with its settings and
    a fresh run state, so this works after training too.
    """

    _transient = ("_model", "_writers")

    def __deepcopy__(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            if key in self._transient:
                value = None
            elif id(value) in memo:
                value = memo[id(value)]
            elif isinstance(value, keras.callbacks.TensorBoard) and not hasattr(value, "__deepcopy__"):
                value = _compat.copy_tensorboard(value, memo)  # Keras's own cannot be copied after a fit
            else:
                value = copy.deepcopy(value, memo)
            setattr(clone, key, value)
        return clone


def check_destination(owner, log_dir, tensorboard):
    """`log_dir` (a path) or `tensorboard` (a `keras.callbacks.TensorBoard`, or subclass), not both."""
    if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
        raise v.invalid(owner, "log_dir", "None or a path", log_dir)
    if tensorboard is not None and not isinstance(tensorboard, keras.callbacks.TensorBoard):
        raise v.invalid(owner, "tensorboard", "None or a keras.callbacks.TensorBoard", tensorboard)
    if log_dir is not None and tensorboard is not None:
        raise ValueError(
            f"{owner} writes to `log_dir` or to the `tensorboard` callback's directory, not both. "
            f"Received: log_dir={log_dir!r}, tensorboard={tensorboard!r}"
        )


class Beside(Callback):
    """A callback that adds entries to the epoch logs and writes beside a TensorBoard callback (or into `log_dir`).

    Keras's `TensorBoard` callback (and kreg's) writes every key of the epoch
    logs as `epoch_KEY` (`val_KEY` in the `validation` run), as it finds them
    when its own `on_epoch_end` runs: it sees what the callbacks listed before
    it added, not what those listed after it add. So that each quantity is
    logged once, under the board's tag, whatever the order, a subclass writes
    what it adds (`write_missed`) only where the board will not: the board is
    listed before it, or is not in this `fit`, or there is none (`log_dir`).

    The order comes from Keras's `CallbackList`, which calls `set_params` on
    each callback in list order with one `params` dict: when this callback's
    turn comes, the board already holds that dict if and only if it is listed
    earlier. By `on_epoch_end` every callback of the `fit` holds it, so a board
    that does not was never given to the `fit`.
    """

    _board_before = False

    def set_params(self, params):
        super().set_params(params)
        self._board_before = self.tensorboard is not None and self.tensorboard.params is params

    def _board_in_fit(self):
        return self.tensorboard is not None and self.params is not None and self.tensorboard.params is self.params

    def board_writes_logs(self):
        """Whether the `tensorboard` callback, listed after this one, writes the entries this one adds to the logs."""
        return self._board_in_fit() and not self._board_before

    def board_wrote_logs(self):
        """Whether the `tensorboard` callback, listed before this one, has written this epoch's logs already."""
        return self._board_in_fit() and self._board_before

    def write_missed(self, epoch, entries):
        """Writes `{KEY: value}` from the epoch logs as the board would (`epoch_KEY`), where it will not."""
        if self._writers is None or self.board_writes_logs():
            return
        train, validation = epoch_scalars(entries)
        for writer, values in ((self._writers.train, train), (self._writers.validation, validation)):
            if values:
                write_scalars(writer, epoch, values)


def epoch_scalars(logs):
    """`(train, validation)`: the epoch logs under the tags Keras's `TensorBoard` gives them (`epoch_KEY`).

    A `val_KEY` goes to the validation run as `epoch_KEY`.
    """
    train = {f"epoch_{key}": value for key, value in logs.items() if not key.startswith("val_")}
    validation = {f"epoch_{key[4:]}": value for key, value in logs.items() if key.startswith("val_")}
    return train, validation


class Writers:
    """TensorBoard writers for the run's `train` and `validation` subdirectories.

    The root is `log_dir`, or the `tensorboard` callback's `log_dir` read when
    training begins (so a tuner that moves that callback to a per-trial directory
    moves these writers with it). Events land beside Keras's own, one run each,
    written without TensorFlow (`kreg._events`).
    """

    def __init__(self, log_dir, tensorboard):
        self.root = root = str(tensorboard.log_dir if tensorboard is not None else log_dir)
        self.train = _events.Writer(os.path.join(root, "train"))
        self.validation = _events.Writer(os.path.join(root, "validation"))

    def close(self):
        self.train.close()
        self.validation.close()


def write_scalars(writer, step, values):
    """Writes `{tag: float}` to `writer` at `step` as one event, read back as ordinary scalars.

    The same records `tf.summary.scalar` writes, all in one `Summary`: one write
    per epoch instead of one per tag.
    """
    writer.write(_events.scalars(values), step)
