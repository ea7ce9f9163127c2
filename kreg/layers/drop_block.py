"""DropBlock: contiguous `block_size x block_size` squares of feature maps dropped.

For a feature map of `H x W` and block size `b`, block centres are drawn only
where the whole block fits, `(H - b + 1) x (W - b + 1)` places, each a centre
with probability (Ghiasi et al. 2018, eq. 1, with `rate = 1 - keep_prob`)

    gamma = rate / b**2 * (H * W) / ((H - b + 1) * (W - b + 1))

independently per example and channel, and every element of a block around a
centre is dropped (mask `M = 0`). An element covered by `n(i, j)` possible
blocks is kept with probability `(1 - gamma) ** n(i, j)`: the expected dropped
fraction is `rate` to first order in `gamma` (the paper's approximation, which
ignores overlapping blocks; the fraction really dropped is a little lower, see
the tests). `rate=0` is the identity.

    scaling="inverted"    training: x * M * count(M) / count_ones(M)    inference: x
    scaling="test_time"   training: x * M                              inference: x * (1 - gamma) ** n(i, j)

`"inverted"` is the paper's Algorithm 1: the kept values are normalized by the
kept fraction of the whole batch's mask. `"test_time"` multiplies at inference
by each element's exact keep probability, so the expected training output
equals the inference output element by element (at the borders, covered by
fewer blocks, that probability is higher than in the middle).

`gamma` uses kreg Dropout's 16-bit draws (`keep_mask`): it is quantized to
`2**-16`, and both the mask and the `"test_time"` factor use that quantized
value. The paper's linear schedule of `keep_prob` (from 1 down to its target)
is `kreg.callbacks.RegularizationSchedule(dropout_rate=Schedule("linear", 0.0,
rate, epochs=...))`; the rate is a variable, so no retrace.

Centres only where the block fits are those of the paper's reference code
(tensorflow/tpu `resnet_model.py`); timm's `DropBlock2d` (by default
`fast=True`) draws centres everywhere and clips blocks at the borders.

References:
    Ghiasi, Lin, Le. DropBlock: A regularization method for convolutional
    networks. NeurIPS 2018.
"""

import keras
from keras import ops

from kreg import _validation as v
from kreg.layers.dropout import BaseDropout
from kreg.layers.dropout import keep_mask
from kreg.layers.dropout import quantized_keep
from kreg.layers.spatial_dropout import check_data_format


def seed_probability(rate, height, width, block_size):
    """The paper's `gamma`: `rate / b**2 * H * W / ((H - b + 1) * (W - b + 1))`."""
    b = block_size
    return rate / b**2 * (height * width) / ((height - b + 1) * (width - b + 1))


def coverage(size, block_size):
    """`n[i]`: how many of the `size - b + 1` block positions along an axis cover index `i`."""
    i = ops.arange(size)
    return ops.minimum(i, size - block_size) - ops.maximum(0, i - block_size + 1) + 1


def _window_max(x, size, axes, data_format):
    """The max over each `size x size` window of `x` (stride 1, no padding): a `size x 1` pool, then `1 x size`.

    Two passes of `size` compares per element instead of one of `size**2`: on
    JAX's CPU the layer alone runs 4x faster at size 5 and its training step
    0.8x the reference's (`benchmarks/bench_dropout_family.py`, RESULTS.md).
    """
    for window in ((size, 1), (1, size)):
        x = ops.max_pool(x, window, strides=1, padding="valid", data_format=data_format)
    return x


