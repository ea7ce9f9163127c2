"""`kreg search --workers N`: Keras Tuner's distributed mode on this host, one chief and N workers.

The launcher (`launch`) claims the experiment's folder for all of them, then
starts each as `python -m kreg.run.workers`, told its part by Keras Tuner's
variables (`KERASTUNER_TUNER_ID` "chief" or "tunerI", `KERASTUNER_ORACLE_IP`
127.0.0.1, `KERASTUNER_ORACLE_PORT` a free port) and what to run by
`KREG_RUN` (the experiment file, the log folder and the command line's values,
as JSON). Each process makes the same plan (`kreg.run.plan`) and runs its part
(`kreg.run.search.run`) in the shared folder: one set of results, one
TensorBoard root.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time

from kreg import _io
from kreg.run import folder
from kreg.run import plan as plans
from kreg.run import search

RUN = "KREG_RUN"  # set by `launch` for its chief and workers: what to run (JSON)
DEAD_WORKERS = "dead_workers.json"  # in the experiment's folder: the workers that died, for the chief


def launch(plan, workers, overrides):
    """Runs `plan` as one chief and `workers` workers; returns the chief's exit code, or 1 where trials are left.

    Each worker gets its share of the cores (TensorFlow's and OpenMP's thread
    counts). The chief prints the summary. A worker that dies is reported and
    its running trial goes back to the queue for the others; when every worker
    has died, the chief is stopped.
    """
    with folder.claimed(plan.directory, plan.settings, dataclasses.asdict(plan.objective), resume=plan.resume,
                        overwrite=plan.overwrite, tuner_file="chief.json"):
        dead_file = os.path.join(plan.directory, DEAD_WORKERS)
        if os.path.exists(dead_file):
            os.unlink(dead_file)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        what = json.dumps({"path": os.path.abspath(plan.path), "logdir": plan.logdir, "overrides": overrides})
        base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port), RUN: what}
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        share = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads, "OMP_NUM_THREADS": threads}
        command = [sys.executable, "-m", "kreg.run.workers"]
        chief = subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": "chief"})
        others = {f"tuner{i}": subprocess.Popen(command, env={**base, **share, "KERASTUNER_TUNER_ID": f"tuner{i}"},
                                                stdout=subprocess.DEVNULL) for i in range(workers)}
        try:
            return supervise(chief, others, dead_file, plan.directory)
        except KeyboardInterrupt:
            print(f"kreg: interrupted; every finished trial is kept in {plan.directory}. Run the same command again "
                  f"to resume.", file=sys.stderr)
            return search.INTERRUPTED
        finally:
            for process in [chief, *others.values()]:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def supervise(chief, workers, dead_file, directory):
    """Waits for the chief, reporting dead workers to it in `dead_file`; returns the exit code."""
    dead = {}
    while chief.poll() is None:
        for tuner_id, process in workers.items():
            if process.poll() not in (None, 0) and tuner_id not in dead:
                dead[tuner_id] = process.returncode
                print(f"kreg: worker {tuner_id} (pid {process.pid}) died ({_how(process.returncode)}); its running "
                      f"trial goes back to the queue", file=sys.stderr, flush=True)
                _io.write_json(dead_file, sorted(dead))
        if len(dead) == len(workers):
            print(f"kreg: every worker died, so the search stopped; finished trials are kept in {directory}. Run "
                  f"the same command again to resume.", file=sys.stderr)
            return 1
        time.sleep(0.2)
    if chief.returncode < 0:
        print(f"kreg: the chief (pid {chief.pid}) died ({_how(chief.returncode)}); finished trials are kept in "
              f"{directory}. Run the same command again to resume.", file=sys.stderr)
        return 1
    left = folder.read(os.path.join(directory, "tuner", "search", "oracle.json"), "oracle")["retry_queue"] \
        if dead and chief.returncode == 0 else []
    if left:
        print(f"kreg: trials {', '.join(left)} of the dead workers were not run again; run the same command "
              f"again to run them.", file=sys.stderr)
        return 1
    return chief.returncode


def _how(returncode):
    return f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"


def main():
    """A chief's or a worker's process: the launcher's plan, made again here, and this process's part of it."""
    what = json.loads(os.environ[RUN])
    role = os.environ["KERASTUNER_TUNER_ID"]
    try:
        plan = plans.make(what["path"], logdir=what["logdir"], **what["overrides"])
        dead = os.path.join(plan.directory, DEAD_WORKERS) if role == "chief" else None
        return search.run(plan, role=role, shared=True, dead_workers=dead)
    except ValueError as error:
        print(f"kreg: error ({role}): {error}", file=sys.stderr)
        return search.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
