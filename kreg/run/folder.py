"""An experiment's folder `LOGDIR/NAME`: kreg's own, one run at a time, one experiment, sound state.

* `search.json` marks a folder as made by `kreg search` and records the
  resolved settings of the experiment it holds. `--overwrite` deletes only a
  folder holding it; a resume with other settings is refused, except a higher
  `max_trials`.
* `kreg.lock` is locked with `fcntl.flock` by the run using the folder, and
  holds its pid; the OS releases the lock when that process ends, `kill -9`
  included.
* A resume checks Keras Tuner's state files (readable, of the shape Keras Tuner
  writes, none missing) and mends what a kill between two of Keras Tuner's
  writes leaves: a trial's end saved in `oracle.json` but no `tuner0.json` yet
  (Keras Tuner would start a new search over the old one); a trial saved as
  begun in its `trial.json` but not yet in `oracle.json` (Keras Tuner would
  count it and never run it: it is queued again). A finished trial
  still listed as running is kreg's tuners' business (`kreg.tuning`). A
  folder where no trial finished starts afresh; one that holds results but
  lost its Keras Tuner state (`tuner/`) is refused, never restarted.
* A folder killed while it was being claimed (only its lock, or the
  temporary file of its marker) is kreg's, and starts afresh.

Nothing here checks an experiment: the plan (`kreg.run.plan`) has, before
any of this runs.
"""

import contextlib
import fcntl
import json
import os
import shutil

from kreg import _io
from kreg.tuning import _compat

MARKER, LOCK = "search.json", "kreg.lock"
RESULTS = ("result.json", "confirm", "weights.npz")  # what a search that finished its trials leaves


class SearchError(ValueError):
    """Bad input or damaged state: the message says which; `kreg search` exits with 2."""


