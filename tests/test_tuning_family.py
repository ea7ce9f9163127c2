"""Search spaces of the dropout family, and RegularizedCNN's residual blocks with DropPath."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

from kreg import tuning
from kreg.layers import DropBlock
from kreg.layers import DropPath
from kreg.layers import SpatialDropout2D


def fixed(**values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def test_spaces_only_read_hp():
    assert tuning.DropPathSpace(rate=(0, 0.3)).build(fixed(drop_path_rate=0.15)) == (0.15, "inverted")
    assert tuning.SpatialDropoutSpace(scalings=("inverted", "test_time")).build(
        fixed(spatial_dropout_rate=0.2, spatial_dropout_scaling="test_time")) == (0.2, "test_time")
    assert tuning.DropBlockSpace(rate=(0.0, 0.1), block_size=[3, 5]).build(
        fixed(drop_block_rate=0.1, drop_block_size=5)) == (0.1, 5, "inverted")
    hp = kt.HyperParameters()
    tuning.DropBlockSpace(rate=(0.0, 0.1), block_size=[3, 5], step=0.05).build(hp)
    domains = {p.name: p for p in hp.space}
    assert (domains["drop_block_rate"].min_value, domains["drop_block_rate"].max_value,
            domains["drop_block_rate"].step) == (0.0, 0.1, 0.05)
    assert list(domains["drop_block_size"].values) == [3, 5]
    assert domains["drop_block_scaling"].value == "inverted"


@pytest.mark.parametrize("space", [tuning.DropPathSpace, tuning.SpatialDropoutSpace, tuning.DropBlockSpace])
def test_invalid_rate_ranges(space):
    for rate in ((0.2, 1.0), (-0.1, 0.2), (0.3, 0.1), (0.0,)):
        with pytest.raises(ValueError, match=rf"argument `rate` of {space.__name__}"):
            space(rate=rate)
    with pytest.raises(ValueError, match=rf"argument `scalings` of {space.__name__}"):
        space(scalings=("paper",))


@pytest.mark.parametrize("block_size", [[], [0], [3, 3], [2.5], "3", None])
def test_invalid_block_sizes(block_size):
    with pytest.raises(ValueError, match="argument `block_size` of DropBlockSpace"):
        tuning.DropBlockSpace(block_size=block_size)


def test_drop_path_needs_residual_blocks():
    with pytest.raises(ValueError, match="argument `drop_path` of RegularizedCNN: expected None unless residual=True"):
        tuning.RegularizedCNN(3, (8, 8, 1), drop_path=tuning.DropPathSpace())
    with pytest.raises(ValueError, match="argument `residual` of RegularizedCNN: expected a bool"):
        tuning.RegularizedCNN(3, (8, 8, 1), residual=1)


def test_residual_cnn_with_the_family_trains_and_warms_every_rate_up():
    hypermodel = tuning.RegularizedCNN(
        3, (8, 8, 1), filters=(4, 4), dense=8, regularizer=None, max_norm=None, residual=True,
        drop_path=tuning.DropPathSpace(rate=(0.2, 0.2)), spatial_dropout=tuning.SpatialDropoutSpace(rate=(0.1, 0.1)),
        drop_block=tuning.DropBlockSpace(rate=(0.1, 0.1), block_size=[5]), dropout=tuning.DropoutSpace((0.3, 0.3)),
        schedule=tuning.ScheduleSpace(2))
    hp = kt.HyperParameters()
    hp.Fixed("schedule", True)
    model = hypermodel.build(hp)
    kinds = [type(layer) for layer in model.layers]
    assert kinds.count(keras.layers.Add) == 2 and kinds.count(DropPath) == 2
    assert kinds.count(SpatialDropout2D) == 2
    assert kinds.count(DropBlock) == 1  # the second block's maps are 4 wide, smaller than the block
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    history = hypermodel.fit(hp, model, x, np.arange(16) % 3, epochs=2, batch_size=8, verbose=0)
    logs = history.history
    assert logs["dropout_rate"] == pytest.approx([0.0, 0.3]) and logs["drop_path_rate"] == pytest.approx([0.0, 0.2])
    assert logs["drop_block_rate"] == pytest.approx([0.0, 0.1])
    assert logs["spatial_dropout2d_rate"] == pytest.approx([0.0, 0.1])
    # Huang et al.'s linear decay rule: block l of L drops with (l / L) * the searched (last block's) rate.
    assert [layer.rate for layer in model.layers if isinstance(layer, DropPath)] == pytest.approx([0.1, 0.2])


def test_drop_path_rate_grows_linearly_with_depth_and_its_warm_up_keeps_the_spread():
    hypermodel = tuning.RegularizedCNN(
        3, (8, 8, 1), filters=(2, 2, 2, 2), dense=4, regularizer=None, max_norm=None, dropout=None, residual=True,
        drop_path=tuning.DropPathSpace(rate=(0.0, 0.3)), schedule=tuning.ScheduleSpace(3))
    hp = kt.HyperParameters()
    hp.Fixed("drop_path_rate", 0.2)
    hp.Fixed("schedule", True)
    model = hypermodel.build(hp)
    rates = lambda: [layer.rate for layer in model.layers if isinstance(layer, DropPath)]  # noqa: E731
    assert rates() == pytest.approx([0.05, 0.1, 0.15, 0.2])
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(rates()))
    x = np.random.default_rng(1).normal(size=(8, 8, 8, 1)).astype("float32")
    history = hypermodel.fit(hp, model, x, np.arange(8) % 3, epochs=3, batch_size=8, verbose=0, callbacks=[record])
    assert history.history["drop_path_rate"] == pytest.approx([0.0, 0.1, 0.2])
    for scale, epoch_rates in zip((0.0, 0.5, 1.0), seen):
        assert epoch_rates == pytest.approx([scale * r for r in (0.05, 0.1, 0.15, 0.2)])


def test_plain_cnn_is_unchanged():
    model = tuning.RegularizedCNN(3, (8, 8, 1), filters=(4,), dense=8).build(kt.HyperParameters())
    assert not any(isinstance(layer, (keras.layers.Add, DropPath, DropBlock, SpatialDropout2D))
                   for layer in model.layers)
