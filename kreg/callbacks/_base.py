"""What kreg's callbacks share: deep copies without the model, and TensorBoard writers."""

import copy
import os

import keras
import tensorflow as tf

from kreg import _validation as v


class Callback(keras.callbacks.Callback):
    """A callback that survives `copy.deepcopy` (Keras Tuner copies callbacks for each trial).

    The copy shares no model and no open file: attributes named in `_transient`
    start empty (None) in the copy; the rest is copied (through `memo`, so a
    reference to another callback of the same list follows that callback's copy).
    """

    _transient = ("_model", "_writers", "_weights_summary")

    def __deepcopy__(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, None if key in self._transient else copy.deepcopy(value, memo))
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


class Writers:
    """TensorBoard writers for the run's `train` and `validation` subdirectories.

    The root is `log_dir`, or the `tensorboard` callback's `log_dir` read when
    training begins (so a tuner that moves that callback to a per-trial directory
    moves these writers with it). Events land beside Keras's own, one run each.
    """

    def __init__(self, log_dir, tensorboard):
        root = str(tensorboard.log_dir if tensorboard is not None else log_dir)
        self.train = tf.summary.create_file_writer(os.path.join(root, "train"))
        self.validation = tf.summary.create_file_writer(os.path.join(root, "validation"))
        self._functions = {}

    def scalars(self, writer, step, values):
        """Writes `{tag: value}` to `writer` at `step` in one call.

        One eager `tf.summary.scalar` costs ~0.5 ms; a traced function writing
        all the tags at once costs about as much as one, so a monitor writing
        dozens of scalars per epoch stays cheap.
        """
        tags = tuple(values)
        key = (id(writer), tags)
        if key not in self._functions:

            @tf.function
            def write(numbers, step):
                with writer.as_default(step=step):
                    for i, tag in enumerate(tags):
                        tf.summary.scalar(tag, numbers[i])

            self._functions[key] = write
        self._functions[key](tf.constant([float(values[t]) for t in tags]), tf.constant(step, tf.int64))

    def close(self):
        self.train.close()
        self.validation.close()
