"""Every seed kreg derives from an experiment's seed `s`, in one place.

* the data: `s` draws the validation (and CSV test) split and the flipped labels (`data`);
* the search's hyperparameter draws: Keras Tuner's random-values counter starts at `s * 1_000_003`, so two seeds
  share no draw unless a search draws a million values (`draws`);
* trial `t`, execution `e`: `s + 1000 * t + e` seeds the model's initialization, its dropout masks and the data
  order (`trial`);
* the confirmation's `k`-th seed: `1_000_000 + 10_000 * s + k` (`k` below 10,000), so that two experiment seeds
  share no confirmation seed (a second `--seed` is an independent replication), apart from the trials' below
  trial 1000 for seeds below 99,900 (`confirmation`);
* the augmentation policy's own seed, the same in every trial (its draws differ by step): `s` (`augment`);
* Bayesian optimization's NumPy random state (its candidate draws): `s` (`bayesian`).

Each is given to `keras.utils.set_random_seed` or NumPy, which take seeds below 2**32: `check` refuses an experiment
whose seeds would not fit, before anything runs.
"""

DRAW_STREAM = 1_000_003  # a prime: seed s starts Keras Tuner's counter at s * DRAW_STREAM (seed 0 keeps its stream)
TRIAL_STRIDE = 1000
CONFIRMATION_OFFSET = 1_000_000
CONFIRMATION_STRIDE = 10_000  # the most confirmation seeds of one experiment seed
LIMIT = 2**32


def data(seed):
    """The seed of the data split and the label noise."""
    return seed


def draws(seed):
    """Where Keras Tuner's random-values counter starts."""
    return seed * DRAW_STREAM


def trial(seed, trial_id, execution=0):
    """The seed of one execution of one trial (a trial id that is not a number counts as trial 0)."""
    number = int(trial_id) if str(trial_id).isdigit() else 0
    return seed + TRIAL_STRIDE * number + execution


def confirmation(seed, count):
    """The confirmation's `count` seeds."""
    return [CONFIRMATION_OFFSET + CONFIRMATION_STRIDE * seed + k for k in range(count)]


def augment(seed):
    """The seed of the searched augmentation policy."""
    return seed


def bayesian(seed):
    """The seed of Bayesian optimization's NumPy random state."""
    return seed


def check(seed, *, trials, confirmations):
    """Refuses a seed, a number of trials or of confirmation seeds whose derived seeds pass 2**32.

    Returns the largest derived seed.
    """
    if confirmations > CONFIRMATION_STRIDE:
        raise ValueError(f"At most {CONFIRMATION_STRIDE} confirmation seeds: more would share seeds with the "
                         f"experiment seed {seed + 1}'s. Received: confirm.seeds={confirmations}")
    largest = max(trial(seed, trials - 1, 0) + TRIAL_STRIDE - 1, confirmation(seed, confirmations)[-1])
    if largest >= LIMIT:
        raise ValueError(f"The seeds derived from seed={seed} for {trials} trials and {confirmations} confirmation "
                         f"seeds reach {largest}: seeds must stay below 2**32 ({LIMIT}). Choose a smaller seed or "
                         f"fewer trials. Received: seed={seed}, max_trials={trials}, confirm.seeds={confirmations}")
    return largest
