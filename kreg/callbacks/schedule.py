"""Annealing regularization over epochs: dropout rate, penalty strength, augmentation magnitude."""

import math
import re
import weakref

from kreg import _validation as v
from kreg import _walk
from kreg import regularizers
from kreg.augment import Transform
from kreg.callbacks._base import Callback
from kreg.layers import BaseDropout

KINDS = ("constant", "linear", "cosine")
_REGULARIZER_SLOTS = ("kernel", "bias", "activity", "depthwise", "pointwise", "embeddings", "recurrent")


class Schedule:
    """A value per epoch, from `start` to `end` over `epochs` epochs, then `end`.

    `value(e) = start + (end - start) * f(min(e, epochs - 1) / (epochs - 1))`
    with `f(t) = t` (`"linear"`) or `f(t) = (1 - cos(pi t)) / 2` (`"cosine"`);
    `"constant"` is `start` at every epoch. A warm-up has `start < end`, a
    decay `start > end`.

    Args:
        kind: `"constant"`, `"linear"` or `"cosine"`.
        start: the value at epoch 0, a finite float.
        end: the value from epoch `epochs - 1` on (not for `"constant"`).
        epochs: the length of the ramp, an int >= 2 (not for `"constant"`).

    Examples:
        >>> [round(Schedule("linear", 0.5, 0.1, epochs=5)(e), 4) for e in range(6)]
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.1]
    """

    def __init__(self, kind, start, end=None, *, epochs=None):
        self.kind = v.one_of("Schedule", "kind", kind, KINDS)
        if not v.is_real(start) or not math.isfinite(start):
            raise v.invalid("Schedule", "start", "a finite float", start)
        self.start = float(start)
        if self.kind == "constant":
            if end is not None or epochs is not None:
                raise ValueError(
                    f'A "constant" Schedule takes no `end` or `epochs`. Received: end={end!r}, epochs={epochs!r}'
                )
            self.end, self.epochs = self.start, None
            return
        if not v.is_real(end) or not math.isfinite(end):
            raise v.invalid("Schedule", "end", "a finite float", end)
        self.end = float(end)
        self.epochs = v.positive_int("Schedule", "epochs", epochs)
        if self.epochs < 2:
            raise v.invalid("Schedule", "epochs", "an int >= 2", epochs)

    def __call__(self, epoch):
        if self.kind == "constant":
            return self.start
        t = min(epoch, self.epochs - 1) / (self.epochs - 1)
        if self.kind == "cosine":
            t = (1 - math.cos(math.pi * t)) / 2
        return self.start + (self.end - self.start) * t

    def __repr__(self):
        if self.kind == "constant":
            return f"Schedule('constant', {self.start!r})"
        return f"Schedule({self.kind!r}, {self.start!r}, {self.end!r}, epochs={self.epochs!r})"

    def bounds(self):
        return min(self.start, self.end), max(self.start, self.end)

    def get_config(self):
        return {"kind": self.kind, "start": self.start, "end": self.end, "epochs": self.epochs}


def _check_schedule(name, value, high=None):
    if value is None:
        return None
    if v.is_real(value) and not math.isfinite(value):
        raise v.invalid("RegularizationSchedule", name, "a finite float or a kreg.callbacks.Schedule", value)
    schedule = Schedule("constant", value) if v.is_real(value) else value
    if not isinstance(schedule, Schedule):
        raise v.invalid("RegularizationSchedule", name, "None, a float or a kreg.callbacks.Schedule", value)
    low, top = schedule.bounds()
    if low < 0 or (high is not None and top >= high):
        expected = f"a Schedule within [0, {high:g})" if high is not None else "a Schedule of values >= 0"
        raise v.invalid("RegularizationSchedule", name, expected, value)
    return schedule


def _check_dropout_layers(value):
    classes = (BaseDropout,) if value is None else value if isinstance(value, tuple) else (value,)
    if not classes or not all(isinstance(c, type) and issubclass(c, BaseDropout) for c in classes):
        raise v.invalid("RegularizationSchedule", "dropout_layers",
                        "None, a kreg dropout class or a tuple of them", value)
    return classes


