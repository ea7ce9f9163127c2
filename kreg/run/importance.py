"""Which hyperparameter mattered: fANOVA importances of a search's objective, slice plots and the optimization
history (`kreg report`'s section "Which hyperparameter mattered", `hyperparameters.png` and `history.png`).

The importances are Optuna's fANOVA (`optuna.importance.FanovaImportanceEvaluator`, seeded, so a report is the
same every time it is made), fed with kreg's trials through an in-memory Optuna study. fANOVA fits a random
forest to the objective as a function of the hyperparameters and splits the forest's variance over the search
space into each hyperparameter's share (Hutter, Hoos and Leyton-Brown 2014). Optuna normalizes the shares of the
hyperparameters weighed to sum to 1: a hyperparameter with no effect still gets a share, so a share is a ranking,
not evidence. PED-ANOVA (Optuna's `PedAnovaImportanceEvaluator`) is not used: it compares the top 10% of trials
with the rest, and its documentation asks for at least 5 trials in that top 10%, 50 trials, more than most kreg
searches run.

What is weighed, and on which scale:

* the trials that completed with a score and were not pruned (a pruned trial's score comes from fewer epochs;
  Optuna's evaluators leave pruned trials out too);
* the hyperparameters present in every such trial and taking more than one value. Optuna's evaluators weigh only
  those, so a conditional one (`l1`, used only where `regularizer` is l1, elastic_net or proximal_l1) drops out:
  the report names it and its slice plot shows it over the trials where it is active;
* `strength`, derived as the `strength` column of TensorBoard's HParams table is
  (`RegularizerSpace.strength_of`: the strength the trial's regularizer uses, l1 + l2 for elastic net, 0 for
  "none"), which every trial of a regularizer search has: through it the searched strength gets a share;
* log-searched hyperparameters (the strengths, `strength` included) as log10 of their value. Optuna's fANOVA
  integrates over each hyperparameter's range as given, linearly: fed a strength searched over 1e-6 to 1e-2 as
  is, it would weigh almost only its top decade (on a synthetic search where strengths below 1e-4 helped and the
  dropout rate a little, fed as is it put the rate first in 4 seeds of 4, fed as log10 the strength: see
  `test_the_hyperparameter_that_decides_the_objective_ranks_first`). A strength of 0 ("none") has no log:
  it is weighed as a tenth of the weakest strength searched, one decade below the range, which keeps the order
  none < weakest < strongest. This is for the importances only; the plots show the values as they are.

Too few trials to tell: the shares are read as a ranking only from `max(10, 5 * k)` completed, unpruned trials
for `k` hyperparameters weighed; below that the report says so in plain words. Measured on a synthetic search
with 4 hyperparameters (a 4-way choice, a log strength, a rate, a bool) where the rate alone moves the objective
by 4 noise standard deviations over its range, fANOVA put the rate first in 24 of 30 seeds at 10 trials, 29 of 30
at 15 and 30 of 30 from 20 on (5 per hyperparameter); at 2 standard deviations, 25 of 30 at 15 to 20 trials; and
with no effect at all the top share was still about 0.5 at any number of trials.
"""

import contextlib
import dataclasses
import math
import warnings

from kreg import _validation as v
from kreg.run import _figure
from kreg.tuning.spaces import RegularizerSpace

SEED = 0  # the fANOVA forest's seed: the same trials give the same importances
TRIALS_PER_HYPERPARAMETER = 5
MIN_TRIALS = 10
_STRENGTHS = RegularizerSpace.hyperparameters[1:]


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One searched hyperparameter: its `choices` (a choice) or its `low`, `high` and `log` (a number).

    `zero`, for a log-scaled number that can be 0 (the derived `strength`): the value a 0 is weighed as.
    """

    name: str
    choices: tuple = None
    low: float = None
    high: float = None
    log: bool = False
    zero: float = None
    derived: bool = False

    @property
    def single(self):
        return len(self.choices) < 2 if self.choices is not None else not self.low < self.high


@dataclasses.dataclass(frozen=True)
class Importances:
    """The importances of one search.

    Attributes:
        shares: `{hyperparameter: share}`, largest first, summing to 1; empty where nothing could be weighed.
        trials: the completed, unpruned trials weighed.
        pruned: the pruned trials left out.
        conditional: the hyperparameters left out because only some trials have them.
        caveat: why the shares cannot be read as a ranking yet, in plain words; None when they can.
    """

    shares: dict
    trials: int
    pruned: int
    conditional: tuple
    caveat: str = None


def pruned(trial):
    """Whether the pruning rule stopped `trial` (a `trial.json` read by `report.read_trials`)."""
    observations = trial.get("metrics", {}).get("metrics", {}).get("pruned", {}).get("observations", [])
    return bool(observations and observations[-1]["value"][0])


def scored(trial):
    """Whether `trial` completed with a finite score."""
    score = trial.get("score")
    return trial.get("status") == "COMPLETED" and v.is_real(score) and math.isfinite(score)


def value(trial, hyperparameter):
    """`trial`'s value of `hyperparameter`, or None where the trial does not use it."""
    values = trial["hyperparameters"]["values"]
    if hyperparameter.derived:
        return RegularizerSpace.strength_of(values)
    return values.get(hyperparameter.name)


