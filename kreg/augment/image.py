"""Classic image augmentations on channels-last images, and a seeded policy composing them.

Geometric transforms (flip, rotation, crop, translation) are output-to-input
pixel maps; inside a `Policy` they are multiplied into one map and the images
are resampled once with `keras.ops.image.affine_transform`, where a chain of
Keras layers resamples once per layer. Color transforms use `keras.ops`
(`rgb_to_grayscale`, `rgb_to_hsv`, `hsv_to_rgb`) and clip to `value_range`.

Vertical flips change the class of most natural images (a 6 becomes a 9):
`RandomFlip` defaults to horizontal.

References:
    Simard, Steinkraus, Platt. Best practices for convolutional neural networks
    applied to visual document analysis (2003).
    Krizhevsky, Sutskever, Hinton. ImageNet classification with deep
    convolutional neural networks, section 4.1 (2012).
"""

import math

import keras

from kreg import _scalar_state
from kreg.augment import _backend
from kreg.augment._backend import ops
from kreg.augment._backend import random
from kreg import _validation as v
from kreg.augment._base import Member
from kreg.augment._base import Transform
from kreg.augment._base import augment

FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("bilinear", "nearest")


def _maps(a0, a1, a2, b0, b1, b2):
    """`[batch, 3, 3]` maps `(x, y) -> (a0 x + a1 y + a2, b0 x + b1 y + b2)`."""
    zeros, ones = ops.zeros_like(a0), ops.ones_like(a0)
    rows = [ops.stack([a0, a1, a2], -1), ops.stack([b0, b1, b2], -1), ops.stack([zeros, zeros, ones], -1)]
    return ops.stack(rows, 1)


def _uniform(batch, low, high, seed_generator):
    return random.uniform((batch,), minval=0.0, maxval=1.0, seed=seed_generator) * (high - low) + low


def _centers(height, width):
    return (ops.cast(width, "float32") - 1) / 2, (ops.cast(height, "float32") - 1) / 2


@keras.saving.register_keras_serializable(package="kreg")
class RandomFlip(Transform):
    """Flips each image with `probability`, horizontally (default) or vertically.

    Args:
        mode: `"horizontal"` or `"vertical"` (which changes the class of most
            images: use it only where it does not).
        probability: the chance that an image is flipped, in [0, 1].
        seed: `None` or an int >= 0.
    """

    geometric = True

    def __init__(self, mode="horizontal", *, probability=0.5, seed=None, **kwargs):
        kwargs.pop("magnitude", None)
        super().__init__(1.0, probability=probability, seed=seed, **kwargs)
        self.mode = v.one_of("RandomFlip", "mode", mode, ("horizontal", "vertical"))

    def matrix(self, batch, height, width, magnitude, seed_generator):
        ones = ops.ones((batch,))
        zeros = ops.zeros((batch,))
        if self.mode == "horizontal":
            return _maps(-ones, zeros, zeros + ops.cast(width - 1, "float32"), zeros, ones, zeros)
        return _maps(ones, zeros, zeros, zeros, -ones, zeros + ops.cast(height - 1, "float32"))

    def get_config(self):
        config = super().get_config()
        del config["magnitude"]
        return {**config, "mode": self.mode}


@keras.saving.register_keras_serializable(package="kreg")
class RandomRotation(Transform):
    """Rotates each image about its center by an angle drawn from [-magnitude, magnitude] degrees.

    Args:
        magnitude: the largest angle in degrees, in [0, 180].
        probability: the chance that an image is rotated.
        seed: `None` or an int >= 0.
    """

    geometric = True
    max_magnitude = 180.0

    def matrix(self, batch, height, width, magnitude, seed_generator):
        angle = _uniform(batch, -magnitude, magnitude, seed_generator) * (math.pi / 180)
        cx, cy = _centers(height, width)
        cos, sin = ops.cos(angle), ops.sin(angle)
        return _maps(cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy)


