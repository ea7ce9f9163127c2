"""`kreg export LOGDIR/NAME`: every result of a search as plain tables, for pandas or anything that reads CSV/JSON.

Two tables, each written as `.csv` and `.json` (a list of rows) into the experiment's folder:

* `trials`: one row per trial: `trial_id`, `status`, `score` (the objective at the best epoch, as Keras Tuner
  scores it), `best_epoch` and `epochs` (numbered from 1, as Keras prints them), `pruned` (whether the pruning rule
  stopped it; it then ran `epochs` epochs), `seconds` (from its first to its last TensorBoard event), every
  hyperparameter of the search (empty where the trial did not use it), then each logged metric at the best epoch
  (`best_val_accuracy`, ...) and at the last (`last_val_accuracy`, ...), the mean over the trial's executions;
* `confirmation`: one row per retrained model: `arm` (`baseline`, or the trial it retrains), `seed`,
  `best_epoch`, each test metric of the model kept at its best epoch (`test_accuracy`, ...) and, for the
  baseline, at its last epoch (`last_test_accuracy`, ...).
"""

import csv
import glob
import io
import json
import os
import re

from kreg import _events
from kreg import _io
from kreg.run import report


def make(directory):
    """Writes `trials.csv`, `trials.json` and, once a confirmation ran, `confirmation.csv`/`.json`; returns the
    paths written."""
    trials, _, _ = report.read_trials(directory)
    tables = {"trials": trial_rows(directory, trials)}
    confirmation = confirmation_rows(directory)
    if confirmation:
        tables["confirmation"] = confirmation
    written = []
    for name, rows in tables.items():
        written.append(os.path.join(directory, f"{name}.csv"))
        _io.write_text(written[-1], _csv(rows))
        written.append(os.path.join(directory, f"{name}.json"))
        _io.write_text(written[-1], json.dumps(rows, indent=1))
    return written


def trial_rows(directory, trials):
    names = []
    for trial in trials:  # every hyperparameter of the search, in the order the space declares them
        declared = [hp["config"]["name"] for hp in trial["hyperparameters"].get("space", [])]
        names += [name for name in declared + list(trial["hyperparameters"]["values"]) if name not in names]
    rows = []
    for trial in trials:
        board = os.path.join(directory, "tensorboard", trial["trial_id"])
        curves = _mean_curves(board)
        steps = sorted({step for steps, _ in curves.values() for step in steps})
        best = trial.get("best_step")
        pruned = trial["metrics"].get("metrics", {}).get("pruned", {}).get("observations", [])
        row = {"trial_id": trial["trial_id"], "status": trial["status"], "score": trial.get("score"),
               "best_epoch": None if best is None or not steps else best + 1, "epochs": len(steps),
               "pruned": bool(pruned and pruned[-1]["value"][0]), "seconds": _seconds(board)}
        values = trial["hyperparameters"]["values"]
        row.update({name: values.get(name) for name in names})
        for metric, (metric_steps, metric_values) in sorted(curves.items()):
            by_step = dict(zip(metric_steps, metric_values))
            row[f"best_{metric}"] = by_step.get(best)
            row[f"last_{metric}"] = metric_values[-1] if metric_values else None
        rows.append(row)
    return rows


def _mean_curves(board):
    """`{metric: (steps, values)}` over the trial's executions: `metric` is `loss` for training, `val_loss` for
    validation, as Keras names them; at each epoch, the mean over the executions that reached it."""
    gathered = {}
    for run in sorted(glob.glob(os.path.join(board, "execution*"))):
        for split, prefix in (("train", ""), ("validation", "val_")):
            for metric, (steps, values) in report.read_curves(os.path.join(run, split)).items():
                if metric.startswith("evaluation_"):
                    continue
                for step, value in zip(steps, values):
                    gathered.setdefault(prefix + metric, {}).setdefault(step, []).append(value)
    return {metric: (sorted(by_step), [sum(by_step[s]) / len(by_step[s]) for s in sorted(by_step)])
            for metric, by_step in gathered.items()}


def _seconds(board):
    """From the first to the last event under a trial's TensorBoard folder, or None."""
    times = [event.wall_time for path in glob.glob(os.path.join(board, "**", "*tfevents*"), recursive=True)
             for event in _events.read(path)]
    return round(max(times) - min(times), 3) if times else None


def confirmation_rows(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "confirm", "*-seed*.json"))):
        arm = re.match(r"(.+)-seed\d+\.json$", os.path.basename(path)).group(1)
        with open(path) as f:
            result = json.load(f)
        row = {"arm": arm, "seed": result["seed"], "best_epoch": result["best_epoch"] + 1}
        row.update({key: value for key, value in result.items() if key.startswith("test_")})
        row.update({f"last_{key}": value for key, value in result.get("last", {}).items()})
        rows.append(row)
    rows.sort(key=lambda r: (r["arm"] != "baseline", r["arm"], r["seed"]))
    return rows


def _csv(rows):
    columns = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    return out.getvalue()
