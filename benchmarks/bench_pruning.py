"""Successive halving (ASHA) against no pruning: wall time and the confirmed winner, on shipped experiments.

Issue 25 asks that the same budget of epochs (the experiment's `max_trials` x
`epochs`) finds an equal-or-better confirmed winner in less wall time with
pruning than without. For each experiment, each round runs `kreg search` twice,
interleaved (no pruning, then `pruning = "asha"`), each in its own process and
its own temporary log folder, from the shipped file unchanged but for the
`[search]` pruning keys; it reads each run's `result.json` (the confirmed
winner: the best searched arm's test metric over the confirmation seeds) and
its `trial.json` files (epochs trained, trials pruned), and prints one table.

    KERAS_BACKEND=jax python benchmarks/bench_pruning.py                     # digits and mnist_mlp, 1 round
    KERAS_BACKEND=jax python benchmarks/bench_pruning.py digits weight_decay --rounds 3
    KERAS_BACKEND=jax python benchmarks/bench_pruning.py digits --max-trials 2 --epochs 2   # a smoke run

`--reduction-factor`, `--min-resource`, `--min-early-stopping-rate` and
`--min-trials` set the ASHA arm's keys (default: kreg's defaults). `--keep`
keeps the log folders and prints where they are.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kreg_startup  # noqa: E402  (finds a shipped experiment by name, as `kreg search NAME` does)

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
RESULT_KEYS = {"experiment", "best_trial", "hyperparameters", "data", "confirmation"}  # and the objective's


def variant(source, folder, arm, keys):
    """The experiment file `source` with `[search]`'s pruning set for `arm` ("none" or "asha"), written in
    `folder`; the rest of the file as shipped."""
    with open(source, "rb") as f:
        table = tomllib.load(f)
    search = table.get("search", {})
    for key in ("pruning", "warmup_epochs", "min_trials", "min_resource", "reduction_factor",
                "min_early_stopping_rate"):
        if key in search:
            raise SystemExit(f"{source} sets search.{key}: this benchmark sets the pruning keys itself")
    lines = ['pruning = "asha"'] + [f"{key} = {value}" for key, value in keys.items() if value is not None] \
        if arm == "asha" else ["pruning = false"]
    text = open(source, encoding="utf-8").read()
    if "[search]" not in text:
        text += "\n[search]\n"
    text = text.replace("[search]", "[search]\n" + "\n".join(lines), 1)
    path = os.path.join(folder, f"{arm}.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path, table.get("name", os.path.splitext(os.path.basename(source))[0])


def run(path, name, logdir, flags):
    command = [sys.executable, "-m", "kreg.cli", "search", path, "--logdir", logdir, *flags]
    began = time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    return {"wall": wall, "exit": done.returncode, **measured(os.path.join(logdir, name))}


def measured(folder):
    """The trials' epochs and pruning (trial.json) and the confirmed winner (result.json) of a finished search."""
    out = {"trials": 0, "epochs": 0, "pruned": 0, "winner": None, "confirmed": None, "spread": None, "val": None}
    for path in glob.glob(os.path.join(folder, "tuner", "search", "trial_*", "trial.json")):
        with open(path) as f:
            record = json.load(f)
        metrics = record["metrics"]["metrics"]
        out["trials"] += 1
        pruned = metrics.get("pruned", {}).get("observations", [])
        out["pruned"] += bool(pruned and pruned[-1]["value"][0])
        by_epoch = [m for name, m in metrics.items() if name.endswith("_by_epoch")]
        out["epochs"] += len(by_epoch[0]["observations"]) if by_epoch else 0
    result_path = os.path.join(folder, "result.json")
    if not os.path.exists(result_path):
        return out
    with open(result_path) as f:
        result = json.load(f)
    confirmation = result["confirmation"]
    metric, sign = confirmation["metric"], 1 if confirmation["direction"] == "max" else -1
    arms = {key: column[metric] for key, column in confirmation["columns"].items() if key.startswith("trial_")}
    winner = max(arms, key=lambda key: sign * statistics.mean(arms[key]))
    values = arms[winner]
    out.update(winner=winner, metric=metric, confirmed=statistics.mean(values),
               spread=statistics.stdev(values) if len(values) > 1 else float("nan"),
               val=next((v for k, v in result.items() if k not in RESULT_KEYS), None))  # the objective's key
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("experiments", nargs="*", default=["digits", "mnist_mlp"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-trials", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--reduction-factor", type=int)
    parser.add_argument("--min-resource", type=int)
    parser.add_argument("--min-early-stopping-rate", type=int)
    parser.add_argument("--min-trials", type=int)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in ("max_trials", "epochs") and v]
    keys = {k: getattr(args, k) for k in ("reduction_factor", "min_resource", "min_early_stopping_rate",
                                          "min_trials")}
    root = tempfile.mkdtemp(prefix="kreg-bench-pruning-")
    print(f"{sys.executable} {' '.join(sys.argv)}\nKERAS_BACKEND={os.environ.get('KERAS_BACKEND', '(default)')}, "
          f"{os.cpu_count()} CPUs; ASHA keys: {({k: v for k, v in keys.items() if v is not None}) or 'defaults'}")
    rows = []
    try:
        for round_ in range(args.rounds):
            for experiment in args.experiments:
                source = kreg_startup.find(experiment)
                for arm in ("none", "asha"):  # interleaved: drift hits both arms alike
                    folder = os.path.join(root, f"{experiment}-{arm}-{round_}")
                    os.makedirs(folder)
                    path, name = variant(source, folder, arm, keys)
                    row = run(path, name, os.path.join(folder, "logs"), flags)
                    rows.append({"experiment": experiment, "arm": arm, "round": round_, **row})
                    print(f"  {experiment} {arm} round {round_ + 1}: {row['wall']:.1f} s (exit {row['exit']})",
                          flush=True)
    finally:
        if args.keep:
            print(f"log folders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'experiment':<14}{'arm':<6}{'round':>6}{'wall s':>9}{'trials':>8}{'pruned':>8}{'epochs':>8}"
          f"{'best val':>10}  confirmed winner (test metric, mean ± sd over seeds)")
    for row in rows:
        epochs = row["epochs"] if row["arm"] == "asha" else "all"
        confirmed = (f"{row['winner']}: {row['metric']} {row['confirmed']:.4f} ± {row['spread']:.4f}"
                     if row["confirmed"] is not None else f"none (exit {row['exit']})")
        val = f"{row['val']:.4f}" if isinstance(row["val"], float) else "-"
        print(f"{row['experiment']:<14}{row['arm']:<6}{row['round'] + 1:>6}{row['wall']:>9.1f}{row['trials']:>8}"
              f"{row['pruned']:>8}{epochs:>8}{val:>10}  {confirmed}")
    for experiment in args.experiments:
        walls = {arm: [r["wall"] for r in rows if r["experiment"] == experiment and r["arm"] == arm]
                 for arm in ("none", "asha")}
        ratios = [asha / none for none, asha in zip(walls["none"], walls["asha"])]  # each round's own pair
        print(f"{experiment}: ASHA / no pruning wall time, min {min(ratios):.2f} (median {statistics.median(ratios):.2f})"
              f" over {len(ratios)} round(s)")


if __name__ == "__main__":
    main()
