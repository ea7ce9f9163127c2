"""The user's own model builder and data loader, named in an experiment file or given from Python.

`[model] builder = "model.py:build"` and `[data] loader = "data.py:load"` name a
function in a file (relative to the experiment file) or in an importable module
(`"package.module:function"`). `resolve` finds it; `load` calls a loader and
checks what it returns. A split is `(x, y)` (anything Keras's `fit` takes as
`x` and `y`: arrays, dicts or lists of arrays), a `tf.data.Dataset` or a
`keras.utils.PyDataset`; the helpers below give each kind to `fit` and
`evaluate` as Keras wants it, and never read a dataset past its first batch.
"""

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys

import keras
import numpy as np

PARTS = ("train", "validation", "test")


def resolve(reference, key, where):
    """The function `reference` (`"file.py:function"` or `"package.module:function"`) names; a ValueError otherwise.

    `key` (`model.builder`, `data.loader`) and `where` (the experiment file)
    name it in the error. A file is found relative to `where`'s folder.
    """
    module_name, sep, attribute = reference.rpartition(":")
    if not sep or not module_name or not attribute.isidentifier():
        raise ValueError(f"{where}: `{key}` must be \"file.py:function\" or \"package.module:function\". "
                         f"Received: {reference!r}")
    if module_name.endswith(".py"):
        base = os.path.dirname(os.path.abspath(where)) if os.path.isfile(where) else os.getcwd()
        path = os.path.normpath(os.path.join(base, module_name))
        if not os.path.isfile(path):
            raise ValueError(f"{where}: `{key}` = {reference!r}: no file {path}")
        name = f"kreg_own_{hashlib.sha256(path.encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(path))  # its own sibling modules import as they would beside it
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ValueError(f"{where}: `{key}` = {reference!r}: importing {path} raised "
                             f"{type(error).__name__}: {error}") from None
        finally:
            sys.path.remove(os.path.dirname(path))
        sys.modules[name] = module
    else:
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise ValueError(f"{where}: `{key}` = {reference!r}: cannot import {module_name!r} "
                             f"({type(error).__name__}: {error})") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        found = "nothing" if function is None else f"{type(function).__name__} {function!r}"
        raise ValueError(f"{where}: `{key}` = {reference!r}: {module_name} has no function {attribute!r} "
                         f"(found {found})")
    return function


def name_of(function):
    """How a function given from Python is recorded: `module:qualified name`."""
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"


def load(loader, seed, described):
    """Calls `loader(seed)` (or `loader()` where it takes no argument) and checks its `(train, validation, test)`.

    `described` names the loader in errors (`"data.py:load"`).
    """
    try:
        takes_seed = bool(inspect.signature(loader).parameters)
    except (TypeError, ValueError):
        takes_seed = True
    try:
        splits = loader(seed) if takes_seed else loader()
    except Exception as error:
        raise ValueError(f"data.loader {described} raised {type(error).__name__}: {error}") from None
    if not isinstance(splits, (tuple, list)) or len(splits) != 3:
        raise ValueError(f"data.loader {described} must return (train, validation, test). Received: "
                         f"{_short(splits)}")
    return tuple(_split(split, part, described) for split, part in zip(splits, PARTS))


def _split(split, part, described):
    if is_dataset(split):
        return split
    if isinstance(split, (tuple, list)) and len(split) == 2:
        x, y = split
        sizes = {len(a) for a in keras.tree.flatten((x, y)) if hasattr(a, "__len__")}
        if len(sizes) > 1:
            raise ValueError(f"data.loader {described}: the {part} split's x and y have different numbers of "
                             f"examples: {sorted(sizes)}")
        if not sizes or 0 in sizes:
            raise ValueError(f"data.loader {described}: the {part} split is empty")
        return tuple(split)
    raise ValueError(f"data.loader {described}: the {part} split must be (x, y), a tf.data.Dataset or a "
                     f"keras.utils.PyDataset. Received: {_short(split)}")


def _short(value):
    text = repr(value)
    return f"{type(value).__name__} {text[:120]}{'...' if len(text) > 120 else ''}"


def is_dataset(split):
    """Whether `split` is a dataset (batched by itself) rather than `(x, y)` held in memory."""
    if isinstance(split, keras.utils.PyDataset):
        return True
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(split, tf.data.Dataset)


def in_memory(splits):
    return not any(is_dataset(split) for split in splits)


def fit_arguments(split, batch_size):
    """`(args, kwargs)` for `fit`/`evaluate` on `split`: a dataset is batched already."""
    if is_dataset(split):
        return (split,), {}
    return tuple(split), {"batch_size": batch_size}


def first_batch(split, size=2):
    """`(x, y)` of the first batch (at most `size` examples of an in-memory split)."""
    if is_dataset(split):
        batch = split[0] if isinstance(split, keras.utils.PyDataset) else next(iter(split.take(1)))
        x, y = batch[0], batch[1]
    else:
        x, y = split
    cut = (lambda a: a[:size]) if not is_dataset(split) else (lambda a: a)
    return keras.tree.map_structure(lambda a: cut(np.asarray(a)), x), \
        keras.tree.map_structure(lambda a: cut(np.asarray(a)), y)


def size(split):
    """Examples of an in-memory split; batches of a dataset where it knows them (`"N batches"`), else "?"."""
    if not is_dataset(split):
        return len(keras.tree.flatten(split[1])[0])
    try:
        count = len(split)
    except TypeError:
        count = -1
    return f"{count} batches" if count >= 0 else "? batches"


def fingerprint(splits):
    """SHA-256 of every in-memory array (dtype, shape, bytes) and of each dataset's first batch.

    A dataset is not read whole: its part of the fingerprint is its first
    batch, so other data behind the same loader is caught where its first batch
    differs.
    """
    digest = hashlib.sha256()
    for split in splits:
        arrays = keras.tree.flatten(first_batch(split) if is_dataset(split) else split)
        for array in arrays:
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(array).cast("B") if array.dtype != object else repr(array.tolist()).encode())
    return digest.hexdigest()


def check_batch(split, part, described):
    """The first batch's floating-point values are finite (a ValueError naming the split otherwise)."""
    for array in keras.tree.flatten(first_batch(split, size=1024)):
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise ValueError(f"{described}: the {part} split's first batch holds NaN or infinite values")
