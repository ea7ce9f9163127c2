"""kreg's reach into Keras Tuner internals (`kreg/tuning/_compat.py`): each fails loudly if Keras Tuner changes."""

import json
import os

import keras
import pytest
import keras_tuner as kt
from keras_tuner.src.engine import conditions
from keras_tuner.src.engine import oracle as oracle_module

import kreg
from kreg import tuning
from kreg.tuning import _compat

(X, Y), (XV, YV), _ = kreg.data.digits(train_size=64, validation_size=32, label_noise=0.0)


class Counted(kt.HyperModel):
    def __init__(self):
        super().__init__()
        self.builds = 0

    def build(self, hp):
        self.builds += 1
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [10, 11, 12]))])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model


def test_the_debug_print_of_conditions_is_silenced_for_the_block_only(capsys):
    parent = conditions.Parent("regularizer", ["l2"])
    parent.to_proto()
    assert capsys.readouterr().out == "l2\n"  # Keras Tuner 1.4.8's stray print: drop the block once it is gone
    with _compat.quiet_conditions():
        parent.to_proto()
    assert capsys.readouterr().out == ""
    assert not hasattr(conditions, "print")


def test_the_oracle_internals_kreg_sets_exist():
    for oracle in (kt.oracles.RandomSearchOracle(objective="loss", max_trials=1, seed=0),
                   kt.oracles.BayesianOptimizationOracle(objective="loss", max_trials=1, seed=0),
                   kt.oracles.HyperbandOracle(objective="loss", max_epochs=2, seed=0),
                   kt.oracles.GridSearchOracle(objective="loss", max_trials=1, seed=0)):
        assert oracle.seed != 0  # Keras Tuner still replaces 0 by a random seed: `adopt` is still needed
        assert hasattr(oracle, "_seed_state") and hasattr(oracle, "_retry_queue")
        _compat.adopt(oracle, 0)
        assert oracle.seed == oracle._seed_state == 0
        if hasattr(oracle, "gpr"):
            assert oracle.gpr.random_state == 0 and oracle._random_state.get_state()[1][0] == 0


class Wide(kt.HyperModel):
    def build(self, hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        hp.Float("a", 0.0, 1.0), hp.Float("b", 0.0, 1.0)
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model


def drawn(tuner, count):
    """The values of `count` more trials the tuner's oracle draws, each ended at once: the draws are what is tested."""
    out = []
    for _ in range(count):
        trial = tuner.oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            out.append(trial.status)  # Keras Tuner's answer once it redraws finished trials: "STOPPED"
            break
        tuner.oracle.update_trial(trial.trial_id, {"loss": 1.0})
        trial.status = "COMPLETED"
        tuner.oracle.end_trial(trial)
        tuner.save()  # as the tuner's `on_trial_end` does
        out.append(trial.hyperparameters.values)
    return out


@pytest.mark.one_backend  # the oracle's draws do not depend on the backend
def test_neighbouring_seeds_draw_different_trials(tmp_path):
    # Keras Tuner alone: seed 1's draws are seed 0's shifted by one value, so the two searches share most trials.
    values = {}
    for seed in (0, 1):
        tuner = tuning.RandomSearch(Wide(), objective="loss", max_trials=3, directory=str(tmp_path),
                                    project_name=f"s{seed}", seed=seed)
        values[seed] = {value for trial in drawn(tuner, 3) for value in trial.values()}
    assert len(values[0]) == len(values[1]) == 6 and not values[0] & values[1]


@pytest.mark.one_backend  # the oracle's draws do not depend on the backend
def test_a_resumed_search_goes_on_drawing_where_it_stopped(tmp_path):
    def tuner(project):
        tuner = tuning.RandomSearch(Wide(), objective="loss", max_trials=5, directory=str(tmp_path),
                                    project_name=project, seed=3)
        tuner.oracle._max_collisions = 1  # Keras Tuner's 20, reached sooner
        return tuner

    expected = drawn(tuner("whole"), 5)
    assert drawn(tuner("p"), 3) == expected[:3]
    resumed = tuner("p")  # reloads the three finished trials
    assert len(resumed.oracle.trials) == 3
    assert drawn(resumed, 2) == expected[3:]  # reset to the start, the counter redrew trial 0 and the search ended


def test_a_trial_that_finished_is_never_run_again_after_a_kill(tmp_path):
    """A kill after `trial.json` says COMPLETED but before `oracle.json` drops the trial from the ongoing ones."""
    hypermodel = Counted()
    tuner = tuning.GridSearch(hypermodel, objective="val_accuracy", max_trials=2, directory=str(tmp_path),
                              project_name="p", seed=0)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0)
    path = tmp_path / "p" / "oracle.json"
    state = json.loads(path.read_text())
    assert state["ongoing_trials"] == {}
    state["ongoing_trials"] = {"tuner0": "1"}  # what Keras Tuner 1.4.8 saves inside `end_trial`
    path.write_text(json.dumps(state))
    again = Counted()
    resumed = tuning.GridSearch(again, objective="val_accuracy", max_trials=2, directory=str(tmp_path),
                                project_name="p", seed=0)
    assert resumed.oracle._retry_queue == []
    resumed.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0)
    assert again.builds == 0  # no trial is built, let alone trained, again
    assert [t.status for t in resumed.oracle.trials.values()] == ["COMPLETED", "COMPLETED"]


