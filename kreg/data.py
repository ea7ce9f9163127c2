"""Datasets that need no download: scikit-learn's bundled digits."""

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
    x_train, x_test = (_scaled(arrays[k], flat) for k in ("x_train", "x_test"))
    return _split(x_train, arrays["y_train"].astype("int32"), validation_size, seed) + (
        (x_test, arrays["y_test"].astype("int32")),)


def load_csv(path, *, label_column=-1, test_size=0.2, validation_size=0.2, seed=0):
    """A local CSV of numbers with a header row: features and an integer label column.

    Returns:
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`, split at random.
    """
    test_size = v.fraction("load_csv", "test_size", test_size, 1.0, include_high=False)
    validation_size = v.fraction("load_csv", "validation_size", validation_size, 1.0, include_high=False)
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype="float64", ndmin=2)
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot read {path} as a CSV of numbers with a header row: {error}") from None
    if not -table.shape[1] <= label_column < table.shape[1]:
        raise v.invalid("load_csv", "label_column", f"a column of the {table.shape[1]} in {path}", label_column)
    y = table[:, label_column].astype("int32")
    x = np.delete(table, label_column % table.shape[1], axis=1).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_size))
    test, rest = order[:n_test], order[n_test:]
    return _split(x[rest], y[rest], validation_size, seed) + ((x[test], y[test]),)


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