def hyperparameters(trials):
    """The searched hyperparameters of `trials` (constants left out), in the search space's order, with the
    derived `strength` after `regularizer` where the search chose a regularizer.

    Each is as the trials' search space declares it (Keras Tuner's `hyperparameters.space`), widened to the
    values the trials hold; one no trial declares is read from the values (numbers: log scale where all are > 0
    and span 100x or more).
    """
    declared, observed = {}, {}
    for trial in trials:
        for entry in trial["hyperparameters"].get("space", []):
            declared[entry["config"]["name"]] = _declared(entry)
        for name, x in trial["hyperparameters"]["values"].items():
            if not isinstance(x, (bool, int, float, str)):
                raise ValueError(f"Trial {trial.get('trial_id')!r} has hyperparameter {name}={x!r}: kreg report "
                                 f"weighs bool, int, float and str values only")
            observed.setdefault(name, []).append(x)
    found = [_widened(name, declared.get(name), observed.get(name, [])) for name in {**declared, **observed}]
    found = [h for h in found if h is not None]
    names = [h.name for h in found]
    if RegularizerSpace.choice in names and RegularizerSpace.strength not in names:
        found.insert(names.index(RegularizerSpace.choice) + 1, _strength(trials, found))
    return [h for h in found if h is not None and not h.single]


def _declared(entry):
    kind, config = entry["class_name"], entry["config"]
    if kind == "Choice":
        return Hyperparameter(config["name"], choices=tuple(config["values"]))
    if kind == "Boolean":
        return Hyperparameter(config["name"], choices=(False, True))
    if kind == "Fixed":
        return Hyperparameter(config["name"], choices=(config["value"],))
    if kind in ("Int", "Float"):
        return Hyperparameter(config["name"], low=float(config["min_value"]), high=float(config["max_value"]),
                              log=config.get("sampling") == "log")
    return None  # a kind kreg does not know: read from the values


def _widened(name, declared, values):
    numbers = all(v.is_real(x) for x in values)
    if declared is None and not values:
        return None
    if declared is None and numbers:
        low, high = min(values), max(values)
        return Hyperparameter(name, low=float(low), high=float(high), log=low > 0 and high >= 100 * low)
    if declared is None or declared.choices is not None or not numbers:
        choices = declared.choices if declared is not None and declared.choices is not None else ()
        return Hyperparameter(name, choices=tuple(dict.fromkeys([*choices, *values])))
    low, high = min([declared.low, *values]), max([declared.high, *values])
    return dataclasses.replace(declared, low=float(low), high=float(high), log=declared.log and low > 0)


def _strength(trials, found):
    """The derived `strength`, or None where it is constant or the same as one strength in every trial."""
    strengths = [RegularizerSpace.strength_of(t["hyperparameters"]["values"]) for t in trials]
    positive = [s for s in strengths if s is not None and s > 0]
    if not positive:
        return None
    for name in _STRENGTHS:  # one regularizer searched: `strength` is its strength again
        if all(s == t["hyperparameters"]["values"].get(name) for s, t in zip(strengths, trials)):
            return None
    declared = [h for h in found if h.name in _STRENGTHS and h.choices is None and h.low > 0]
    low = min([h.low for h in declared] + positive)
    high = max([h.high for h in declared] + positive)
    return Hyperparameter(RegularizerSpace.strength, low=low, high=high, log=True, zero=low / 10, derived=True)


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna without its info logs and experimental warnings; its verbosity as it was afterwards."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        optuna.logging.set_verbosity(verbosity)


def _scaled(hyperparameter, x):
    """`x` as fANOVA weighs it: log10 on a log scale (0 as `zero`), a float otherwise; a choice as it is."""
    if hyperparameter.choices is not None:
        return x
    if hyperparameter.log:
        return math.log10(hyperparameter.zero if x == 0 and hyperparameter.zero else x)
    return float(x)


def _distribution(optuna, hyperparameter):
    if hyperparameter.choices is not None:
        return optuna.distributions.CategoricalDistribution(hyperparameter.choices)
    low = hyperparameter.zero if hyperparameter.zero is not None else hyperparameter.low
    return optuna.distributions.FloatDistribution(_scaled(hyperparameter, low), _scaled(hyperparameter,
                                                                                         hyperparameter.high))


