"""Dropout with the scaling of the dropout paper or the inverted one.

With keep probability `keep = 1 - rate` and a mask `r ~ Bernoulli(keep)`:

    scaling="inverted"    training: a * r / keep    inference: a
    scaling="test_time"   training: a * r           inference: a * keep

Both give `E[training output] = inference output`. `"test_time"` is the form of
Srivastava et al. (2014): units are dropped unscaled while training and the
outgoing weights are multiplied by `keep` at test time (here the activations,
which is the same for the next linear layer; `kreg.fold_dropout_scaling` moves
the factor into that layer's kernel).

The mask spends 16 random bits per element instead of the 32 of a float
uniform: `rate` is used at a resolution of 2**-16 (the mask drops an element
with probability `round(rate * 2**16) / 2**16`), and the scaling uses that same
quantized keep probability, so the expectation above holds exactly.

References:
    Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov. Dropout: a simple
    way to prevent neural networks from overfitting. JMLR 15 (2014).
"""

import numbers

import keras
import tensorflow as tf
from keras import ops

from kreg import _ops
from kreg import _validation as v

SCALINGS = ("inverted", "test_time")
_LEVELS = 2**16


def check_rate(owner, value):
    return v.fraction(owner, "rate", value, 1.0, include_high=False)


def quantized_keep(rate):
    """The keep probability the 16-bit mask really has: `1 - round(rate * 2**16) / 2**16`."""
    return 1.0 - _drop_threshold(rate) / _LEVELS


def _drop_threshold(rate):
    return ops.minimum(ops.round(rate * _LEVELS), _LEVELS - 1)


def keep_mask(shape, rate, seed):
    """A boolean mask of `shape`, True with probability `quantized_keep(rate)`.

    Draws `ceil(n / 2)` 32-bit words and compares each 16-bit half against the
    drop threshold. `tf.random` and `tf.bitcast` are used because `keras.random`
    has no full-range integer draw and `keras.ops` no bitcast.
    """
    size = ops.prod(shape)
    words = tf.random.stateless_uniform(
        [(size + 1) // 2], seed=seed, minval=None, maxval=None, dtype=tf.uint32
    )
    halves = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]
    threshold = tf.cast(_drop_threshold(rate), tf.uint16)
    return tf.reshape(halves >= threshold, shape)


def draw_seed(seed_generator):
    """The next `[2]` int32 seed of `seed_generator`, for `tf.random.stateless_*`."""
    return tf.cast(tf.math.floormod(seed_generator.next(), tf.int32.max - 1), tf.int32)


@keras.saving.register_keras_serializable(package="kreg")
class Dropout(keras.layers.Layer):
    """Dropout whose scaling is inverted (Keras's) or at test time (the paper's).

    `rate` lives in a float32 variable that the compiled step reads, so it may
    be changed between epochs (`layer.rate = 0.3`, or a schedule callback)
    without rebuilding or retracing; the inference scaling follows it.

    Args:
        rate: the drop probability, a float in [0, 1). `rate=0` is the identity.
        scaling: `"inverted"` (divide by keep while training) or `"test_time"`
            (multiply by keep at inference).
        noise_shape: `None`, or a tuple as in `keras.layers.Dropout`: the shape
            of the mask, `None` entries taken from the input, 1 where the mask
            is shared (e.g. `(None, 1, 1, None)` drops whole channels).
        seed: `None` or an int >= 0 (0 is a seed like any other).

    Call arguments:
        inputs: a tensor of any shape.
        training: whether to drop (training) or scale (inference).

    Example:

    >>> import numpy as np
    >>> layer = Dropout(0.5, scaling="test_time", seed=0)
    >>> x = np.ones((1, 6), "float32")
    >>> print(np.asarray(layer(x, training=False)))
    [[0.5 0.5 0.5 0.5 0.5 0.5]]
    >>> sorted(set(np.asarray(layer(x, training=True)).ravel().tolist())) == [0.0, 1.0]
    True
    """

    def __init__(self, rate, *, scaling="inverted", noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self._rate = check_rate("Dropout", rate)
        self.scaling = v.one_of("Dropout", "scaling", scaling, SCALINGS)
        self.noise_shape = _check_noise_shape(noise_shape)
        self.seed = v.seed("Dropout", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.rate_variable = _ops.scalar_weight(self, "rate", self._rate)
        self.supports_masking = True
        self.built = True

    @property
    def rate(self):
        return self._rate

    @rate.setter
    def rate(self, value):
        self._rate = check_rate("Dropout", value)
        self.rate_variable.assign(self._rate)

    def call(self, inputs, training=False):
        keep = ops.cast(quantized_keep(self.rate_variable), inputs.dtype)
        if not training:
            return inputs * keep if self.scaling == "test_time" else inputs
        mask = keep_mask(self._mask_shape(inputs), self.rate_variable, draw_seed(self.seed_generator))
        kept = inputs * (1 / keep) if self.scaling == "inverted" else inputs
        return ops.where(mask, kept, ops.cast(0, inputs.dtype))

    def _mask_shape(self, inputs):
        shape = ops.shape(inputs)
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"Dropout's noise_shape {tuple(self.noise_shape)} has rank {len(self.noise_shape)}, "
                f"the input has rank {len(shape)} (shape {inputs.shape})"
            )
        return [d if n is None else n for n, d in zip(self.noise_shape, shape)]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self._rate,
            "scaling": self.scaling,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


def _check_noise_shape(noise_shape):
    if noise_shape is None:
        return None
    if isinstance(noise_shape, (list, tuple)) and noise_shape and all(
        n is None or (isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1)
        for n in noise_shape
    ):
        return [None if n is None else int(n) for n in noise_shape]
    raise v.invalid("Dropout", "noise_shape", "None or a tuple of ints >= 1 and None", noise_shape)
