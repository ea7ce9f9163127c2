"""Augmentations for any input, flat feature vectors included: additive Gaussian noise and feature dropout."""

import keras

from kreg import _validation as v
from kreg.augment._backend import ops
from kreg.augment._backend import random
from kreg.augment._base import Transform


@keras.saving.register_keras_serializable(package="kreg")
class GaussianNoise(Transform):
    """Adds zero-mean Gaussian noise with standard deviation `magnitude` (input noise).

    Works on inputs of any shape, axis 0 the batch axis: `(batch, features)`,
    `(batch, time, features)`, images; `probability` applies per example. Training
    with input noise is, to first order, an L2 penalty on the weights (Bishop,
    1995). Not clipped.

    Args:
        magnitude: the noise's standard deviation, >= 0.
        probability: the chance that an example gets noise.
        seed: `None` or an int >= 0.

    Examples:
        >>> import numpy as np
        >>> noise = GaussianNoise(0.1, seed=0)
        >>> x = np.zeros((2000, 8), "float32")
        >>> round(float(np.asarray(noise(x)).std()), 2)
        0.1
    """

    images_only = False

    def transform(self, x, magnitude, seed_generator):
        return x + random.normal(ops.shape(x), seed=seed_generator) * magnitude


@keras.saving.register_keras_serializable(package="kreg")
class FeatureDropout(Transform):
    """Zeroes each input feature with probability `magnitude`, scaling the rest by `1 / keep`.

    Dropout on the inputs (Srivastava et al. keep 80% of input units), for
    inputs of any shape, axis 0 the batch axis (`probability` applies per
    example); the expectation of each feature is unchanged, as in inverted
    dropout: a feature is kept where a float32 uniform `u < keep = 1 - magnitude`
    and becomes `x / keep`.

    Args:
        magnitude: the drop rate, in [0, 1).
        probability: the chance that an example is corrupted at all.
        seed: `None` or an int >= 0.
    """

    images_only = False

    def _check_magnitude(self, value):
        return v.fraction("FeatureDropout", "magnitude", value, 1.0, include_high=False)

    def transform(self, x, magnitude, seed_generator):
        keep = 1 - ops.cast(magnitude, x.dtype)
        return ops.where(random.uniform(ops.shape(x), seed=seed_generator) < keep, x / keep, 0.0)