def importances(trials, *, direction="max", seed=SEED):
    """fANOVA importances of the objective over `trials` (`trial.json`s as `report.read_trials` reads them).

    Args:
        trials: the search's trials.
        direction: "max" or "min", the objective's (default "max"); fANOVA's shares do not depend on it.
        seed: the fANOVA forest's seed, an int >= 0 (default `SEED`, 0).

    Returns:
        `Importances`.

    Example:

    >>> trials = [{"trial_id": str(i), "status": "COMPLETED", "score": 0.5 + 0.02 * i,
    ...            "hyperparameters": {"values": {"rate": 0.02 * i, "bias": i % 2 == 0}}} for i in range(12)]
    >>> result = importances(trials)
    >>> max(result.shares, key=result.shares.get), result.caveat is None
    ('rate', True)
    """
    v.one_of("importances", "direction", direction, ("max", "min"))
    seed = v.seed("importances", seed, allow_none=False)
    weighed = [t for t in trials if scored(t) and not pruned(t)]
    left_out = sum(1 for t in trials if scored(t) and pruned(t))
    searched = hyperparameters(trials)
    every = [h for h in searched if weighed and all(value(t, h) is not None for t in weighed)]
    conditional = tuple(h.name for h in searched if h not in every)
    n, k = len(weighed), len(every)
    if n < 2 or k == 0:
        caveat = (f"{n} completed trial{'s' * (n != 1)}: at least 2 are needed to weigh anything." if n < 2 else
                  "No hyperparameter present in every completed trial took more than one value: nothing to weigh.")
        return Importances({}, n, left_out, conditional, caveat)
    with _quiet_optuna() as optuna:
        distributions = {h.name: _distribution(optuna, h) for h in every}
        study = optuna.create_study(direction="maximize" if direction == "max" else "minimize")
        study.add_trials([optuna.trial.create_trial(
            params={h.name: _scaled(h, value(t, h)) for h in every}, distributions=distributions,
            value=float(t["score"])) for t in weighed])
        shares = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed), params=list(distributions))
    need = max(MIN_TRIALS, TRIALS_PER_HYPERPARAMETER * k)
    caveat = None if n >= need else (
        f"Too few trials to tell which hyperparameter mattered: {n} completed trials for {k} "
        f"hyperparameter{'s' if k > 1 else ''}, "
        f"and this ranking is to be trusted from {need} on ({TRIALS_PER_HYPERPARAMETER} per hyperparameter, "
        f"{MIN_TRIALS} at least). With fewer, the order is often wrong even where one hyperparameter alone moves "
        f"the objective: read the table as a hint, check it against the slice plots, and run more trials (a higher "
        f"`--max-trials` with `--resume`).")
    return Importances({name: float(share) for name, share in shares.items()}, n, left_out, conditional, caveat)


def markdown(result, objective):
    """`report.md`'s section "Which hyperparameter mattered": the shares as a table, the caveat, the plots."""
    lines = ["## Which hyperparameter mattered", ""]
    if result.shares:
        lines += [f"fANOVA importances of `{objective}` over {result.trials} completed trials (Optuna's "
                  f"`FanovaImportanceEvaluator`, seed {SEED}): each hyperparameter's share of the variation of "
                  f"`{objective}` across the search space. The shares sum to 1, so a hyperparameter with no effect "
                  "still gets one. Log-searched strengths are weighed on their log scale; `strength` is the strength "
                  "the trial's regularizer uses (l1 + l2 for elastic net; \"none\" weighed as a tenth of the weakest "
                  "searched).", "", "| hyperparameter | importance |", "|---|---|"]
        lines += [f"| {name} | {share:.3f} |" for name, share in result.shares.items()]
        lines.append("")
    if result.caveat:
        lines += [f"**{result.caveat}**", ""]
    if result.conditional:
        lines += ["Not weighed, as only some trials use them (see their slice plots): "
                  + ", ".join(f"`{name}`" for name in result.conditional) + ".", ""]
    if result.pruned:
        lines += [f"{result.pruned} pruned trial{'s' * (result.pruned != 1)} left out: a pruned trial's score comes "
                  "from fewer epochs.", ""]
    return lines + ["![slice plots: the objective against each hyperparameter](hyperparameters.png)", "",
                    "![optimization history](history.png)", ""]


def _order(trial, i):
    try:
        return int(trial["trial_id"])
    except (KeyError, TypeError, ValueError):
        return i


