"""kreg: regularization experiments for Keras."""

import importlib.metadata

from kreg import callbacks
from kreg import constraints
from kreg import augment
from kreg import data
from kreg import layers
from kreg import losses
from kreg import metrics
from kreg import optimizers
from kreg import regularizers
from kreg.attach import attach
from kreg.inference import convert_dropout_scaling
from kreg.inference import fold_dropout_scaling
from kreg.inference import mc_predict

__version__ = importlib.metadata.version("kreg")  # pyproject.toml's


def __getattr__(name):
    """`kreg.tuning` and `kreg.search` on first use: they import Keras Tuner, which plain `import kreg` does not
    need."""
    import importlib

    if name == "tuning":
        return importlib.import_module("kreg.tuning")
    if name in ("search", "SearchFailed"):
        return getattr(importlib.import_module("kreg.run.api"), name)
    raise AttributeError(f"module 'kreg' has no attribute {name!r}")


__all__ = [
    "attach",
    "augment",
    "convert_dropout_scaling",
    "fold_dropout_scaling",
    "mc_predict",
    "callbacks",
    "constraints",
    "data",
    "layers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
    "search",
    "tuning",
]
