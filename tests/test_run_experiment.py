import os
import re
import subprocess
import sys

import numpy as np
import pytest

import kreg_startup
from kreg import cli
from kreg.run import experiment as experiments
from kreg.run import plan

BASE = '[data]\ntrain_size = 200\nvalidation_size = 100\n[model]\nhidden = [8]\n'


def built(table, shape, classes, n, baseline=False):
    return plan.build_hypermodel(table, {} if baseline else plan.build_spaces(table, n), shape, classes, n)


def write(tmp_path, text, name="e.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("key, value", [("max_trials", 0), ("max_trials", -3), ("epochs", 0), ("batch_size", 0),
                                        ("max_epochs", 0), ("warmup_epochs", 0), ("min_trials", -1)])
def test_budgets_are_checked_when_the_file_is_read(tmp_path, key, value):
    path = write(tmp_path, BASE + f"[search]\n{key} = {value}\n")
    with pytest.raises(ValueError, match=rf"`search.{key}` must be an int >= 1. Received: {key}={value}"):
        experiments.load(path)


def test_command_line_budgets_are_checked_too(tmp_path):
    with pytest.raises(ValueError, match="^--epochs must be an int >= 1. Received: 0"):
        experiments.load(write(tmp_path, BASE), epochs=0)
    with pytest.raises(ValueError, match="^--seed must be an int >= 0. Received: -1"):  # the flag, not the file
        experiments.load(write(tmp_path, BASE), seed=-1)


def test_the_objective_must_be_a_reported_metric_before_any_training(tmp_path, capsys):
    path = write(tmp_path, BASE + '[search]\nobjective = "val_acc"\n')
    assert cli.main(["search", path, "--logdir", str(tmp_path / "logs")]) == 2
    err = capsys.readouterr().err
    assert "`search.objective` must be a metric the model reports" in err and "Did you mean `val_accuracy`?" in err
    assert not (tmp_path / "logs").exists()  # refused before any folder, data or trial
    for objective, direction in [("val_accuracy", "max"), ("val_loss", "min"), ("val_data_loss", "min"),
                                 ("accuracy", "max"), ("data_loss", "min")]:  # what kreg's models report
        made = plan.make(write(tmp_path, BASE + f'[search]\nobjective = "{objective}"\n'), logdir=str(tmp_path))
        assert (made.objective.name, made.objective.direction) == (objective, direction)
    made = plan.make(write(tmp_path, BASE + '[search]\nobjective = "val_accuracy"\ndirection = "min"\n'),
                     logdir=str(tmp_path))
    assert made.objective.direction == "min"  # as the file says


def test_unknown_tuner_is_refused_at_load_time(tmp_path):
    with pytest.raises(ValueError, match=r"`search.tuner` must be one of .*Received: tuner='randm'"):
        experiments.load(write(tmp_path, BASE + '[search]\ntuner = "randm"\n'))


@pytest.mark.parametrize("name", ["..", ".", "", "/", "/etc", "a/b", "a b", "-x", ".hidden", "x" * 101])
def test_names_are_plain(tmp_path, name):
    with pytest.raises(ValueError, match="`name` must be a plain name"):
        experiments.load(write(tmp_path, f"name = {name!r}\n" + BASE))


def test_defaults_are_resolved_and_flags_override(tmp_path):
    table = experiments.load(write(tmp_path, BASE), max_trials=3, seed=4, deterministic=True, epochs=None)
    assert table["name"] == "e" and table["seed"] == 4
    assert table["search"] == {**experiments.SEARCH_DEFAULTS, "max_trials": 3, "deterministic": True,
                               "max_epochs": experiments.SEARCH_DEFAULTS["epochs"]}


def test_shipped_experiments_are_found_outside_the_repository(tmp_path):
    code = "from kreg import cli; cli.main(['list'])"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert {"digits", "dropout_scaling", "sparsity", "cnn_augment"} <= {line.split()[0] for line in out.splitlines()}


