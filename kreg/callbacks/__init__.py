"""Callbacks: the penalty apart from the data loss, weight statistics, a fit diagnosis, schedules, weight averaging,
and TensorBoard scalars without TensorFlow."""

from kreg.callbacks._breakdown import LossBreakdown
from kreg.callbacks.averaging import ExponentialMovingAverage
from kreg.callbacks.averaging import StochasticWeightAveraging
from kreg.callbacks.averaging import use_ema
from kreg.callbacks.board import TensorBoard
from kreg.callbacks.diagnosis import FitDiagnosis
from kreg.callbacks.monitor import RegularizationMonitor
from kreg.callbacks.schedule import RegularizationSchedule
from kreg.callbacks.schedule import Schedule

__all__ = [
    "ExponentialMovingAverage",
    "FitDiagnosis",
    "LossBreakdown",
    "RegularizationMonitor",
    "RegularizationSchedule",
    "Schedule",
    "StochasticWeightAveraging",
    "TensorBoard",
    "use_ema",
]
