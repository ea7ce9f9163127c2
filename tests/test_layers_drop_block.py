import numpy as np
import pytest

from kreg.layers import DropBlock
from kreg.layers.drop_block import coverage
from kreg.layers.drop_block import seed_probability
from kreg.layers.dropout import quantized_keep

RNG = np.random.default_rng(41)


def test_gamma_is_the_papers():
    # Ghiasi et al. eq. 1: gamma = (1 - keep_prob) / block_size**2 * feat_size**2 / (feat_size - block_size + 1)**2.
    assert seed_probability(0.1, 14, 14, 7) == pytest.approx(0.1 / 49 * 196 / 64, rel=1e-12)
    assert seed_probability(0.2, 6, 9, 3) == pytest.approx(0.2 / 9 * 54 / (4 * 7), rel=1e-12)
    assert seed_probability(0.3, 5, 5, 5) == pytest.approx(0.3)  # one place: gamma = rate


@pytest.mark.parametrize(("size", "b"), [(7, 3), (6, 2), (5, 5), (4, 1)])
def test_coverage_counts_the_blocks_over_each_index(size, b):
    brute = [sum(s <= i < s + b for s in range(size - b + 1)) for i in range(size)]
    np.testing.assert_array_equal(np.asarray(coverage(size, b)), brute)


def squares(dropped, b):
    """The union of the b x b squares inside the map that are wholly dropped (per map), in NumPy."""
    n, h, w, c = dropped.shape
    union = np.zeros_like(dropped)
    for i in range(h - b + 1):
        for j in range(w - b + 1):
            whole = dropped[:, i:i + b, j:j + b, :].all(axis=(1, 2), keepdims=True)
            union[:, i:i + b, j:j + b, :] |= whole
    return union


@pytest.mark.parametrize("b", [3, 4])
def test_dropped_elements_are_whole_blocks_inside_the_map(b):
    out = np.asarray(DropBlock(0.15, block_size=b, seed=2)(np.ones((8, 10, 9, 4), "float32"), training=True))
    dropped = out == 0
    assert 0 < dropped.mean() < 0.5
    np.testing.assert_array_equal(squares(dropped, b), dropped)


def test_channels_first_drops_blocks_of_the_last_two_axes():
    x = np.ones((8, 4, 10, 9), "float32")
    out = np.asarray(DropBlock(0.15, block_size=3, data_format="channels_first", seed=2)(x, training=True))
    dropped = out.transpose(0, 2, 3, 1) == 0
    assert 0 < dropped.mean() < 0.5
    np.testing.assert_array_equal(squares(dropped, 3), dropped)


def exact_keep(rate, h, w, b):
    """Each element's keep probability `(1 - gamma) ** n(i, j)`, gamma quantized as the mask draws it."""
    n = np.asarray(coverage(h, b))[:, None] * np.asarray(coverage(w, b))[None, :]
    return float(quantized_keep(seed_probability(rate, h, w, b))) ** n


@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
def test_drop_fraction_scaling_and_inference(scaling):
    rate, h, w, b = 0.1, 12, 12, 3
    x = RNG.uniform(0.5, 2.0, size=(64, h, w, 64)).astype("float32")
    layer = DropBlock(rate, block_size=b, scaling=scaling, seed=5)
    out = np.asarray(layer(x, training=True))
    kept = out != 0
    keep = exact_keep(rate, h, w, b)
    # The fraction dropped at each position: (1 - gamma) ** n from the mask's independent centres. 4,096 maps per
    # position; blocks make neighbours correlated, so the check is on the mean over positions (tolerance 0.005,
    # over 5 standard errors of the 4,096 maps' per-map drop fractions) and per position (5 binomial s.e.).
    per_position = 1 - kept.mean(axis=(0, 3))
    assert np.abs(per_position - (1 - keep)).max() <= 5 * np.sqrt(0.25 / 4096)
    assert (1 - kept.mean()) == pytest.approx((1 - keep).mean(), abs=0.005)
    # The paper's gamma gives `rate` to first order; overlaps make the true fraction a little lower.
    assert (1 - keep).mean() == pytest.approx(rate, abs=0.01) and (1 - keep).mean() < rate
    if scaling == "inverted":  # Algorithm 1: x * M * count(M) / count_ones(M), over the whole mask
        np.testing.assert_allclose(out, x * kept * (kept.size / kept.sum()), rtol=1e-5)
        np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    else:
        np.testing.assert_array_equal(out, x * kept)
        inference = np.asarray(layer(x, training=False))
        np.testing.assert_allclose(inference, x * keep[None, :, :, None], rtol=1e-5)


def test_test_time_inference_is_the_mean_of_training_passes():
    layer = DropBlock(0.2, block_size=3, scaling="test_time", seed=1)
    x = np.ones((4000, 6, 6, 1), "float32")
    mean = np.asarray(layer(x, training=True)).mean(axis=0)[:, :, 0]
    inference = np.asarray(layer(x[:1], training=False))[0, :, :, 0]
    # 4,000 Bernoulli draws per position: standard error <= 0.0079, tolerance 5 of them.
    np.testing.assert_allclose(mean, inference, atol=5 * np.sqrt(0.25 / 4000))


def test_block_size_one_is_dropout_at_the_rate():
    out = np.asarray(DropBlock(0.3, block_size=1, seed=0)(np.ones((100, 10, 10, 10), "float32"), training=True))
    # 100,000 Bernoulli(0.3) draws: standard error 1.4e-3, tolerance 5 of them.
    assert (out == 0).mean() == pytest.approx(0.3, abs=0.0073)


def test_rate_zero_is_the_identity():
    x = RNG.normal(size=(2, 5, 5, 3)).astype("float32")
    for scaling in ("inverted", "test_time"):
        for training in (True, False):
            out = DropBlock(0.0, block_size=3, scaling=scaling, seed=0)(x, training=training)
            np.testing.assert_array_equal(np.asarray(out), x)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True, "3", None])
def test_invalid_block_size(block_size):
    with pytest.raises(ValueError, match=r"argument `block_size` of DropBlock: expected an int >= 1\. "
                                         rf"Received: block_size={block_size!r}"):
        DropBlock(0.1, block_size=block_size)


def test_a_block_larger_than_the_map_is_an_error_not_clipped():
    with pytest.raises(ValueError, match=r"at least block_size=7.*\(2, 5, 9, 3\)"):
        DropBlock(0.1, block_size=7, seed=0)(np.ones((2, 5, 9, 3), "float32"), training=True)
    with pytest.raises(ValueError, match="expected ndim=4"):
        DropBlock(0.1, block_size=1)(np.ones((2, 5, 3), "float32"), training=True)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("size", [1, 2, 5])
def test_window_max_is_the_max_over_each_window(size, data_format):
    # Two separable pools: the plain sliding-window max, on every backend and data format.
    from numpy.lib.stride_tricks import sliding_window_view

    from kreg.layers.drop_block import _window_max

    x = np.random.default_rng(size).normal(size=(2, 9, 8, 3)).astype("float32")
    axes = (1, 2)
    expected = sliding_window_view(x, (size, size), axis=axes).max(axis=(-2, -1))
    if data_format == "channels_first":
        x, expected, axes = x.transpose(0, 3, 1, 2), expected.transpose(0, 3, 1, 2), (2, 3)
    np.testing.assert_array_equal(np.asarray(_window_max(x, size, axes, data_format)), expected)
