"""Search spaces for kreg's components.

Each space is a small object: its ranges are constructor arguments, checked
there, and its `build(hp)` only reads `hp`. Values that depend on a choice are
declared inside Keras Tuner's conditional scopes, so a trial without L1 has no
`l1` value at all (not an unused one that looks active).
"""

import math

import keras
import keras_tuner as kt

from kreg import _validation as v
from kreg import augment
from kreg import callbacks
from kreg import constraints
from kreg import regularizers
from kreg.optimizers import ProximalL1

_REGULARIZERS = ("none", "l1", "l2", "elastic_net", "group_lasso")
_ALLOWED_REGULARIZERS = _REGULARIZERS + ("proximal_l1", "weight_decay", "orthogonal")
PENALTIES = ("l1", "l2", "elastic_net", "group_lasso")  # kreg's own: a schedule can scale them


def _range(owner, name, value, *, log=False, low=0.0):
    """A pair `(min, max)` of finite floats, `low <= min <= max`; `min > 0` on a log scale."""
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(v.is_real(b) and math.isfinite(b) for b in value)
        and low <= value[0] <= value[1]
        and (not log or value[0] > 0)
    )
    if not ok:
        expected = f"a pair (min, max) with {'0 < min' if log else f'{low:g} <= min'} <= max"
        raise v.invalid(owner, name, expected, value)
    return (float(value[0]), float(value[1]))


def _choices(owner, name, value, allowed):
    ok = isinstance(value, (list, tuple)) and value and len(set(value)) == len(value) and all(
        isinstance(c, str) and c in allowed for c in value
    )
    if not ok:
        raise v.invalid(owner, name, f"a non-empty list of distinct names from {list(allowed)}", value)
    return tuple(value)


