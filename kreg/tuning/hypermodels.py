"""Hypermodels composed from kreg's search spaces, and regularizing a user's own model builder."""

import keras
import keras_tuner as kt
import numpy as np

from kreg import _cloning
from kreg import _compat
from kreg import _validation as v
from kreg import _walk
from kreg import callbacks
from kreg import losses
from kreg import metrics
from kreg.attach import _selector as attach_selector
from kreg.attach import attach
from kreg.layers import DropBlock
from kreg.layers import DropPath
from kreg.layers import Dropout
from kreg.layers import SpatialDropout2D
from kreg.tuning.spaces import AugmentSpace
from kreg.tuning.spaces import AveragingSpace
from kreg.tuning.spaces import PENALTIES
from kreg.tuning.spaces import DropBlockSpace
from kreg.tuning.spaces import DropoutSpace
from kreg.tuning.spaces import DropPathSpace
from kreg.tuning.spaces import LabelSmoothingSpace
from kreg.tuning.spaces import MaxNormSpace
from kreg.tuning.spaces import RegularizerSpace
from kreg.tuning.spaces import ScheduleSpace
from kreg.tuning.spaces import SpatialDropoutSpace
from kreg.tuning.spaces import SpectralNormSpace


def _check_space(owner, name, value, cls):
    if value is not None and not isinstance(value, cls):
        raise v.invalid(owner, name, f"None or a kreg.tuning.{cls.__name__}", value)
    return value


def _units(owner, name, value):
    if not isinstance(value, (list, tuple)) or not value:
        raise v.invalid(owner, name, "a non-empty list of ints >= 1", value)
    return tuple(v.positive_int(owner, name, u) for u in value)


_FLOAT32_MAX = float(np.finfo("float32").max)


