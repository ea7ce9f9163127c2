"""The base of kreg's augmentation layers: a seeded random change applied per example with a probability.

Every member of a policy (`Member`) is applied to each example independently
with `probability`. A `Transform` adds a strength `magnitude` whose meaning
each subclass states. `magnitude` is state, not a weight
(`kreg._scalar_state.ScalarState`): a schedule can change it between epochs without
rebuilding or retracing, and `set_weights` cannot. Identity at inference.

The batch axis: image transforms (flips, rotations, crops, translations,
color) take a batch `(batch, height, width, channels)` or one image
`(height, width, channels)`; the transforms for any input (`GaussianNoise`,
`FeatureDropout`) take axis 0 as the batch axis whatever the rank (`(batch,
features)`, `(batch, time, features)`, images...), so give one example a batch
axis of 1. `probability` applies to each example along that axis.
"""

import keras

from kreg import _scalar_state
from kreg.augment import _backend
from kreg.augment._backend import ops
from kreg.augment._backend import random
from kreg import _validation as v


class Member(_backend.TFData, keras.layers.Layer):
    """What a `Policy` composes: a random change applied to each example with `probability`, seeded.

    Subclasses implement `change(x, seed_generator)` on a float32 batch
    (pointwise members), or are `Transform`s.
    """

    geometric = False
    images_only = True  # False: any input, axis 0 the batch axis

    def __init__(self, *, probability=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.probability = v.fraction(owner, "probability", probability)
        self.seed = v.seed(owner, seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = not self.images_only  # elementwise, as Keras's GaussianNoise and Dropout
        _scalar_state.build_at_init(self)

    def applied(self, batch, seed_generator):
        """A `[batch]` boolean: which examples this member changes."""
        return random.uniform((batch,), seed=seed_generator) < self.probability

    def call(self, inputs, training=True):
        return augment([self], inputs, self.seed_generator) if training else inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "seed": self.seed}


class Transform(_scalar_state.ScalarState, Member):
    """A random transform applied per example with `probability` and strength `magnitude`.

    Subclasses set `max_magnitude` (None for no upper bound) and implement
    `transform(x, magnitude, seed_generator)` on a batch (pointwise
    transforms) or `matrix(batch, height, width, magnitude, seed_generator)`
    returning output-to-input pixel maps `[batch, 3, 3]` (geometric ones).
    """

    max_magnitude = None

    def __init__(self, magnitude, *, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self._magnitude = _scalar_state.Scalar("magnitude", self._check_magnitude(magnitude))

    def _check_magnitude(self, value):
        owner = type(self).__name__
        if self.max_magnitude is None:
            return v.non_negative_float(owner, "magnitude", value)
        return v.fraction(owner, "magnitude", value, self.max_magnitude)

    magnitude = _scalar_state.scalar_property("magnitude", lambda self, value: self._check_magnitude(value))

    def change(self, x, seed_generator):
        return self.transform(x, _backend.scalar(self._magnitude), seed_generator)

    def get_config(self):
        return {**super().get_config(), "magnitude": self.magnitude}


def augment(transforms, inputs, seed_generator, **options):
    """`apply_transforms` on `inputs` with its batch axis made explicit (see the module's docstring)."""
    x = ops.convert_to_tensor(inputs)
    rank = len(x.shape)
    images = [t for t in transforms if t.images_only]
    if images and rank not in (3, 4) or rank == 0:
        expected = ("images (batch, height, width, channels) or one image (height, width, channels)" if images
                    else "a batch: axis 0 is the batch axis")
        raise ValueError(f"{type((images or transforms)[0]).__name__} needs {expected}. Received shape {tuple(x.shape)}")
    single = bool(images) and rank == 3
    out = apply_transforms(transforms, ops.cast(x[None] if single else x, "float32"),
                           _backend.seed_generator(seed_generator), **options)
    out = ops.cast(out, x.dtype)
    return out[0] if single else out


def identity_matrices(batch):
    return ops.broadcast_to(ops.eye(3), (batch, 3, 3))


def apply_transforms(transforms, x, seed_generator, *, fill_mode="reflect", interpolation="bilinear"):
    """Applies `transforms` to the float32 batch `x`, drawing from `seed_generator`.

    The geometric transforms are composed into one output-to-input map and
    resampled once (one `keras.ops.image.affine_transform`); the pointwise ones
    follow in their order.
    """
    batch = ops.shape(x)[0]
    geometric = [t for t in transforms if t.geometric]
    if geometric:
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        total = identity_matrices(batch)
        for t in geometric:
            m = t.matrix(batch, height, width, _backend.scalar(t._magnitude), seed_generator)
            applied = t.applied(batch, seed_generator)  # drawn whatever the probability: the seed stream stays
            if t.probability < 1:
                m = ops.where(applied[:, None, None], m, identity_matrices(batch))
            total = ops.matmul(total, m)
        flat = ops.reshape(total, (batch, 9))[:, :8]
        x = ops.image.affine_transform(x, flat, interpolation=interpolation, fill_mode=fill_mode)
    for t in transforms:
        if not t.geometric:
            applied, changed = t.applied(batch, seed_generator), t.change(x, seed_generator)
            x = select(applied, changed, x) if t.probability < 1 else changed
    return x


def select(applied, changed, x):
    """Each example `n` of `changed` where `applied[n]`, else of `x`.

    On `(batch, -1)` views: TensorFlow's select broadcasts a `(batch, 1)` mask
    about 3x faster on the CPU than a `(batch, 1, 1, 1)` one (256 images
    32x32x3: 2.1 ms against 5.9 ms).
    """
    shape = ops.shape(x)
    flat = (shape[0], -1)
    return ops.reshape(ops.where(applied[:, None], ops.reshape(changed, flat), ops.reshape(x, flat)), shape)
