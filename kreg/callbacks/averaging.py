"""Weight averaging: an exponential moving average of the weights, and stochastic weight averaging (SWA).

Both evaluate, checkpoint and end `fit` with averaged weights, not the last
step's. The math is in pure functions (`ema_decay`, `ema_update`,
`swa_update`, `bn_momentum`); the callbacks put the averaged weights in the
model at the right moments:

- after each epoch's training steps and before its validation, the averaged
  weights go into the model (its raw weights are kept aside), so the epoch's
  `val_*` metrics, early stopping, Keras Tuner's best-epoch checkpoint and
  every other callback's `on_epoch_end` see the averaged model;
- at the next epoch's start the raw weights come back and training goes on
  from them (the average is never trained);
- when `fit` ends, the model holds the averaged weights: `model.save(...)`
  saves them and `keras.saving.load_model` gives them back.

EMA (Polyak averaging with an exponential window) runs inside the compiled
train step: `use_ema` turns on Keras's own EMA of the optimizer
(`use_ema=True`, correct on every backend since it is an optimizer variable
updated in the step) and replaces its constant momentum by timm's decay
warm-up (`ModelEmaV3(use_warmup=True)`):

    decay_t = min(decay, 1 - (1 + t / gamma) ** -power)     t = updates before this one
    ema     <- decay_t * ema + (1 - decay_t) * w

so the first update copies the weights (`decay_0 = 0`) and early averages
forget the random initialization quickly; Keras's own EMA has no warm-up
(its first step copies, every later one uses `decay`). Only trainable
variables are averaged (Keras's choice); BatchNormalization's moving
statistics stay the model's own (a moving average already).

SWA (Izmailov et al. 2018) is the equal average of the weights at the end of
each epoch from `start_epoch` on, `w_swa <- w_swa + (w - w_swa) / (n + 1)`
with `n` the models averaged so far, typically under a constant (or cyclic)
learning rate, which kreg's hypermodels use (Adam at a fixed rate). A model
with BatchNormalization gets its moving statistics re-estimated for the
averaged weights, as the paper does: one pass in training mode over the
training data with each BatchNormalization's momentum set to
`n / (n + b)` before a batch of `b` examples (`n` seen before it), so its
moving mean ends as the mean over the whole training set and its moving
variance as the batch-size-weighted mean of the batch variances.

References:
    Polyak, Juditsky. Acceleration of stochastic approximation by averaging.
    SIAM J. Control Optim. 1992.
    Izmailov, Podoprikhin, Garipov, Vetrov, Wilson. Averaging weights leads to
    wider optima and better generalization. UAI 2018.
    timm, `timm/utils/model_ema.py`, `ModelEmaV3.get_decay` (decay warm-up
    after K. Crowson).
"""

import math
import types

import keras
import numpy as np
from keras import ops

from kreg import _validation as v
from kreg import _walk
from kreg.callbacks._base import Callback


def ema_decay(step, decay, *, warmup_power=0.75, warmup_gamma=1.0):
    """The EMA decay of update number `step` (0 for the first): `min(decay, 1 - (1 + step / gamma) ** -power)`.

    timm's `ModelEmaV3.get_decay` with `use_warmup=True` and its `step` the
    1-based update count (`t = step - 1` there). `step` may be a tensor (the
    optimizer's `iterations` inside the train step).

    Examples:
        >>> [round(float(ema_decay(t, 0.99)), 4) for t in (0, 1, 10, 100, 10000)]
        [0.0, 0.4054, 0.8344, 0.9686, 0.99]
    """
    t = ops.cast(step, "float32")
    return ops.minimum(ops.cast(decay, "float32"), 1.0 - ops.power(1.0 + t / warmup_gamma, -warmup_power))


def ema_update(average, weight, decay):
    """One EMA step: `decay * average + (1 - decay) * weight`."""
    return decay * average + (1 - decay) * weight


