"""Offline expansion: the training set plus augmented copies of it."""

import numpy as np

from kreg import _validation as v

_BLOCK = 256  # examples augmented per call; every call gets exactly this many (the last block padded)


def expand(x, y, *, copies, policy, seed):
    """Returns the `N` original examples followed by `copies` augmented copies of each.

    The "artificial expansion of the training data" of the literature, done once
    before training. A copy of `policy` seeded from `(seed, copy, block)` makes
    each block of 256 examples of each copy (the last block padded to 256, so
    every call draws the same shapes), so copy `c` of example `i` depends only
    on that example, `seed`, `c` and `i`: not on the other examples, nor on `N`.
    The caller's policy and its random stream are untouched.

    Args:
        x: the inputs, an array of `N` examples.
        y: the labels (any array of `N` rows), repeated for each copy.
        copies: `k`, the number of augmented copies, an int >= 1.
        policy: a `kreg.augment.Policy`, transform or `RandomApply`.
        seed: an int >= 0.

    Returns:
        `(x_expanded, y_expanded)` with `(k + 1) * N` rows, the originals first
        and unchanged.

    Examples:
        >>> import numpy as np
        >>> from kreg import augment
        >>> x = np.random.default_rng(0).uniform(size=(10, 8, 8, 1)).astype("float32")
        >>> xe, ye = augment.expand(x, np.arange(10), copies=2, policy=augment.RandomRotation(10.0), seed=0)
        >>> xe.shape, ye.shape, bool((xe[:10] == x).all())
        ((30, 8, 8, 1), (30,), True)
    """
    from kreg.augment._base import Member
    from kreg.augment.image import Policy

    copies = v.positive_int("expand", "copies", copies)
    seed = v.seed("expand", seed, allow_none=False)
    if not isinstance(policy, (Policy, Member)):
        raise v.invalid("expand", "policy", "a kreg.augment Policy, transform or RandomApply", policy)
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"expand needs as many labels as examples. Received: {len(x)} examples, {len(y)} labels")
    config = policy.get_config()

    def augmented(copy, start):
        block = x[start : start + _BLOCK]
        padded = np.concatenate([block, np.zeros((_BLOCK - len(block), *x.shape[1:]), x.dtype)])
        block_seed = int(np.random.SeedSequence([seed, copy, start]).generate_state(1)[0] >> 1)
        seeded = policy.__class__.from_config({**config, "seed": block_seed})
        return np.asarray(seeded(padded, training=True))[: len(block)]

    blocks = [augmented(c, start) for c in range(copies) for start in range(0, len(x), _BLOCK)]
    return np.concatenate([x, *blocks]).astype(x.dtype), np.concatenate([y] * (copies + 1))