class RegularizationSchedule(Callback):
    """Anneals regularization over epochs, without rebuilding or retracing the model.

    At the start of each epoch it sets, from its schedules:

    * `dropout_rate`: the rate of every layer of kreg's dropout family
      (`Dropout`, `SpatialDropout*D`, `DropPath`, `DropBlock`; absolute, in
      [0, 1)), or of those of `dropout_layers`;
    * or `dropout_scale`: each of those layers' rates as the rate it had when
      this callback first saw it times the scale (a warm-up that keeps rates
      that differ, such as DropPath's, which grow with depth);
    * `penalty_scale`: every kreg regularizer's strengths, as the strengths they
      had when this callback first saw them times the scale (0 to 1 is a
      warm-up of the penalty);
    * `augment_scale`: every kreg augmentation layer's magnitude, likewise.

    These are variables the compiled train step reads, so no retrace happens.
    The current values are added to the epoch logs (`dropout_rate`, or
    `dropout_scale` and `dropout_rate`, the largest rate it set;
    `penalty_scale`, `augment_scale`), so TensorBoard and History show them;
    with `dropout_layers`, the dropout logs are named after the classes
    (`DropBlock`: `drop_block_rate`), so that several schedules log side by
    side.

    Args:
        dropout_rate: every kreg dropout layer's rate: `None` (leave alone), a
            float (constant) or a `Schedule`.
        dropout_scale: or each dropout layer's own rate times this (not with
            `dropout_rate`).
        penalty_scale: a factor on every kreg regularizer's strengths.
        augment_scale: a factor on every kreg augmentation's magnitude.
        dropout_layers: `None` (every kreg dropout layer) or a kreg dropout
            class or tuple of them: `dropout_rate` then sets only the layers
            that are instances (e.g. `kreg.layers.DropBlock`, to ramp DropBlock
            as its paper does while other dropouts keep their rates).

    Examples:
        >>> schedule = RegularizationSchedule(dropout_rate=Schedule("linear", 0.5, 0.1, epochs=5),
        ...                                   penalty_scale=Schedule("cosine", 0.0, 1.0, epochs=10))
    """

    _transient = Callback._transient + ("_bases", "_dropouts", "_penalties", "_transforms")

    def __init__(self, *, dropout_rate=None, dropout_scale=None, penalty_scale=None, augment_scale=None,
                 dropout_layers=None):
        super().__init__()
        self.dropout_rate = _check_schedule("dropout_rate", dropout_rate, high=1.0)
        self.dropout_scale = _check_schedule("dropout_scale", dropout_scale)
        if self.dropout_rate and self.dropout_scale:
            raise ValueError("RegularizationSchedule takes `dropout_rate` or `dropout_scale`, not both. Received: "
                             f"dropout_rate={dropout_rate!r}, dropout_scale={dropout_scale!r}")
        self.dropout_layers = _check_dropout_layers(dropout_layers)
        prefix = "dropout" if dropout_layers is None else "_".join(
            re.sub(r"(?<=[a-z])(?=[A-Z])", "_", c.__name__).lower() for c in self.dropout_layers)
        self._dropout_log, self._scale_log = prefix + "_rate", prefix + "_scale"
        self.penalty_scale = _check_schedule("penalty_scale", penalty_scale)
        self.augment_scale = _check_schedule("augment_scale", augment_scale)
        if not (self.dropout_rate or self.dropout_scale or self.penalty_scale or self.augment_scale):
            raise ValueError("RegularizationSchedule needs at least one of dropout_rate, dropout_scale, "
                             "penalty_scale, augment_scale")
        self._bases = None

    def _targets(self):
        layers = _walk.layers(self.model)
        dropouts, penalties, transforms = [], [], []
        for layer in layers:
            if isinstance(layer, self.dropout_layers):
                dropouts.append(layer)
            if isinstance(layer, Transform):
                transforms.append(layer)
            for slot in _REGULARIZER_SLOTS:
                regularizer = getattr(layer, f"{slot}_regularizer", None)
                if isinstance(regularizer, regularizers._Penalty) and regularizer not in penalties:
                    penalties.append(regularizer)
        for schedule, found, what in ((self.dropout_rate or self.dropout_scale, dropouts, "kreg Dropout layer " + (
            "of the family" if self.dropout_layers == (BaseDropout,) else
            f"of {[c.__name__ for c in self.dropout_layers]}")),
                                      (self.penalty_scale, penalties, "kreg regularizer"),
                                      (self.augment_scale, transforms, "kreg augmentation layer")):
            if schedule is not None and not found:
                raise ValueError(f"RegularizationSchedule has a schedule for it, but model {self.model.name!r} "
                                 f"has no {what}")
        return dropouts, penalties, transforms

    def on_train_begin(self, logs=None):
        if self._bases is None:
            self._bases = weakref.WeakKeyDictionary()
        self._dropouts, penalties, transforms = self._targets()
        if self.dropout_scale is not None:
            for layer in self._dropouts:
                self._bases.setdefault(layer, {"rate": layer.rate})
        for regularizer in penalties:
            self._bases.setdefault(regularizer, {name: getattr(regularizer, name) for name in regularizer.strengths})
        for layer in transforms:
            self._bases.setdefault(layer, {"magnitude": layer.magnitude})
        self._penalties, self._transforms = penalties, transforms

    def values(self, epoch):
        """The scheduled values at `epoch`, by log name."""
        names = (self._dropout_log, self._scale_log, "penalty_scale", "augment_scale")
        schedules = (self.dropout_rate, self.dropout_scale, self.penalty_scale, self.augment_scale)
        return {name: s(epoch) for name, s in zip(names, schedules) if s is not None}

    def on_epoch_begin(self, epoch, logs=None):
        values = self.values(epoch)
        if self._dropout_log in values:
            for layer in self._dropouts:
                layer.rate = values[self._dropout_log]
        for key, targets in ((self._scale_log, self._dropouts), ("penalty_scale", self._penalties),
                             ("augment_scale", self._transforms)):
            if key in values:
                for target in targets:
                    for name, base in self._bases[target].items():
                        setattr(target, name, base * values[key])

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.values(epoch))
            if self.dropout_scale is not None:
                logs[self._dropout_log] = max(layer.rate for layer in self._dropouts)