class _Regularized(kt.HyperModel):
    """The pieces the MLP and the CNN share: spaces, compilation, and the schedule in `fit`."""

    def __init__(self, owner, num_classes, input_shape, *, regularizer, dropout, max_norm, augment, schedule,
                 label_smoothing, spectral_norm, learning_rate, averaging=None, name=None):
        super().__init__(name=name)
        self.num_classes = v.positive_int(owner, "num_classes", num_classes)
        if not isinstance(input_shape, (list, tuple)) or not input_shape:
            raise v.invalid(owner, "input_shape", "a non-empty tuple of ints >= 1", input_shape)
        self.input_shape = _units(owner, "input_shape", input_shape)
        self.regularizer = _check_space(owner, "regularizer", regularizer, RegularizerSpace)
        self.dropout = _check_space(owner, "dropout", dropout, DropoutSpace)
        self.max_norm = _check_space(owner, "max_norm", max_norm, MaxNormSpace)
        self.augment = _check_space(owner, "augment", augment, AugmentSpace)
        self.schedule = _check_space(owner, "schedule", schedule, ScheduleSpace)
        self.label_smoothing = _check_space(owner, "label_smoothing", label_smoothing, LabelSmoothingSpace)
        self.spectral_norm = _check_space(owner, "spectral_norm", spectral_norm, SpectralNormSpace)
        self.averaging = _check_space(owner, "averaging", averaging, AveragingSpace)
        self.learning_rate = v.positive_float(owner, "learning_rate", learning_rate)
        if self.learning_rate > _FLOAT32_MAX:  # the optimizer keeps it in float32, where it would be inf
            raise v.invalid(owner, "learning_rate", f"a float in (0, {_FLOAT32_MAX:.4g}] (float32's largest)",
                            learning_rate)

    def _pieces(self, hp):
        regularizer = self.regularizer.build(hp) if self.regularizer else None
        rate, scaling = self.dropout.build(hp) if self.dropout else (0.0, "inverted")
        constraint = self.max_norm.build(hp) if self.max_norm else None
        policy = self.augment.build(hp) if self.augment else None
        if self.schedule:
            self.schedule.build(hp)
        if self.averaging:
            self.averaging.build(hp)
        return regularizer, rate, scaling, constraint, policy

    def _hidden(self, hp):
        """A function of a hidden Dense or Conv2D layer: wrapped in Keras's `SpectralNormalization` where the trial
        has it on, else the layer itself."""
        iterations = self.spectral_norm.build(hp) if self.spectral_norm else None
        if iterations is None:
            return lambda layer: layer
        return lambda layer: keras.layers.SpectralNormalization(layer, power_iterations=iterations)

    def _compile(self, model, hp):
        optimizer = keras.optimizers.Adam(self.learning_rate)
        if self.regularizer is not None:
            optimizer = self.regularizer.optimizer(hp, optimizer, model)
        if self.averaging is not None:  # last: it changes the optimizer that the others made
            optimizer = self.averaging.optimizer(hp, optimizer)
        smoothing = self.label_smoothing.build(hp) if self.label_smoothing else 0.0
        loss = losses.SparseCategoricalCrossentropy(smoothing) if smoothing else "sparse_categorical_crossentropy"
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                      weighted_metrics=[metrics.DataLoss(loss)])
        return model

    def _dropouts(self):
        """`(space, layer class)` of each dropout-family space in use; its hyperparameter is `space.rate_name`."""
        return [(self.dropout, Dropout)] if self.dropout else []

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit`, with the regularization warm-up when the trial's `schedule` is on and its weight averaging
        (`scheduled_fit`)."""
        return scheduled_fit(hp, model, self.schedule, self.regularizer, self._dropouts(), *args,
                             averaging=self.averaging, **kwargs)


def scheduled_fit(hp, model, schedule, regularizer, dropouts, *args, averaging=None, **kwargs):
    """`model.fit`, with the regularization warm-up when the trial's `schedule` (a space, or None) is on, and the
    trial's weight averaging (`averaging`, an `AveragingSpace` or None).

    The warm-up ramps each penalty's strength from 0 to the trial's and each
    dropout-family layer's rate from 0 to its space's trial rate (one
    `RegularizationSchedule` per family member: they log side by side;
    DropPath's scaled, each to its own depth's rate, the last block's logged
    as `drop_path_rate`). `dropouts` lists `(space, kreg layer class)`.

    The averaging callback goes first among the callbacks, so that every other
    one's `on_epoch_end` (early stopping, the tuner's checkpoint) sees the
    averaged weights; SWA gets this `fit`'s `x` and `batch_size` for its
    BatchNormalization pass and its `epochs` for its start.
    """
    if schedule and hp.get(schedule.on):
        def ramp(end):
            return callbacks.Schedule("linear", 0.0, end, epochs=schedule.warmup_epochs)

        schedules = []
        if regularizer is not None and hp.get(regularizer.choice) in PENALTIES:
            schedules.append(callbacks.RegularizationSchedule(penalty_scale=ramp(1.0)))
        for space, cls in dropouts:
            rate = hp.get(space.rate_name)
            if rate > 0 and cls is DropPath:  # one rate per depth
                schedules.append(callbacks.RegularizationSchedule(dropout_scale=ramp(1.0), dropout_layers=cls))
            elif rate > 0:
                schedules.append(callbacks.RegularizationSchedule(dropout_rate=ramp(rate), dropout_layers=cls))
        kwargs["callbacks"] = [*schedules, *kwargs.get("callbacks", [])]
    if averaging is not None:
        average = averaging.callback(hp, epochs=kwargs.get("epochs", 1), data=args[0] if args else kwargs.get("x"),
                                     batch_size=kwargs.get("batch_size") or 32)
        if average is not None:
            kwargs["callbacks"] = [average, *kwargs.get("callbacks", [])]
    return model.fit(*args, **kwargs)


class RegularizedMLP(_Regularized):
    """A multilayer perceptron whose regularization is searched.

    Inputs `(features,)` (or any shape, flattened), `hidden` ReLU layers each
    followed by a kreg Dropout, softmax over `num_classes`; the regularizer and
    the max-norm go on every Dense kernel. Compiled with Adam, sparse
    categorical cross-entropy, accuracy and `kreg.metrics.DataLoss`.

    Args:
        num_classes: the number of classes, an int >= 1.
        input_shape: the shape of one input.
        hidden: the widths of the hidden layers.
        regularizer: a `RegularizerSpace`, or None to leave penalties out.
        dropout: a `DropoutSpace`, or None.
        max_norm: a `MaxNormSpace`, or None.
        augment: an `AugmentSpace`, or None.
        schedule: a `ScheduleSpace`, or None.
        label_smoothing: a `LabelSmoothingSpace`, or None.
        spectral_norm: a `SpectralNormSpace` (the hidden Dense layers wrapped),
            or None.
        learning_rate: Adam's learning rate (fixed: the search is about
            regularization).
        averaging: an `AveragingSpace` (EMA or SWA of the weights), or None.
    """

    def __init__(self, num_classes, input_shape, *, hidden=(512, 512), regularizer=RegularizerSpace(),
                 dropout=DropoutSpace(), max_norm=MaxNormSpace(), augment=None, schedule=ScheduleSpace(),
                 label_smoothing=None, spectral_norm=None, learning_rate=1e-3, averaging=None, name=None):
        super().__init__("RegularizedMLP", num_classes, input_shape, regularizer=regularizer, dropout=dropout,
                         max_norm=max_norm, augment=augment, schedule=schedule, label_smoothing=label_smoothing,
                         spectral_norm=spectral_norm, learning_rate=learning_rate, averaging=averaging, name=name)
        self.hidden = _units("RegularizedMLP", "hidden", hidden)

    def build(self, hp):
        regularizer, rate, scaling, constraint, policy = self._pieces(hp)
        hidden = self._hidden(hp)
        layers = [keras.Input(self.input_shape)]
        if policy is not None:
            layers.append(policy)
        if len(self.input_shape) > 1:
            layers.append(keras.layers.Flatten())
        for units in self.hidden:
            layers.append(hidden(keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer,
                                                    kernel_constraint=constraint)))
            layers.append(Dropout(rate, scaling=scaling))
        layers.append(keras.layers.Dense(self.num_classes, activation="softmax", kernel_regularizer=regularizer,
                                         kernel_constraint=constraint))
        return self._compile(keras.Sequential(layers), hp)


class RegularizedCNN(_Regularized):
    """A small convolutional network for images whose regularization is searched.

    `filters` blocks of Conv2D(3x3, ReLU) + MaxPooling2D (when the image is
    still at least 2 pixels wide), then a kreg Dropout, a Dense layer of
    `dense` units, a Dropout and the softmax. The regularizer and the max-norm
    (per filter) go on every kernel.

    With `residual=True` each block is a Conv2D(3x3, ReLU) to its filters
    followed by a residual unit, `h = ReLU(h + DropPath(Conv(ReLU(Conv(h)))))`
    (3x3 convolutions; without a `drop_path` space, no DropPath). The searched
    `drop_path_rate` is the last block's: block `l` of `L` drops its branch
    with rate `(l / L) * drop_path_rate`, the linear decay rule of Huang et
    al. (2016) (survival `p_l = 1 - (l / L) (1 - p_L)`), as timm spreads its
    `drop_path_rate` over depth. Before each pooling, a block may end with a
    `SpatialDropout2D` (`spatial_dropout` space) and a `DropBlock`
    (`drop_block` space; only in blocks whose maps are at least `block_size`
    wide: a larger block is a ValueError of the layer).

    Args:
        num_classes: the number of classes.
        input_shape: `(height, width, channels)`.
        filters: the filters of each conv block.
        dense: the width of the dense layer.
        regularizer: a `RegularizerSpace`, or None ("orthogonal" is not a choice here: Keras's
            `OrthogonalRegularizer` takes only rank-2 kernels).
        dropout: a `DropoutSpace`, or None.
        max_norm: a `MaxNormSpace`, or None.
        augment: an `AugmentSpace`, or None.
        schedule: a `ScheduleSpace`, or None.
        label_smoothing: a `LabelSmoothingSpace`, or None.
        spectral_norm: a `SpectralNormSpace` (it wraps every Conv2D and the hidden Dense layer), or None.
        residual: whether the blocks are residual (a bool).
        drop_path: a `DropPathSpace` for the residual branches (needs `residual=True`), or None.
        spatial_dropout: a `SpatialDropoutSpace`, or None.
        drop_block: a `DropBlockSpace`, or None.
        learning_rate: Adam's learning rate.
        averaging: an `AveragingSpace` (EMA or SWA of the weights), or None.
    """

    def __init__(self, num_classes, input_shape, *, filters=(32, 64), dense=128, regularizer=RegularizerSpace(),
                 dropout=DropoutSpace(), max_norm=MaxNormSpace(), augment=None, schedule=ScheduleSpace(),
                 label_smoothing=None, spectral_norm=None, learning_rate=1e-3, residual=False, drop_path=None,
                 spatial_dropout=None, drop_block=None, averaging=None, name=None):
        super().__init__("RegularizedCNN", num_classes, input_shape, regularizer=regularizer, dropout=dropout,
                         max_norm=max_norm, augment=augment, schedule=schedule, label_smoothing=label_smoothing,
                         spectral_norm=spectral_norm, learning_rate=learning_rate, averaging=averaging, name=name)
        if len(self.input_shape) != 3:
            raise v.invalid("RegularizedCNN", "input_shape", "(height, width, channels)", input_shape)
        if regularizer is not None and "orthogonal" in regularizer.choices:
            raise v.invalid("RegularizedCNN", "regularizer", "a RegularizerSpace without \"orthogonal\" (Keras's "
                            "OrthogonalRegularizer takes rank-2 kernels only)", regularizer.choices)
        self.filters = _units("RegularizedCNN", "filters", filters)
        self.dense = v.positive_int("RegularizedCNN", "dense", dense)
        if not isinstance(residual, bool):
            raise v.invalid("RegularizedCNN", "residual", "a bool", residual)
        self.residual = residual
        self.drop_path = _check_space("RegularizedCNN", "drop_path", drop_path, DropPathSpace)
        if drop_path is not None and not residual:
            raise v.invalid("RegularizedCNN", "drop_path", "None unless residual=True (DropPath drops residual "
                            "branches)", drop_path)
        self.spatial_dropout = _check_space("RegularizedCNN", "spatial_dropout", spatial_dropout, SpatialDropoutSpace)
        self.drop_block = _check_space("RegularizedCNN", "drop_block", drop_block, DropBlockSpace)

    def _dropouts(self):
        spaces = ((self.spatial_dropout, SpatialDropout2D), (self.drop_path, DropPath), (self.drop_block, DropBlock))
        return super()._dropouts() + [(space, cls) for space, cls in spaces if space is not None]

    def build(self, hp):
        regularizer, rate, scaling, constraint, policy = self._pieces(hp)
        spatial = self.spatial_dropout.build(hp) if self.spatial_dropout else None
        drop_path = self.drop_path.build(hp) if self.drop_path else None
        drop_block = self.drop_block.build(hp) if self.drop_block else None
        hidden = self._hidden(hp)

        def conv(filters, h, activation="relu"):
            return hidden(keras.layers.Conv2D(filters, 3, padding="same", activation=activation,
                                              kernel_regularizer=regularizer, kernel_constraint=constraint))(h)

        inputs = keras.Input(self.input_shape)
        h = policy(inputs) if policy is not None else inputs
        size = min(self.input_shape[:2])
        for depth, filters in enumerate(self.filters, 1):
            h = conv(filters, h)
            if self.residual:
                branch = conv(filters, conv(filters, h), activation=None)
                if drop_path is not None:
                    branch = DropPath(drop_path_rate(drop_path[0], depth, len(self.filters)),
                                      scaling=drop_path[1])(branch)
                h = keras.layers.ReLU()(keras.layers.Add()([h, branch]))
            if spatial is not None:
                h = SpatialDropout2D(spatial[0], scaling=spatial[1])(h)
            if drop_block is not None and size >= drop_block[1]:
                h = DropBlock(drop_block[0], block_size=drop_block[1], scaling=drop_block[2])(h)
            if size >= 2:
                h = keras.layers.MaxPooling2D()(h)
                size //= 2
        h = Dropout(rate, scaling=scaling)(keras.layers.Flatten()(h))
        h = hidden(keras.layers.Dense(self.dense, activation="relu", kernel_regularizer=regularizer,
                                      kernel_constraint=constraint))(h)
        h = Dropout(rate, scaling=scaling)(h)
        outputs = keras.layers.Dense(self.num_classes, activation="softmax", kernel_regularizer=regularizer)(h)
        return self._compile(keras.Model(inputs, outputs), hp)


def drop_path_rate(rate, block, blocks):
    """Block `block` of `blocks`' DropPath rate (1-based), given the last block's: `rate * block / blocks`.

    >>> [round(drop_path_rate(0.2, block, 4), 6) for block in (1, 2, 3, 4)]
    [0.05, 0.1, 0.15, 0.2]
    """
    return rate * block / blocks


# Each dropout-family space: the layer types of the user's model whose rate it sets, and the kreg layer they become.
_FAMILY = {
    "dropout": ((keras.layers.Dropout, Dropout), Dropout),
    "spatial_dropout": ((keras.layers.SpatialDropout2D, SpatialDropout2D), SpatialDropout2D),
    "drop_path": ((DropPath,), DropPath),
    "drop_block": ((DropBlock,), DropBlock),
}
_CROSS_ENTROPIES = {  # a loss's name or class: the loss with label smoothing
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
}


class Regularize(kt.HyperModel):
    """Searches the regularization of the user's own model-building function.

    `build(hp)` calls `build_fn(hp)`, a Keras Tuner build function (it may
    declare its own hyperparameters) returning a compiled model, and applies
    each space given to a copy, weights kept:

    - `regularizer` and `max_norm`: on the kernels of `layers` (as
      `kreg.attach`'s `layers`; None: every layer with a kernel); a
      regularizer that acts through the optimizer (`weight_decay`,
      `proximal_l1`) wraps the model's own optimizer;
    - `spectral_norm`: wraps the Dense and Conv layers among `layers` in
      Keras's `SpectralNormalization`;
    - `dropout`, `spatial_dropout`, `drop_path`, `drop_block`: set the rate and
      scaling of the model's own layers of that kind (Keras's `Dropout` and
      `SpatialDropout2D` become kreg's, which have a scaling); DropPath rates
      keep their proportions (the deepest gets the trial's rate);
    - `augment`: in front of an image input `(height, width, channels)`;
    - `label_smoothing`: on the model's cross-entropy loss;
    - `schedule`: the warm-up of penalties and dropout rates in `fit`;
    - `averaging`: an EMA of the weights (on the model's own optimizer) or
      SWA, in `fit`; validated, checkpointed and left in the model averaged.

    The copy is compiled as `build_fn` compiled the original, with a
    `kreg.metrics.DataLoss` added for a single loss (reported as `data_loss`).
    A space that cannot apply is a ValueError saying why: a Sequential or
    Functional model is needed for the spaces that rebuild layers
    (penalties, max-norm, spectral norm, the dropout family); a subclassed one
    takes `weight_decay`/`proximal_l1`, `label_smoothing`, `schedule` and `averaging`.

    Args:
        build_fn: `hp -> keras.Model`, compiled.
        regularizer: a `RegularizerSpace`, or None.
        max_norm: a `MaxNormSpace`, or None.
        dropout: a `DropoutSpace` (on the model's own Dropout layers), or None.
        spatial_dropout: a `SpatialDropoutSpace`, or None.
        drop_path: a `DropPathSpace`, or None.
        drop_block: a `DropBlockSpace`, or None.
        augment: an `AugmentSpace` (in front of an image input), or None.
        label_smoothing: a `LabelSmoothingSpace`, or None.
        spectral_norm: a `SpectralNormSpace`, or None.
        schedule: a `ScheduleSpace`, or None.
        averaging: an `AveragingSpace`, or None.
        layers: which layers get the penalty, max-norm and spectral norm, as in `kreg.attach`.
    """

    def __init__(self, build_fn, *, regularizer=RegularizerSpace(), max_norm=None, dropout=None,
                 spatial_dropout=None, drop_path=None, drop_block=None, augment=None, label_smoothing=None,
                 spectral_norm=None, schedule=None, averaging=None, layers=None, name=None):
        super().__init__(name=name)
        if not callable(build_fn):
            raise v.invalid("Regularize", "build_fn", "a function hp -> keras.Model", build_fn)
        self.build_fn = build_fn
        self.regularizer = _check_space("Regularize", "regularizer", regularizer, RegularizerSpace)
        self.max_norm = _check_space("Regularize", "max_norm", max_norm, MaxNormSpace)
        self.family = {name: _check_space("Regularize", name, space, cls) for name, space, cls in (
            ("dropout", dropout, DropoutSpace), ("spatial_dropout", spatial_dropout, SpatialDropoutSpace),
            ("drop_path", drop_path, DropPathSpace), ("drop_block", drop_block, DropBlockSpace)) if space is not None}
        self.augment = _check_space("Regularize", "augment", augment, AugmentSpace)
        self.label_smoothing = _check_space("Regularize", "label_smoothing", label_smoothing, LabelSmoothingSpace)
        self.spectral_norm = _check_space("Regularize", "spectral_norm", spectral_norm, SpectralNormSpace)
        self.schedule = _check_space("Regularize", "schedule", schedule, ScheduleSpace)
        self.averaging = _check_space("Regularize", "averaging", averaging, AveragingSpace)
        self.layers = layers

    def _rebuilding(self):
        """The spaces given that rebuild the model's layers."""
        names = list(self.family)
        if self.regularizer is not None and set(self.regularizer.choices) & set(PENALTIES):
            names.append("regularizer")
        names += [name for name in ("max_norm", "spectral_norm") if getattr(self, name) is not None]
        return names

    def build(self, hp):
        model = self.build_fn(hp)
        if not isinstance(model, keras.Model):
            raise TypeError(f"The build function must return a keras.Model. Received: {model!r}")
        if not model.compiled:
            raise ValueError(f"The build function must return a compiled model (kreg compiles the regularized "
                             f"copy as you compiled it): add model.compile(optimizer=..., loss=..., metrics=[...]) "
                             f"before returning it. Received: model {model.name!r}, not compiled")
        rebuilding = self._rebuilding()
        if rebuilding and not isinstance(model, (keras.Sequential, keras.Function)):
            raise ValueError(f"The spaces {rebuilding} rebuild the model's layers, which Keras can do for Sequential "
                             f"and Functional models only; model {model.name!r} is a subclassed "
                             f"{type(model).__name__}. A subclassed model takes regularizer choices weight_decay "
                             f"and proximal_l1, label_smoothing and schedule.")
        regularizer = self.regularizer.build(hp) if self.regularizer else None
        constraint = self.max_norm.build(hp) if self.max_norm else None
        regularized = model
        if regularizer is not None or constraint is not None:
            regularized = attach(model, layers=self.layers, kernel_regularizer=regularizer,
                                 kernel_constraint=constraint)
        regularized = self._relayer(regularized, hp)
        if self.augment is not None:
            regularized = self._augmented(regularized, self.augment.build(hp))
        if self.schedule is not None:
            self.schedule.build(hp)
        if self.averaging is not None:
            self.averaging.build(hp)
        return self._compile(model, regularized, hp)

    def _relayer(self, model, hp):
        """The model with its dropout-family layers set to the trial's values and spectral norm where on."""
        iterations = self.spectral_norm.build(hp) if self.spectral_norm else None
        chosen = {}
        for name, space in self.family.items():
            kinds, cls = _FAMILY[name]
            found = [layer for layer in _walk.layers(model) if type(layer) in kinds]
            if not found:
                raise ValueError(f"space.{name} sets the rate of the model's own "
                                 f"{' or '.join(k.__module__.split('.')[0] + '.layers.' + k.__name__ for k in kinds)} "
                                 f"layers; model {model.name!r} has none: add them where you want them")
            values = space.build(hp)
            top = max(layer.rate for layer in found)
            for layer in found:
                rate = values[0] * layer.rate / top if cls is DropPath and top > 0 else values[0]
                update = {"rate": rate, "scaling": values[-1]}
                if cls is DropBlock:
                    update["block_size"] = values[1]
                chosen[id(layer)] = (cls, update)
        wrapped = set()
        if iterations is not None:
            select = attach_selector(self.layers)
            wrapped = {id(layer) for layer in _walk.layers(model, _SPECTRAL) if select(layer)}
            if not wrapped:
                raise ValueError(f"space.spectral_norm wraps Dense and Conv layers; model {model.name!r} has none "
                                 f"among layers={self.layers!r}")
        if not chosen and not wrapped:
            return model
        _walk.check_rebuildable("Regularize", model, [layer for layer in _walk.layers(model)
                                                      if id(layer) in chosen or id(layer) in wrapped])

        def make(layer, config):
            if id(layer) in chosen:
                cls, update = chosen[id(layer)]
                return cls.from_config({**config, **update})
            copy = layer.__class__.from_config(config)
            if id(layer) in wrapped:
                return keras.layers.SpectralNormalization(copy, power_iterations=iterations)
            return copy

        return _cloning.clone(model, make=make)

    @staticmethod
    def _augmented(model, policy):
        shapes = [tuple(i.shape[1:]) for i in model.inputs]
        if len(shapes) != 1 or len(shapes[0]) != 3:
            raise ValueError(f"space.augment goes in front of an image input (height, width, channels); model "
                             f"{model.name!r} takes inputs of shapes {shapes}")
        if policy is None:
            return model
        inputs = keras.Input(shapes[0], dtype=model.inputs[0].dtype)
        return keras.Model(inputs, model(policy(inputs)), name=model.name)

    def _compile(self, original, model, hp):
        config = _compat.compile_arguments(original)  # the objects compile got: custom metrics need no registry
        if self.regularizer is not None:
            config["optimizer"] = self.regularizer.optimizer(hp, keras.optimizers.get(config["optimizer"]), model)
        if self.averaging is not None:  # last: it changes the optimizer that the others made
            config["optimizer"] = self.averaging.optimizer(hp, keras.optimizers.get(config["optimizer"]))
        if self.label_smoothing is not None:
            config["loss"] = smoothed(config.get("loss"), self.label_smoothing.build(hp))
        loss = config.get("loss")
        if loss is not None and not isinstance(loss, (dict, list, tuple)):
            extra = list(config.get("weighted_metrics") or [])
            if not any(isinstance(m, metrics.DataLoss) for m in extra):
                config["weighted_metrics"] = [*extra, metrics.DataLoss(loss)]
        model.compile(**config)
        return model

    def fit(self, hp, model, *args, **kwargs):
        dropouts = [(space, _FAMILY[name][1]) for name, space in self.family.items()]
        return scheduled_fit(hp, model, self.schedule, self.regularizer, dropouts, *args, averaging=self.averaging,
                             **kwargs)


_SPECTRAL = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def smoothed(loss, smoothing):
    """`loss` (a cross-entropy, by name or as a Keras loss) with `label_smoothing=smoothing`; else a ValueError."""
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) if isinstance(loss, keras.losses.Loss) \
        else getattr(loss, "__name__", None)
    if name not in _CROSS_ENTROPIES:
        raise ValueError(f"space.label_smoothing applies to a cross-entropy loss ({', '.join(_CROSS_ENTROPIES)}); "
                         f"the model's loss is {loss!r}")
    from_logits = loss.get_config().get("from_logits", False) if isinstance(loss, keras.losses.Loss) else False
    return _CROSS_ENTROPIES[name](label_smoothing=smoothing, from_logits=from_logits)
