"""Searching regularization with Keras Tuner, logged truthfully to TensorBoard."""

from kreg.tuning.hypermodels import Regularize
from kreg.tuning.hypermodels import RegularizedCNN
from kreg.tuning.hypermodels import RegularizedMLP
from kreg.tuning.spaces import AugmentSpace
from kreg.tuning.spaces import AveragingSpace
from kreg.tuning.spaces import DropBlockSpace
from kreg.tuning.spaces import DropoutSpace
from kreg.tuning.spaces import DropPathSpace
from kreg.tuning.spaces import LabelSmoothingSpace
from kreg.tuning.spaces import MaxNormSpace
from kreg.tuning.spaces import RegularizerSpace
from kreg.tuning.spaces import ScheduleSpace
from kreg.tuning.spaces import SpatialDropoutSpace
from kreg.tuning.spaces import SpectralNormSpace
from kreg.tuning.tuners import PRUNING
from kreg.tuning.tuners import TUNERS
from kreg.tuning.tuners import BayesianOptimization
from kreg.tuning.tuners import GridSearch
from kreg.tuning.tuners import Hyperband
from kreg.tuning.tuners import MedianPruning
from kreg.tuning.tuners import RandomSearch
from kreg.tuning.tuners import SuccessiveHalvingPruning
from kreg.tuning.tuners import get

__all__ = [
    "AugmentSpace",
    "AveragingSpace",
    "BayesianOptimization",
    "DropBlockSpace",
    "DropPathSpace",
    "DropoutSpace",
    "GridSearch",
    "Hyperband",
    "LabelSmoothingSpace",
    "MaxNormSpace",
    "MedianPruning",
    "PRUNING",
    "RandomSearch",
    "Regularize",
    "RegularizedCNN",
    "RegularizedMLP",
    "RegularizerSpace",
    "ScheduleSpace",
    "SpatialDropoutSpace",
    "SpectralNormSpace",
    "SuccessiveHalvingPruning",
    "TUNERS",
    "get",
]
