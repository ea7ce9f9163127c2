"""Keras Tuner's own test suites, run against kreg's tuners.

Keras Tuner's wheel ships no tests, so its tuner and engine suites are vendored, unmodified, in
`tests/keras_tuner_suites/` (source, commit and licence in its README). They are stored as `*.py.txt`, so
pytest neither collects them nor imports them for doctests; this module reads them with their imports laid
out as Keras Tuner's wheel lays out its code (`keras_tuner.X` is `keras_tuner.src.X`, what its
`pip_build.py` does to the package).

Each suite refers to the tuners through module attributes (`keras_tuner.tuners.RandomSearch`,
`randomsearch.RandomSearch`, `gridsearch.GridSearch`, `bo_module.BayesianOptimization`,
`hyperband_module.Hyperband`); for each test they are replaced by views of those modules in which the tuner
names are kreg's. Every test run here must build at least one of kreg's tuners: one that does not tests
Keras Tuner alone (its `Tuner` or `BaseTuner` with a custom oracle, or an oracle by itself) and is listed in
`EXCLUDED`, as would be a test of a Keras Tuner behaviour that kreg deliberately mends. The suites are slow:
see `TENSORFLOW_PASS_ONLY` and `LEFT_OUT_FOR_TIME` for the subset that runs by default.
"""

import contextlib
import functools
import os
import re
import sys
import types
from pathlib import Path
from unittest import mock

import keras
import keras_tuner.src as kt_src
import pytest
from keras_tuner.src.tuners import bayesian
from keras_tuner.src.tuners import gridsearch
from keras_tuner.src.tuners import hyperband
from keras_tuner.src.tuners import randomsearch

from kreg import tuning
from kreg.tuning import tuners as kreg_tuners

# The suites import `tensorboard.plugins.hparams.api`, which imports TensorFlow (kreg's tuners do not).
pytest.importorskip("tensorflow", reason="Keras Tuner's suites import TensorFlow through tensorboard's hparams api")

SUITES = Path(__file__).parent / "keras_tuner_suites"
KREG = {"RandomSearch": tuning.RandomSearch, "BayesianOptimization": tuning.BayesianOptimization,
        "Hyperband": tuning.Hyperband, "GridSearch": tuning.GridSearch}

_ALONE = "builds none of kreg's tuners: tests Keras Tuner alone"
# Tests that build none of kreg's tuners (Keras Tuner's `Tuner` or `BaseTuner`, an oracle or a helper by itself).
# Every test that builds one runs: none tests a Keras Tuner behaviour that kreg mends differently.
EXCLUDED = {
    "tuner_test.test_update_trial": f"`keras_tuner.Tuner` with a custom oracle: {_ALONE}",
    "tuner_test.test_convert_hyperparams_to_hparams": f"a function of `tuner_utils`: {_ALONE}",
    "tuner_test.test_tuning_correctness": f"`keras_tuner.Tuner` with a RandomSearchOracle: {_ALONE}",
    "tuner_test.test_hypermodel_fit_return_a_dict": f"`keras_tuner.Tuner` with a RandomSearchOracle: {_ALONE}",
    "tuner_test.test_hypermodel_fit_return_a_float": f"`keras_tuner.Tuner` with a RandomSearchOracle: {_ALONE}",
    "tuner_test.test_hypermodel_fit_return_an_int": f"`keras_tuner.Tuner` with a RandomSearchOracle: {_ALONE}",
    "tuner_test.test_run_trial_return_none_without_update_trial": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_run_trial_return_none_with_update_trial": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_run_trial_return_history": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_run_trial_return_a_dict": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_run_trial_return_a_float": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_run_trial_return_float_list": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_tuner_errors": f"`keras_tuner.Tuner`'s own argument errors: {_ALONE}",
    "tuner_test.test_metric_direction_inferred_from_objective": f"an oracle by itself: {_ALONE}",
    "tuner_test.test_build_and_fit_model_in_tuner": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "tuner_test.test_init_build_all_hps_in_all_conditions": f"a `keras_tuner.Tuner` subclass: {_ALONE}",
    "base_tuner_test.test_base_tuner": f"a `BaseTuner` subclass: {_ALONE}",
    "base_tuner_test.test_oracle_idle": f"a `BaseTuner` subclass: {_ALONE}",
    "base_tuner_test.test_simple_sklearn_tuner": f"a `BaseTuner` subclass: {_ALONE}",
    "base_tuner_test.test_chief_should_wait_for_clients": f"a `BaseTuner` subclass with Keras Tuner's "
    f"`test_utils.mock_distribute` (not vendored: it needs `portpicker`): {_ALONE}",
    "randomsearch_test.test_update_space": f"`keras_tuner.Tuner` with a custom oracle: {_ALONE}",
    "bayesian_test.test_bayesian_oracle": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_bayesian_oracle_with_zero_y": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_bayesian_dynamic_space": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_bayesian_save_reload": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_save_before_result": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_bayesian_oracle_maximize": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_hyperparameters_added": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_step_respected": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_float_optimization": f"a `BaseTuner` subclass: {_ALONE}",
    "bayesian_test.test_distributed_optimization": f"an oracle by itself: {_ALONE}",
    "bayesian_test.test_interleaved_distributed_optimization": f"an oracle by itself: {_ALONE}",
    "hyperband_test.test_hyperband_oracle_bracket_configs": f"an oracle by itself: {_ALONE}",
    "hyperband_test.test_hyperband_oracle_one_sweep_single_thread": f"an oracle by itself: {_ALONE}",
    "hyperband_test.test_hyperband_oracle_one_sweep_parallel": f"an oracle by itself: {_ALONE}",
    "hyperband_test.test_factor_less_than_2_error": f"an oracle by itself: {_ALONE}",
    "hyperband_test.test_exhausted_values_during_init_bracket": f"an oracle by itself: {_ALONE}",
    "gridsearch_test.test_linked_list": f"a helper class of `gridsearch`: {_ALONE}",
}

