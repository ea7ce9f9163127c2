"""Atomic file writes: a crash or a kill leaves the old file or the new one, never a torn one."""

import contextlib
import json
import os
import secrets


def write_bytes(path, data):
    """Writes `data` to `path` atomically: temporary file, flush, fsync, rename, fsync of the folder.

    The file gets the mode a plain `open(path, "w")` would give (0666 less the
    user's umask).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{os.path.basename(path)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """Atomically writes `obj` as JSON; returns the JSON text (as Keras Tuner's `save_json` does)."""
    text = json.dumps(obj)
    write_text(path, text)
    return text


@contextlib.contextmanager
def atomic_keras_tuner_state():
    """Within the block, Keras Tuner writes its state files (oracle, tuner, trials) atomically.

    Keras Tuner's `utils.save_json` opens the file and then writes it, so a kill
    in between leaves an empty `trial.json` and the next resume dies on it. Its
    state files all go through that one function: it is swapped for
    `write_json` for the block and restored after.
    """
    from keras_tuner.src import utils

    original = utils.save_json
    utils.save_json = write_json
    try:
        yield
    finally:
        utils.save_json = original
