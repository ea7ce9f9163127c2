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
