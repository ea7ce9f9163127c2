"""Everything kreg shows of a search: the progress lines, the confirmation's summary, TensorBoard scalars and plot,
and `kreg report` (`report.md` and its PNGs)."""

import glob
import json
import math
import os
import time

import numpy as np
from tensorboard.util import tensor_util

from kreg import _events
from kreg import _io
from kreg.run import _figure
from kreg.run import confirm
from kreg.run import folder
from kreg.run import importance


def progress(budget, started, direction):
    """`on_progress(event, trial)` for kreg's tuners: a line when a trial begins, one when it ends."""
    state = {"best": None, "done": 0}

    def report(event, trial):
        number = int(trial.trial_id) + 1
        if event == "begin":
            print(f"trial {trial.trial_id} ({number} of {budget}): {values(trial.hyperparameters.values)}", flush=True)
            return
        state["done"] += 1
        elapsed = time.time() - started
        left = elapsed / state["done"] * max(budget - number, 0)
        score = "failed" if trial.status != "COMPLETED" else f"score {trial.score:.4f}"
        if trial.status == "COMPLETED" and (state["best"] is None or (trial.score > state["best"]) == (
                direction == "max")):
            state["best"] = trial.score
        best = "none yet" if state["best"] is None else f"{state['best']:.4f}"
        print(f"  trial {trial.trial_id} {score}; best so far {best}; elapsed {elapsed:.0f} s, about {left:.0f} s "
              f"left", flush=True)

    return report