def failed(oracle, message):
    """A trial of `oracle`, created and ended as failed with `message`."""
    trial = oracle.create_trial("tuner0")
    trial.status, trial.message = "FAILED", message
    oracle.end_trial(trial)
    return trial


def test_keras_tuner_still_stops_within_end_trial_and_keeps_its_lock(tmp_path):
    """1.4.8 raises inside `end_trial`: the trial is neither saved nor dropped, and the oracle's lock stays held."""
    tuner = kt.RandomSearch(Counted(), objective="loss", max_trials=5, max_consecutive_failed_trials=2,
                            directory=str(tmp_path), project_name="p")
    oracle = tuner.oracle
    failed(oracle, "error A")
    with pytest.raises(RuntimeError, match="exceeded the limit of 2.\nerror B") as stopped:
        failed(oracle, "error B")  # Keras Tuner names the last failure, not the first
    assert type(stopped.value) is RuntimeError and "error A" not in str(stopped.value)
    assert list(oracle.ongoing_trials) == ["tuner0"]
    assert oracle_module.LOCKS[oracle].locked()  # `synchronized` does not release it: drop the mend once it does
    oracle_module.LOCKS[oracle].release()
    oracle_module.THREADS[oracle] = None


def test_kregs_oracle_stops_after_end_trial_naming_the_first_failure(tmp_path):
    tuner = tuning.RandomSearch(Wide(), objective="loss", max_trials=9, max_consecutive_failed_trials=2,
                                directory=str(tmp_path), project_name="p", seed=0)
    oracle = tuner.oracle
    failed(oracle, "error A")
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"loss": 1.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)  # a completed trial ends the streak
    failed(oracle, "error B")
    with pytest.raises(_compat.TooManyFailedTrials, match="trials 2, 3 failed in a row.*with:\nerror B") as stopped:
        failed(oracle, "error C")
    assert isinstance(stopped.value, RuntimeError)
    assert "error A" not in str(stopped.value) and "error C" not in str(stopped.value)
    assert oracle.ongoing_trials == {} and not oracle_module.LOCKS[oracle].locked()
    state = json.loads((tmp_path / "p" / "oracle.json").read_text())
    assert state["end_order"] == ["0", "1", "2", "3"] and state["ongoing_trials"] == {}
    assert json.loads((tmp_path / "p" / "trial_3" / "trial.json").read_text())["status"] == "FAILED"


def test_retry_trial_sends_a_dead_workers_trial_to_the_next_worker(tmp_path):
    tuner = tuning.RandomSearch(Counted(), objective="loss", max_trials=5, directory=str(tmp_path),
                                project_name="p", seed=0)
    oracle = tuner.oracle
    trial = oracle.create_trial("tuner1")
    assert "tuner1" in oracle.tuner_ids and oracle.ongoing_trials["tuner1"] is trial
    assert _compat.retry_trial(oracle, "tuner1") == trial.trial_id
    assert "tuner1" not in oracle.tuner_ids and oracle.ongoing_trials == {}
    assert _compat.retry_queue(oracle) == [trial.trial_id]
    assert not oracle_module.LOCKS[oracle].locked()
    assert json.loads((tmp_path / "p" / "oracle.json").read_text())["retry_queue"] == [trial.trial_id]
    assert _compat.retry_trial(oracle, "tuner9") is None  # a worker that was running no trial
    assert oracle.create_trial("tuner2").trial_id == trial.trial_id
    assert _compat.retry_queue(oracle) == []


def test_checkpoint_path_is_where_keras_tuner_saves_the_best_epoch(tmp_path):
    hypermodel = Counted()
    tuner = tuning.GridSearch(hypermodel, objective="val_accuracy", max_trials=1, directory=str(tmp_path),
                              project_name="p", seed=0)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0)
    path = _compat.checkpoint_path(tuner, "0")
    assert path == str(tmp_path / "p" / "trial_0" / "checkpoint.weights.h5")
    model = hypermodel.build(tuner.oracle.trials["0"].hyperparameters)
    model.load_weights(path)
    assert all((a == b).all() for a, b in zip(model.get_weights(), tuner.get_best_models(1)[0].get_weights()))


