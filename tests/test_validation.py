"""One table of bad constructor arguments: each must raise a ValueError naming it."""

import math

import keras
import pytest

import kreg
from kreg import constraints, optimizers, regularizers
from kreg import augment
from kreg.callbacks import FitDiagnosis, RegularizationMonitor, RegularizationSchedule, Schedule
from kreg.layers import Dropout
from kreg import tuning

NOT_A_FACTOR = [-0.1, math.nan, math.inf, -math.inf, True, "0.1", None]
NOT_A_COUNT = [0, -3, 2.0, 1.5, True, "10", math.nan]
NOT_A_LIMIT = [0, -1, math.nan, math.inf, False, "2"]
NOT_AN_AXIS = ["fan_in", "", True, 1.5, [], [0, 0], [0, "1"], None]

CASES = (
    [(lambda a: regularizers.L1(a), "L1", "l1", a) for a in NOT_A_FACTOR]
    + [(lambda a: regularizers.L2(a), "L2", "l2", a) for a in NOT_A_FACTOR]
    + [(lambda a: regularizers.ElasticNet(a, 0.1), "ElasticNet", "l1", a) for a in NOT_A_FACTOR]
    + [(lambda a: regularizers.ElasticNet(0.1, a), "ElasticNet", "l2", a) for a in NOT_A_FACTOR]
    + [(lambda a: regularizers.GroupLasso(a), "GroupLasso", "l", a) for a in NOT_A_FACTOR]
    + [(lambda a: regularizers.L1(0.1, num_examples=a), "L1", "num_examples", a) for a in NOT_A_COUNT]
    + [(lambda a: regularizers.L2(0.1, num_examples=a), "L2", "num_examples", a) for a in NOT_A_COUNT]
    + [
        (lambda a: regularizers.ElasticNet(0.1, 0.1, num_examples=a), "ElasticNet", "num_examples", a)
        for a in NOT_A_COUNT
    ]
    + [(lambda a: constraints.MaxNorm(a), "MaxNorm", "max_value", a) for a in NOT_A_LIMIT]
    + [(lambda a: constraints.MaxNorm(2.0, axis=a), "MaxNorm", "axis", a) for a in NOT_AN_AXIS]
    + [(lambda a: constraints.UnitNorm(axis=a), "UnitNorm", "axis", a) for a in NOT_AN_AXIS]
    + [(lambda a: regularizers.GroupLasso(0.1, axis=a), "GroupLasso", "axis", a) for a in NOT_AN_AXIS]
    + [
        (lambda a: optimizers.ProximalL1(keras.optimizers.SGD(), a), "ProximalL1", "l1", a)
        for a in NOT_A_FACTOR
    ]
    + [
        (lambda a: optimizers.ProximalL1(a, 0.1), "ProximalL1", "optimizer", a)
        for a in ["sgd", None, keras.optimizers.SGD]
    ]
    + [
        (lambda a: optimizers.ProximalL1(keras.optimizers.SGD(), 0.1, var_names=a), "ProximalL1", "var_names", a)
        for a in ["kernel", [], [""], [3]]
    ]
    + [(lambda a: Dropout(a), "Dropout", "rate", a) for a in [1.0, 1, -0.1, math.nan, math.inf, True, "0.5", None]]
    + [(lambda a: Dropout(0.5, scaling=a), "Dropout", "scaling", a) for a in ["paper", "", None, 1]]
    + [(lambda a: Dropout(0.5, noise_shape=a), "Dropout", "noise_shape", a) for a in [(), (0, 1), (2.0,), "1", (True,)]]
    + [(lambda a: Dropout(0.5, seed=a), "Dropout", "seed", a) for a in [-1, 1.5, "0", True]]
    + [(lambda a: kreg.mc_predict(None, None, samples=a), "mc_predict", "samples", a) for a in [0, 2.0, True]]
    + [(lambda a: kreg.mc_predict(None, None, seed=a), "mc_predict", "seed", a) for a in [-1, 2.0, True]]
    + [(lambda a: kreg.convert_dropout_scaling(None, a), "convert_dropout_scaling", "scaling", a) for a in ["x", None]]
    + [(lambda a: augment.RandomRotation(a), "RandomRotation", "magnitude", a) for a in [-0.2, 181, math.nan, "5", True]]
    + [(lambda a: augment.RandomCrop(a), "RandomCrop", "magnitude", a) for a in [-0.1, math.inf, None]]
    + [(lambda a: augment.RandomTranslation(a), "RandomTranslation", "magnitude", a) for a in [-0.1, 1.5]]
    + [(lambda a: augment.RandomContrast(a), "RandomContrast", "magnitude", a) for a in [-0.1, 1.1, math.nan]]
    + [(lambda a: augment.RandomHue(a), "RandomHue", "magnitude", a) for a in [0.6, -0.1]]
    + [(lambda a: augment.FeatureDropout(a), "FeatureDropout", "magnitude", a) for a in [1.0, -0.1]]
    + [(lambda a: augment.GaussianNoise(a), "GaussianNoise", "magnitude", a) for a in [-1.0, math.nan]]
    + [(lambda a: augment.RandomRotation(10.0, probability=a), "RandomRotation", "probability", a)
       for a in [-0.1, 1.5, math.nan, True]]
    + [(lambda a: augment.RandomFlip(a), "RandomFlip", "mode", a) for a in ["diag", "horizontal_and_vertical", 1]]
    + [(lambda a: augment.RandomFlip(seed=a), "RandomFlip", "seed", a) for a in [-1, 0.5]]
    + [(lambda a: augment.RandomBrightness(0.1, value_range=a), "RandomBrightness", "value_range", a)
       for a in [(1, 0), (0, 0), (0, math.nan), (0,), "0-1"]]
    + [(lambda a: augment.Policy(a), "Policy", "transforms", a)
       for a in [[], ["flip"], [augment.Policy([augment.RandomFlip()])], augment.RandomFlip(), None]]
    + [(lambda a: augment.Policy([augment.RandomFlip()], fill_mode=a), "Policy", "fill_mode", a) for a in ["mirror", None]]
    + [(lambda a: augment.Policy([augment.RandomFlip()], interpolation=a), "Policy", "interpolation", a)
       for a in ["bicubic"]]
    + [(lambda a: augment.MixUpCutMix(mixup_alpha=a), "MixUpCutMix", "mixup_alpha", a) for a in [-1.0, math.nan, True]]
    + [(lambda a: augment.MixUpCutMix(cutmix_alpha=a), "MixUpCutMix", "cutmix_alpha", a) for a in [-1.0, math.inf]]
    + [(lambda a: augment.MixUpCutMix(prob=a), "MixUpCutMix", "prob", a) for a in [-0.1, 1.1, math.nan]]
    + [(lambda a: augment.MixUpCutMix(switch_prob=a), "MixUpCutMix", "switch_prob", a) for a in [2, -1]]
    + [(lambda a: augment.MixUpCutMix(label_smoothing=a), "MixUpCutMix", "label_smoothing", a) for a in [1.0, -0.1]]
    + [(lambda a: augment.MixUpCutMix(mode=a), "MixUpCutMix", "mode", a) for a in ["elem", "pair", None]]
    + [(lambda a: augment.MixUpCutMix(num_classes=a), "MixUpCutMix", "num_classes", a) for a in [0, 2.5]]
    + [(lambda a: augment.expand([0], [0], copies=a, policy=augment.RandomFlip(), seed=0), "expand", "copies", a)
       for a in [0, 1.5]]
    + [(lambda a: augment.expand([0], [0], copies=1, policy=a, seed=0), "expand", "policy", a)
       for a in [None, keras.layers.RandomFlip()]]
    + [(lambda a: augment.expand([0], [0], copies=1, policy=augment.RandomFlip(), seed=a), "expand", "seed", a)
       for a in [None, -1]]
    + [(lambda a: RegularizationMonitor("logs", histograms=a), "RegularizationMonitor", "histograms", a)
       for a in [1, "yes", None]]
    + [(lambda a: RegularizationMonitor("logs", small=a), "RegularizationMonitor", "small", a) for a in [0, -1e-3, math.nan]]
    + [(lambda a: RegularizationMonitor(a), "RegularizationMonitor", "log_dir", a) for a in [3, ["logs"]]]
    + [(lambda a: RegularizationMonitor(tensorboard=a), "RegularizationMonitor", "tensorboard", a)
       for a in ["logs", keras.callbacks.History()]]
    + [(lambda a: FitDiagnosis(baseline_error=a), "FitDiagnosis", "baseline_error", a) for a in [-0.1, math.nan, "0"]]
    + [(lambda a: FitDiagnosis(bias_threshold=a), "FitDiagnosis", "bias_threshold", a) for a in [-0.1, math.inf]]
    + [(lambda a: FitDiagnosis(variance_threshold=a), "FitDiagnosis", "variance_threshold", a) for a in [-1, None]]
    + [(lambda a: FitDiagnosis(patience=a), "FitDiagnosis", "patience", a) for a in [0, 1.5, True]]
    + [(lambda a: FitDiagnosis(error=a), "FitDiagnosis", "error", a) for a in ["", None, 3]]
    + [(lambda a: Schedule(a, 0.0, 1.0, epochs=3), "Schedule", "kind", a) for a in ["step", None]]
    + [(lambda a: Schedule("linear", a, 1.0, epochs=3), "Schedule", "start", a) for a in [math.nan, "0", None]]
    + [(lambda a: Schedule("linear", 0.0, a, epochs=3), "Schedule", "end", a) for a in [None, math.inf]]
    + [(lambda a: Schedule("cosine", 0.0, 1.0, epochs=a), "Schedule", "epochs", a) for a in [1, 0, None, 2.5]]
    + [(lambda a: RegularizationSchedule(dropout_rate=a), "RegularizationSchedule", "dropout_rate", a)
       for a in ["0.5", [0.5]]]
    + [(lambda a: RegularizationSchedule(penalty_scale=a), "RegularizationSchedule", "penalty_scale", a)
       for a in ["1", {}]]
    + [(lambda a: RegularizationSchedule(dropout_scale=a), "RegularizationSchedule", "dropout_scale", a)
       for a in [-0.5, "1", math.nan, Schedule("linear", 1.0, -0.1, epochs=2)]]
    + [(lambda a: tuning.RegularizerSpace(a), "RegularizerSpace", "choices", a)
       for a in [[], ["l3"], ["l1", "l1"], "l1", None]]
    + [(lambda a: tuning.RegularizerSpace(l1=a), "RegularizerSpace", "l1", a)
       for a in [(1e-2, 1e-6), (0.0, 1e-2), (-1e-3, 1e-2), (1e-3,), (1e-3, math.nan)]]
    + [(lambda a: tuning.RegularizerSpace(l2=a), "RegularizerSpace", "l2", a) for a in [(1.0, 0.1), (0, 1)]]
    + [(lambda a: tuning.RegularizerSpace(num_examples=a), "RegularizerSpace", "num_examples", a) for a in [0, 1.5]]
    + [(lambda a: tuning.DropoutSpace(a), "DropoutSpace", "rate", a) for a in [(0.5, 0.1), (0.0, 1.0), (-0.1, 0.3)]]
    + [(lambda a: tuning.DropoutSpace(step=a), "DropoutSpace", "step", a) for a in [0, -0.1]]
    + [(lambda a: tuning.DropoutSpace(scalings=a), "DropoutSpace", "scalings", a) for a in [[], ["paper"]]]
    + [(lambda a: tuning.MaxNormSpace(a), "MaxNormSpace", "max_value", a) for a in [(0.0, 5.0), (5.0, 1.0), (-1, 2)]]
    + [(lambda a: tuning.MaxNormSpace(optional=a), "MaxNormSpace", "optional", a) for a in [1, "yes"]]
    + [(lambda a: tuning.AugmentSpace(a), "AugmentSpace", "transforms", a) for a in [["vflip"], [], ["flip", "flip"]]]
    + [(lambda a: tuning.AugmentSpace(magnitudes=a), "AugmentSpace", "magnitudes", a)
       for a in [{"hue": (0, 1)}, [("rotation", (0, 1))], {"rotation": (20.0, 10.0)}]]
    + [(lambda a: tuning.ScheduleSpace(a), "ScheduleSpace", "warmup_epochs", a) for a in [1, 0, 2.5]]
    + [(lambda a: tuning.MedianPruning(warmup_epochs=a), "MedianPruning", "warmup_epochs", a) for a in [0, 1.5]]
    + [(lambda a: tuning.MedianPruning(min_trials=a), "MedianPruning", "min_trials", a) for a in [0, None]]
    + [(lambda a: tuning.RegularizedMLP(a, (64,)), "RegularizedMLP", "num_classes", a) for a in [0, 2.5]]
    + [(lambda a: tuning.RegularizedMLP(10, (64,), hidden=a), "RegularizedMLP", "hidden", a) for a in [[], 64]]
    + [(lambda a: tuning.RegularizedMLP(10, (64,), regularizer=a), "RegularizedMLP", "regularizer", a)
       for a in ["l2", tuning.DropoutSpace()]]
    + [(lambda a: tuning.RegularizedCNN(10, a), "RegularizedCNN", "input_shape", a) for a in [(64,), ()]]
    + [(lambda a: tuning.Regularize(a), "Regularize", "build_fn", a) for a in [None, "model"]]
    + [(lambda a: kreg.data.digits(train_size=a), "digits", "train_size", a) for a in NOT_A_COUNT]
    + [(lambda a: kreg.data.digits(label_noise=a), "digits", "label_noise", a) for a in [-0.1, 1.0, 1.5, math.nan, True]]
    + [(lambda a: kreg.data.digits(seed=a), "digits", "seed", a) for a in [-1, 1.0, True, None]]
)