# Keras Tuner's suites train many small models: against kreg's tuners, the tests below take ~6 minutes of CPU on
# one core, and kreg's suite runs twice (TensorFlow, then JAX) on 2 cores. So the searches that exercise what kreg
# adds to a tuner (each execution's callbacks and seed, TensorBoard, best models, reload, checkpoints) run, the
# slower of them in the TensorFlow pass only; tests of engine features kreg leaves alone (restricted and
# reparameterized spaces, printouts) and Hyperband's long sweeps run only with KREG_ALL_KERAS_TUNER_TESTS=1.
# Seconds: one test alone on one core, TensorFlow backend.
TENSORFLOW_PASS_ONLY = {
    "tuner_test.test_saving_and_reloading": 18,
    "tuner_test.test_callbacks_run_each_execution": 13,
    "tuner_test.test_multi_objective": 10,
    "tuner_test.test_subclass_model_loading": 6,
    "hyperband_test.test_hyperband_load_weights": 8,
}
LEFT_OUT_FOR_TIME = {
    "hyperband_test.test_hyperband_save_and_restore": 53,
    "hyperband_test.test_hyperband_integration": 52,
    "gridsearch_test.test_conditional_scope": 27,
    "tuner_test.test_correct_display_trial_number": 13,
    "tuner_test.test_search_logging_verbosity": 13,
    "tuner_test.test_reloading_error_message": 13,
    "tuner_test.test_hypermodel_with_dynamic_space": 9,
    "tuner_test.test_restricted_space_using_defaults": 8,
    "tuner_test.test_reparameterized_space": 8,
    "tuner_test.test_static_space": 7,
    "tuner_test.test_override_optimizer_with_actual_optimizer_object": 7,
    "tuner_test.test_restricted_space_with_custom_defaults": 7,
}
ALL = os.environ.get("KREG_ALL_KERAS_TUNER_TESTS") == "1"


def _wheel_layout(source):
    """`source` with its imports as in Keras Tuner's wheel: `keras_tuner.X` is `keras_tuner.src.X`.

    `keras_tuner.test_utils` is not in the wheel; its one user here is an excluded test (see `EXCLUDED`).
    """
    source = source.replace("from keras_tuner.test_utils import mock_distribute",
                            "mock_distribute = None  # not vendored: see EXCLUDED")
    source = re.sub(r"^(\s*)import keras_tuner$", r"\1import keras_tuner.src as keras_tuner", source, flags=re.M)
    return re.sub(r"^(\s*)from keras_tuner(\.|\s)", r"\1from keras_tuner.src\2", source, flags=re.M)


