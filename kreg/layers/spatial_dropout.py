"""Spatial dropout: whole channels (feature maps) dropped, for 1D, 2D and 3D inputs.

Dropout whose mask is shared over the spatial axes: with `keep = 1 - rate` and
one `r[n, c] ~ Bernoulli(keep)` per example `n` and channel `c`,

    scaling="inverted"    training: x[n, ..., c] * r[n, c] / keep    inference: x
    scaling="test_time"   training: x[n, ..., c] * r[n, c]           inference: x * keep

This is `kreg.layers.Dropout` with the noise shape `(batch, 1, ..., 1, channels)`
(channels-last) or `(batch, channels, 1, ..., 1)` (channels-first), the mask and
scaling code being kreg's Dropout's (`BaseDropout`): the same 16-bit mask, the
same quantized keep. Adjacent pixels of a feature map are strongly correlated,
so element-wise dropout there barely regularizes; dropping whole maps does.

References:
    Tompson, Goroshin, Jain, LeCun, Bregler. Efficient object localization
    using convolutional networks. CVPR 2015.
"""

import keras
from keras import ops

from kreg import _validation as v
from kreg.layers.dropout import BaseDropout

DATA_FORMATS = ("channels_last", "channels_first")


def check_data_format(owner, value):
    """`None` (Keras's `image_data_format()`), `"channels_last"` or `"channels_first"`, returned resolved."""
    if value is None:
        return keras.config.image_data_format()
    return v.one_of(owner, "data_format", value, DATA_FORMATS)


class _SpatialDropout(BaseDropout):
    rank = None  # the number of spatial axes

    def __init__(self, rate, *, scaling="inverted", data_format=None, seed=None, **kwargs):
        super().__init__(rate, scaling=scaling, seed=seed, **kwargs)
        self.data_format = check_data_format(type(self).__name__, data_format)
        self.input_spec = keras.InputSpec(ndim=self.rank + 2)

    def _mask_shape(self, inputs):
        shape = ops.shape(inputs)
        ones = [1] * self.rank
        if self.data_format == "channels_last":
            return [shape[0], *ones, shape[-1]]
        return [shape[0], shape[1], *ones]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="kreg")
class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of `(batch, steps, channels)` inputs, with kreg's two scalings.

    `training: x * r[n, c] (/ keep if "inverted")`, `inference: x (* keep if
    "test_time")`, one `r[n, c] ~ Bernoulli(1 - rate)` per example and channel.
    As `keras.layers.SpatialDropout1D` (no weights), plus `scaling` and a
    `data_format` (`"channels_first"`: `(batch, channels, steps)`).

    Args:
        rate: the probability of dropping a channel, a float in [0, 1);
            changeable between epochs without retrace (`layer.rate = 0.2`).
        scaling: `"inverted"` (default) or `"test_time"`.
        data_format: `None` (`keras.config.image_data_format()`),
            `"channels_last"` or `"channels_first"`.
        seed: `None` or an int >= 0 (0 is a seed).

    Call arguments:
        inputs: a 3D tensor.
        training: whether to drop (training) or scale (inference).

    Examples:
        >>> import numpy as np
        >>> layer = SpatialDropout1D(0.5, seed=0)
        >>> out = np.asarray(layer(np.ones((2, 5, 8), "float32"), training=True))
        >>> bool((out == out[:, :1, :]).all()), sorted(set(out.ravel().tolist()))
        (True, [0.0, 2.0])

    References:
        Tompson et al. Efficient object localization using convolutional
        networks. CVPR 2015.
    """

    rank = 1


@keras.saving.register_keras_serializable(package="kreg")
class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of `(batch, height, width, channels)` inputs, with kreg's two scalings.

    `training: x * r[n, c] (/ keep if "inverted")`, `inference: x (* keep if
    "test_time")`, one `r[n, c] ~ Bernoulli(1 - rate)` per example and channel.
    As `keras.layers.SpatialDropout2D` (no weights), plus `scaling`.

    Args:
        rate: the probability of dropping a channel, a float in [0, 1);
            changeable between epochs without retrace.
        scaling: `"inverted"` (default) or `"test_time"`.
        data_format: `None` (`keras.config.image_data_format()`),
            `"channels_last"` or `"channels_first"` (`(batch, channels, height, width)`).
        seed: `None` or an int >= 0 (0 is a seed).

    Call arguments:
        inputs: a 4D tensor.
        training: whether to drop (training) or scale (inference).

    Examples:
        >>> import numpy as np
        >>> layer = SpatialDropout2D(0.25, scaling="test_time", seed=0)
        >>> print(np.asarray(layer(np.ones((1, 1, 1, 2), "float32"), training=False)).ravel())
        [0.75 0.75]
        >>> out = np.asarray(layer(np.ones((2, 4, 4, 8), "float32"), training=True))
        >>> bool((out == out[:, :1, :1, :]).all())
        True

    References:
        Tompson et al. Efficient object localization using convolutional
        networks. CVPR 2015.
    """

    rank = 2


@keras.saving.register_keras_serializable(package="kreg")
class SpatialDropout3D(_SpatialDropout):
    """Drops whole channels of `(batch, dim1, dim2, dim3, channels)` inputs, with kreg's two scalings.

    `SpatialDropout2D` for 5D inputs (the arguments are the same), as
    `keras.layers.SpatialDropout3D` (no weights) plus `scaling`: one
    `r[n, c] ~ Bernoulli(1 - rate)` per example and channel.

    Examples:
        >>> import numpy as np
        >>> layer = SpatialDropout3D(0.5, data_format="channels_first", seed=0)
        >>> out = np.asarray(layer(np.ones((2, 8, 3, 3, 3), "float32"), training=True))
        >>> bool((out == out[:, :, :1, :1, :1]).all())
        True

    References:
        Tompson et al. Efficient object localization using convolutional
        networks. CVPR 2015.
    """

    rank = 3