def test_a_file_in_the_working_directory_overrides_the_shipped(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    write(tmp_path / "experiments", 'description = "my own digits"\n' + BASE, "digits.toml")
    assert kreg_startup.find("digits") == os.path.join("experiments", "digits.toml")
    assert kreg_startup.find("sparsity").startswith(kreg_startup.SHIPPED)
    assert cli.main(["list"]) == 0
    assert "my own digits" in capsys.readouterr().out


def test_confirm_and_the_newer_spaces_are_read(tmp_path):
    table = experiments.load(write(tmp_path, BASE + '[confirm]\ntop = 2\n[space.regularizer]\nchoices = ["l2", '
                                                    '"weight_decay"]\nweight_decay = [0.01, 0.1]\n'
                                                    '[space.label_smoothing]\nsmoothing = [0.0, 0.1]\n'), confirm=5)
    assert table["confirm"] == {"seeds": 5, "top": 2}
    built = plan.build_spaces(table, 100)
    assert built["regularizer"].weight_decay == (0.01, 0.1) and built["label_smoothing"].smoothing == (0.0, 0.1)
    assert experiments.load(write(tmp_path, BASE))["confirm"] == experiments.CONFIRM_DEFAULTS
    with pytest.raises(ValueError, match="`confirm.seeds` must be an int >= 1. Received: seeds=0"):
        experiments.load(write(tmp_path, BASE + "[confirm]\nseeds = 0\n"))


def test_the_dropout_family_from_an_experiment_file(tmp_path):
    cnn = ('[data]\ntrain_size = 200\nvalidation_size = 100\nshape = "image"\n[model]\nkind = "cnn"\nfilters = [4]\n'
           'dense = 8\nresidual = true\n')
    table = experiments.load(write(tmp_path, cnn + '[space.drop_path]\nrate = [0.0, 0.2]\n[space.drop_block]\n'
                                                   'rate = [0.0, 0.1]\nblock_size = [3]\n'))
    hypermodel = built(table, (8, 8, 1), 10, 200)
    assert hypermodel.residual and hypermodel.drop_path.rate == (0.0, 0.2)
    mlp = experiments.load(write(tmp_path, BASE + '[space.drop_path]\nrate = [0.0, 0.2]\n'))
    with pytest.raises(ValueError, match="apply to model.kind \"cnn\" only. Received: kind='mlp'"):
        built(mlp, (64,), 10, 200)


def test_the_real_image_sources_and_what_result_json_records_of_the_split(tmp_path, monkeypatch):
    mnist = experiments.load(write(tmp_path, '[data]\nsource = "mnist"\nshape = "image"\ntrain_size = 200\n'
                                             'validation_size = 100\n'))
    data = plan.load_data(mnist, "m.toml")
    splits = data.splits
    assert splits[0][0].shape == (200, 28, 28, 1) and len(splits[1][0]) == 100 and len(splits[2][0]) == 4700
    record = data.record
    assert (record["source"], record["seed"], record["stratified"], record["train"]) == ("mnist", 0, True, 200)
    assert record["class_counts"]["train"] == [20] * 10 and record["class_counts"]["test"] == [470] * 10
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=rng.integers(0, 256, (40, 28, 28), dtype="uint8"),
             y_train=np.arange(40) % 10, x_test=rng.integers(0, 256, (10, 28, 28), dtype="uint8"), y_test=np.arange(10))
    cached = experiments.load(write(tmp_path, '[data]\nsource = "keras:mnist"\ntrain_size = 20\nvalidation_size = 10\n'
                                              'label_noise = 0.0\n', "k.toml"))
    (x, y), (xv, yv), (xt, yt) = plan.load_data(cached, "k.toml").splits
    assert x.shape == (20, 784) and len(xv) == 10 and np.array_equal(yt, np.arange(10))
    with pytest.raises(ValueError, match=r"data.source must be one of .*Received: 'keras:mnst'. Did you mean "
                                         r"`keras:mnist`\?"):
        experiments.load(write(tmp_path, '[data]\nsource = "keras:mnst"\n', "bad.toml"))
    with pytest.raises(ValueError, match=r"data keys \['path'\] do not apply to source 'mnist'"):
        experiments.load(write(tmp_path, '[data]\nsource = "mnist"\npath = "x"\n', "p.toml"))
    with pytest.raises(ValueError, match="data.path is needed for source 'npz'"):
        experiments.load(write(tmp_path, '[data]\nsource = "npz"\n', "n.toml"))
    with pytest.raises(ValueError, match='data.shape "image" does not apply to source "csv"'):
        plan.load_data(experiments.load(write(tmp_path, '[data]\nsource = "csv"\npath = "t.csv"\n'
                                                        'shape = "image"\n', "c.toml")), "c.toml")