class _Space:
    """What every space shares: a repr that shows its ranges (an error message names the space by it)."""

    def __repr__(self):
        fields = ", ".join(f"{k}={val!r}" for k, val in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"

    def check_input(self, input_shape):
        """Refuses (ValueError) a model input this space cannot apply to; most spaces apply to any."""


def _step(owner, name, value, bounds, bounds_name):
    """A grid step > 0 no wider than the range it steps through (a wider one draws only the range's min)."""
    step = v.positive_float(owner, name, value)
    width = bounds[1] - bounds[0]
    if width > 0 and step > width:
        raise v.invalid(owner, name, f"a float in (0, {width:g}], the width of {bounds_name}={list(bounds)}", value)
    return step


def _float(hp, name, bounds, *, log=False):
    if bounds[0] == bounds[1]:
        return hp.Fixed(name, bounds[0])
    return hp.Float(name, bounds[0], bounds[1], sampling="log" if log else "linear")


class RegularizerSpace(_Space):
    """Which weight penalty (or decay), and its strength on a log scale.

    Hyperparameters: `regularizer` (one of `choices`), and only where the choice
    uses them: `l1` (l1, elastic_net, proximal_l1), `l2` (l2, elastic_net),
    `group_lasso`, `weight_decay`, `orthogonal`.

    Two choices act through the optimizer, not as a penalty (`build` returns None
    for them and `optimizer` changes the optimizer): "proximal_l1" is L1 applied
    by `kreg.optimizers.ProximalL1` (exact zeros); "weight_decay" is decoupled
    weight decay (Loshchilov & Hutter 2019), Keras's own `weight_decay=` of the
    optimizer (`AdamW`'s rule for any optimizer): after each step every kernel
    shrinks by `w <- w - lr * weight_decay * w`; biases and normalization scales
    and offsets (every variable of rank < 2) are excluded with Keras's
    `exclude_from_weight_decay`. Under plain SGD with learning rate `α`, "l2"
    with strength `λ` in the `λ/(2n)` convention (`num_examples=n`) and
    "weight_decay" with `λ/n` give the same trajectory (the decay `αλ/n` per
    step); under Adam they differ: the penalty's gradient is rescaled by
    Adam's per-weight step sizes, the decay is not, and no strength makes one
    the other. "orthogonal" is Keras's `OrthogonalRegularizer(factor, mode="rows")`
    (Dense kernels only: Keras's takes rank-2 weights).

    Args:
        choices: names from "none", "l1", "l2", "elastic_net", "group_lasso",
            "proximal_l1", "weight_decay", "orthogonal".
        l1: `(min, max)` of the L1 strength, log scale, min > 0. By default
            `(1e-6, 1e-2)` in Keras's convention, and the same penalties in
            the `λ/(2n)` one: `(2n·1e-6, 2n·1e-2)` with `num_examples=n`.
        l2: `(min, max)` of the L2 strength, log scale, min > 0; its default
            as `l1`'s.
        group_lasso: `(min, max)` of the group-lasso strength, log scale.
        weight_decay: `(min, max)` of the decoupled weight decay, log scale.
        orthogonal: `(min, max)` of the orthogonal penalty's factor, log scale.
        num_examples: `None` (Keras's convention) or the training-set size
            (the `λ / (2 n)` convention), passed to the regularizers and to
            proximal L1 (whose step then uses `λ / (2 n)`).
    """

    keys = {"choices": list, "l1": list, "l2": list, "group_lasso": list, "weight_decay": list, "orthogonal": list,
            "num_examples": bool}
    choice = "regularizer"  # the hyperparameter naming the trial's regularizer
    hyperparameters = (choice, "l1", "l2", "group_lasso", "weight_decay", "orthogonal")
    # The strengths each choice uses; `strength` (a derived HParams column) is their sum, 0 for "none".
    STRENGTHS = {"none": (), "l1": ("l1",), "l2": ("l2",), "elastic_net": ("l1", "l2"), "proximal_l1": ("l1",),
                 "group_lasso": ("group_lasso",), "weight_decay": ("weight_decay",), "orthogonal": ("orthogonal",)}
    strength = "strength"

    @classmethod
    def strength_of(cls, values):
        """The strength a trial's regularizer uses (the sum of elastic net's two; 0.0 for "none"), or None where
        its values choose no regularizer of this space."""
        names = cls.STRENGTHS.get(cls.chosen(values))
        if names is None or any(name not in values for name in names):
            return None
        return float(sum(values[name] for name in names))

    @classmethod
    def chosen(cls, values):
        """The regularizer a trial's hyperparameter values choose, or None where the search had none."""
        return values.get(cls.choice)

    @classmethod
    def regularizes(cls, values):
        return cls.chosen(values) not in (None, "none")


    def __init__(self, choices=_REGULARIZERS, *, l1=None, l2=None, group_lasso=(1e-5, 1e-2),
                 weight_decay=(1e-3, 1.0), orthogonal=(1e-4, 1e-1), num_examples=None):
        owner = "RegularizerSpace"
        self.choices = _choices(owner, "choices", choices, _ALLOWED_REGULARIZERS)
        self.num_examples = v.positive_int(owner, "num_examples", num_examples, allow_none=True)
        scale = 1 if self.num_examples is None else 2 * self.num_examples  # λ/(2n) = λ_keras
        default = (1e-6 * scale, 1e-2 * scale)
        self.l1 = _range(owner, "l1", default if l1 is None else l1, log=True)
        self.l2 = _range(owner, "l2", default if l2 is None else l2, log=True)
        self.group_lasso = _range(owner, "group_lasso", group_lasso, log=True)
        self.weight_decay = _range(owner, "weight_decay", weight_decay, log=True)
        self.orthogonal = _range(owner, "orthogonal", orthogonal, log=True)

    def build(self, hp):
        """The chosen `kreg.regularizers` object, or None."""
        kind = hp.Choice(self.choice, list(self.choices)) if len(self.choices) > 1 else hp.Fixed(
            self.choice, self.choices[0])
        strengths = {}
        for name in self.hyperparameters[1:]:
            users = [c for c in self.choices if name in self.STRENGTHS[c]]
            if users:
                bounds = getattr(self, name)
                with hp.conditional_scope(self.choice, users):
                    strengths[name] = _float(hp, name, bounds, log=True)
        n = self.num_examples
        if kind == "l1":
            return regularizers.L1(strengths["l1"], num_examples=n)
        if kind == "l2":
            return regularizers.L2(strengths["l2"], num_examples=n)
        if kind == "elastic_net":
            return regularizers.ElasticNet(strengths["l1"], strengths["l2"], num_examples=n)
        if kind == "group_lasso":
            return regularizers.GroupLasso(strengths["group_lasso"])
        if kind == "orthogonal":
            return keras.regularizers.OrthogonalRegularizer(strengths["orthogonal"], mode="rows")
        return None

    def optimizer(self, hp, optimizer, model):
        """`optimizer` as the trial's choice needs it: wrapped in `ProximalL1`, or with decoupled weight decay.

        `model` is the built model whose rank < 2 variables (biases, normalization
        scales and offsets) are excluded from weight decay.
        """
        kind = hp.get(self.choice)
        if kind == "proximal_l1":
            n = self.num_examples
            return ProximalL1(optimizer, hp.get("l1") if n is None else hp.get("l1") / (2 * n))
        if kind == "weight_decay":
            optimizer = optimizer.from_config({**optimizer.get_config(), "weight_decay": hp.get("weight_decay")})
            optimizer.exclude_from_weight_decay(var_list=[w for w in model.trainable_weights if len(w.shape) < 2])
        return optimizer


class _RateSpace(_Space):
    """A rate on a linear grid within [0, 1), and a scaling: the hyperparameters `<prefix>_rate`, `<prefix>_scaling`."""

    keys = {"rate": list, "step": float, "scalings": list}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.rate_name = f"{cls.prefix}_rate"
        if "hyperparameters" not in cls.__dict__:  # DropBlockSpace names its block size too
            cls.hyperparameters = (cls.rate_name, f"{cls.prefix}_scaling")

    @classmethod
    def regularizes(cls, values):
        return values.get(cls.rate_name, 0.0) != 0.0


    prefix = None
    defaults = None  # `(rate, step, scalings)` where a subclass has no constructor of its own

    def __init__(self, rate=None, *, step=None, scalings=None):
        if self.defaults:
            rate, step, scalings = [d if a is None else a for a, d in zip((rate, step, scalings), self.defaults)]
        owner = type(self).__name__
        self.rate = _range(owner, "rate", rate)
        if self.rate[1] >= 1:
            raise v.invalid(owner, "rate", "a pair (min, max) within [0, 1)", rate)
        self.step = _step(owner, "step", step, self.rate, "rate")
        self.scalings = _choices(owner, "scalings", scalings, ("inverted", "test_time"))

    def build(self, hp):
        """`(rate, scaling)`."""
        name = self.rate_name
        if self.rate[0] == self.rate[1]:
            rate = hp.Fixed(name, self.rate[0])
        else:
            rate = hp.Float(name, self.rate[0], self.rate[1], step=self.step)
        if len(self.scalings) > 1:
            scaling = hp.Choice(f"{self.prefix}_scaling", list(self.scalings))
        else:
            scaling = hp.Fixed(f"{self.prefix}_scaling", self.scalings[0])
        return rate, scaling


class DropoutSpace(_RateSpace):
    """Dropout rate (linear, in steps) and scaling.

    Hyperparameters: `dropout_rate`, and `dropout_scaling` where more than one
    scaling is offered (else fixed).

    Args:
        rate: `(min, max)` within [0, 1).
        step: the rate's grid step, > 0.
        scalings: names from "inverted", "test_time".
    """

    prefix = "dropout"

    def __init__(self, rate=(0.0, 0.5), *, step=0.1, scalings=("inverted", "test_time")):
        super().__init__(rate, step=step, scalings=scalings)


class SpatialDropoutSpace(_RateSpace):
    """Spatial dropout (`kreg.layers.SpatialDropout2D`: whole feature maps) after each conv block: rate and scaling.

    Hyperparameters: `spatial_dropout_rate`, `spatial_dropout_scaling` (fixed
    where one scaling is offered).

    Args:
        rate: `(min, max)` within [0, 1); default `(0.0, 0.3)`.
        step: the rate's grid step, > 0; default 0.1.
        scalings: names from "inverted", "test_time"; default `("inverted",)`.
    """

    prefix = "spatial_dropout"
    defaults = ((0.0, 0.3), 0.1, ("inverted",))


class DropPathSpace(_RateSpace):
    """Stochastic depth (`kreg.layers.DropPath`) on residual branches: rate and scaling.

    Hyperparameters: `drop_path_rate`, `drop_path_scaling` (fixed where one
    scaling is offered; "inverted" is timm's `scale_by_keep=True`, "test_time"
    the paper's rule). `RegularizedCNN` takes the rate as its last block's and
    spreads it linearly over depth (block `l` of `L`: `rate * l / L`).

    Args (as `SpatialDropoutSpace`'s): rate `(0.0, 0.3)`, step 0.05,
    scalings `("inverted",)` by default.
    """

    prefix = "drop_path"
    defaults = ((0.0, 0.3), 0.05, ("inverted",))


class DropBlockSpace(_RateSpace):
    """DropBlock (`kreg.layers.DropBlock`) after conv blocks: rate, block size and scaling.

    Hyperparameters: `drop_block_rate`, `drop_block_size` (a choice, fixed
    where one size is offered), `drop_block_scaling`.

    Args:
        rate: `(min, max)` within [0, 1) (the paper's best ImageNet value is 0.1).
        block_size: the sizes to choose from, distinct ints >= 1 (the paper: 7).
        step: the rate's grid step, > 0.
        scalings: names from "inverted", "test_time".
    """

    keys = {**_RateSpace.keys, "block_size": list}
    hyperparameters = ("drop_block_rate", "drop_block_scaling", "drop_block_size")


    prefix = "drop_block"

    def __init__(self, rate=(0.0, 0.2), *, block_size=(3, 5, 7), step=0.05, scalings=("inverted",)):
        super().__init__(rate, step=step, scalings=scalings)
        ok = isinstance(block_size, (list, tuple)) and block_size and len(set(block_size)) == len(block_size)
        if not ok:
            raise v.invalid("DropBlockSpace", "block_size", "a non-empty list of distinct ints >= 1", block_size)
        self.block_size = tuple(v.positive_int("DropBlockSpace", "block_size", b) for b in block_size)

    def build(self, hp):
        """`(rate, block_size, scaling)`."""
        rate, scaling = super().build(hp)
        sizes = list(self.block_size)
        block_size = hp.Choice("drop_block_size", sizes) if len(sizes) > 1 else hp.Fixed("drop_block_size", sizes[0])
        return rate, block_size, scaling


class MaxNormSpace(_Space):
    """A max-norm limit on each unit's incoming weights (typical 1 to 5), optionally off.

    Hyperparameters: `max_norm_on` (when `optional`), and `max_norm` where on.

    Args:
        max_value: `(min, max)` of the limit, min > 0.
        optional: whether "no constraint" is a choice too.
    """

    keys = {"max_value": list, "optional": bool}
    hyperparameters = ("max_norm_on", "max_norm")

    @staticmethod
    def regularizes(values):
        return "max_norm" in values and values.get("max_norm_on", True) is True


    def __init__(self, max_value=(1.0, 5.0), *, optional=True):
        self.max_value = _range("MaxNormSpace", "max_value", max_value, log=True)
        if not isinstance(optional, bool):
            raise v.invalid("MaxNormSpace", "optional", "a bool", optional)
        self.optional = optional

    def build(self, hp):
        """A `kreg.constraints.MaxNorm`, or None."""
        if not self.optional:
            return constraints.MaxNorm(_float(hp, "max_norm", self.max_value))
        on = hp.Boolean("max_norm_on")
        with hp.conditional_scope("max_norm_on", [True]):
            limit = _float(hp, "max_norm", self.max_value)
        return constraints.MaxNorm(limit) if on else None


class SpectralNormSpace(_Space):
    """Spectral normalization of the hidden layers' kernels (Keras's `SpectralNormalization`), optionally off.

    While training, each wrapped layer's kernel `W` (reshaped to `(-1, units)`)
    is divided by its largest singular value, estimated by `power_iterations`
    steps of the power method from the previous step's vector: `W <- W / sigma(W)`
    (Miyato et al. 2018), so each layer is 1-Lipschitz. The hypermodels wrap
    their hidden Dense and Conv2D layers in `keras.layers.SpectralNormalization`,
    not the output layer, whose logits keep their scale (as in SNGP, Liu et al.
    2020).

    Hyperparameters: `spectral_norm` (on/off, when `optional`; fixed True
    otherwise) and `spectral_norm_power_iterations` where on (fixed where one
    count is offered).

    Not on JAX: there Keras 3.15's `fit` keeps the unnormalized kernel (its
    JAX trainer drops what a layer assigns to a trainable variable), so
    training sees `W / sigma` and `predict` sees `W`; the constructor raises.

    Args:
        power_iterations: the counts to choose from, distinct ints >= 1
            (Keras's default: 1).
        optional: whether "off" is a choice too.

    References:
        Miyato, Kataoka, Koyama, Yoshida. Spectral normalization for generative
        adversarial networks. ICLR 2018.
    """

    keys = {"power_iterations": list, "optional": bool}
    hyperparameters = ("spectral_norm", "spectral_norm_power_iterations")

    @staticmethod
    def regularizes(values):
        return values.get("spectral_norm", False) is True


    def __init__(self, power_iterations=(1,), *, optional=True):
        owner = "SpectralNormSpace"
        if keras.backend.backend() == "jax":
            raise ValueError(
                "SpectralNormSpace needs the TensorFlow backend: on JAX, Keras's SpectralNormalization keeps the "
                "unnormalized kernel after `fit` (the JAX trainer drops a layer's assignment to a trainable "
                "variable), so predictions use W where training used W / sigma. Received: backend 'jax'"
            )
        if not isinstance(power_iterations, (list, tuple)) or not power_iterations:
            raise v.invalid(owner, "power_iterations", "a non-empty list of distinct ints >= 1", power_iterations)
        self.power_iterations = tuple(v.positive_int(owner, "power_iterations", n) for n in power_iterations)
        if len(set(self.power_iterations)) != len(self.power_iterations):
            raise v.invalid(owner, "power_iterations", "a non-empty list of distinct ints >= 1", power_iterations)
        if not isinstance(optional, bool):
            raise v.invalid(owner, "optional", "a bool", optional)
        self.optional = optional

    def build(self, hp):
        """The power iterations of the trial's spectral normalization, or None when off."""
        on = hp.Boolean("spectral_norm") if self.optional else hp.Fixed("spectral_norm", True)
        with hp.conditional_scope("spectral_norm", [True]):
            counts = list(self.power_iterations)
            name = "spectral_norm_power_iterations"
            iterations = hp.Choice(name, counts) if len(counts) > 1 else hp.Fixed(name, counts[0])
        return iterations if on else None


def _kreg(cls, *, colors=False):
    """A factory `(magnitude, value_range, seed) -> kreg transform` (its draws come from the policy's seed)."""
    if colors:
        return lambda magnitude, value_range, seed: cls(magnitude, value_range=value_range)
    return lambda magnitude, value_range, seed: cls(magnitude)


def _keras(cls, arguments):
    """A factory of Keras's layer `cls` with `arguments(magnitude)`, applied to every image by the policy."""
    return lambda magnitude, value_range, seed: cls(**arguments(magnitude), value_range=value_range, seed=seed)


_TRANSFORMS = {
    "flip": None,
    "rotation": _kreg(augment.RandomRotation),
    "crop": _kreg(augment.RandomCrop),
    "translation": _kreg(augment.RandomTranslation),
    "brightness": _kreg(augment.RandomBrightness, colors=True),
    "contrast": _kreg(augment.RandomContrast, colors=True),
    "noise": _kreg(augment.GaussianNoise),
    "feature_dropout": _kreg(augment.FeatureDropout),
    "rand_augment": _keras(keras.layers.RandAugment, lambda m: {"factor": m}),
    "aug_mix": _keras(keras.layers.AugMix, lambda m: {"factor": m}),
    # Always erases (factor (1, 1); a float factor f erases with probability f / 2), an area fraction up to m.
    "erasing": _keras(keras.layers.RandomErasing, lambda m: {"factor": (1.0, 1.0), "scale": (min(0.02, m), m)}),
}
_MAGNITUDES = {"rotation": (0.0, 20.0), "crop": (0.0, 0.3), "translation": (0.0, 0.2), "brightness": (0.0, 0.3),
               "contrast": (0.0, 0.5), "noise": (0.0, 0.1), "feature_dropout": (0.0, 0.3), "rand_augment": (0.0, 0.5),
               "aug_mix": (0.0, 0.5), "erasing": (0.0, 0.33)}
_ANY_INPUT = ("noise", "feature_dropout")  # the transforms that apply to any input, not only to images
_KERAS_MAX = 1.0  # Keras's factors and RandomErasing's area lie in [0, 1]


class AugmentSpace(_Space):
    """Which augmentations, and their magnitudes.

    Hyperparameters: `augment_NAME` (on/off) for each transform, and
    `augment_NAME_magnitude` where on (not for flip).

    kreg's transforms (their magnitudes as in `kreg.augment`): "flip",
    "rotation" (degrees), "crop", "translation", "brightness", "contrast"
    (images) and "noise", "feature_dropout" (any input). Keras's own layers,
    each applied to every image (`kreg.augment.RandomApply`) with its seed the
    space's: "rand_augment" (`keras.layers.RandAugment(factor=m)`, 2
    operations), "aug_mix" (`keras.layers.AugMix(factor=m)`), "erasing"
    (`keras.layers.RandomErasing`, random erasing / cutout: one rectangle of
    up to a fraction `m` of the image (at least 2% where `m` allows), filled
    with noise, on every image). Keras's `factor` is
    its own scale: `RandAugment(factor=0.5)` rotates by up to 180 degrees.

    Args:
        transforms: names from "flip", "rotation", "crop", "translation",
            "brightness", "contrast", "noise", "feature_dropout",
            "rand_augment", "aug_mix", "erasing".
        magnitudes: `{name: (min, max)}` overriding the default ranges
            (Keras's layers: within [0, 1]).
        value_range: `(low, high)` of the pixel values, for the color
            transforms and Keras's layers; default `(0.0, 1.0)`.
        seed: the policy's seed, `None` or an int >= 0.
    """

    keys = {"transforms": list, "magnitudes": dict, "value_range": list}
    hyperparameters = tuple(f"augment_{name}{part}" for name in _TRANSFORMS for part in ("", "_magnitude"))

    @staticmethod
    def regularizes(values):
        return any(values.get(f"augment_{name}") is True for name in _TRANSFORMS)


    def __init__(self, transforms=("flip", "rotation", "crop"), *, magnitudes=None, value_range=(0.0, 1.0),
                 seed=None):
        owner = "AugmentSpace"
        self.transforms = _choices(owner, "transforms", transforms, tuple(_TRANSFORMS))
        if magnitudes is not None and not isinstance(magnitudes, dict):
            raise v.invalid(owner, "magnitudes", "None or a dict name -> (min, max)", magnitudes)
        unknown = set(magnitudes or {}) - set(_MAGNITUDES)
        if unknown:
            raise v.invalid(owner, "magnitudes", f"keys from {sorted(_MAGNITUDES)}", magnitudes)
        ranges = {}
        for key, bounds in (magnitudes or {}).items():
            try:
                ranges[key] = _range(owner, "magnitudes", bounds)
            except ValueError:
                raise v.invalid(owner, "magnitudes", "{name: (min, max)} with 0 <= min <= max", magnitudes) from None
            if key in ("rand_augment", "aug_mix", "erasing") and ranges[key][1] > _KERAS_MAX:
                raise v.invalid(owner, "magnitudes", f"{{{key!r}: (min, max)}} within [0, 1]", magnitudes)
        self.magnitudes = {**_MAGNITUDES, **ranges}
        self.value_range = tuple(v.value_range(owner, value_range))
        self.seed = v.seed(owner, seed)
        for name in self.transforms:  # the layer checks its own bound, e.g. a rate below 1
            if _TRANSFORMS[name] is not None:
                _TRANSFORMS[name](self.magnitudes[name][1], self.value_range, self.seed)

    def check_input(self, input_shape):
        """The image transforms need images, `(height, width, channels)`: refused on other inputs."""
        images = [name for name in self.transforms if name not in _ANY_INPUT]
        if images and len(input_shape) != 3:
            raise v.invalid("AugmentSpace", "transforms", f"transforms that apply to inputs of shape "
                            f"{tuple(input_shape)}: {list(_ANY_INPUT)} (the others need images (height, width, "
                            f"channels); [data] shape = \"image\" gives them)", list(self.transforms))

    def build(self, hp):
        """A `kreg.augment.Policy`, or None when no transform is on."""
        chosen = []
        for name in self.transforms:
            on = hp.Boolean(f"augment_{name}")
            if _TRANSFORMS[name] is None:
                if on:
                    chosen.append(augment.RandomFlip())
                continue
            with hp.conditional_scope(f"augment_{name}", [True]):
                magnitude = _float(hp, f"augment_{name}_magnitude", self.magnitudes[name])
            if on:
                chosen.append(_TRANSFORMS[name](magnitude, self.value_range, self.seed))
        return augment.Policy(chosen, seed=self.seed) if chosen else None


class LabelSmoothingSpace(_Space):
    """Label smoothing of the classification loss (Szegedy et al. 2016), on a linear grid.

    Hyperparameter: `label_smoothing` (fixed where `smoothing` is one value).
    The hypermodels then train with `kreg.losses.SparseCategoricalCrossentropy(label_smoothing)`
    (Keras's sparse cross-entropy has no smoothing; kreg's equals it at 0).

    Args:
        smoothing: `(min, max)` within [0, 1).
        step: the grid step, > 0.
    """

    keys = {"smoothing": list, "step": float}
    hyperparameters = ("label_smoothing",)

    @staticmethod
    def regularizes(values):
        return values.get("label_smoothing", 0.0) != 0.0


    def __init__(self, smoothing=(0.0, 0.2), *, step=0.05):
        owner = "LabelSmoothingSpace"
        self.smoothing = _range(owner, "smoothing", smoothing)
        if self.smoothing[1] >= 1:
            raise v.invalid(owner, "smoothing", "a pair (min, max) within [0, 1)", smoothing)
        self.step = _step(owner, "step", step, self.smoothing, "smoothing")

    def build(self, hp):
        """The trial's label smoothing, a float."""
        if self.smoothing[0] == self.smoothing[1]:
            return hp.Fixed("label_smoothing", self.smoothing[0])
        return hp.Float("label_smoothing", self.smoothing[0], self.smoothing[1], step=self.step)


class ScheduleSpace(_Space):
    """Whether to warm regularization up over the first epochs.

    Hyperparameter: `schedule` (on/off). When on, the hypermodels ramp every
    kreg regularizer's strength and every dropout rate linearly from 0 to the
    trial's value over `warmup_epochs` (`kreg.callbacks.RegularizationSchedule`).

    Args:
        warmup_epochs: the length of the warm-up, an int >= 2.
    """

    keys = {"warmup_epochs": int}
    on = "schedule"  # the hyperparameter: whether the trial warms up
    hyperparameters = (on,)

    @staticmethod
    def regularizes(values):
        return False  # a warm-up of the other spaces' regularization, none of its own


    def __init__(self, warmup_epochs=5):
        ok = isinstance(warmup_epochs, int) and not isinstance(warmup_epochs, bool) and warmup_epochs >= 2
        if not ok:  # one epoch would be no ramp: the trial's values from the first epoch on
            raise v.invalid("ScheduleSpace", "warmup_epochs", "an int >= 2", warmup_epochs)
        self.warmup_epochs = warmup_epochs

    def build(self, hp):
        """True when the warm-up is on."""
        return hp.Boolean(self.on)


_AVERAGINGS = ("none", "ema", "swa")


class AveragingSpace(_Space):
    """Whether to average the weights: an exponential moving average (EMA) or stochastic weight averaging (SWA).

    Hyperparameters: `averaging` (one of `choices`; fixed where one is
    offered), and only where the choice uses them: `ema_decay` ("ema"; on a
    reverse-log scale, which spreads draws over `1 - decay` as a log scale
    does over a strength) and `swa_start` ("swa"; the fraction of the epochs
    trained before averaging starts, on a linear scale).

    "ema" trains with Keras's EMA of the optimizer and timm's decay warm-up
    (`kreg.callbacks.use_ema`, `decay_t = min(ema_decay, 1 - (1 + t) ** -0.75)`
    at update `t`); "swa" averages the weights at the end of each epoch after
    the first `floor(swa_start * epochs)` epochs equally, at the hypermodel's
    constant learning rate, with BatchNormalization statistics re-estimated
    from the training data (Izmailov et al. 2018;
    `kreg.callbacks.StochasticWeightAveraging`). Either way the epoch's
    validation, early stopping, the checkpoint and the model `fit` leaves use
    the averaged weights.

    Args:
        choices: names from "none", "ema", "swa".
        ema_decay: `(min, max)` of the EMA's decay, `0 < min <= max < 1`;
            default `(0.99, 0.999)`.
        swa_start: `(min, max)` of the fraction of the epochs before SWA
            starts, within [0, 1); default `(0.5, 0.8)` (the paper starts at
            about 75% of the budget).
    """

    keys = {"choices": list, "ema_decay": list, "swa_start": list}
    choice = "averaging"  # the hyperparameter naming the trial's averaging
    decay = "ema_decay"
    start = "swa_start"
    hyperparameters = (choice, decay, start)

    @classmethod
    def regularizes(cls, values):
        return values.get(cls.choice) in ("ema", "swa")


    def __init__(self, choices=_AVERAGINGS, *, ema_decay=(0.99, 0.999), swa_start=(0.5, 0.8)):
        owner = "AveragingSpace"
        self.choices = _choices(owner, "choices", choices, _AVERAGINGS)
        self.ema_decay = _range(owner, "ema_decay", ema_decay, log=True)
        if self.ema_decay[1] >= 1:
            raise v.invalid(owner, "ema_decay", "a pair (min, max) with 0 < min <= max < 1", ema_decay)
        self.swa_start = _range(owner, "swa_start", swa_start)
        if self.swa_start[1] >= 1:
            raise v.invalid(owner, "swa_start", "a pair (min, max) within [0, 1)", swa_start)

    def build(self, hp):
        """`(choice, value)`: `("ema", decay)`, `("swa", start fraction)`, or `("none", None)`."""
        kind = hp.Choice(self.choice, list(self.choices)) if len(self.choices) > 1 else hp.Fixed(
            self.choice, self.choices[0])
        values = {}
        for name, user, bounds, sampling in ((self.decay, "ema", self.ema_decay, "reverse_log"),
                                             (self.start, "swa", self.swa_start, "linear")):
            if user in self.choices:
                with hp.conditional_scope(self.choice, [user]):
                    values[user] = hp.Fixed(name, bounds[0]) if bounds[0] == bounds[1] else hp.Float(
                        name, bounds[0], bounds[1], sampling=sampling)
        return kind, values.get(kind)

    def optimizer(self, hp, optimizer):
        """`optimizer` with Keras's EMA of the weights (and timm's warm-up) where the trial's choice is "ema"."""
        if hp.get(self.choice) == "ema":
            return callbacks.use_ema(optimizer, hp.get(self.decay))
        return optimizer

    def callback(self, hp, *, epochs, data, batch_size):
        """The trial's averaging callback for a `fit` of `epochs` on `data` (its `x`), or None for "none"."""
        kind = hp.get(self.choice)
        if kind == "ema":
            return callbacks.ExponentialMovingAverage()
        if kind == "swa":
            start = callbacks.averaging.swa_start_epoch(hp.get(self.start), epochs)
            return callbacks.StochasticWeightAveraging(start, data=data, batch_size=batch_size)
        return None


def hparams_domain(hp):
    """`(domain, description)` of a Keras Tuner hyperparameter for TensorBoard's HParams."""
    from tensorboard.plugins.hparams import summary_v2 as hparams  # `api` imports TensorFlow

    if isinstance(hp, kt.engine.hyperparameters.Boolean):
        return hparams.Discrete([False, True]), "boolean"
    if isinstance(hp, kt.engine.hyperparameters.Choice):
        return hparams.Discrete(list(hp.values)), "choice"
    if isinstance(hp, kt.engine.hyperparameters.Fixed):
        return hparams.Discrete([hp.value]), "fixed"
    if isinstance(hp, kt.engine.hyperparameters.Int):
        return hparams.IntInterval(hp.min_value, hp.max_value), f"int, step {hp.step}, {hp.sampling} scale"
    if isinstance(hp, kt.engine.hyperparameters.Float):
        step = f", step {hp.step}" if hp.step else ""
        return hparams.RealInterval(float(hp.min_value), float(hp.max_value)), f"float, {hp.sampling} scale{step}"
    raise ValueError(f"No HParams domain for hyperparameter {hp.name!r} of type {type(hp).__name__}")


# The spaces an experiment file's `[space.NAME]` tables name, and the model kinds each applies to.
SPACES = {
    "regularizer": RegularizerSpace,
    "dropout": DropoutSpace,
    "max_norm": MaxNormSpace,
    "augment": AugmentSpace,
    "schedule": ScheduleSpace,
    "label_smoothing": LabelSmoothingSpace,
    "spectral_norm": SpectralNormSpace,
    "spatial_dropout": SpatialDropoutSpace,
    "drop_path": DropPathSpace,
    "drop_block": DropBlockSpace,
    "averaging": AveragingSpace,
}
CNN_ONLY = ("spatial_dropout", "drop_path", "drop_block")


def get(name):
    """The space class registered under `name` (a key of `SPACES`)."""
    if name not in SPACES:
        raise ValueError(f"Unknown search space: expected one of {sorted(SPACES)}. Received: name={name!r}")
    return SPACES[name]


def unregularized(values):
    """Whether a trial's hyperparameter values add no regularization at all (early stopping aside).

    Each registered space says whether its own hyperparameters regularize, so a
    new space is counted as soon as it is registered.

    Examples:
        >>> unregularized({"regularizer": "none", "dropout_rate": 0.0, "max_norm_on": False})
        True
        >>> unregularized({"regularizer": "none", "dropout_rate": 0.1})
        False
    """
    return not any(space.regularizes(values) for space in SPACES.values())


# Every hyperparameter name a kreg space may declare.
NAMES = frozenset(name for space in SPACES.values() for name in space.hyperparameters)