def swa_update(average, weight, count):
    """The equal average after one more model: `average + (weight - average) / (count + 1)`, `count` averaged so far.

    >>> float(swa_update(swa_update(np.float64(1.0), 2.0, 1), 6.0, 2))  # the mean of 1, 2, 6
    3.0
    """
    return average + (weight - average) / (count + 1)


def bn_momentum(seen, batch):
    """Keras's BatchNormalization momentum that makes its moving statistic a cumulative average: `seen / (seen + batch)`.

    Keras updates `moving = momentum * moving + (1 - momentum) * batch_statistic`;
    with this momentum, `moving` after the batches is the mean of their
    statistics weighted by batch size (PyTorch's `momentum = b / (n + b)` in
    Izmailov's `bn_update`, in Keras's convention).

    >>> bn_momentum(0, 32), bn_momentum(96, 32)
    (0.0, 0.75)
    """
    return seen / (seen + batch)


def swa_start_epoch(fraction, epochs):
    """The first epoch (counted from 1, as Keras prints it) that SWA averages: the epochs after `fraction` of `epochs`.

    `floor(fraction * epochs) + 1`, so at least the last epoch is averaged for `fraction < 1`.

    >>> swa_start_epoch(0.75, 20), swa_start_epoch(0.75, 2), swa_start_epoch(0.0, 5)
    (16, 2, 1)
    """
    return math.floor(fraction * epochs) + 1


def _ema_target(optimizer):
    """The optimizer that updates the weights (kreg's `ProximalL1` and Keras's `LossScaleOptimizer` wrap one)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def use_ema(optimizer, decay=0.999, *, warmup_power=0.75, warmup_gamma=1.0):
    """Turns on Keras's EMA of the weights in `optimizer`, with timm's decay warm-up (`ema_decay`); returns it.

    Call it before the optimizer is built (before `fit`), then train with the
    `ExponentialMovingAverage` callback. The optimizer keeps Keras's
    `use_ema=True` and `ema_momentum=decay` in its config, so a saved model
    reloads with Keras's EMA, without the warm-up (which only matters in the
    first steps). Under kreg's `ProximalL1` the average is taken in the
    wrapped optimizer's step, before the soft-thresholding.

    Args:
        optimizer: a `keras.optimizers.Optimizer`, not built yet (it is changed in place).
        decay: the largest decay, a float in [0, 1); default 0.999.
        warmup_power: timm's `warmup_power`, a float > 0; default 3/4 (timm's advice for shorter training; its
            default 2/3 suits a million steps).
        warmup_gamma: timm's `warmup_gamma`, a float > 0; default 1.

    Example:
        >>> optimizer = use_ema(keras.optimizers.Adam(1e-3), 0.99)
        >>> optimizer.use_ema, optimizer.ema_momentum
        (True, 0.99)
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise v.invalid("use_ema", "optimizer", "a keras.optimizers.Optimizer", optimizer)
    decay = v.fraction("use_ema", "decay", decay, include_high=False)
    power = v.positive_float("use_ema", "warmup_power", warmup_power)
    gamma = v.positive_float("use_ema", "warmup_gamma", warmup_gamma)
    target = _ema_target(optimizer)
    if target.built:
        raise ValueError(f"use_ema needs an optimizer that is not built yet (its averages are made when it is "
                         f"built): call it before fit. Received: optimizer={optimizer!r}, already built")
    target.use_ema, target.ema_momentum, target.ema_overwrite_frequency = True, decay, None

    # Keras 3.15.1: every backend's train step calls `_update_model_variables_moving_average(variables)`, which
    # updates `_model_variables_moving_average` with the constant `ema_momentum`; this one uses `ema_decay`.
    def update(self, trainable_variables):
        decay_t = ema_decay(self.iterations, self.ema_momentum, warmup_power=power, warmup_gamma=gamma)
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                average.assign(ema_update(average, variable, ops.cast(decay_t, variable.dtype)))

    target._update_model_variables_moving_average = types.MethodType(update, target)
    return optimizer