def test_keras_tuner_writes_its_state_through_save_json_which_atomic_state_swaps(tmp_path, monkeypatch):
    """1.4.8's state files (`Stateful.save`) go through `keras_tuner.src.utils.save_json`: in the block, kreg's."""
    written = []
    monkeypatch.setattr(kreg._io, "write_json", lambda path, obj: written.append(path) or "{}")
    trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id="0")
    with _compat.atomic_state():
        trial.save(str(tmp_path / "trial.json"))
    assert written == [str(tmp_path / "trial.json")] and not (tmp_path / "trial.json").exists()
    trial.save(str(tmp_path / "trial.json"))  # restored after the block
    assert len(written) == 1 and (tmp_path / "trial.json").exists()


def test_keras_tuner_calls_the_execution_hook_once_per_execution_with_the_callbacks_it_fits_with(tmp_path):
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append("fitted")

    class Recording(_compat.ExecutionHook, kt.RandomSearch):
        def configure_execution(self, callbacks, trial, execution):
            seen.append((trial.trial_id, execution, any(isinstance(c, Probe) for c in callbacks)))
            callbacks.append(Probe())  # what the hook adds is fitted with

    tuner = Recording(Counted(), objective="val_accuracy", max_trials=1, executions_per_trial=2,
                      directory=str(tmp_path), project_name="p", seed=1)
    tuner.search(X, Y, validation_data=(XV, YV), epochs=1, verbose=0, callbacks=[])
    assert seen == [("0", 0, False), "fitted", ("0", 1, False), "fitted"]
    assert _compat.execution_dir(tuner, "logs", "3", 1) == os.path.join("logs", "3", "execution1")


def test_the_state_files_have_the_shapes_kreg_reads_and_a_requeued_trial_runs_again(tmp_path):
    """`STATE_SHAPES`, `trial_file`, `oracle_state` and `requeue` against the files Keras Tuner 1.4.8 writes."""
    tuner = tuning.RandomSearch(Counted(), objective="loss", max_trials=3, directory=str(tmp_path),
                                project_name="p", seed=0)
    oracle = tuner.oracle
    begun = oracle.create_trial("tuner0")
    project = str(tmp_path / "p")
    state = json.loads(open(os.path.join(project, _compat.ORACLE_FILE)).read())
    trial = json.loads(open(_compat.trial_file(project, begun.trial_id)).read())
    for kind, found in (("oracle", state), ("trial", trial)):
        assert {key: type(found[key]) for key in _compat.STATE_SHAPES[kind]} == _compat.STATE_SHAPES[kind]
    assert _compat.oracle_state(state) == ([], [begun.trial_id], [])
    assert trial["status"] not in _compat.FINISHED_STATUSES
    state["ongoing_trials"] = {}  # a kill that left the trial begun in trial.json only
    with open(os.path.join(project, _compat.ORACLE_FILE), "w") as f:
        json.dump(_compat.requeue(state, [begun.trial_id]), f)
    with open(os.path.join(project, "tuner0.json"), "w") as f:  # as kreg.run.folder leaves it: a tuner reloads
        json.dump({}, f)
    resumed = tuning.RandomSearch(Counted(), objective="loss", max_trials=3, directory=str(tmp_path),
                                  project_name="p", seed=0)
    assert _compat.retry_queue(resumed.oracle) == [begun.trial_id]
    assert resumed.oracle.create_trial("tuner0").trial_id == begun.trial_id


def test_a_stepped_float_is_stored_as_its_step_makes_it(tmp_path):
    """Keras Tuner 1.4.8 draws `min + index * step` in binary: 0.1 * 3 is 0.30000000000000004."""
    hp = kt.HyperParameters()
    hp.Float("rate", 0.0, 0.5, step=0.1)
    raw = [hp.space[0].prob_to_value(p) for p in (0.55, 0.65, 0.75)]
    assert 0.30000000000000004 in raw or 0.7000000000000001 in raw  # what Keras Tuner computes
    hp.Float("magnitude", 0.05, 1.0, step=0.05)
    hp.Float("strength", 1e-4, 1.0, sampling="log")
    cleaned = _compat.on_steps(hp, {"rate": 0.30000000000000004, "magnitude": 0.15000000000000002,
                                    "strength": 0.30000000000000004})
    assert cleaned == {"rate": 0.3, "magnitude": 0.15, "strength": 0.30000000000000004}  # unstepped: untouched

    def build(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dropout(hp.Float("rate", 0.0, 0.5, step=0.1)),
                                  keras.layers.Dense(10)])
        model.compile("adam", "mse")
        return model

    tuner = tuning.RandomSearch(build, objective="loss", max_trials=50, directory=str(tmp_path), project_name="p",
                                seed=0)
    space = kt.HyperParameters()
    space.Float("rate", 0.0, 0.5, step=0.1)
    tuner.oracle.update_space(space)  # as the search's first build does
    drawn = {tuner.oracle.populate_space(str(i))["values"]["rate"] for i in range(40)}
    assert 0.3 in drawn and drawn <= {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}  # 0.5: Keras Tuner rarely reaches the top