@keras.saving.register_keras_serializable(package="kreg")
class RandomCrop(Transform):
    """A random crop, resized back to the input size (a random zoom-in at a random place).

    The crop's side is `1 / z` of the image's, `z` drawn from `[1, 1 + magnitude]`,
    and it lies anywhere inside the image, so no pixel is invented.

    Args:
        magnitude: the largest zoom minus 1, >= 0 (0.25: crops down to 80%).
        probability: the chance that an image is cropped.
        seed: `None` or an int >= 0.
    """

    geometric = True

    def matrix(self, batch, height, width, magnitude, seed_generator):
        scale = 1 / _uniform(batch, 1.0, 1.0 + magnitude, seed_generator)
        cx, cy = _centers(height, width)
        dx = _uniform(batch, -1.0, 1.0, seed_generator) * (1 - scale) * cx
        dy = _uniform(batch, -1.0, 1.0, seed_generator) * (1 - scale) * cy
        zeros = ops.zeros_like(scale)
        return _maps(scale, zeros, cx - scale * cx + dx, zeros, scale, cy - scale * cy + dy)


@keras.saving.register_keras_serializable(package="kreg")
class RandomTranslation(Transform):
    """Shifts each image by up to `magnitude` of its width and height (the edge filled by the policy's fill mode).

    Args:
        magnitude: the largest shift as a fraction of the size, in [0, 1].
        probability: the chance that an image is shifted.
        seed: `None` or an int >= 0.
    """

    geometric = True
    max_magnitude = 1.0

    def matrix(self, batch, height, width, magnitude, seed_generator):
        dx = _uniform(batch, -magnitude, magnitude, seed_generator) * ops.cast(width, "float32")
        dy = _uniform(batch, -magnitude, magnitude, seed_generator) * ops.cast(height, "float32")
        ones, zeros = ops.ones_like(dx), ops.zeros_like(dx)
        return _maps(ones, zeros, -dx, zeros, ones, -dy)


class _ColorTransform(Transform):
    """A color transform on channels-last images whose values lie in `value_range`.

    Keras has these four as layers (`keras.layers.RandomBrightness`,
    `RandomContrast`, `RandomSaturation`, `RandomHue`), which a `Policy`
    takes as members too. kreg keeps its own for what Keras's lack: the
    magnitude is a variable, which `RegularizationSchedule(augment_scale=...)`
    ramps between epochs in a compiled step and in a `tf.data` map without a
    retrace, where Keras's `factor` is a Python constant that a traced function
    keeps (tests/test_augment.py,
    `test_color_magnitudes_change_without_retrace_where_keras_factors_are_traced`);
    a per-image `probability`; and the policy's one seed. Brightness, contrast
    and hue draw as Keras's do (the same ranges, per image); saturation blends
    each image with its grayscale (PIL's `ImageEnhance.Color`, torchvision's
    `adjust_saturation`) where Keras scales the HSV saturation. Speed: a
    policy of the four runs 0.93x (JAX) to 1.17x (TensorFlow) the images per
    second of Keras's four chained (benchmarks/bench_augment.py, best pass).
    """

    max_magnitude = 1.0

    def __init__(self, magnitude, *, value_range=(0.0, 1.0), probability=1.0, seed=None, **kwargs):
        super().__init__(magnitude, probability=probability, seed=seed, **kwargs)
        self.value_range = v.value_range(type(self).__name__, value_range)

    def _clip(self, x):
        return ops.clip(x, self.value_range[0], self.value_range[1])

    def _factor(self, x, magnitude, seed_generator):
        """A per-image factor from [1 - magnitude, 1 + magnitude], shaped to broadcast."""
        return _uniform(ops.shape(x)[0], 1 - magnitude, 1 + magnitude, seed_generator)[:, None, None, None]

    def _rgb(self, x):
        if len(x.shape) != 4 or x.shape[-1] != 3:
            raise ValueError(
                f"{type(self).__name__} needs RGB images (..., height, width, 3). Received shape {tuple(x.shape)}"
            )
        return x

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


