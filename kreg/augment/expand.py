"""Offline expansion: the training set plus augmented copies of it."""

import numpy as np

from kreg import _validation as v


def expand(x, y, *, copies, policy, seed, batch_size=256):
    """Returns the `N` original examples followed by `copies` augmented copies of each.

    The "artificial expansion of the training data" of the literature, done once
    before training. A copy of `policy` seeded with `seed` makes the copies, so
    the result depends only on the inputs and `seed` (the caller's policy and
    its random stream are untouched).

    Args:
        x: the inputs, an array of `N` examples.
        y: the labels (any array of `N` rows), repeated for each copy.
        copies: `k`, the number of augmented copies, an int >= 1.
        policy: a `kreg.augment.Policy` or transform.
        seed: an int >= 0.
        batch_size: examples augmented at once, an int >= 1.

    Returns:
        `(x_expanded, y_expanded)` with `(k + 1) * N` rows, the originals first
        and unchanged.

    Example:

    >>> import numpy as np
    >>> from kreg import augment
    >>> x = np.random.default_rng(0).uniform(size=(10, 8, 8, 1)).astype("float32")
    >>> xe, ye = augment.expand(x, np.arange(10), copies=2, policy=augment.RandomRotation(10.0), seed=0)
    >>> xe.shape, ye.shape, bool((xe[:10] == x).all())
    ((30, 8, 8, 1), (30,), True)
    """
    from kreg.augment._base import Transform
    from kreg.augment.image import Policy

    copies = v.positive_int("expand", "copies", copies)
    seed = v.seed("expand", seed, allow_none=False)
    batch_size = v.positive_int("expand", "batch_size", batch_size)
    if not isinstance(policy, (Policy, Transform)):
        raise v.invalid("expand", "policy", "a kreg.augment Policy or transform", policy)
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"expand needs as many labels as examples. Received: {len(x)} examples, {len(y)} labels")
    seeded = policy.__class__.from_config({**policy.get_config(), "seed": seed})
    augmented = [
        np.asarray(seeded(x[i : i + batch_size], training=True))
        for _ in range(copies)
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate([x, *augmented]).astype(x.dtype), np.concatenate([y] * (copies + 1))
