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
quantized keep probability, so the expectation above holds exactly. The bits
are uniform 32-bit words split into two 16-bit halves by `keras.ops.view`. Keras
has no public source of raw random bits, so the words come from each backend's
own (`_random_words`): TensorFlow's full-range `stateless_uniform` and JAX's
`random.bits`, seeded by the layer's `SeedGenerator` as `keras.random` seeds
them (a range makes TensorFlow reduce every word and JAX draw twice the bits);
on other backends `keras.random.randint` (31.99 bits per word: the word
2**31 - 1 is never drawn, which moves a probability by at most 2**-32), split
with bitwise ops where `view` does not reinterpret (torch).

References:
    Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov. Dropout: a simple
    way to prevent neural networks from overfitting. JMLR 15 (2014).
"""

import math
import numbers

import keras
from keras import ops

from kreg import _compat
from kreg import _scalar_state
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


def keep_mask(shape, rate, seed_generator):
    """A boolean mask of `shape`, True with probability `quantized_keep(rate)`.

    Draws `ceil(n / 2)` 32-bit words and compares each 16-bit half against the
    drop threshold.
    """
    static = all(isinstance(d, int) for d in shape)  # always under JAX; TF may have a dynamic batch
    size = math.prod(shape) if static else ops.prod(shape)
    # A static last axis of 1: TensorFlow's `view` needs one when the batch is dynamic.
    halves = _halves(_random_words(((size + 1) // 2, 1), seed_generator))
    if not static or size % 2:
        halves = halves[:size]  # an odd count draws one half too many
    return ops.reshape(halves >= ops.cast(_drop_threshold(rate), halves.dtype), shape)


def _halves(words):
    """The 16-bit halves of the 32-bit `words` of shape `(n, 1)`, flat: `(2n,)`."""
    if keras.backend.backend() in ("tensorflow", "jax"):
        return ops.reshape(ops.view(words, "uint16"), (-1,))
    # Keras 3.15's torch backend returns the int32 words unchanged from `view(..., "uint16")`: split them here.
    low = ops.bitwise_and(words, 0xFFFF)
    high = ops.bitwise_and(ops.right_shift(words, 16), 0xFFFF)
    return ops.reshape(ops.concatenate([low, high], axis=-1), (-1,))


def _random_words(shape, seed_generator):
    """Uniform 32-bit words of `shape`, from the backend's fastest source (see the module docstring)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, _compat.tensorflow_seed(seed_generator), minval=None,
                                           maxval=None, dtype="int32")
    if backend == "jax":
        import jax

        return jax.random.bits(seed_generator.next(), shape, "uint32")
    return keras.random.randint(shape, -(2**31), 2**31 - 1, dtype="int32", seed=seed_generator)


