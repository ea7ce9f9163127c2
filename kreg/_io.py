"""Atomic file writes: a crash or a kill leaves the old file or the new one, never a torn one."""

import contextlib
import json
import os
import re
import secrets


def write_bytes(path, data):
    """Writes `data` to `path` atomically: temporary file, flush, fsync, rename, fsync of the folder.

    The file gets the mode a plain `open(path, "w")` would give (0666 less the
    user's umask).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{os.path.basename(path)}")  # see `is_temporary`
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


def is_temporary(name, of):
    """Whether the file name `name` is one of `write_bytes`'s temporary files for a file named `of`.

    A kill between the temporary file's creation and its rename leaves it.

    >>> is_temporary(".tmp-0123456789ab-search.json", "search.json"), is_temporary("search.json", "search.json")
    (True, False)
    """
    return re.fullmatch(rf"\.tmp-[0-9a-f]{{12}}-{re.escape(of)}", name) is not None


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """Atomically writes `obj` as JSON; returns the JSON text (as Keras Tuner's `save_json` does)."""
    text = json.dumps(obj)
    write_text(path, text)
    return text