def slice_png(trials, objective, path, shares=None):
    """The objective against each searched hyperparameter, one panel each (the most important first): a
    conditional one over the trials where it is active, a log-searched one on a log axis, each trial coloured by
    its regularizer (elastic net apart from l1 and l2), pruned trials as crosses."""
    plt = _figure.pyplot()
    from matplotlib.ticker import NullFormatter

    shares = shares or {}
    shown = [t for t in trials if scored(t)]
    searched = hyperparameters(shown)
    searched.sort(key=lambda h: -shares.get(h.name, -1))
    columns = max(1, min(3, len(searched)))
    rows = max(1, -(-len(searched) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False,
                                layout="constrained")
    regularizer = next((h for h in searched if h.name == RegularizerSpace.choice), None)

    def colour(trial):
        chosen = value(trial, regularizer) if regularizer else None
        return f"C{regularizer.choices.index(chosen)}" if chosen in getattr(regularizer, "choices", ()) else "C0"

    for ax, h in zip(axes.ravel(), searched):
        active = [(i, t) for i, t in enumerate(shown)  # a derived strength of 0 ("none") is no strength: not drawn
                  if value(t, h) is not None and not (h.derived and value(t, h) == 0)]
        xs = [value(t, h) for _, t in active]
        if h.choices is not None:
            # a fixed jitter, so that trials with the same choice and score do not hide each other
            xs = [h.choices.index(x) + 0.3 * ((i * 0.618) % 1 - 0.5) for (i, _), x in zip(active, xs)]
            ax.set_xticks(range(len(h.choices)), [str(c) for c in h.choices], rotation=30, ha="right", fontsize=8)
            ax.set_xlim(-0.5, len(h.choices) - 0.5)
        elif h.log:  # the searched range, a decade a tick
            ax.set_xscale("log")
            ax.set_xlim(h.low / 1.5, h.high * 1.5)
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_xlim(h.low - 0.05 * (h.high - h.low), h.high + 0.05 * (h.high - h.low))
        for (_, t), x in zip(active, xs):
            ax.plot(x, t["score"], "x" if pruned(t) else "o", color=colour(t), markersize=6, alpha=0.85)
        share = f", importance {shares[h.name]:.2f}" if h.name in shares else ""
        where = "" if len(active) == len(shown) else f", active in {len(active)} of {len(shown)} trials"
        what = " (the regularizer's)" if h.derived else ""
        ax.set_title(f"{h.name}{what}{share}{where}", fontsize=9)
        ax.set_xlabel(h.name + (" (log scale)" if h.log and h.choices is None else ""), fontsize=8)
        ax.set_ylabel(objective, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    for ax in axes.ravel()[len(searched):]:
        ax.axis("off")
    if not searched:
        axes[0, 0].text(0.5, 0.5, "no finished trial yet: nothing to plot", ha="center", va="center")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=f"C{i}", label=str(c))
               for i, c in enumerate(regularizer.choices)] if regularizer else []
    if any(pruned(t) for t in shown):
        handles.append(Line2D([], [], marker="x", linestyle="", color="0.3", label="pruned (fewer epochs)"))
    if handles:  # below the panels (the PNG's tight bounding box takes it in)
        figure.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=min(len(handles), 5),
                      fontsize=8, title="regularizer" if regularizer else None, title_fontsize=8)
    if searched:
        figure.suptitle(f"{objective} against each hyperparameter, most important first", fontsize=10)
    _figure.save(figure, path)


def history_png(trials, objective, path, direction="max"):
    """The optimization history: the objective of each trial in the order they ran, and the best so far."""
    plt = _figure.pyplot()
    figure, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    numbered = sorted((_order(t, i), t) for i, t in enumerate(trials))
    shown = [(n, t) for n, t in numbered if scored(t)]
    best, steps = None, []
    for n, t in shown:
        if best is None or (t["score"] > best if direction == "max" else t["score"] < best):
            best = t["score"]
        steps.append((n, best))
    for marked in (False, True):
        points = [(n, t["score"]) for n, t in shown if pruned(t) == marked]
        if points:
            ax.plot(*zip(*points), "x" if marked else "o", color="0.45" if marked else "C0", linestyle="",
                    label="pruned trial (fewer epochs)" if marked else "trial")
    if steps:
        ax.step(*zip(*steps), where="post", color="C1", linewidth=2, label="best so far")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finished trial yet: nothing to plot", ha="center", va="center", transform=ax.transAxes)
    failed = len(trials) - len(shown)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    note = f"; {failed} trial{'s' * (failed != 1)} with no score not drawn" if failed else ""
    ax.set_title(f"{objective} of each trial and the best so far ({'higher' if direction == 'max' else 'lower'} is "
                 f"better{note})", fontsize=10)
    _figure.save(figure, path)