@keras.saving.register_keras_serializable(package="kreg")
class RandomBrightness(_ColorTransform):
    """Adds to each image a delta drawn from `[-magnitude, magnitude]` times the value range's width.

    Args:
        magnitude: the largest delta as a fraction of the value range, in [0, 1].
        value_range: `(low, high)` of the pixel values; the result is clipped to it.
        probability: the chance that an image is changed.
        seed: `None` or an int >= 0.
    """

    def transform(self, x, magnitude, seed_generator):
        low, high = self.value_range
        delta = _uniform(ops.shape(x)[0], -magnitude, magnitude, seed_generator) * (high - low)
        return self._clip(x + ops.reshape(delta, [-1] + [1] * (len(x.shape) - 1)))


@keras.saving.register_keras_serializable(package="kreg")
class RandomContrast(_ColorTransform):
    """Scales each channel's deviation from its mean by a factor from `[1 - magnitude, 1 + magnitude]`.

    Args:
        magnitude: in [0, 1].
        value_range: `(low, high)` of the pixel values; the result is clipped to it.
        probability: the chance that an image is changed.
        seed: `None` or an int >= 0.
    """

    def transform(self, x, magnitude, seed_generator):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        return self._clip((x - mean) * self._factor(x, magnitude, seed_generator) + mean)


@keras.saving.register_keras_serializable(package="kreg")
class RandomSaturation(_ColorTransform):
    """Blends each RGB image with its grayscale by a factor from `[1 - magnitude, 1 + magnitude]`.

    Args:
        magnitude: in [0, 1] (1: from grayscale to twice the saturation).
        value_range: `(low, high)` of the pixel values; the result is clipped to it.
        probability: the chance that an image is changed.
        seed: `None` or an int >= 0.
    """

    def transform(self, x, magnitude, seed_generator):
        gray = ops.image.rgb_to_grayscale(self._rgb(x))
        return self._clip(gray + (x - gray) * self._factor(x, magnitude, seed_generator))


@keras.saving.register_keras_serializable(package="kreg")
class RandomHue(_ColorTransform):
    """Rotates each RGB image's hue by a shift from `[-magnitude, magnitude]` of the color circle.

    Args:
        magnitude: in [0, 0.5].
        value_range: `(low, high)` of the pixel values.
        probability: the chance that an image is changed.
        seed: `None` or an int >= 0.
    """

    max_magnitude = 0.5

    def transform(self, x, magnitude, seed_generator):
        low, high = self.value_range
        hsv = ops.image.rgb_to_hsv((self._rgb(x) - low) / (high - low))
        shift = _uniform(ops.shape(x)[0], -magnitude, magnitude, seed_generator)[:, None, None]
        hue = ops.mod(hsv[..., 0] + shift, 1.0)
        rgb = ops.image.hsv_to_rgb(ops.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1))
        return self._clip(rgb * (high - low) + low)


@keras.saving.register_keras_serializable(package="kreg")
class RandomApply(Member):
    """Applies a Keras preprocessing layer to each image with `probability`: how a `Policy` takes Keras's layers.

    `out[n] = layer(x)[n]` if `u[n] < probability` else `x[n]`, one uniform
    `u[n]` per image: the layer runs on the batch in training mode and each
    image keeps its result with `probability` (Keras's layers change every
    image they get). The layer draws its own parameters from its own seed:
    give it a seed for reproducible images. Keras's `RandAugment` and `AugMix`
    draw their operations once per batch (AugMix with Python's `random`, once
    per trace in a compiled step or a `tf.data` map), their strengths per image.
    Under JAX or torch inside `tf.data` the layer must run on TensorFlow there,
    as Keras's preprocessing layers do. Identity at inference.

    Args:
        layer: a Keras layer that takes a batch of images, e.g.
            `keras.layers.RandAugment(value_range=(0, 1))`,
            `keras.layers.AugMix`, `keras.layers.RandomErasing`.
        probability: the chance that an image is changed, in [0, 1].
        seed: the draw of which images change, `None` or an int >= 0 (inside
            a `Policy`, the policy's seed draws it).

    Call arguments:
        inputs: a batch `(batch, height, width, channels)` or one image.
        training: whether to augment (default True).

    Examples:
        >>> import keras
        >>> import numpy as np
        >>> erase = RandomApply(keras.layers.RandomErasing(factor=(1.0, 1.0), value_range=(0, 1), seed=0),
        ...                     probability=0.5, seed=0)
        >>> images = np.full((64, 8, 8, 3), 0.5, "float32")
        >>> changed = (np.asarray(erase(images)) != images).any(axis=(1, 2, 3))
        >>> 16 < int(changed.sum()) < 48, bool((np.asarray(erase(images, training=False)) == images).all())
        (True, True)
    """

    def __init__(self, layer, *, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if not isinstance(layer, keras.layers.Layer) or isinstance(layer, (Member, Policy)):
            raise v.invalid("RandomApply", "layer", "a Keras layer (not a kreg augmentation: it has its own "
                                                    "probability)", layer)
        self.layer = layer

    def change(self, x, seed_generator):
        out = self.layer(x, training=True)
        if tuple(out.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(f"RandomApply needs a layer that keeps the shape of the images: {self.layer.name!r} "
                             f"maps {tuple(x.shape)} to {tuple(out.shape)}. Received: layer={self.layer!r}")
        return ops.cast(out, x.dtype)

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "layer": keras.saving.deserialize_keras_object(config["layer"])})


