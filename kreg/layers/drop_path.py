"""DropPath (stochastic depth): a residual branch dropped for whole examples.

For `y = x + drop_path(f(x))`, with `keep = 1 - rate` and one `b[n] ~
Bernoulli(keep)` per example `n` (shared by all its elements):

    scaling="inverted"    training: f(x)[n] * b[n] / keep    inference: f(x)
    scaling="test_time"   training: f(x)[n] * b[n]           inference: f(x) * keep

`"test_time"` is the rule of Huang et al. (2016): a block survives with
probability `p = keep` while training, unscaled, and its branch is multiplied by
`p` at test time, `H = ReLU(p f(H') + H')`. `"inverted"` is timm's
`DropPath(drop_prob=rate, scale_by_keep=True)` (`x.div(keep) * mask` while
training, the identity at inference), the form most vision models use. timm's
`scale_by_keep=False` (unscaled while training *and* the identity at inference)
is not offered: its expected training output, `keep f(x)`, differs from its
inference output `f(x)`, the bias both scalings above avoid.

The mask has one value per example, `(batch, 1, ..., 1)`, drawn with one
`keras.random.uniform` and compared with the family's quantized keep
probability (`kreg.layers.dropout.quantized_keep`, a multiple of 2**-16, which
a float32 uniform, a multiple of 2**-23 on every backend, falls below with
exactly that probability). For a handful of values the 16-bit draw of kreg's
Dropout (`keep_mask`: a `randint`, a `view`, a reshape and a slice) costs more
than the one `uniform` it would save.

References:
    Huang, Sun, Liu, Sedra, Weinberger. Deep networks with stochastic depth.
    ECCV 2016.
"""

import keras
from keras import ops

from kreg.layers.dropout import BaseDropout
from kreg.layers.dropout import quantized_keep


@keras.saving.register_keras_serializable(package="kreg")
class DropPath(BaseDropout):
    """Stochastic depth: drops a residual branch for whole examples, with kreg's two scalings.

    `training: f(x)[n] * b[n] (/ keep if "inverted")`, `inference: f(x)
    (* keep if "test_time")`, one `b[n] ~ Bernoulli(1 - rate)` per example.
    Use it on the branch, `x + DropPath(rate)(f(x))`: a dropped example's
    block is then the identity.

    Args:
        rate: the probability of dropping the branch for an example, a float
            in [0, 1) (timm's `drop_prob`, the paper's `1 - p_l`); changeable
            between epochs without retrace (`layer.rate = 0.1`).
        scaling: `"inverted"` (default; timm's `scale_by_keep=True`) or
            `"test_time"` (the paper's: unscaled while training, `* keep` at
            inference).
        seed: `None` or an int >= 0 (0 is a seed).

    Call arguments:
        inputs: the branch's output, a tensor of rank >= 1 whose first axis is
            the batch.
        training: whether to drop (training) or scale (inference).

    Examples:
        >>> import numpy as np
        >>> layer = DropPath(0.5, seed=0)
        >>> out = np.asarray(layer(np.ones((8, 3, 3), "float32"), training=True))
        >>> bool((out == out[:, :1, :1]).all()), sorted(set(out.ravel().tolist()))
        (True, [0.0, 2.0])
        >>> print(np.asarray(DropPath(0.25, scaling="test_time")(np.ones((1, 2), "float32"))))
        [[0.75 0.75]]

    References:
        Huang et al. Deep networks with stochastic depth. ECCV 2016.
    """

    def _kept(self, inputs, rate):
        shape = [ops.shape(inputs)[0]] + [1] * (len(inputs.shape) - 1)
        return keras.random.uniform(shape, seed=self.seed_generator) < quantized_keep(rate)
