"""Dropout at inference, model-wide: Monte Carlo prediction, and folding or converting the scaling.

The layer itself is `kreg.layers.Dropout` (`kreg/layers/dropout.py`); these
functions take a whole model and find its dropout layers with `kreg._walk`.
"""

import keras
import numpy as np

from kreg import _cloning
from kreg import _compat
from kreg import _validation as v
from kreg import _walk
from kreg.layers.drop_block import DropBlock
from kreg.layers.dropout import SCALINGS
from kreg.layers.dropout import BaseDropout
from kreg.layers.dropout import quantized_keep

# Layers that sample in `mc_predict`: kreg's dropout family (Dropout, SpatialDropout*D, DropPath, DropBlock) and
# Keras's dropouts (keras.layers.Dropout covers SpatialDropout1D/2D/3D, its subclasses).
SAMPLING = (BaseDropout, keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout)
# Layers a dropout's factor passes through unchanged on its way to a kernel.
_RESHAPING = (keras.layers.Flatten, keras.layers.Reshape)


class _Sampling:
    """Within the block, `layers` sample as in training whatever `training` says.

    With a seed, each layer's seed generator starts from `[seed, i * 2**20]`
    and is put back afterwards, so the draws repeat and training's stream is
    untouched. On torch, Keras's unseeded `Dropout` draws from torch's global
    generator instead of its seed generator (Keras 3.15), so that generator
    is seeded too, inside `torch.random.fork_rng`, which puts it back.
    """

    def __init__(self, layers, seed):
        self.layers = layers
        self.seed = seed
        self.states = []
        self.torch_rng = None

    def __enter__(self):
        if self.seed is not None and keras.backend.backend() == "torch":
            import torch

            self.torch_rng = torch.random.fork_rng()
            self.torch_rng.__enter__()
            torch.manual_seed(self.seed)
        for i, layer in enumerate(self.layers):
            original = layer.call

            def call(*args, training=None, _original=original, **kwargs):
                return _original(*args, training=True, **kwargs)

            layer.call = call
            # Keras's Dropout(rate=0) has no seed generator: it never draws.
            state = getattr(getattr(layer, "seed_generator", None), "state", None)
            self.states.append(None if state is None else (state, state.numpy()))
            if state is not None and self.seed is not None:
                state.assign(np.array([self.seed, i * 2**20], dtype=state.dtype))

    def __exit__(self, *exc_info):
        for layer, saved in zip(self.layers, self.states):
            del layer.call
            if saved is not None and self.seed is not None:
                saved[0].assign(saved[1])
        if self.torch_rng is not None:
            self.torch_rng.__exit__(*exc_info)


def mc_predict(model, x, *, samples=30, seed=None, batch_size=256):
    """Monte Carlo dropout: the mean and standard deviation of sampled predictions.

    Only the dropout layers (kreg's `Dropout`, `SpatialDropout*D`, `DropPath`,
    `DropBlock`, and Keras's `Dropout`,
    `SpatialDropout*`, `GaussianDropout`, `AlphaDropout`), wherever they are
    (nested models, subclassed models, custom layers), sample; every other
    layer runs in inference mode, so BatchNormalization uses and keeps its
    moving statistics (calling the model with `training=True` would not).

    Args:
        model: a Keras model.
        x: its input (an array, or a structure of arrays).
        samples: the number of stochastic passes, an int >= 1.
        seed: `None` (the layers' own streams) or an int >= 0: the same seed
            gives the same result, and leaves the layers' streams as they were.
        batch_size: rows per pass, an int >= 1.

    Returns:
        `(mean, std)`, NumPy arrays shaped like one prediction (std with
        `ddof=0`; exactly 0 where no dropout layer samples, e.g. `rate=0`).

    Examples:
        >>> import keras, kreg, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), kreg.layers.Dropout(0.5),
        ...                           keras.layers.Dense(1)])
        >>> mean, std = kreg.mc_predict(model, np.ones((3, 4)), samples=20, seed=0)
        >>> mean.shape, bool((std > 0).all())
        ((3, 1), True)
    """
    samples = v.positive_int("mc_predict", "samples", samples)
    batch_size = v.positive_int("mc_predict", "batch_size", batch_size)
    seed = v.seed("mc_predict", seed)
    layers = _walk.layers(model, SAMPLING)
    rows = len(keras.tree.flatten(x)[0])
    draws = []
    with _Sampling(layers, seed):
        for _ in range(samples):
            batches = [
                keras.tree.map_structure(
                    lambda out: keras.ops.convert_to_numpy(out),
                    model(keras.tree.map_structure(lambda a: a[i : i + batch_size], x), training=False),
                )
                for i in range(0, rows, batch_size)
            ]
            draws.append(np.concatenate(batches))
    draws = np.stack(draws).astype("float64")
    return draws.mean(axis=0), draws.std(axis=0)


