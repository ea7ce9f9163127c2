"""Attach regularizers and constraints to a model that already exists.

Setting `layer.kernel_regularizer` on a built Keras layer does nothing: the
penalty is bound to the variable when the layer is built. `attach` rebuilds the
model through `keras.models.clone_model`, with each chosen layer's config
carrying the new regularizers and constraints, then copies the weights over.
The result saves and loads like any model, the regularizers included.
"""

import keras

from kreg import _cloning
from kreg import _validation as v
from kreg import _walk

# The weight slots a layer config may have, by kind of weight matrix.
_KERNEL_SLOTS = ("kernel", "depthwise", "pointwise", "embeddings")
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)


def _selector(layers):
    """A predicate `layer -> bool` for the `layers` argument of `attach`."""
    if layers is None:
        return lambda layer: any(f"{s}_regularizer" in layer.get_config() for s in _KERNEL_SLOTS)
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, type):
        layers = (layers,)
    if isinstance(layers, (list, tuple)) and layers and all(isinstance(n, str) for n in layers):
        names = set(layers)
        return lambda layer: layer.name in names
    if isinstance(layers, tuple) and layers and all(isinstance(t, type) for t in layers):
        return lambda layer: isinstance(layer, layers)
    if callable(layers):
        return layers
    raise v.invalid(
        "attach",
        "layers",
        "None, a layer name or list of names, a layer class or tuple of classes, "
        "or a predicate layer -> bool",
        layers,
    )


def _fan_in_axis(layer):
    """The explicit fan-in axes of layers whose kernel rank is ambiguous, else None."""
    if isinstance(layer, _DEPTHWISE):
        return list(range(len(layer.kernel_size)))
    if isinstance(layer, _TRANSPOSED):
        rank = len(layer.kernel_size) + 2
        return [a for a in range(rank) if a != rank - 2]
    return None


def _for_layer(obj, layer):
    """`obj`, with its `axis="auto"` made explicit where the rank is ambiguous."""
    axis = _fan_in_axis(layer)
    if axis is None or getattr(obj, "axis", None) != "auto" or not hasattr(obj, "get_config"):
        return obj
    return obj.__class__.from_config({**obj.get_config(), "axis": axis})


def attach(
    model,
    *,
    layers=None,
    kernel_regularizer=None,
    bias_regularizer=None,
    activity_regularizer=None,
    kernel_constraint=None,
    bias_constraint=None,
):
    """Returns a copy of `model` with regularizers and constraints on chosen layers.

    The copy has the same architecture and the same weight values; the chosen
    layers carry the given regularizers and constraints (replacing any they
    had), the others are unchanged. "Kernel" means each layer's weight matrix:
    `kernel` (Dense, Conv), `depthwise_kernel` and `pointwise_kernel`
    (separable and depthwise convs) and `embeddings` (Embedding). Biases stay
    unregularized unless `bias_regularizer` is given, as in the literature.
    Layers of nested Sequential/Functional models are chosen too; a chosen
    layer that rebuilding cannot reach (inside a custom layer or a subclassed
    model) is a ValueError naming it, never silently skipped. The copy is
    not compiled: compile it as the original.

    Args:
        model: a built Sequential or Functional `keras.Model`.
        layers: which layers: `None` (every layer with a kernel), a layer name
            or a list of names, a layer class or a tuple of classes, or a
            predicate `layer -> bool`.
        kernel_regularizer: a regularizer (kreg's or Keras's) for the kernels,
            or `None` to leave that slot as it is.
        bias_regularizer: the same for the biases.
        activity_regularizer: the same for the outputs.
        kernel_constraint: a constraint for the kernels, or `None`.
        bias_constraint: a constraint for the biases, or `None`.

    Returns:
        A new, uncompiled `keras.Model`.

    Examples:
        >>> import keras, kreg
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
        ...                           keras.layers.Dense(2)])
        >>> regularized = kreg.attach(model, kernel_regularizer=kreg.regularizers.L2(0.01))
        >>> len(regularized.losses)
        2
    """
    if not isinstance(model, keras.Model):
        raise v.invalid("attach", "model", "a keras.Model", model)
    if not model.built:
        raise ValueError(
            f"attach needs a built model (call it on data or give it an Input). "
            f"Received: model={model.name!r}, which is not built"
        )
    slots = {
        "kernel_regularizer": kernel_regularizer,
        "bias_regularizer": bias_regularizer,
        "activity_regularizer": activity_regularizer,
        "kernel_constraint": kernel_constraint,
        "bias_constraint": bias_constraint,
    }
    slots = {key: obj for key, obj in slots.items() if obj is not None}
    if not slots:
        raise ValueError(
            "attach needs at least one of kernel_regularizer, bias_regularizer, "
            "activity_regularizer, kernel_constraint, bias_constraint. Received: none"
        )
    explicit = layers is not None
    selected = _selector(layers)
    chosen = [layer for layer in _walk.layers(model) if selected(layer)]
    names = [layers] if isinstance(layers, str) else layers
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        missing = sorted(set(names) - {layer.name for layer in chosen})
        if missing:
            raise ValueError(
                f"Invalid value for argument `layers` of attach: no layer named "
                f"{missing} in model {model.name!r}. Received: layers={layers!r}"
            )
    if not chosen:
        raise ValueError(f"attach chose no layer of model {model.name!r}. Received: layers={layers!r}")
    _walk.check_rebuildable("attach", model, chosen)

    updates = {}
    for layer in chosen:
        config = layer.get_config()
        update = {}
        for key, obj in slots.items():
            kind, suffix = key.split("_", 1)
            if kind == "kernel":
                targets = [f"{s}_{suffix}" for s in _KERNEL_SLOTS if f"{s}_{suffix}" in config]
            else:
                targets = [key] if key in config else []
            if not targets and explicit:
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) has no `{key}` to set. "
                    f"Received: layers={layers!r}"
                )
            for target in targets:
                update[target] = _for_layer(obj, layer)
        updates[id(layer)] = update

    def configure(layer, config):
        return {**config, **updates.get(id(layer), {})}

    return _cloning.clone(model, configure=configure)
