"""kreg/_seeds.py: every seed derived from an experiment's, in one place."""

import pytest

from kreg import _seeds


def test_two_experiment_seeds_share_no_confirmation_seed():
    """A second `--seed` replicates on other initializations (seeds 0 and 1 once shared four of five)."""
    by_seed = {s: set(_seeds.confirmation(s, 10)) for s in range(50)}
    for s in range(49):
        assert not by_seed[s] & by_seed[s + 1]
    assert _seeds.confirmation(0, 3) == [1_000_000, 1_000_001, 1_000_002]  # seed 0's stay what they were


def test_confirmation_seeds_stay_apart_from_the_trials():
    trials = {_seeds.trial(s, t, e) for s in range(20) for t in range(999) for e in range(2)}
    assert not trials & {c for s in range(20) for c in _seeds.confirmation(s, 20)}


def test_too_many_confirmation_seeds_or_a_seed_past_the_limit_is_refused():
    assert _seeds.check(0, trials=10, confirmations=_seeds.CONFIRMATION_STRIDE) < 2**32
    with pytest.raises(ValueError, match="At most 10000 confirmation seeds.*confirm.seeds=10001"):
        _seeds.check(0, trials=10, confirmations=10_001)
    largest_seed = (2**32 - 1 - _seeds.CONFIRMATION_OFFSET - 5) // _seeds.CONFIRMATION_STRIDE
    assert _seeds.check(largest_seed, trials=10, confirmations=5) < 2**32
    with pytest.raises(ValueError, match="2\\*\\*32"):
        _seeds.check(largest_seed + 1, trials=10, confirmations=5)
