"""`kreg report`: a table of the best trials and PNG plots of an experiment's search."""

import glob
import io
import json
import os

import numpy as np
from tensorboard.util import tensor_util

from kreg import _events
from kreg import _io
from kreg import _state
from kreg import confirm


def _trials(directory):
    project = os.path.join(directory, "tuner", "search")
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
        trials.append(_state.read(path, "trial"))
    return trials, objective, summary.get("settings", {}).get("data", {}).get("label_noise", 0.0)


def _curves(run):
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


def _save(figure, path):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    _io.write_bytes(path, buffer.getvalue())


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
    """Writes `report.md`, `curves.png`, `weights.png` and `hyperparameters.png` into `directory`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials, objective, label_noise = _trials(directory)
    name, direction = objective["name"], objective["direction"]
    scored = [t for t in trials if t["status"] == "COMPLETED" and t.get("score") is not None]
    scored.sort(key=lambda t: t["score"], reverse=direction == "max")
    board = os.path.join(directory, "tensorboard")
    written = []

    metric = "accuracy"
    figure, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    runs = [(f"trial {t['trial_id']}", os.path.join(board, t["trial_id"], "execution0")) for t in scored[:top]]
    if scored:
        runs.append(("baseline (unregularized)", os.path.join(board, "baseline")))
    gaps = []  # (run, training, validation) at the last epoch both logged
    for i, (label, run) in enumerate(runs):
        train, val = _curves(os.path.join(run, "train")), _curves(os.path.join(run, "validation"))
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
    ax.set_title("Accuracy by epoch: training (dashed) and validation (solid)")
    _legend_or_say(ax, "no finished trial yet: nothing to plot")
    written.append(os.path.join(directory, "curves.png"))
    _save(figure, written[-1])
    plt.close(figure)

    figure, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    weights_path = os.path.join(directory, "weights.npz")
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
    written.append(os.path.join(directory, "weights.png"))
    _save(figure, written[-1])
    plt.close(figure)

    names = sorted({k for t in scored for k in t["hyperparameters"]["values"]})
    columns = max(1, min(3, len(names)))
    rows = max(1, -(-len(names) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False, layout="constrained")
    for ax, hp in zip(axes.ravel(), names):
        points = [(t["hyperparameters"]["values"][hp], t["score"]) for t in scored if hp in t["hyperparameters"]["values"]]
        values = [p[0] for p in points]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            ax.scatter(values, [p[1] for p in points])
            if values and min(values) > 0 and max(values) / min(values) > 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in values})
            ax.scatter([labels.index(str(x)) for x in values], [p[1] for p in points])
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_title(hp, fontsize=9)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    if not names:
        axes[0, 0].text(0.5, 0.5, "no finished trial yet: nothing to plot", ha="center", va="center")
    written.append(os.path.join(directory, "hyperparameters.png"))
    _save(figure, written[-1])
    plt.close(figure)

    lines = [f"# Report: {os.path.basename(os.path.normpath(directory))}", "",
             f"{len(trials)} trials, {len(scored)} completed; objective {name} ({direction}).", ""]
    result_path = os.path.join(directory, "result.json")
    confirmation = None
    if os.path.exists(result_path):
        with open(result_path) as f:
            confirmation = json.load(f).get("confirmation")
    if confirmation:
        written.append(os.path.join(directory, "confirm.png"))
        confirm.plot_confirmation(confirmation, written[-1])
    lines += ["| trial | " + name + " | hyperparameters |", "|---|---|---|"]
    for t in scored[:10]:
        values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in t["hyperparameters"]["values"].items())
        lines.append(f"| {t['trial_id']} | {t['score']:.4f} | {values} |")
    lines += ["", "![curves](curves.png)", ""]
    if gaps:
        noise = f", {label_noise:.0%} of which are flipped here (`label_noise`)" if label_noise else ""
        lines += [f"`{metric}` at the last epoch. Training's is the mean over the epoch's batches, with dropout and "
                  f"augmentation on, against the training labels{noise}: it can sit below validation. A gap that "
                  "grows over the epochs (training up, validation down) is what regularization narrows.", "",
                  "| run | training | validation | training − validation |", "|---|---|---|---|"]
        lines += [f"| {label} | {train:.4f} | {val:.4f} | {train - val:+.4f} |" for label, train, val in gaps]
        lines.append("")
    lines += ["![weights](weights.png)", "![hyperparameters](hyperparameters.png)", ""]
    if confirmation:
        lines += confirm.markdown(confirmation)
    written.append(os.path.join(directory, "report.md"))
    _io.write_text(written[-1], "\n".join(lines))
    print("\n".join(line for line in lines if not line.startswith("![")))
    return written
