"""kreg: regularization experiments for Keras."""

from kreg import callbacks
from kreg import constraints
from kreg import augment
from kreg import data
from kreg import layers
from kreg import metrics
from kreg import optimizers
from kreg import regularizers
from kreg.attach import attach
from kreg.dropout import convert_dropout_scaling
from kreg.dropout import fold_dropout_scaling
from kreg.dropout import mc_predict

__version__ = "0.1.0"

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
    "metrics",
    "optimizers",
    "regularizers",
]