class BaseDropout(_scalar_state.ScalarState, keras.layers.Layer):
    """What kreg's dropout family shares: `rate` (a `Scalar`), `scaling`, `seed`, and the scaled masking.

    A subclass says which elements are kept (`_kept`: a boolean mask that
    broadcasts to the input; by default `keep_mask` of `_mask_shape(inputs)`)
    and, where the keep probability is not `quantized_keep(rate)` everywhere,
    the training scale and inference factor (`_train_scale`, `_keep_factor`).
    `call` is then, for both scalings:

        training:  where(kept, x, 0) * (train_scale if inverted else 1)
        inference: x * (keep_factor if test_time else 1)

    `kreg.callbacks.RegularizationSchedule` sets the rate of every layer of
    this family and `kreg.mc_predict` samples them.
    """

    def __init__(self, rate, *, scaling="inverted", seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self._rate = _scalar_state.Scalar("rate", check_rate(owner, rate))
        self.scaling = v.one_of(owner, "scaling", scaling, SCALINGS)
        self.seed = v.seed(owner, seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True
        _scalar_state.build_at_init(self)

    rate = _scalar_state.scalar_property("rate", lambda self, value: check_rate(type(self).__name__, value))

    def call(self, inputs, training=False):
        rate = self._rate.variable
        if not training:
            return inputs * self._keep_factor(inputs, rate) if self.scaling == "test_time" else inputs
        kept = self._kept(inputs, rate)
        scaled = self.scaling == "inverted"
        if tuple(kept.shape) == tuple(inputs.shape):  # a full mask: select, then scale
            dropped = ops.where(kept, inputs, ops.cast(0, inputs.dtype))
            return dropped * self._train_scale(inputs, rate, kept) if scaled else dropped
        # A broadcast mask (channels, examples): scale the small mask, then one multiply over the input.
        mask = ops.cast(kept, inputs.dtype)
        return inputs * (mask * self._train_scale(inputs, rate, kept) if scaled else mask)

    def _kept(self, inputs, rate):
        return keep_mask(self._mask_shape(inputs), rate, self.seed_generator)

    def _keep_factor(self, inputs, rate):
        """What inference multiplies by under `"test_time"`: the keep probability."""
        return ops.cast(quantized_keep(rate), inputs.dtype)

    def _train_scale(self, inputs, rate, kept):
        """What training multiplies the kept values by under `"inverted"` (`kept`: the boolean mask)."""
        return 1 / self._keep_factor(inputs, rate)

    def _mask_shape(self, inputs):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "scaling": self.scaling, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kreg")
class Dropout(BaseDropout):
    """Dropout whose scaling is inverted (Keras's) or at test time (the paper's).

    `rate` may be changed between epochs (`layer.rate = 0.3`, or a schedule
    callback) without rebuilding or retracing; the inference scaling follows
    it. It is state, not a weight (`kreg._scalar_state.ScalarState`): the layer has the
    weights of `keras.layers.Dropout` (none), so `set_weights`/`load_weights`
    cannot change the rate, and a `.keras` file restores the config's.

    Args:
        rate: the drop probability, a float in [0, 1). `rate=0` is the identity.
        scaling: `"inverted"` (divide by keep while training) or `"test_time"`
            (multiply by keep at inference).
        noise_shape: `None`, or a tuple (a list becomes a tuple, as in
            `keras.layers.Dropout`): the shape
            of the mask, `None` entries taken from the input, 1 where the mask
            is shared (e.g. `(None, 1, 1, None)` drops whole channels).
        seed: `None` or an int >= 0 (0 is a seed like any other).

    Call arguments:
        inputs: a tensor of any shape.
        training: whether to drop (training) or scale (inference).

    Examples:
        >>> import numpy as np
        >>> layer = Dropout(0.5, scaling="test_time", seed=0)
        >>> x = np.ones((1, 6), "float32")
        >>> print(np.asarray(layer(x, training=False)))
        [[0.5 0.5 0.5 0.5 0.5 0.5]]
        >>> sorted(set(np.asarray(layer(x, training=True)).ravel().tolist())) == [0.0, 1.0]
        True
    """

    def __init__(self, rate, *, scaling="inverted", noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, scaling=scaling, seed=seed, **kwargs)
        self.noise_shape = _check_noise_shape(type(self).__name__, noise_shape)

    def _mask_shape(self, inputs):
        shape = ops.shape(inputs)
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"{type(self).__name__}'s noise_shape {tuple(self.noise_shape)} has rank {len(self.noise_shape)}, "
                f"the input has rank {len(shape)} (shape {inputs.shape})"
            )
        return [d if n is None else n for n, d in zip(self.noise_shape, shape)]

    def get_config(self):
        return {**super().get_config(), "noise_shape": self.noise_shape}


def _check_noise_shape(owner, noise_shape):
    if noise_shape is None:
        return None
    if isinstance(noise_shape, (list, tuple)) and noise_shape and all(
        n is None or (isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1)
        for n in noise_shape
    ):
        return tuple(None if n is None else int(n) for n in noise_shape)
    raise v.invalid(owner, "noise_shape", "None or a tuple of ints >= 1 and None", noise_shape)
