"""Keras's `TensorBoard` callback at the epoch level, written without TensorFlow."""

import os

import keras

from kreg import _compat
from kreg import _events
from kreg.callbacks._base import epoch_scalars
from kreg.callbacks._base import write_scalars


class TensorBoard(keras.callbacks.TensorBoard):
    """The scalars Keras's `TensorBoard` writes by default (`write_graph=False`), written without TensorFlow.

    Keras's callback writes through `tf.summary`, so on a JAX or PyTorch
    install without TensorFlow every `fit` given one fails. This one writes the
    same runs and tags as Keras's with its default arguments, less the graph: under
    `log_dir/train`, `epoch_METRIC` for each training metric and
    `epoch_learning_rate`, at step `epoch`; under `log_dir/validation`,
    `epoch_METRIC` for each validation metric (`val_` removed) and
    `evaluation_METRIC_vs_iterations` at the optimizer's iteration count. It
    writes no graph, histograms, images, embeddings or profiles (Keras's
    callback, with TensorFlow, does). It is a `keras.callbacks.TensorBoard`, so
    Keras Tuner and kreg's tuners move it into each trial's folder, and kreg's
    callbacks that take `tensorboard=` write beside it.

    Args:
        log_dir: the run's folder.

    Examples:
        >>> import keras, numpy as np, os, tempfile
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> folder = tempfile.mkdtemp()
        >>> _ = model.fit(np.ones((4, 2)), np.ones(4), epochs=2, verbose=0, callbacks=[TensorBoard(folder)])
        >>> sorted(os.listdir(folder))
        ['train']
    """

    def __init__(self, log_dir="logs"):
        super().__init__(log_dir, write_graph=False)
        self._runs = {}  # "train" / "validation" -> its writer, made on its first scalar (as Keras's)
        self._training = False

    def __deepcopy__(self, memo):  # Keras Tuner copies callbacks for each trial: no writer is shared
        return _compat.copy_tensorboard(self, memo, _runs={}, _training=False)

    def set_model(self, model):
        self._model = model

    def _write(self, run, step, values):
        if run not in self._runs:
            self._runs[run] = _events.Writer(os.path.join(self.log_dir, run))
        write_scalars(self._runs[run], step, values)

    def _close(self):
        for writer in self._runs.values():
            writer.close()
        self._runs = {}

    def on_train_begin(self, logs=None):
        self._close()  # a fit that raised left its writers open: this one writes new files (as Keras's)
        self._training = True

    def on_train_end(self, logs=None):
        self._training = False
        self._close()

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        optimizer = self.model.optimizer
        if logs and optimizer is not None and hasattr(optimizer, "iterations"):
            step = int(keras.ops.convert_to_numpy(optimizer.iterations))
            self._write("validation", step, {f"evaluation_{name}_vs_iterations": value for name, value in logs.items()})
        if not self._training:  # `evaluate` outside `fit`
            self._close()

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train, validation = epoch_scalars(self._collect_learning_rate(logs))
        for run, values in (("train", train), ("validation", validation)):
            if values:
                self._write(run, epoch, values)

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass
