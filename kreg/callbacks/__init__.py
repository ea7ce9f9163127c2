"""Callbacks: the penalty apart from the data loss, weight statistics, a fit diagnosis, schedules, and TensorBoard
scalars without TensorFlow."""

from kreg.callbacks._breakdown import LossBreakdown
from kreg.callbacks.board import TensorBoard
from kreg.callbacks.diagnosis import FitDiagnosis
from kreg.callbacks.monitor import RegularizationMonitor
from kreg.callbacks.schedule import RegularizationSchedule
from kreg.callbacks.schedule import Schedule

__all__ = [
    "FitDiagnosis",
    "LossBreakdown",
    "RegularizationMonitor",
    "RegularizationSchedule",
    "Schedule",
    "TensorBoard",
]
