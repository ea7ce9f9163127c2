"""`kreg search --workers N`: Keras Tuner's distributed mode on this host, one chief and N workers; `--chief` and
`--worker`: the same across hosts that share the log folder.

The launcher (`launch`) claims the experiment's folder for all of them, then
starts each as `python -m kreg.run.workers`, told its part by Keras Tuner's
variables (`KERASTUNER_TUNER_ID` "chief" or "tunerI", `KERASTUNER_ORACLE_IP`
127.0.0.1, `KERASTUNER_ORACLE_PORT` a free port) and what to run by
`KREG_RUN` (the experiment file, the log folder and the command line's values,
as JSON). Each process makes the same plan (`kreg.run.plan`) and runs its part
(`kreg.run.search.run`) in the shared folder: one set of results, one
TensorBoard root.

Across hosts (`across_hosts`), no launcher sees the processes: each writes a
heartbeat file in the experiment's `heartbeats/` folder. The chief takes a
worker whose heartbeat stops for `dead_after` seconds as dead, as the launcher
does a worker process that ends (its running trial goes back to the queue); a
worker whose chief's heartbeat stops stops too. Each heartbeat is judged by
the clock of the process that reads it, so hosts need not agree on the time.
"""

import contextlib
import dataclasses
import glob
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time

import grpc

from kreg import _io
from kreg.run import folder
from kreg.run import plan as plans
from kreg.run import search
from kreg.tuning import _compat

RUN = "KREG_RUN"  # set by `launch` for its chief and workers: what to run (JSON)
DEAD_WORKERS = "dead_workers.json"  # in the experiment's folder: the workers that died, for the chief
HEARTBEATS = "heartbeats"  # in the experiment's folder, across hosts: one file per process, rewritten while it runs


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
    return _left_over(directory) if dead and chief.returncode == 0 else chief.returncode


def _left_over(directory):
    """1, saying so, where trials of dead workers wait in the queue after the chief ended; else 0."""
    state = folder.read(os.path.join(directory, "tuner", "search", _compat.ORACLE_FILE), "oracle")
    left = _compat.oracle_state(state)[2]
    if left:
        print(f"kreg: trials {', '.join(left)} of the dead workers were not run again; run the same command "
              f"again to run them.", file=sys.stderr)
        return 1
    return 0


