"""The Keras internals kreg relies on where Keras 3 has no public API, each in one place.

Checked against Keras 3.15.1. `tests/test_compat.py` checks each against the
installed Keras and fails loudly, naming the function, if one changes.
"""

import contextlib
import copy
import importlib


def sublayers(layer):
    """The layers `layer` tracks directly (attributes, and lists or dicts of layers), in tracking order.

    Keras 3.15.1: `Layer._flatten_layers(include_self=False, recursive=False)`.
    `keras.Model.layers` is the same list for models; a plain `Layer` (a custom
    block holding other layers) has no public equivalent.
    """
    return layer._flatten_layers(include_self=False, recursive=False)


def consumers(layer):
    """The operations that took `layer`'s output as input when a Functional model was built.

    Keras 3.15.1: `Operation._outbound_nodes`, each node's `operation`.
    """
    return [node.operation for node in layer._outbound_nodes]


def times_called(layer):
    """How many times `layer` was called symbolically (more than once: shared).

    Keras 3.15.1: `len(Operation._inbound_nodes)`.
    """
    return len(layer._inbound_nodes)


# Keras 3.15.1: after training, a `keras.callbacks.TensorBoard` keeps the lazily
# imported `tf.summary` module (`_summary_module`) and its open writers
# (`_writers`, reset by `set_model` when the next fit begins), neither of which
# `copy.deepcopy` can copy (so Keras's own callback fails to copy after a fit).
_TENSORBOARD_RUN_STATE = {"_model": None, "_summary_module": None, "_writers": {}}


def copy_tensorboard(board, memo, **run_state):
    """A deep copy of a `keras.callbacks.TensorBoard`, used or not: its settings copied, its run state fresh.

    `run_state`: a subclass's own run state, each attribute with its fresh value.
    """
    clone = board.__class__.__new__(board.__class__)
    memo[id(board)] = clone
    fresh = {**_TENSORBOARD_RUN_STATE, **run_state}
    for key, value in vars(board).items():
        setattr(clone, key, copy.copy(fresh[key]) if key in fresh else copy.deepcopy(value, memo))
    return clone


def built_variables(optimizer):
    """The variables `optimizer.build(var_list)` was given (what `apply(grads)` updates when given none).

    Keras 3.15.1: `BaseOptimizer._trainable_variables`.
    """
    return optimizer._trainable_variables


def held_by_jax_trainer(variable):
    """Whether JAX's `fit`/`evaluate`/`predict` holds `variable`'s value in its own state right now.

    Keras 3.15.1: the JAX trainer reads every model variable into the state its
    stateless step threads through at the start of an epoch, empties the
    variable (`_value = None`, `_purge_model_variables`) and writes the state
    back at the end (`jax_state_sync`), over anything assigned in between.
    """
    return getattr(variable, "_value", True) is None


def tensorflow_backend():
    """Keras's TensorFlow backend module, whatever backend Keras runs on (a `backend=` for a `SeedGenerator`).

    Keras 3.15.1: `keras.src.backend.tensorflow`, the module Keras's
    `DynamicBackend.set_backend("tensorflow")` switches its image layers to
    inside a `tf.data` pipeline. Importing it imports TensorFlow.
    """
    return importlib.import_module("keras.src.backend.tensorflow")


def tensorflow_seed(seed):
    """The next seed of `seed` (a `SeedGenerator`) as `keras.random` hands it to TensorFlow's stateless ops.

    Keras 3.15.1: `keras.src.backend.tensorflow.random._cast_seed(draw_seed(seed))`,
    the generator's int64 state brought into int32 by `floormod(2**31 - 2)`.
    """
    module = importlib.import_module("keras.src.backend.tensorflow.random")
    return module._cast_seed(module.draw_seed(seed))


def tensorflow_op(function):
    """What the `keras.ops` or `keras.random` function `function` runs on Keras's TensorFlow backend.

    Keras 3.15.1: a public op `NAME` is defined in `keras.src.ops.MODULE` (or
    `keras.src.random.random`), and its TensorFlow implementation is
    `keras.src.backend.tensorflow.MODULE.NAME` (`numpy`, `core`, `math`, `nn`,
    `image`, `random`).
    """
    module = function.__module__.rsplit(".", 1)[-1]
    return getattr(importlib.import_module(f"keras.src.backend.tensorflow.{module}"), function.__name__)


def compile_arguments(model):
    """The arguments `model.compile` got (`metrics`, `weighted_metrics`, `loss`, ...), as given; `{}` if not compiled.

    Keras 3.15.1: `Trainer._compile_config.config`, what the public
    `get_compile_config()` serializes, and serializing imports TensorFlow
    (`serialize_keras_object` asks `tf.available` of every Keras object) even
    on JAX or torch.
    """
    config = getattr(model, "_compile_config", None)
    return dict(config.config) if model.compiled and config is not None else {}


@contextlib.contextmanager
def seen_uncompiled(model):
    """`model` reads as not compiled inside the block (`keras.models.clone_model` then leaves its copy uncompiled).

    Keras 3.15.1: `clone_model` of a compiled Sequential model compiles the copy
    from `get_compile_config()`, which fails on a custom metric or loss that is
    not registered for serialization; it reads the public `model.compiled`.
    """
    compiled = model.compiled
    model.compiled = False
    try:
        yield model
    finally:
        model.compiled = compiled
