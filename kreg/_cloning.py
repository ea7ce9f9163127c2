"""Copying a Sequential or Functional model with changed layers and the same weights."""

import keras


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


def clone(model, *, configure=None, skip=frozenset(), kernel_factors=None):
    """A copy of `model` with the same weights.

    Args:
        model: a built Sequential or Functional model.
        configure: `(layer, config) -> config` for each copied layer.
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
        copy = layer.__class__.from_config(config)
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
        copy = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)

    for old, new in pairs:
        weights = old.get_weights()
        factor = kernel_factors.get(id(old))
        if factor is not None:
            index = next(i for i, w in enumerate(old.weights) if w is input_kernel(old))
            weights[index] = weights[index] * factor
        new.set_weights(weights)
    return copy
