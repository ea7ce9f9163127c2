"""Datasets that need no download: scikit-learn's bundled digits."""

import warnings

import numpy as np

from kreg import _validation as v

NUM_CLASSES = 10


def digits(*, train_size=500, label_noise=0.3, validation_size=300, flat=True, seed=0):
    """The 8x8 digits (1,797 images) split into train, validation and test sets.

    Pixels are scaled to [0, 1]. A fraction `label_noise` of the training labels
    is replaced by a different class drawn at random, which makes a large
    network overfit; validation and test labels are clean. The test set is
    every example not in train or validation.

    Args:
        train_size: number of training examples, an int >= 1.
        label_noise: fraction of training labels flipped, a float in [0, 1].
        validation_size: number of validation examples, an int >= 1.
        flat: `True` for vectors of 64 features, `False` for 8x8x1 images.
        seed: seed of the split and of the label noise, an int >= 0.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`, float32 inputs
        and int32 labels.
    """
    from sklearn.datasets import load_digits

    train_size = v.positive_int("digits", "train_size", train_size)
    validation_size = v.positive_int("digits", "validation_size", validation_size)
    label_noise = v.non_negative_float("digits", "label_noise", label_noise)
    if label_noise > 1:
        raise v.invalid("digits", "label_noise", "a float in [0, 1]", label_noise)
    seed = v.seed("digits", seed, allow_none=False)
    if not isinstance(flat, bool):
        raise v.invalid("digits", "flat", "a bool", flat)

    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    y = data.target.astype("int32")
    if train_size + validation_size >= len(x):
        raise ValueError(
            f"digits has {len(x)} examples: train_size + validation_size must leave "
            f"a test set. Received: train_size={train_size}, validation_size={validation_size}"
        )
    if not flat:
        x = x.reshape(-1, 8, 8, 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    train, val, test = np.split(order, [train_size, train_size + validation_size])
    y_train = y[train].copy()
    flipped = rng.random(train_size) < label_noise
    shift = rng.integers(1, NUM_CLASSES, size=train_size)
    y_train[flipped] = (y_train[flipped] + shift[flipped]) % NUM_CLASSES
    return (x[train], y_train), (x[val], y[val]), (x[test], y[test])


def load_npz(path, *, validation_size=0.2, flat=False, seed=0):
    """A local `.npz` file in Keras's layout: `x_train`, `y_train`, `x_test`, `y_test`.

    Integer images (0-255) are scaled to [0, 1]. The validation set is the
    last `validation_size` fraction of the shuffled training set.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`.
    """
    validation_size = v.fraction("load_npz", "validation_size", validation_size, 1.0, include_high=False)
    try:
        with np.load(path) as f:
            missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in f.files]
            if missing:
                raise ValueError(f"{path} lacks array {missing[0]!r} (needs x_train, y_train, x_test, y_test)")
            arrays = {key: f[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except OSError as error:
        raise ValueError(f"Cannot read {path} as an .npz file: {error}") from None
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if len(x) != len(y):
            raise ValueError(f"{path}: x_{part} has {len(x)} examples but y_{part} has {len(y)} labels")
        _finite(x, lambda index: f"{path}: x_{part}{list(index)}")
        arrays[f"y_{part}"] = _labels(y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y,
                                      lambda row: f"{path}: y_{part}[{row}]")
    x_train, x_test = (_scaled(arrays[k], flat) for k in ("x_train", "x_test"))
    return _checked(path, _split(x_train, arrays["y_train"], validation_size, seed) + (
        (x_test, arrays["y_test"]),), f"validation_size={validation_size}")


def load_csv(path, *, label_column=-1, test_size=0.2, validation_size=0.2, seed=0):
    """A local CSV of numbers with a header row: features and an integer label column.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`, split at random.
    """
    test_size = v.fraction("load_csv", "test_size", test_size, 1.0, include_high=False)
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
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_size))
    test, rest = order[:n_test], order[n_test:]
    return _checked(path, _split(x[rest], y[rest], validation_size, seed) + ((x[test], y[test]),),
                    f"test_size={test_size}, validation_size={validation_size}")


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


def _checked(path, splits, sizes):
    """The splits, if every one has an example and the labels are the classes 0 .. num_classes - 1.

    `num_classes` is the largest label + 1; each class must occur among the
    training labels (labels 100 to 102 would make a 103-class model otherwise).
    """
    counts = [len(y) for _, y in splits]
    if min(counts) < 1:
        raise ValueError(f"{path}: {sum(counts)} examples give {counts[0]} training, {counts[1]} validation and "
                         f"{counts[2]} test examples with {sizes}: every split needs at least one")
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


def _split(x, y, validation_size, seed):
    order = np.random.default_rng(seed + 1).permutation(len(x))
    n_val = int(round(len(x) * validation_size))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])