def across_hosts(plan, *, chief=None, worker=None, dead_after=60.0):
    """This process's part of a search across hosts that share `plan`'s folder; returns the exit code.

    `chief`: `(host, port)` to serve Keras Tuner's oracle on; this process
    claims the folder, as `kreg search` does, and sums up. `worker`: the
    chief's `(host, port)`; this process waits for a live chief (a heartbeat
    that changes), checks that the folder holds the same experiment, and runs
    trials. A process that ends with an error leaves its heartbeat to go stale.
    """
    host, port = chief or worker
    name = "chief" if chief else f"tuner-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
    name = name if chief else name.replace("chief", "chf")  # Keras Tuner: an id holding "chief" is the chief
    variables = {"KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port), "KERASTUNER_TUNER_ID": name}
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    beats, dead_file = os.path.join(plan.directory, HEARTBEATS), os.path.join(plan.directory, DEAD_WORKERS)
    stop = threading.Event()
    try:
        if chief:
            if folder.recorded(plan.directory) is not None:  # kreg's folder: an earlier run's beats and dead
                for path in [dead_file, *glob.glob(os.path.join(beats, "*.json"))]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            _watch(beats, dead_after, stop, lambda other: other != "chief",
                   lambda other: _dead_worker(beats, dead_file, other))
            with _heartbeat(plan.directory, name, dead_after) as beat:
                code = beat.ended(search.run(plan, role=name, dead_workers=dead_file))
            return _left_over(plan.directory) if code == 0 and os.path.exists(dead_file) else code
        print(f"worker {name}: waiting for the chief at {host}:{port} to claim {plan.directory}", flush=True)
        _wait_for_a_live_chief(beats)
        if folder.recorded(plan.directory).get("settings") != json.loads(json.dumps(plan.settings)):
            raise ValueError(f"{plan.directory} holds a search of another experiment (or other flags) than this "
                             f"worker's: start each worker with the chief's experiment file and flags")
        with _heartbeat(plan.directory, name, dead_after) as beat:
            _watch(beats, dead_after, stop, lambda other: other == "chief",
                   lambda other: _stop_worker(beat, f"the chief sent no heartbeat for {dead_after:g} s"))
            _watch_dead_list(dead_file, name, stop, lambda: _stop_worker(beat, "the chief took it as dead"))
            try:
                return beat.ended(search.run(plan, role=name, shared=True))
            except grpc.RpcError as error:  # a call in flight when the chief died
                _stop_worker(beat, f"the chief at {host}:{port} stopped answering ({error.code().name})")
    finally:
        stop.set()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _wait_for_a_live_chief(beats):
    """Returns once the chief's heartbeat file changes (a file left by a chief that died does not)."""
    path = os.path.join(beats, "chief.json")
    first = _read(path)
    while _read(path) in (None, first):
        time.sleep(0.2)


class _Beat:
    """The heartbeat of `_heartbeat`'s block: `ended(code)` removes the file where `code` is 0 and returns `code`."""

    def __init__(self, path):
        self.path = path

    def ended(self, code):
        if code == 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        return code


@contextlib.contextmanager
def _heartbeat(directory, name, dead_after):
    """Rewrites `directory/heartbeats/NAME.json` ten times per `dead_after` while the block runs (once the folder
    is claimed), the first time at once. The file says how long its reader should wait (`dead_after`)."""
    path, stop, count = os.path.join(directory, HEARTBEATS, f"{name}.json"), threading.Event(), itertools.count(1)
    token = secrets.token_hex(4)  # tells this process's beats from an earlier process's of the same name

    def write():
        try:
            if folder.recorded(directory) is not None:  # not before the claim: kreg's folder only
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _io.write_json(path, {"beat": next(count), "token": token, "dead_after": dead_after,
                                      "host": socket.gethostname(), "pid": os.getpid()})
        except OSError as error:  # a shared disk's hiccup: the next beat tries again
            print(f"kreg: heartbeat {path} not written ({error})", file=sys.stderr, flush=True)

    def beat():
        while not stop.wait(dead_after / 10):
            write()

    write()  # before this process takes a trial
    thread = threading.Thread(target=beat, daemon=True, name="kreg-heartbeat")
    thread.start()
    try:
        yield _Beat(path)
    finally:
        stop.set()
        thread.join()


def _watch(beats, dead_after, stop, which, on_dead):
    """A thread that calls `on_dead(name)` once for each heartbeat file `which(name)` selects that has not changed
    for `dead_after` seconds of this process's clock (or the longer time the file asks for). A file that vanishes
    is a process that ended cleanly."""

    def patience(content):
        try:
            return max(dead_after, float(json.loads(content)["dead_after"]))
        except (ValueError, KeyError, TypeError):
            return dead_after

    def watch():
        seen, dead = {}, set()  # name -> (content, when it last changed here)
        while not stop.wait(min(1.0, dead_after / 10)):
            now = time.monotonic()
            try:
                names = [f[:-len(".json")] for f in os.listdir(beats) if f.endswith(".json") and f[0] != "."]
            except OSError:
                names = []  # not made yet
            current = {name: content for name in filter(which, names)
                       if (content := _read(os.path.join(beats, f"{name}.json"))) is not None}
            for name in set(seen) - set(current):
                del seen[name]
                dead.discard(name)
            for name, content in current.items():
                if name not in seen or content != seen[name][0]:
                    seen[name] = (content, now)
                    dead.discard(name)
                elif name not in dead and now - seen[name][1] > patience(content):
                    dead.add(name)
                    on_dead(name)

    threading.Thread(target=watch, daemon=True, name="kreg-heartbeats").start()


def _watch_dead_list(dead_file, name, stop, on_listed):
    """A thread that calls `on_listed()` when the chief lists `name` in `dead_file`."""

    def watch():
        while not stop.wait(0.5):
            content = _read(dead_file)
            with contextlib.suppress(ValueError, TypeError):
                if content and name in json.loads(content):
                    on_listed()

    threading.Thread(target=watch, daemon=True, name="kreg-dead-list").start()


def _dead_worker(beats, dead_file, name):
    print(f"kreg: worker {name} sent no heartbeat for the last --dead-after seconds; taken as dead, its running "
          f"trial goes back to the queue", file=sys.stderr, flush=True)
    dead = set(json.loads(_read(dead_file) or "[]"))
    _io.write_json(dead_file, sorted(dead | {name}))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(beats, f"{name}.json"))  # kreg's: a resumed chief does not take it as dead again


def _stop_worker(beat, why):
    print(f"kreg: {why}; this worker stops. Finished trials are kept in the experiment's folder: start the chief "
          f"again with the same command (it resumes), then the workers.", file=sys.stderr, flush=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(beat.path)
    os._exit(1)  # the worker's thread may be inside a call to the chief that waits for an hour


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
