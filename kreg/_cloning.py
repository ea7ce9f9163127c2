"""Copying a Sequential or Functional model with changed layers and the same weights."""

import keras

from kreg import _compat


def input_kernel(layer):
    """The weight that multiplies `layer`'s input, if `layer` is linear in its input."""
    for name in ("depthwise_kernel", "kernel"):
        kernel = getattr(layer, name, None)
        if kernel is not None and isinstance(layer, LINEAR):
            return kernel
    return None


LINEAR = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


def clone(model, *, configure=None, make=None, skip=frozenset(), kernel_factors=None):
    """A copy of `model` with the same weights.

    Args:
        model: a built Sequential or Functional model.
        configure: `(layer, config) -> config` for each copied layer.
        make: `(layer, config) -> layer` builds each copy (default: the
            layer's own class `from_config`); a copy that wraps the layer
            (`keras.layers.SpectralNormalization`) gets the weights in the layer
            it wraps.
        skip: ids of top-level layers left out (their input passes through).
        kernel_factors: `{id(layer): factor}`: the copy's input kernel
            (`input_kernel`) is the original's times `factor`.
    """
    kernel_factors = kernel_factors or {}
    pairs = []

    def clone_layer(layer):
        config = layer.get_config()
        if configure is not None:
            config = configure(layer, config)
        copy = make(layer, config) if make is not None else layer.__class__.from_config(config)
        pairs.append((layer, copy))
        return copy

    if skip and isinstance(model, keras.Sequential):
        layers = [clone_layer(layer) for layer in model.layers if id(layer) not in skip]
        copy = keras.Sequential(
            [keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype), *layers],
            name=model.name,
        )
    elif skip:
        placeholders = set()

        def clone_or_skip(layer):
            if id(layer) not in skip:
                return clone_layer(layer)
            placeholder = keras.layers.Identity(name=layer.name)
            placeholders.add(id(placeholder))
            return placeholder

        def call(layer, *args, **kwargs):
            # A skipped layer's input stands for its output: the layer is gone.
            return args[0] if id(layer) in placeholders else layer(*args, **kwargs)

        copy = keras.models.clone_model(model, clone_function=clone_or_skip, call_function=call)
    else:
        with _compat.seen_uncompiled(model):  # the copy is uncompiled, whatever the model's compiled with
            copy = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)

    for old, new in pairs:
        weights = old.get_weights()
        factor = kernel_factors.get(id(old))
        if factor is not None:
            index = next(i for i, w in enumerate(old.weights) if w is input_kernel(old))
            weights[index] = weights[index] * factor
        if isinstance(new, keras.layers.Wrapper) and not isinstance(old, keras.layers.Wrapper):
            new = new.layer
        new.set_weights(weights)
    return copy