@keras.saving.register_keras_serializable(package="kreg")
class Policy(_backend.TFData, keras.layers.Layer):
    """Composes kreg transforms and Keras preprocessing layers, each with its own probability, under one seed.

    The geometric transforms are multiplied into one pixel map and resampled
    once; the color and noise transforms and the Keras layers follow in their
    listed order. A Keras layer is applied as `RandomApply(layer)` (every
    image; wrap it in `RandomApply(layer, probability=p)` for a chance per
    image). The policy's seed draws which images each member changes and the
    kreg transforms' parameters (their own seeds are not used inside a policy),
    so a policy with a seed gives the same images in any process; a Keras layer
    draws its parameters from its own seed. Identity at inference.

    Args:
        transforms: a non-empty list of kreg transforms, `RandomApply`s and
            Keras layers that take images (`keras.layers.RandAugment`, ...).
        seed: `None` or an int >= 0.
        fill_mode: how a geometric transform fills pixels from outside the
            image: `"reflect"`, `"wrap"`, `"nearest"` or `"constant"` (0).
        interpolation: `"bilinear"` or `"nearest"`.

    Call arguments:
        inputs: a batch `(batch, height, width, channels)` or one image; a
            policy of `GaussianNoise`/`FeatureDropout` only takes any input,
            axis 0 the batch axis.
        training: whether to augment (default True, as Keras's augmentation
            layers: inside a model Keras passes False at inference).

    Examples:
        >>> import numpy as np
        >>> from kreg import augment
        >>> policy = augment.Policy([augment.RandomFlip(), augment.RandomRotation(10.0, probability=0.5),
        ...                          augment.RandomCrop(0.2), augment.RandomBrightness(0.1)], seed=0)
        >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype("float32")
        >>> tuple(policy(images).shape), bool((np.asarray(policy(images, training=False)) == images).all())
        ((4, 8, 8, 3), True)
    """

    def __init__(self, transforms, *, seed=None, fill_mode="reflect", interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(transforms, (list, tuple)) or not transforms or not all(
            isinstance(t, keras.layers.Layer) and not isinstance(t, Policy) for t in transforms
        ):
            raise v.invalid("Policy", "transforms", "a non-empty list of kreg.augment transforms and Keras layers",
                            transforms)
        self.transforms = [t if isinstance(t, Member) else RandomApply(t) for t in transforms]
        self.seed = v.seed("Policy", seed)
        self.fill_mode = v.one_of("Policy", "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = v.one_of("Policy", "interpolation", interpolation, INTERPOLATIONS)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = not any(t.images_only for t in self.transforms)
        _scalar_state.build_at_init(self)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        return augment(self.transforms, inputs, self.seed_generator, fill_mode=self.fill_mode,
                       interpolation=self.interpolation)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "transforms": [keras.saving.serialize_keras_object(t) for t in self.transforms],
            "seed": self.seed,
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["transforms"] = [keras.saving.deserialize_keras_object(t) for t in config["transforms"]]
        return cls(**config)
