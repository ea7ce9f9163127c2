"""What the `kreg` command does before Keras is imported: find experiment files, and import Keras quietly.

A module of its own, outside the `kreg` package (as `kreg_cli`): `import kreg` imports Keras, which takes seconds
and, on the TensorFlow backend, prints TensorFlow's start-up log. `kreg_cli` and `kreg.run.api` both use it, so
neither imports the other.
"""

import contextlib
import difflib
import importlib.util
import os
import re
import sys
import tempfile

# TensorFlow's start-up lines (2.21): absl's notice that it logs before `InitializeLog`, and the INFO/WARNING/ERROR
# lines of the CPU feature check, oneDNN, the CUDA stubs and cuInit. Printed while TensorFlow's libraries load,
# before TF_CPP_MIN_LOG_LEVEL is applied, so no setting removes them all.
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|[IWE]\d{4} [\d:.]+\s+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|cuda_dnn|"
    r"cuda_fft|cuda_blas)\.cc:\d+\] .*"
    r"|To enable the following instructions: .*")


@contextlib.contextmanager
def _filtered_stderr(drop):
    """Within the block, standard error (file descriptor 2, C libraries included) is held; after it, every line
    but those `drop` matches is written back, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(keepends=True)
                    if not drop.match(line.rstrip("\n"))]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def quietly_import_keras():
    """Imports Keras (and, on its TensorFlow backend, lets TensorFlow find its devices) without the start-up log.

    With `TF_CPP_MIN_LOG_LEVEL` unset it is set to 2 (TensorFlow's C++ errors still show) and the start-up
    lines are filtered out; set, it is the user's, and nothing is filtered.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        _import_keras()
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with _filtered_stderr(_STARTUP_NOISE):
        keras = _import_keras()
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe logs here, not at import


def _import_keras():
    """`import keras`; a backend that is not installed is a ValueError saying what to install or set."""
    try:
        import keras
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in ("tensorflow", "jax", "torch"):
            raise
        chosen = (f"KERAS_BACKEND={os.environ['KERAS_BACKEND']}" if os.environ.get("KERAS_BACKEND")
                  else "~/.keras/keras.json's, or Keras's default, tensorflow")
        raise ValueError(f"Keras's backend ({chosen}) needs {missing}, which is not installed here. Install it "
                         f"(pip install \"kreg[{missing}]\"), or choose an installed backend, e.g. "
                         f"KERAS_BACKEND=jax kreg ...") from None
    return keras


# The shipped experiments, found without importing kreg.
SHIPPED = os.path.join(os.path.dirname(importlib.util.find_spec("kreg").origin), "examples")


def find(name_or_path, folder="experiments"):
    """An experiment's file: a path, or a name (without `.toml`) in `folder` or among kreg's shipped examples.

    A file in `folder` (relative to the working directory) overrides the
    shipped example of the same name.
    """
    if os.path.isfile(name_or_path):
        return name_or_path
    known = list_experiments(folder)
    if name_or_path in known:
        return known[name_or_path]
    close = difflib.get_close_matches(name_or_path, list(known), n=1)
    hint = f" Did you mean `{close[0]}`?" if close else f" Known: {', '.join(known) or 'none'}."
    raise ValueError(f"No experiment `{name_or_path}`: no such file, nor a name in {folder}/ or among the shipped "
                     f"examples ({SHIPPED}).{hint}")


def list_experiments(folder="experiments"):
    """`{name: path}` of the shipped examples and of the `.toml` files in `folder`, which override them."""
    found = {}
    for where in (SHIPPED, folder):
        if os.path.isdir(where):
            found.update((f[: -len(".toml")], os.path.join(where, f)) for f in os.listdir(where) if f.endswith(".toml"))
    return dict(sorted(found.items()))