def values(hyperparameters):
    """`name=value, ...`, floats to 3 significant digits."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in hyperparameters.items())


def read_trials(directory):
    project = os.path.join(directory, "tuner", "search")
    if not os.path.isdir(directory):
        what = "is not a folder" if os.path.exists(directory) else "does not exist"
        raise ValueError(f"kreg report and kreg export take a search's folder LOGDIR/EXPERIMENT: {directory!r} {what}")
    if not os.path.isdir(project):
        raise ValueError(f"{directory!r} holds no search (no {project}); run `kreg search` first")
    path = os.path.join(directory, "search.json")
    try:
        with open(path) as f:
            summary = json.load(f)
        objective = {"name": summary["objective"]["name"], "direction": summary["objective"]["direction"]}
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"Cannot read {path} ({error!r}): is {directory} a `kreg search` folder?") from None
    trials = []
    for path in sorted(glob.glob(os.path.join(project, "trial_*", "trial.json"))):
        trials.append(folder.read(path, "trial"))
    return trials, objective, summary.get("settings", {}).get("data", {}).get("label_noise", 0.0)


def read_curves(run):
    """`{metric: (steps, values)}` of a TensorBoard run folder (Keras's `epoch_*` scalars).

    Its event files are read in name order, as TensorBoard reads them; a step
    logged again (a trial run again after a kill) replaces the old points from
    that step on, as TensorBoard's purge of orphaned data does.
    """
    if not os.path.isdir(run):
        return {}
    points = {}
    for name in sorted(os.listdir(run)):
        if "tfevents" not in name:
            continue
        for event in _events.read(os.path.join(run, name)):
            for value in event.summary.value:
                if value.tag.startswith("epoch_") and value.HasField("tensor"):
                    steps = points.setdefault(value.tag[len("epoch_"):], {})
                    for step in [s for s in steps if s >= event.step]:
                        del steps[step]
                    steps[event.step] = float(tensor_util.make_ndarray(value.tensor))
    return {metric: (list(steps), list(steps.values())) for metric, steps in points.items()}


def _last_pair(train, val):
    """`(training, validation)` at the last epoch both curves have, or None."""
    common = set(train[0]) & set(val[0])
    if not common:
        return None
    step = max(common)
    return train[1][train[0].index(step)], val[1][val[0].index(step)]


def _legend_or_say(ax, message):
    """A legend of what was drawn, or `message` in the middle of an empty plot."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)


def make(directory, *, top=3):
    """Writes `curves.png`, `weights.png`, `hyperparameters.png` (the slice plots), `trials.png`, `history.png`,
    `confirm.png` (once confirmed) and `report.md` into `directory`; prints the markdown's text; returns the paths
    written."""
    trials, objective, label_noise = read_trials(directory)
    scored = [t for t in trials if t["status"] == "COMPLETED" and t.get("score") is not None]
    scored.sort(key=lambda t: t["score"], reverse=objective["direction"] == "max")
    written = [os.path.join(directory, name) for name in ("curves.png", "weights.png", "hyperparameters.png",
                                                          "trials.png", "history.png")]
    metric = objective["name"][4:] if objective["name"].startswith("val_") else objective["name"]
    gaps = curves_png(directory, scored[:top], written[0], metric)
    every_trial_png(directory, trials, scored[0]["trial_id"] if scored else None, written[3], metric)
    weights_png(os.path.join(directory, "weights.npz"), written[1])
    weighed = importance.importances(trials, direction=objective["direction"])
    importance.slice_png(trials, objective["name"], written[2], weighed.shares)
    importance.history_png(trials, objective["name"], written[4], objective["direction"])
    confirmation = _confirmation(directory)
    if confirmation:
        written.append(os.path.join(directory, "confirm.png"))
        plot_confirmation(confirmation, written[-1])
    lines = markdown(directory, trials, scored, objective, gaps, label_noise, confirmation, metric, weighed)
    written.append(os.path.join(directory, "report.md"))
    _io.write_text(written[-1], "\n".join(lines))
    print("\n".join(line for line in lines if not line.startswith("![")))
    return written


def _confirmation(directory):
    path = os.path.join(directory, "result.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f).get("confirmation")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"Cannot read {path} ({error!r}): it is damaged") from None


def curves_png(directory, trials, path, metric="accuracy"):
    """Training and validation `metric` by epoch of `trials` and the baseline; returns each run's last-epoch gap."""
    plt = _figure.pyplot()
    board = os.path.join(directory, "tensorboard")
    figure, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    runs = [(f"trial {t['trial_id']}", os.path.join(board, t["trial_id"], "execution0")) for t in trials]
    if trials:
        runs.append(("baseline (unregularized)", os.path.join(board, "baseline")))
    gaps = []  # (run, training, validation) at the last epoch both logged
    for i, (label, run) in enumerate(runs):
        train, val = read_curves(os.path.join(run, "train")), read_curves(os.path.join(run, "validation"))
        if metric in train and metric in val:
            last = _last_pair(train[metric], val[metric])
            gap = "" if last is None else f" (last epoch: training − validation {last[0] - last[1]:+.3f})"
            if last is not None:
                gaps.append((label, *last))
            color = f"C{i}"  # points as well as lines: a 1-epoch run is a point
            ax.plot(*train[metric], color=color, linestyle="--", marker=".", label=f"{label}: training")
            ax.plot(*val[metric], color=color, marker=".", label=f"{label}: validation{gap}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by epoch: training (dashed) and validation (solid)")
    _legend_or_say(ax, "no finished trial yet: nothing to plot")
    _figure.save(figure, path)
    return gaps


def weights_png(weights_path, path):
    """Histograms of the kernel weights `kreg search` saved (`weights.npz`)."""
    plt = _figure.pyplot()
    figure, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    if os.path.exists(weights_path):
        with np.load(weights_path) as weights:
            # The best trial last and thickest, the baseline dashed: neither hidden behind another curve.
            order = sorted(weights.files, key=lambda label: (label == "best", label == "baseline"))
            for i, label in enumerate(order):
                style = {"color": f"C{i}", **{"best": {"linewidth": 2.2, "color": "black"},
                                              "baseline": {"linestyle": "--"}}.get(label, {})}
                ax.hist(weights[label], bins=120, histtype="step", density=True, log=True, label=label, **style)
    ax.set_xlabel("kernel weight")
    ax.set_ylabel("density (log)")
    ax.set_title("Kernel weights: the best trial (black), the baseline (dashed), the best of each regularizer")
    _legend_or_say(ax, "no finished trial yet: no weights")
    _figure.save(figure, path)


def every_trial_png(directory, trials, best_id, path, metric="accuracy"):
    """Validation `metric` by epoch of every trial that logged one: the best in colour, the pruned ones marked
    with an x where the pruning rule stopped them."""
    plt = _figure.pyplot()
    figure, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    shown = {"pruned": False, "other": False}
    for trial in trials:
        val = read_curves(os.path.join(directory, "tensorboard", trial["trial_id"], "execution0", "validation"))
        if metric not in val:
            continue
        steps, values = val[metric]
        epochs = [s + 1 for s in steps]  # numbered as Keras prints them
        pruned = importance.pruned(trial)
        if trial["trial_id"] == best_id:
            ax.plot(epochs, values, color="C0", marker=".", linewidth=2, zorder=3, label=f"trial {best_id} (best)")
            continue
        ax.plot(epochs, values, color="0.6", linewidth=1, label=None if shown["other"] else "other trials")
        shown["other"] = True
        if pruned:
            ax.plot(epochs[-1:], values[-1:], "x", color="C3", markersize=8,
                    label=None if shown["pruned"] else "pruned here")
            shown["pruned"] = True
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(f"validation {metric} of every trial")
    _legend_or_say(ax, "no trial logged an epoch yet: nothing to plot")
    _figure.save(figure, path)


def markdown(directory, trials, scored, objective, gaps, label_noise, confirmation, metric="accuracy", weighed=None):
    """`report.md`'s lines: the best trials, the curves' gaps, the plots, which hyperparameter mattered (`weighed`,
    an `importance.Importances`), the confirmation."""
    name, direction = objective["name"], objective["direction"]
    lines = [f"# Report: {os.path.basename(os.path.normpath(directory))}", "",
             f"{len(trials)} trials, {len(scored)} completed; objective {name} ({direction}).", ""]
    lines += ["| trial | " + name + " | hyperparameters |", "|---|---|---|"]
    for t in scored[:10]:
        lines.append(f"| {t['trial_id']} | {t['score']:.4f} | {values(t['hyperparameters']['values'])} |")
    lines += ["", "![curves](curves.png)", ""]
    if gaps:
        noise = f", {label_noise:.0%} of which are flipped here (`label_noise`)" if label_noise else ""
        lines += [f"`{metric}` at the last epoch. Training's is the mean over the epoch's batches, with dropout and "
                  f"augmentation on, against the training labels{noise}: it can sit below validation. A gap that "
                  "grows over the epochs (training up, validation down) is what regularization narrows.", "",
                  "| run | training | validation | training − validation |", "|---|---|---|---|"]
        lines += [f"| {label} | {train:.4f} | {val:.4f} | {train - val:+.4f} |" for label, train, val in gaps]
        lines.append("")
    lines += ["![every trial](trials.png)", "![weights](weights.png)", ""]
    if weighed is not None:
        lines += importance.markdown(weighed, name)
    if confirmation:
        lines += confirmation_markdown(confirmation)
    return lines


def plot(columns, path, *, metric="test accuracy"):
    """A PNG at `path`: each column's per-seed values as points, its mean with the 95% t-interval as a bar.

    Args:
        columns: `[(label, [value per seed])]`, drawn left to right.
    """
    plt = _figure.pyplot()
    figure, ax = plt.subplots(figsize=(1.9 * len(columns) + 1.5, 3.6))
    for i, (label, values) in enumerate(columns):
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        ax.scatter(i + np.asarray(offsets), values, s=18, color="0.45", zorder=3,
                   label="one seed" if i == 0 else None)
        mean, low, high = confirm.interval(values)
        if math.isfinite(low):
            ax.errorbar(i + 0.3, mean, yerr=[[mean - low], [high - mean]], fmt="o", color="C0", capsize=4,
                        label="mean, 95% CI" if i == 0 else None)
        else:
            ax.plot(i + 0.3, mean, "o", color="C0", label="mean" if i == 0 else None)
    ax.set_xticks(range(len(columns)), [label for label, _ in columns], fontsize=8)
    ax.set_xlim(-0.5, len(columns) - 0.3)
    ax.set_ylabel(metric)
    ax.set_title(f"Confirmation over {max(len(v) for _, v in columns)} seeds", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _figure.save(figure, path)




def _metric(confirmation):
    """The confirmation's test metric and whether higher is better (a `result.json` of an earlier kreg: accuracy)."""
    return confirmation.get("metric", "test_accuracy"), confirmation.get("direction", "max") == "max"


def summary(confirmation):
    """The printed lines of a confirmation: each column's mean ± sd, and what each step buys, with 95% CIs."""
    columns, comparisons = confirmation["columns"], confirmation["comparisons"]
    metric, higher = _metric(confirmation)
    lines = [f"Confirmed over {len(confirmation['seeds'])} fresh seeds ({metric.replace('_', ' ')}, mean ± sd; each "
             f"model at {confirmation['selection']}, the baseline also at its last epoch):"]
    width = max(len(c["label"]) for c in columns.values())
    for key, column in columns.items():
        values = column[metric]
        std = np.std(values, ddof=1) if len(values) > 1 else math.nan
        lines.append(f"  {column['label']:<{width}}  {np.mean(values):.4f} ± {std:.4f}")
    for name, comparison in comparisons.items():
        a, b = name.split(" - ")
        if b == "last_epoch" and a != "early_stopping":
            continue
        c = comparison[metric]
        lines.append(f"  {columns[a]['label'][:3]} - {columns[b]['label'][:3]}: {c['difference']:+.4f}, "
                     f"{interval_text(c)}")
    best = comparisons[f"trial_{confirmation['best_trial']} - early_stopping"][metric]
    side = "above" if higher else "below"
    if confirmation["winner_unregularized"]:
        lines.append("  The search's winner uses no regularization: whatever it gains over (a) is early stopping's.")
    elif not (best["ci_low"] > 0 if higher else best["ci_high"] < 0):
        lines.append(f"  The searched regularization has no confirmed gain beyond early stopping (its interval "
                     f"does not lie {side} 0; {'higher' if higher else 'lower'} is better).")
    else:
        lines.append(f"  The searched regularization's gain beyond early stopping is confirmed (its interval lies "
                     f"{side} 0; {'higher' if higher else 'lower'} is better).")
    return lines


def interval_text(comparison):
    """`95% CI [low, high], paired t-test p = P`, or why there is none (one seed; every seed's difference equal)."""
    c = comparison
    if not math.isfinite(c["ci_low"]):
        return f"no 95% CI nor p-value: {_no_interval(c)}"
    if c["ci_low"] == c["ci_high"]:
        return (f"the same on all {c['n']} seeds" if c["ci_low"] == 0 else
                f"exactly {c['ci_low']:+.4f} on each of the {c['n']} seeds") + " (no spread: no t-test)"
    return f"95% CI [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], paired t-test p = {c['p_value']:.3g}"


def _no_interval(comparison):
    return "one seed" if comparison["n"] < 2 else "no spread"


def log_confirmation(confirmation, board):
    """Writes a confirmation to the TensorBoard run `board` as one text card, `confirm/summary`: the table of each
    arm's metric per seed and the comparisons, as `report.md` has them (seeds are not steps, so no scalar chart)."""
    from kreg._events import Writer
    from kreg._events import text

    writer = Writer(board)
    writer.write(text("confirm/summary", "\n".join(confirmation_markdown(confirmation, plot=False))), 0)
    writer.close()


def confirmation_markdown(confirmation, *, plot=True):
    """The confirmation as Markdown lines: a table of the columns per seed, then the comparisons (and, with
    `plot`, `confirm.png`)."""
    columns = confirmation["columns"]
    seeds = confirmation["seeds"]
    metric, _ = _metric(confirmation)
    lines = [f"## Confirmation over {len(seeds)} fresh seeds", "",
             f"Each model at {confirmation['selection']}; the baseline also at its last epoch. "
             f"{metric.replace('_', ' ').capitalize()}:", "",
             "| | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd |",
             "|---|" + "---|" * (len(seeds) + 1)]
    for column in columns.values():
        values = column[metric]
        std = np.std(values, ddof=1) if len(values) > 1 else math.nan
        lines.append(f"| {column['label']} | " + " | ".join(f"{v:.4f}" for v in values)
                     + f" | {np.mean(values):.4f} ± {std:.4f} |")
    lines += ["", "| difference | mean | 95% CI | p (paired t-test) |", "|---|---|---|---|"]
    for name, comparison in confirmation["comparisons"].items():
        a, b = (columns[key]["label"][:3] for key in name.split(" - "))
        c = comparison[metric]
        if math.isfinite(c["ci_low"]):
            lines.append(f"| {a} - {b} | {c['difference']:+.4f} | [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | "
                         f"{c['p_value']:.3g} |")
        else:
            lines.append(f"| {a} - {b} | {c['difference']:+.4f} | none: {_no_interval(c)} | none |")
    return lines + ["", summary(confirmation)[-1].strip(), ""] + (["![confirmation](confirm.png)", ""] if plot else [])


def plot_confirmation(confirmation, path):
    """`plot` of a confirmation's columns (its metric per seed)."""
    metric, _ = _metric(confirmation)
    plot([(c["label"].replace(", ", ",\n", 1), c[metric]) for c in confirmation["columns"].values()], path,
         metric=metric.replace("_", " "))