def locate(logdir, name):
    """`LOGDIR/NAME`, checked and not created: the log folder is (or can be made) a writable folder, the experiment
    folder lies directly inside it."""
    logdir = os.path.abspath(logdir)
    if os.path.exists(logdir) and not os.path.isdir(logdir):
        raise SearchError(f"--logdir {logdir} is not a folder")
    existing = logdir
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise SearchError(f"Cannot create the log folder --logdir {logdir}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "write in the log folder" if existing == logdir else "create the log folder"
        raise SearchError(f"Cannot {what} --logdir {logdir}: permission denied")
    directory = os.path.join(logdir, name)
    if name in ("", ".", "..") or os.path.dirname(os.path.realpath(directory)) != os.path.realpath(logdir):
        raise SearchError(f"The experiment folder must lie directly inside the log folder {logdir}. "
                          f"Received: name={name!r}")
    return directory


def _make(path, what):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise SearchError(f"Cannot create the {what} {path}: {error.strerror}") from None


def recorded(directory):
    """The record in `directory`'s marker, or None where the folder is not kreg's."""
    try:
        with open(os.path.join(directory, MARKER)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    # kreg 0.1's first searches recorded the experiment (no resolved settings) in the same file.
    return record if isinstance(record, dict) and ("settings" in record or "experiment" in record) else None


@contextlib.contextmanager
def claimed(directory, settings, objective, *, resume, overwrite, tuner_file="tuner0.json", shared=False):
    """Claims `directory` for this run, for the whole block; yields True to resume, False to start afresh.

    `shared`: the folder is already claimed by the process that started this
    one (a worker of `kreg search --workers`).
    """
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise SearchError(f"{directory} exists and is not a folder: choose another --logdir or experiment name")
    mine = os.path.isdir(directory) and recorded(directory) is not None
    if os.path.isdir(directory) and not mine and not _unfinished_claim(directory):
        raise SearchError(f"{directory} exists and was not made by kreg search (it holds no {MARKER} of kreg's): "
                          f"kreg neither resumes nor deletes it. Choose another --logdir or experiment name.")
    if resume and not mine:
        raise SearchError(f"Nothing to resume: {directory} holds no kreg search")
    if shared:
        yield mine
        return
    _make(os.path.dirname(directory), "log folder --logdir")
    _make(directory, "experiment folder")
    with _locked(directory):
        mine = recorded(directory) is not None  # again, now that no other run can change it
        if not mine and not _unfinished_claim(directory):
            raise SearchError(f"{directory} changed while kreg claimed it and was not made by kreg search: kreg "
                              f"neither resumes nor deletes it.")
        resuming = mine and not overwrite and _resumable(directory, settings, tuner_file)
        if not resuming:
            _clear(directory)
            _io.write_json(os.path.join(directory, MARKER),
                           {"made_by": "kreg search", "settings": settings, "objective": objective})
        yield resuming


def _unfinished_claim(directory):
    """Whether `directory` holds nothing but what a claim killed before its marker was written leaves."""
    return all(entry == LOCK or _io.is_temporary(entry, MARKER) for entry in os.listdir(directory))


@contextlib.contextmanager
def _locked(directory):
    path = os.path.join(directory, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise SearchError(f"{directory} is in use by another kreg search (pid {holder}): one run per "
                              f"experiment folder at a time. Wait for it to end, or stop it.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, so that no two runs ever lock two different files


def _clear(directory):
    """Deletes everything in kreg's own `directory` but its lock and its marker."""
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if entry in (LOCK, MARKER):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _resumable(directory, settings, tuner_file):
    """True where some trial finished (then the settings must agree and the state be sound); False: start afresh."""
    project = os.path.join(directory, "tuner", "search")
    oracle_path = os.path.join(project, _compat.ORACLE_FILE)
    trials = {}
    if os.path.isdir(project):
        for entry in sorted(os.listdir(project)):
            path = os.path.join(project, entry, "trial.json")
            if entry.startswith("trial_") and os.path.exists(path):  # _compat.trial_file's layout
                trial = read(path, "trial")
                trials[trial["trial_id"]] = trial
    oracle = read(oracle_path, "oracle") if os.path.exists(oracle_path) else None
    finished = any(t["status"] in _compat.FINISHED_STATUSES for t in trials.values())
    if not (oracle and _compat.oracle_state(oracle)[0]) and not finished:
        results = [entry for entry in RESULTS if os.path.exists(os.path.join(directory, entry))]
        if results:
            raise SearchError(f"Cannot resume {directory}: it holds a finished search ({', '.join(results)}) but its "
                              f"Keras Tuner state {oracle_path} is "
                              f"missing. Nothing was changed; use --overwrite to start this experiment again.")
        return False  # nothing finished: nothing to keep
    raised = _same_settings(directory, settings)
    if oracle is None:
        read(oracle_path, "oracle")  # the error naming it
    for trial_id in oracle["start_order"]:
        if trial_id not in trials:
            read(_compat.trial_file(project, trial_id), "trial")
    for entry in os.listdir(project):
        # `.tmp-*`: a write cut short by a kill (`_io.write_bytes`); the file it was to replace is whole
        if entry.endswith(".json") and entry != _compat.ORACLE_FILE and not entry.startswith(".tmp-"):
            read(os.path.join(project, entry), "tuner")
    _, running, queued = _compat.oracle_state(oracle)
    orphans = [t for t in trials if trials[t]["status"] not in _compat.FINISHED_STATUSES and t not in queued
               and t not in running]
    if orphans:  # saved when they began, killed before `oracle.json` listed them: run them again
        _io.write_json(oracle_path, _compat.requeue(oracle, orphans))
    if not os.path.exists(os.path.join(project, tuner_file)):
        _io.write_json(os.path.join(project, tuner_file), {})  # Keras Tuner's tuners keep no state of their own
    if raised:
        _io.write_json(os.path.join(directory, MARKER), {**recorded(directory), "settings": settings})
    return True


def read(path, kind):
    """A state file's JSON, checked against the shape Keras Tuner writes; a `SearchError` naming it otherwise."""
    advice = "Nothing was changed; use --overwrite to start this experiment again."
    try:
        with open(path) as f:
            value = json.load(f)
    except FileNotFoundError:
        raise SearchError(f"Cannot resume: state file {path} is missing. {advice}") from None
    except (OSError, ValueError) as error:
        raise SearchError(f"Cannot resume: state file {path} is damaged ({error}). {advice}") from None
    shape = _compat.STATE_SHAPES[kind]
    if not isinstance(value, dict) or any(not isinstance(value.get(k), t) for k, t in shape.items()):
        expected = ", ".join(f"`{k}` ({t.__name__})" for k, t in shape.items()) or "a JSON object"
        raise SearchError(f"Cannot resume: state file {path} is not a Keras Tuner {kind} file (expected "
                          f"{'a JSON object with ' if shape else ''}{expected}; found {json.dumps(value)[:80]}). "
                          f"{advice}")
    return value


def _same_settings(directory, settings):
    """Refuses a resume under other settings; True where the one change is a higher `max_trials`."""
    record = recorded(directory)
    if "settings" not in record:
        raise SearchError(f"Cannot resume {directory}: it records no settings (an earlier kreg made it), so kreg "
                          f"cannot tell whether it holds this experiment. Use --overwrite to start it again.")
    old = dict(_flat(record["settings"]))
    new = dict(_flat(settings))
    changed = [(key, old.get(key, "(absent)"), new.get(key, "(absent)")) for key in sorted(old.keys() | new.keys())
               if old.get(key, "(absent)") != new.get(key, "(absent)")]
    key, a, b = changed[0] if len(changed) == 1 else (None, None, None)
    raised = key == "search.max_trials" and isinstance(a, int) and isinstance(b, int) and b > a
    if changed and not raised:
        lines = "\n".join(f"  {key}: {a!r} in the folder, {b!r} now" for key, a, b in changed)
        raise SearchError(f"Cannot resume {directory}: it holds a search with other settings:\n{lines}\nResuming "
                          f"would mix two experiments (only raising max_trials is allowed). Use --overwrite to start "
                          f"this experiment again, or give it another name.")
    return raised


def _flat(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