class _Averaging(Callback):
    """Puts averaged weights in the model after each epoch's training (before validation) until the next epoch.

    A subclass gives `_averaged(epoch)`: the averaged trainable weights (NumPy
    arrays, in `model.trainable_weights` order), or None to keep the raw ones.
    """

    _transient = Callback._transient + ("_raw", "_done", "_fitting", "_epoch")

    def on_train_begin(self, logs=None):
        self._raw, self._done, self._fitting, self._epoch = None, None, True, 0

    def on_train_end(self, logs=None):
        self._raw, self._fitting = None, False  # the model keeps the averaged weights

    def on_epoch_begin(self, epoch, logs=None):
        if self._raw is not None:
            self.model.set_weights(self._raw)  # training goes on from the raw weights
            self._raw = None
        self._epoch = epoch

    def on_test_begin(self, logs=None):
        if self._fitting:  # the validation inside fit, after the epoch's training steps
            self._swap_in(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._swap_in(epoch)  # without validation, or where it did not run this epoch

    def _swap_in(self, epoch):
        if self._done == epoch:
            return
        self._done = epoch
        raw = self.model.get_weights()
        averaged = self._averaged(epoch)
        if averaged is None:
            return
        for variable, value in zip(self.model.trainable_weights, averaged):
            variable.assign(value)
        self._after_swap()
        self._raw = raw

    def _after_swap(self):
        pass


class ExponentialMovingAverage(_Averaging):
    """Validates, checkpoints and ends `fit` with the optimizer's EMA of the weights (see `use_ema`).

    The average is Keras's optimizer EMA (`use_ema=True`), kept in the compiled
    train step; this callback only moves it into the model after each epoch's
    training and the raw weights back at the next epoch's start, and leaves
    the average in the model when `fit` ends (Keras's `finalize_variable_values`
    writes it there too). Put it first among the callbacks, so that the others'
    `on_epoch_end` see the averaged weights.

    Keras's `SwapEMAWeights(swap_on_epoch=True)` does the swapping in place
    (the raw weights go into the optimizer's averages) and undoes it only at
    the budget's last epoch: a fit that stops earlier (early stopping,
    pruning) ends with `finalize_variable_values` writing the raw weights
    into the model. This callback keeps the raw weights apart instead.

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> model.compile(use_ema(keras.optimizers.SGD(0.1), 0.9), "mse")
        >>> x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
        >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[ExponentialMovingAverage()])
    """

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        target = _ema_target(self.model.optimizer)
        if not getattr(target, "use_ema", False):
            raise ValueError(f"ExponentialMovingAverage uses the optimizer's EMA of the weights: compile model "
                             f"{self.model.name!r} with kreg.callbacks.averaging.use_ema(optimizer, decay). "
                             f"Received: optimizer {type(target).__name__} with use_ema=False")

    def _averaged(self, epoch):
        target = _ema_target(self.model.optimizer)
        averages = {id(var): avg for var, avg in zip(target._trainable_variables,
                                                     target._model_variables_moving_average)}
        return [ops.convert_to_numpy(averages[id(w)]) if id(w) in averages else ops.convert_to_numpy(w)
                for w in self.model.trainable_weights]


def _batches(data, batch_size):
    """The inputs `x` of each batch of `data`: arrays (or a structure of them) cut into `batch_size`, or a dataset's."""
    if isinstance(data, keras.utils.PyDataset):
        items = (data[i] for i in range(len(data)))
    elif hasattr(data, "as_numpy_iterator"):  # a tf.data.Dataset
        items = data.as_numpy_iterator()
    else:
        n = len(keras.tree.flatten(data)[0])
        for start in range(0, n, batch_size):
            yield keras.tree.map_structure(lambda a: a[start:start + batch_size], data)
        return
    for item in items:
        yield item[0] if isinstance(item, tuple) else item


def reestimate_batch_norm(model, data, batch_size=32):
    """Recomputes every BatchNormalization's moving statistics from one pass over `data` (Izmailov et al. 2018).

    Each batch runs through `model` in training mode with the layers' momentum
    at `bn_momentum(seen, batch)`: the moving mean ends as the mean of the
    batch means weighted by batch size (the mean over `data`), the moving
    variance likewise of the batch variances. The momenta are restored after.
    Does nothing for a model without BatchNormalization.

    Args:
        model: a built Keras model.
        data: its training inputs: an array (or a list or dict of arrays), or
            a dataset of batches (`tf.data.Dataset`, `keras.utils.PyDataset`)
            whose items are `(x, y, ...)` or `x`.
        batch_size: the batch size for arrays (that of training: the batch
            statistics depend on it).
    """
    layers = _walk.layers(model, keras.layers.BatchNormalization)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    seen = 0
    try:
        for x in _batches(data, batch_size):
            batch = int(keras.tree.flatten(x)[0].shape[0])
            for layer in layers:
                layer.momentum = bn_momentum(seen, batch)
            model(x, training=True)
            seen += batch
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


class StochasticWeightAveraging(_Averaging):
    """Stochastic weight averaging: validates, checkpoints and ends `fit` with the equal average of the epochs' weights.

    At the end of each epoch from `start_epoch` on (counted from 1, as Keras
    prints "Epoch 3/10"), the trainable weights enter the running average
    `w_swa <- w_swa + (w - w_swa) / (n + 1)` (`swa_update`); the average
    goes into the model before the epoch's validation, with BatchNormalization
    statistics re-estimated for it (`reestimate_batch_norm`), and training
    goes on from the raw weights. Before `start_epoch` the model is
    validated as it is. Put it first among the callbacks.

    Why the training data is an argument: a Keras callback never sees what
    `fit` got (its `params` are the epochs, steps and verbosity), and reading
    it from Keras's trainer would depend on its internals; so the callback
    takes the data, and kreg's hypermodels pass their `fit`'s `x` and
    `batch_size` themselves, so a search and its confirmation need nothing.
    A model with BatchNormalization and no `data` is a ValueError when `fit`
    begins (its statistics would belong to the raw weights).

    Args:
        start_epoch: the first epoch averaged, an int >= 1; default 1.
        data: the training inputs, for BatchNormalization (see
            `reestimate_batch_norm`), or None for a model without it.
        batch_size: the batch size of that pass over arrays (that of `fit`); default 32.

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
        >>> _ = model.fit(x, y, epochs=3, verbose=0, callbacks=[StochasticWeightAveraging(start_epoch=2, data=x)])
    """

    _transient = _Averaging._transient + ("_average", "_count")

    def __init__(self, start_epoch=1, *, data=None, batch_size=32):
        super().__init__()
        self.start_epoch = v.positive_int("StochasticWeightAveraging", "start_epoch", start_epoch)
        self.data = data
        self.batch_size = v.positive_int("StochasticWeightAveraging", "batch_size", batch_size)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._average, self._count = None, 0
        if self.data is None and _walk.layers(self.model, keras.layers.BatchNormalization):
            raise ValueError(f"StochasticWeightAveraging re-estimates BatchNormalization statistics for the "
                             f"averaged weights from the training data: model {self.model.name!r} has "
                             f"BatchNormalization, give the callback data=x_train. Received: data=None")

    def _averaged(self, epoch):
        if epoch + 1 < self.start_epoch:
            return None
        weights = [ops.convert_to_numpy(w) for w in self.model.trainable_weights]
        if self._average is None:
            self._average = weights
        else:
            self._average = [swa_update(a, w, self._count) for a, w in zip(self._average, weights)]
        self._count += 1
        return self._average

    def _after_swap(self):
        if self.data is not None:
            reestimate_batch_norm(self.model, self.data, self.batch_size)
