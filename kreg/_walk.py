"""One walk over a model's layers, used by every kreg function that looks for layers.

It finds layers wherever Keras tracks them: in Sequential and Functional
models, in subclassed models, and in custom layers that hold other layers, at
any depth. Functions that rebuild a model (`attach`, folding and converting
dropout) can only reach layers through Sequential and Functional models;
`check_rebuildable` names the first layer they cannot reach.
"""

import keras

from kreg import _compat


def walk(model):
    """`(layer, parent)` for every layer inside `model`, depth first, each layer once."""
    found, seen = [], set()

    def visit(parent):
        for layer in _compat.sublayers(parent):
            if isinstance(layer, keras.regularizers.Regularizer):
                continue  # a kreg penalty is tracked as a layer (so JAX threads its strengths): not a model layer
            if id(layer) not in seen:
                seen.add(id(layer))
                found.append((layer, parent))
                visit(layer)

    visit(model)
    return found


def layers(model, kind=keras.layers.Layer):
    """Every layer inside `model` that is an instance of `kind` (a class or tuple of classes)."""
    return [layer for layer, _ in walk(model) if isinstance(layer, kind)]


def is_graph(layer):
    """Whether `layer` is a Sequential or Functional model (what `keras.models.clone_model` rebuilds)."""
    return isinstance(layer, (keras.Sequential, keras.Function))


def check_rebuildable(owner, model, targets, *, top_level=False):
    """Raises a ValueError naming the first of `targets` that rebuilding `model` cannot reach.

    Reachable: layers of `model` itself and, unless `top_level`, of the
    Sequential and Functional models nested in it at any depth.
    """
    if not is_graph(model):
        raise ValueError(f"{owner} needs a Sequential or Functional model. Received: model={model.name!r} "
                         f"({type(model).__name__})")
    reachable = {id(model)}
    for layer, parent in walk(model):
        if id(parent) in reachable and is_graph(parent) and (parent is model or not top_level):
            reachable.add(id(layer))
        if any(layer is target for target in targets) and id(layer) not in reachable:
            where = "a nested model" if is_graph(parent) else "a custom layer"
            raise ValueError(
                f"{owner} cannot reach layer {layer.name!r} ({type(layer).__name__}): it is inside "
                f"{where}, {parent.name!r} ({type(parent).__name__}), which {owner} does not rebuild"
                + (": apply it to that model itself" if is_graph(parent) else "")
            )