def test_spectral_norm_from_an_experiment_file_and_it_is_regularization(tmp_path):
    import keras
    import keras_tuner

    from kreg.tuning.spaces import unregularized

    table = experiments.load(write(tmp_path, BASE + '[space.spectral_norm]\npower_iterations = [1, 2]\n'
                                                    'optional = false\n'))
    if keras.backend.backend() == "jax":  # Keras's SpectralNormalization keeps W unnormalized after a JAX fit
        with pytest.raises(ValueError, match="SpectralNormSpace needs the TensorFlow backend"):
            built(table, (64,), 10, 200)
        return
    hypermodel = built(table, (64,), 10, 200)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    wrapped = [layer for layer in model.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert wrapped and hp.values["spectral_norm"] is True and hp.values["spectral_norm_power_iterations"] in (1, 2)
    assert not built(table, (64,), 10, 200, baseline=True).spectral_norm
    assert not unregularized({**hp.values, "regularizer": "none", "dropout_rate": 0.0})
    assert unregularized({**hp.values, "spectral_norm": False, "regularizer": "none", "dropout_rate": 0.0})
    with pytest.raises(ValueError, match="unknown key `space.spectral_norm.iterations`. Did you mean `power_iterations`"):
        experiments.load(write(tmp_path, BASE + '[space.spectral_norm]\niterations = [1]\n'))


@pytest.mark.parametrize("source", ["", "MNIST", "keras:", "keras:..", "../x"])
def test_a_wrong_data_source_is_refused_when_the_file_is_read(tmp_path, source):
    with pytest.raises(ValueError, match="data.source must be one of digits, mnist, keras:"):
        experiments.load(write(tmp_path, f'[data]\nsource = "{source}"\n'))


def test_confirm_by_a_name_no_trial_has_is_refused(tmp_path):
    path = write(tmp_path, BASE + '[space.regularizer]\nchoices = ["none", "l2"]\n[confirm]\nby = "regularizr"\n')
    with pytest.raises(ValueError, match=r"`confirm.by` must name a hyperparameter of the trials, one of "
                                         r"\['l2', 'regularizer'\]. Received: by='regularizr'"):
        plan.make(path, logdir=str(tmp_path / "logs"))
    assert not (tmp_path / "logs").exists()


def test_confirm_by_is_checked_before_any_training_and_excludes_top(tmp_path, capsys):
    path = write(tmp_path, '[data]\ntrain_size = 100\nvalidation_size = 50\n[search]\nmax_trials = 1\nepochs = 1\n'
                           '[confirm]\nby = "regularizr"\n')
    assert cli.main(["search", path, "--logdir", str(tmp_path / "logs")]) == 2
    assert "Received: by='regularizr'" in capsys.readouterr().err
    assert not list((tmp_path / "logs").rglob("trial_*"))  # refused before the first trial
    with pytest.raises(ValueError, match=r"`confirm.top` and `confirm.by` each choose .* Received: top=2, by='l2'"):
        experiments.load(write(tmp_path, '[confirm]\ntop = 2\nby = "l2"\n'))
    assert "top" not in experiments.load(write(tmp_path, '[confirm]\nby = "l2"\n'))["confirm"]


def test_every_registered_space_takes_the_keys_its_table_allows():
    """The experiment schema is the registry's: each space's `keys` are its constructor's arguments."""
    import inspect

    from kreg.tuning import spaces

    for name, space in spaces.SPACES.items():
        arguments = set(inspect.signature(space).parameters) - {"seed"}  # the experiment's own seed
        assert set(space.keys) == arguments, name


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes('description = "d\xe9j\xe0 vu"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=rf"{path} is not valid TOML: it is not UTF-8 text"):
        experiments.load(str(path))


def test_one_broken_file_does_not_hide_the_others_from_kreg_list(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    write(tmp_path / "experiments", "[search\n", "broken.toml")
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "broken" in out and "cannot be read" in out


@pytest.mark.parametrize("table, named", [
    ("[space.schedule]\nwarmup_epochs = 30\n[search]\nepochs = 5\n", "`space.schedule.warmup_epochs` must be at most"),
    ("[search]\nmax_trials = 4611686018427387904\n", "2**32"),
    ("seed = 4294967295\n", "2**32"),
])
def test_what_a_run_could_never_do_is_refused_when_read(tmp_path, table, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        experiments.load(write(tmp_path, table + BASE if table.startswith("seed") else BASE + table))


def test_pruning_keys_resolve_with_their_defaults(tmp_path):
    for given in ("true", '"median"', "false"):  # `true` stays `true`: folders made before "asha" resume
        search = experiments.load(write(tmp_path, BASE + f"[search]\npruning = {given}\n"))["search"]
        assert search["pruning"] == {"true": True, "false": False}.get(given, "median")
        assert search["warmup_epochs"] == 3 and not set(experiments.HALVING) & set(search)
    search = experiments.load(write(tmp_path, BASE + '[search]\npruning = "asha"\n'))["search"]
    assert {k: search[k] for k in experiments.HALVING + ("min_trials",)} == \
        {"min_resource": 3, "reduction_factor": 3, "min_early_stopping_rate": 0, "min_trials": 3}
    assert "warmup_epochs" not in search  # the median rule's, not successive halving's
    text = BASE + '[search]\npruning = "asha"\nmin_resource = 2\nreduction_factor = 2\nmin_early_stopping_rate = 1\n'
    search = experiments.load(write(tmp_path, text))["search"]
    assert (search["min_resource"], search["reduction_factor"], search["min_early_stopping_rate"]) == (2, 2, 1)


BAD = ["0", "-1", '"3"', "nan", "2.5", "true"]  # each bad value of each key: named, with its value


@pytest.mark.parametrize("key, value", [(k, v) for k in ("min_resource", "reduction_factor",
                                                          "min_early_stopping_rate", "min_trials") for v in BAD
                                         if (k, v) != ("min_early_stopping_rate", "0")]  # its default: valid
                         + [("reduction_factor", "1")])
def test_bad_halving_values_are_refused_naming_key_and_value(tmp_path, key, value, capsys):
    path = write(tmp_path, BASE + f'[search]\npruning = "asha"\n{key} = {value}\n')
    shown = {'"3"': "'3'", "true": "True"}.get(value, value)
    with pytest.raises(ValueError, match=rf"`search.{key}` must be .*Received: ({key}=)?{re.escape(shown)}"):
        experiments.load(path)
    assert cli.main(["search", path, "--logdir", str(tmp_path / "logs")]) == 2
    assert f"search.{key}" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()  # refused before anything is written


@pytest.mark.parametrize("value", ["0", "-1", '"yes"', '"Median"', '""', "nan", "1.0", "[]"])
def test_bad_pruning_values_are_refused_naming_the_value(tmp_path, value):
    with pytest.raises(ValueError, match=r"`search.pruning` must be .*Received: (pruning=)?"):
        experiments.load(write(tmp_path, BASE + f"[search]\npruning = {value}\n"))


def test_pruning_keys_that_do_not_apply_are_refused(tmp_path):
    for pruning in ("false", "true", '"median"'):
        with pytest.raises(ValueError, match=r'`search.reduction_factor` applies to pruning = "asha" only\. '
                                             r"Received: pruning=.*, reduction_factor=2"):
            experiments.load(write(tmp_path, BASE + f"[search]\npruning = {pruning}\nreduction_factor = 2\n"))
    with pytest.raises(ValueError, match=r"`search.warmup_epochs` is the median rule's.*warmup_epochs=2"):
        experiments.load(write(tmp_path, BASE + '[search]\npruning = "asha"\nwarmup_epochs = 2\n'))
    for pruning in ("true", '"asha"'):
        with pytest.raises(ValueError, match=r'does not apply to tuner = "hyperband".*Received: pruning='):
            experiments.load(write(tmp_path, BASE + f'[search]\ntuner = "hyperband"\npruning = {pruning}\n'))
    assert not experiments.load(write(tmp_path, BASE + '[search]\ntuner = "hyperband"\n'))["search"]["pruning"]


def test_a_first_rung_at_or_past_the_last_epoch_is_refused(tmp_path):
    text = BASE + '[search]\npruning = "asha"\nepochs = 9\nmin_resource = 3\nmin_early_stopping_rate = {}\n'
    assert experiments.load(write(tmp_path, text.format(0)))["search"]["min_early_stopping_rate"] == 0  # 3 < 9
    with pytest.raises(ValueError, match=r"first rung.*must come before the last epoch \(9\).*"
                                         r"min_early_stopping_rate=1, epochs=9"):
        experiments.load(write(tmp_path, text.format(1)))  # 3 * 3 = 9: no trial would stop early
    with pytest.raises(ValueError, match=r"first rung"):
        experiments.load(write(tmp_path, text.format(10 ** 9)))  # refused at once, not computed
    with pytest.raises(ValueError, match=r"first rung"):
        experiments.load(write(tmp_path, text.format(0)), epochs=3)  # the command line's --epochs counts