def _consumers(model, layer):
    """The layers of `model` that take `layer`'s output as input."""
    members = {id(member) for member in model.layers}
    found = []
    for consumer in _compat.consumers(layer):
        if id(consumer) in members and consumer not in found:
            found.append(consumer)
    return found


def _kernel_factors(model, dropouts, factor_of):
    """`{id(consumer): factor}` for the linear layers after each dropout.

    Raises a ValueError naming the dropout and the layer where the factor cannot
    be moved into a kernel (not a Dense/Conv layer, several inputs, or shared).
    """
    factors = {}
    for dropout in dropouts:
        factor = factor_of(dropout)
        frontier = [dropout]
        while frontier:
            consumers = _consumers(model, frontier.pop())
            if not consumers:
                raise ValueError(
                    f"Dropout layer {dropout.name!r} has no Dense or Conv layer after it (its output is "
                    f"a model output), so its factor keep={factor:.6g} cannot be moved into a kernel"
                )
            for consumer in consumers:
                if isinstance(consumer, _RESHAPING):
                    frontier.append(consumer)
                    continue
                if _cloning.input_kernel(consumer) is None or _compat.times_called(consumer) != 1:
                    raise ValueError(
                        f"Dropout layer {dropout.name!r} feeds layer {consumer.name!r} "
                        f"({type(consumer).__name__}), which is not a Dense or Conv layer called once: "
                        f"its factor keep={factor:.6g} cannot be moved into a kernel"
                    )
                if id(consumer) in factors:
                    raise ValueError(f"Layer {consumer.name!r} follows two dropout layers")
                factors[id(consumer)] = factor
    return factors


def _keep(layer):
    return float(quantized_keep(float(layer.rate)))


def _scalar_keep(owner, layers):
    """`layers`, after checking that each one's inference factor is one number (not DropBlock's per position)."""
    for layer in layers:
        if isinstance(layer, DropBlock):
            raise ValueError(f"{owner} cannot move DropBlock layer {layer.name!r}'s factor into a kernel: it differs "
                             f"by position, and its inverted scaling depends on the mask drawn")
    return layers


def fold_dropout_scaling(model):
    """An equivalent inference model without kreg's dropout layers.

    Each `scaling="test_time"` dropout multiplies its output by `keep` at
    inference; that factor moves into the kernel of the Dense or Conv layer
    that consumes it, `W (keep y) + b = (keep W) y + b`, and the dropout layer
    is removed (as are inverted ones, the identity at inference). So are
    `SpatialDropout*D` and `DropPath` (one factor `keep` too; a DropPath on a
    residual branch feeds an addition, which raises); a `"test_time"`
    `DropBlock` raises (its factor differs by position). The factor
    passes through Flatten and Reshape. A dropout followed by anything else
    (an activation, a merge, a model output) raises a ValueError naming it:
    nothing is folded silently into a place where it would be wrong.

    Args:
        model: a built Sequential or Functional model, its kreg Dropout layers
            at its top level (one inside a nested model or a custom layer is a
            ValueError naming it).

    Returns:
        A new, uncompiled model with the same inference predictions.
    """
    dropouts = _walk.layers(model, BaseDropout)
    _walk.check_rebuildable("fold_dropout_scaling", model, dropouts, top_level=True)
    folded = _scalar_keep("fold_dropout_scaling", [layer for layer in dropouts if layer.scaling == "test_time"])
    factors = _kernel_factors(model, folded, _keep)
    return _cloning.clone(model, skip={id(layer) for layer in dropouts}, kernel_factors=factors)


def convert_dropout_scaling(model, scaling):
    """The same network with every kreg dropout layer using `scaling` (DropBlock: a ValueError).

    Converting a `"test_time"` dropout to `"inverted"` multiplies the next
    kernel by `keep` (and converting back divides it): `(keep W)(r a / keep)
    = W (r a)`, so inference outputs, and training outputs under the same mask,
    are unchanged. Use it to compare the two scalings on equal terms.

    Args:
        model: a built Sequential or Functional model, the kreg Dropout layers
            to convert at its top level (else a ValueError naming one).
        scaling: `"inverted"` or `"test_time"`.

    Returns:
        A new, uncompiled model.
    """
    scaling = v.one_of("convert_dropout_scaling", "scaling", scaling, SCALINGS)
    changed = _scalar_keep("convert_dropout_scaling",
                           [layer for layer in _walk.layers(model, BaseDropout) if layer.scaling != scaling])
    _walk.check_rebuildable("convert_dropout_scaling", model, changed, top_level=True)
    power = 1 if scaling == "inverted" else -1
    factors = _kernel_factors(model, changed, lambda layer: _keep(layer) ** power)
    names = {layer.name for layer in changed}

    def configure(layer, config):
        return {**config, "scaling": scaling} if layer.name in names else config

    return _cloning.clone(model, configure=configure, kernel_factors=factors)