def _load(name):
    path = SUITES / f"{name}.py.txt"
    module = types.ModuleType(f"_keras_tuner_suites.{name}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    exec(compile(_wheel_layout(path.read_text()), str(path), "exec"), module.__dict__)
    return module


def swapped(module, **names):
    """A copy of `module` in which `names` are replaced."""
    view = types.ModuleType(module.__name__)
    view.__dict__.update({**vars(module), **names})
    return view


def _views():
    """Keras Tuner's modules the suites use, each mapped to its view with kreg's tuners."""
    tuners_view = swapped(kt_src.tuners, **KREG)
    return {
        kt_src: swapped(kt_src, tuners=tuners_view, **KREG),
        kt_src.tuners: tuners_view,
        randomsearch: swapped(randomsearch, RandomSearch=tuning.RandomSearch),
        bayesian: swapped(bayesian, BayesianOptimization=tuning.BayesianOptimization),
        hyperband: swapped(hyperband, Hyperband=tuning.Hyperband),
        gridsearch: swapped(gridsearch, GridSearch=tuning.GridSearch),
    }


@functools.lru_cache(maxsize=None)
def _suite(name):
    return _load(name)


@contextlib.contextmanager
def _with_kregs_tuners(module):
    """Within the block, `module`'s references to Keras Tuner's tuners are kreg's; yields the kreg tuners built."""
    views = {id(real): view for real, view in _views().items()}
    replaced = {name: views[id(value)] for name, value in vars(module).items() if id(value) in views}
    built = []
    init = kreg_tuners._KregTuner.__init__

    def counted(self, *args, **kwargs):
        built.append(type(self))
        return init(self, *args, **kwargs)

    with mock.patch.dict(module.__dict__, replaced), mock.patch.object(kreg_tuners._KregTuner, "__init__", counted):
        yield built


def _against_kreg(suite, test):
    """`test` of `suite`, run with kreg's tuners; it must build one."""
    module = _suite(suite)

    @functools.wraps(test)
    def run(*args, **kwargs):
        # What Keras Tuner's `conftest.py` does before each of its tests.
        keras.utils.set_random_seed(0)
        keras.backend.set_image_data_format("channels_first" if keras.backend.backend() == "torch"
                                            else "channels_last")
        with _with_kregs_tuners(module) as built:
            test(*args, **kwargs)
        assert built, f"{suite}.{test.__name__} builds none of kreg's tuners: list it in EXCLUDED"

    key = f"{suite}.{test.__name__}"
    if key in EXCLUDED:
        run = pytest.mark.skip(reason=EXCLUDED[key])(run)
    elif key in LEFT_OUT_FOR_TIME and not ALL:
        run = pytest.mark.skip(reason=f"~{LEFT_OUT_FOR_TIME[key]} s: run with KREG_ALL_KERAS_TUNER_TESTS=1")(run)
    elif key in TENSORFLOW_PASS_ONLY and not ALL:
        run = pytest.mark.one_backend(run)
    return staticmethod(run)


def _test_class(suite):
    module = _suite(suite)
    tests = {name: _against_kreg(suite, test) for name, test in vars(module).items()
             if name.startswith("test_") and callable(test)}
    name = "Test" + "".join(part.title() for part in suite.removesuffix("_test").split("_")) + "Suite"
    return type(name, (), {**tests, "__module__": __name__})


TestTunerSuite = _test_class("tuner_test")
TestBaseTunerSuite = _test_class("base_tuner_test")
TestRandomsearchSuite = _test_class("randomsearch_test")
TestBayesianSuite = _test_class("bayesian_test")
TestHyperbandSuite = _test_class("hyperband_test")
TestGridsearchSuite = _test_class("gridsearch_test")


def test_every_exclusion_names_a_suite_test():
    assert not set(EXCLUDED) & set(LEFT_OUT_FOR_TIME) and not set(EXCLUDED) & set(TENSORFLOW_PASS_ONLY)
    for key in [*EXCLUDED, *LEFT_OUT_FOR_TIME, *TENSORFLOW_PASS_ONLY]:
        suite, name = key.split(".")
        assert callable(getattr(_suite(suite), name, None)), key


def test_the_suites_really_use_kregs_tuners(tmp_path):
    """The swap reaches the suites: a suite sees kreg's tuner under Keras Tuner's names, and builds it."""
    tuner_test, grid_test = _suite("tuner_test"), _suite("gridsearch_test")
    with _with_kregs_tuners(tuner_test) as built:
        assert tuner_test.keras_tuner.tuners.RandomSearch is tuning.RandomSearch
        assert tuner_test.keras_tuner.BayesianOptimization is tuning.BayesianOptimization
        tuner_test.test_no_objective_fit_return_not_float(tmp_path)  # Keras Tuner's test, run by hand
    assert built == [tuning.RandomSearch]
    assert tuner_test.keras_tuner.tuners.RandomSearch is randomsearch.RandomSearch  # undone afterwards
    with _with_kregs_tuners(grid_test):
        assert grid_test.gridsearch.GridSearch is tuning.GridSearch
    assert grid_test.gridsearch.GridSearch is gridsearch.GridSearch