@keras.saving.register_keras_serializable(package="kreg")
class DropBlock(BaseDropout):
    """DropBlock: drops `block_size x block_size` squares of each feature map, with kreg's two scalings.

    Centres are drawn with the paper's `gamma = rate / b**2 * H W / ((H - b +
    1)(W - b + 1))` where a block fits; each drops its `b x b` square (per
    example and channel). `"inverted"`: `x * M * count(M) / count_ones(M)`
    while training, `x` at inference (the paper's). `"test_time"`: `x * M`
    while training, `x * (1 - gamma) ** n(i, j)` at inference (each element's
    exact keep probability). No weights.

    Args:
        rate: the target dropped fraction (the paper's `1 - keep_prob`), a
            float in [0, 1); changeable between epochs without retrace, so a
            schedule can ramp it (the paper's linear schedule).
        block_size: the side of a dropped square, an int >= 1 (1 is dropout
            with `gamma = rate`); at most the feature map's height and width.
        scaling: `"inverted"` (default) or `"test_time"`.
        data_format: `None` (`keras.config.image_data_format()`),
            `"channels_last"` or `"channels_first"`.
        seed: `None` or an int >= 0 (0 is a seed).

    Call arguments:
        inputs: a 4D tensor with static height and width.
        training: whether to drop (training) or scale (inference).

    Examples:
        >>> import numpy as np
        >>> layer = DropBlock(0.25, block_size=3, scaling="test_time", seed=0)
        >>> out = np.asarray(layer(np.ones((1, 9, 9, 1), "float32"), training=True))[0, :, :, 0]
        >>> sorted(set(out.ravel().tolist()))
        [0.0, 1.0]
        >>> print(np.asarray(layer(np.ones((1, 3, 3, 1), "float32")))[0, :, :, 0])
        [[0.75 0.75 0.75]
         [0.75 0.75 0.75]
         [0.75 0.75 0.75]]

    References:
        Ghiasi, Lin, Le. DropBlock: A regularization method for convolutional
        networks. NeurIPS 2018.
    """

    def __init__(self, rate, *, block_size=7, scaling="inverted", data_format=None, seed=None, **kwargs):
        super().__init__(rate, scaling=scaling, seed=seed, **kwargs)
        self.block_size = v.positive_int("DropBlock", "block_size", block_size)
        self.data_format = check_data_format("DropBlock", data_format)
        self.input_spec = keras.InputSpec(ndim=4)

    def _spatial(self, inputs):
        """`(height, width)`, checked against `block_size`."""
        shape = tuple(inputs.shape)
        height, width = shape[1:3] if self.data_format == "channels_last" else shape[2:4]
        if height is None or width is None or min(height, width) < self.block_size:
            raise ValueError(f"DropBlock needs a static height and width of at least block_size={self.block_size}. "
                             f"Received: an input of shape {shape} ({self.data_format})")
        return height, width

    def _gamma(self, inputs, rate):
        return seed_probability(rate, *self._spatial(inputs), self.block_size)

    def _kept(self, inputs, rate):
        b = self.block_size
        height, width = self._spatial(inputs)
        shape = list(ops.shape(inputs))
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        shape[axes[0]], shape[axes[1]] = height - b + 1, width - b + 1
        centres = ops.cast(ops.logical_not(keep_mask(shape, self._gamma(inputs, rate), self.seed_generator)),
                           inputs.dtype)
        # Each centre covers the b x b square from it: pad b - 1 on both sides, max over b x b windows.
        padding = [[0, 0]] * 4
        padding[axes[0]] = padding[axes[1]] = [b - 1, b - 1]
        return _window_max(ops.pad(centres, padding), b, axes, self.data_format) == 0

    def _keep_factor(self, inputs, rate):
        height, width = self._spatial(inputs)
        n = coverage(height, self.block_size)[:, None] * coverage(width, self.block_size)[None, :]
        keep = ops.power(quantized_keep(self._gamma(inputs, rate)), ops.cast(n, "float32"))
        return ops.cast(keep[..., None] if self.data_format == "channels_last" else keep, inputs.dtype)

    def _train_scale(self, inputs, rate, kept):
        fraction = ops.mean(ops.cast(kept, "float32"))
        return ops.cast(1 / ops.maximum(fraction, 2**-24), inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "data_format": self.data_format}