@pytest.mark.parametrize(("build", "owner", "name", "value"), CASES)
def test_bad_argument_raises_naming_it(build, owner, name, value):
    with pytest.raises(ValueError) as info:
        build(value)
    message = str(info.value)
    assert f"argument `{name}` of {owner}" in message
    assert f"Received: {name}={value!r}" in message



def test_callback_arguments_that_go_together():
    with pytest.raises(ValueError, match="needs `log_dir` or `tensorboard`"):
        RegularizationMonitor()
    with pytest.raises(ValueError, match="not both"):
        FitDiagnosis(log_dir="logs", tensorboard=keras.callbacks.TensorBoard("logs"))
    with pytest.raises(ValueError, match="at least one of"):
        RegularizationSchedule()
    with pytest.raises(ValueError, match=r"argument `dropout_rate` of RegularizationSchedule: expected a Schedule within \[0, 1\)"):
        RegularizationSchedule(dropout_rate=Schedule("linear", 0.5, 1.0, epochs=3))
    with pytest.raises(ValueError, match="argument `augment_scale` of RegularizationSchedule: expected a Schedule of values >= 0"):
        RegularizationSchedule(augment_scale=-0.5)
    with pytest.raises(ValueError, match="takes `dropout_rate` or `dropout_scale`, not both"):
        RegularizationSchedule(dropout_rate=0.2, dropout_scale=1.0)
    with pytest.raises(ValueError, match="takes no `end` or `epochs`"):
        Schedule("constant", 0.1, 0.2)


def test_tuner_pruning_argument():
    with pytest.raises(ValueError, match="argument `pruning` of RandomSearch"):
        tuning.RandomSearch(tuning.RegularizedMLP(10, (64,)), objective="val_accuracy", max_trials=1,
                            pruning="median", overwrite=True, directory="/tmp/kreg-never")
