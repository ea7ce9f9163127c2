"""kreg: regularization experiments for Keras."""

from kreg import callbacks
from kreg import constraints
from kreg import data
from kreg import metrics
from kreg import optimizers
from kreg import regularizers
from kreg.attach import attach

__version__ = "0.1.0"

__all__ = [
    "attach",
    "callbacks",
    "constraints",
    "data",
    "metrics",
    "optimizers",
    "regularizers",
]
