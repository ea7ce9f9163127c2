import keras
import numpy as np
import pytest

from kreg.layers import SpatialDropout1D
from kreg.layers import SpatialDropout2D
from kreg.layers import SpatialDropout3D
from kreg.layers.dropout import quantized_keep

RNG = np.random.default_rng(21)
# (class, data_format, input shape, spatial axes)
CASES = [
    (SpatialDropout1D, "channels_last", (100, 3, 200), (1,)),
    (SpatialDropout1D, "channels_first", (100, 200, 3), (2,)),
    (SpatialDropout2D, "channels_last", (100, 3, 2, 200), (1, 2)),
    (SpatialDropout2D, "channels_first", (100, 200, 3, 2), (2, 3)),
    (SpatialDropout3D, "channels_last", (100, 2, 2, 2, 200), (1, 2, 3)),
    (SpatialDropout3D, "channels_first", (100, 200, 2, 2, 2), (2, 3, 4)),
]


@pytest.mark.parametrize("scaling", ["inverted", "test_time"])
@pytest.mark.parametrize(("cls", "data_format", "shape", "spatial"), CASES,
                         ids=[f"{c[0].__name__}-{c[1]}" for c in CASES])
def test_whole_channels_dropped_at_the_rate_with_kregs_scalings(cls, data_format, shape, spatial, scaling):
    rate, keep = 0.3, float(quantized_keep(0.3))
    x = RNG.uniform(0.5, 2.0, size=shape).astype("float32")
    layer = cls(rate, scaling=scaling, data_format=data_format, seed=4)
    out = np.asarray(layer(x, training=True))
    dropped = out == 0
    # One mask per (example, channel), shared over every spatial axis.
    first = dropped[tuple(slice(0, 1) if axis in spatial else slice(None) for axis in range(dropped.ndim))]
    assert (dropped == first).all()
    # 20,000 Bernoulli(0.3) channel draws: standard error 3.2e-3, tolerance 5 of them.
    assert dropped.mean() == pytest.approx(rate, abs=0.016)
    expected = x / keep if scaling == "inverted" else x
    np.testing.assert_allclose(out[~dropped], expected[~dropped], rtol=1e-6)
    inference = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(inference, x * keep if scaling == "test_time" else x, rtol=1e-6)


def test_the_mask_is_kreg_dropouts_with_the_channel_noise_shape():
    # Same seed, same 16-bit draws: spatial dropout is Dropout with noise_shape (batch, 1, 1, channels).
    from kreg.layers import Dropout

    x = RNG.normal(size=(8, 5, 5, 16)).astype("float32")
    ours = SpatialDropout2D(0.4, data_format="channels_last", seed=7)(x, training=True)
    theirs = Dropout(0.4, noise_shape=(None, 1, 1, None), seed=7)(x, training=True)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_same_weights_and_config_as_kerass_counterparts():
    for ours, theirs, shape in ((SpatialDropout1D(0.2), keras.layers.SpatialDropout1D(0.2), (2, 3, 4)),
                                (SpatialDropout2D(0.2), keras.layers.SpatialDropout2D(0.2), (2, 3, 3, 4)),
                                (SpatialDropout3D(0.2), keras.layers.SpatialDropout3D(0.2), (2, 3, 3, 3, 4))):
        x = np.ones(shape, "float32")
        ours(x, training=True), theirs(x, training=True)
        assert ours.weights == theirs.weights == []
        assert ours.get_config()["data_format"] == keras.config.image_data_format()


@pytest.mark.parametrize("cls", [SpatialDropout1D, SpatialDropout2D, SpatialDropout3D])
def test_a_wrong_rank_is_an_error(cls):
    with pytest.raises(ValueError, match="expected ndim"):
        cls(0.5)(np.ones((2, 3), "float32"), training=True)


def test_invalid_data_format():
    with pytest.raises(ValueError, match=r"Invalid value for argument `data_format` of SpatialDropout2D: "
                                         r"expected one of .*Received: data_format='nhwc'"):
        SpatialDropout2D(0.5, data_format="nhwc")
