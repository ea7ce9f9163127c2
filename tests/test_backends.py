"""The same numbers on every backend, and TensorFlow loaded only where it must be.

`compute` runs once per backend, each in its own process (`KERAS_BACKEND` is
read once, at import): the same weights, inputs and batches, from one `.npz`,
through penalties, constraints, proximal steps, a compiled training step with
`LossBreakdown`, folding and conversion of the dropout scaling, inference and
`mc_predict`. Every backend's results must agree with TensorFlow's to float32
tolerance. PyTorch joins where it is installed (`kreg` does not install it).

Run as a script (`python tests/test_backends.py INPUTS OUTPUT`), it writes one
backend's results.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

BACKENDS = ["tensorflow", "jax"] + (["torch"] if importlib.util.find_spec("torch") else [])


def inputs():
    rng = np.random.default_rng(0)
    return {
        "dense": rng.normal(0, 0.8, (6, 4)).astype("float32"),
        "conv": rng.normal(0, 0.5, (3, 3, 2, 4)).astype("float32"),
        "grads": rng.normal(0, 0.3, (6, 4)).astype("float32"),
        "x": rng.normal(size=(16, 6)).astype("float32"),
        "y": rng.integers(0, 3, size=16),
        "images": rng.normal(size=(4, 5, 5, 2)).astype("float32"),
    }


def compute(data):
    """`{name: array}`: every deterministic result of kreg this backend computes from `data`."""
    import keras

    import kreg

    out = {}
    dense, conv = data["dense"], data["conv"]
    penalties = {
        "l1": kreg.regularizers.L1(0.3),
        "l2_n": kreg.regularizers.L2(0.7, num_examples=5),
        "elastic_net": kreg.regularizers.ElasticNet(0.1, 0.2),
        "group_lasso": kreg.regularizers.GroupLasso(0.4),
    }
    for name, penalty in penalties.items():
        for kernel in ("dense", "conv"):
            out[f"penalty/{name}/{kernel}"] = keras.ops.convert_to_numpy(penalty(data[kernel]))
    constraints = {"max_norm": kreg.constraints.MaxNorm(1.2), "unit_norm": kreg.constraints.UnitNorm()}
    for name, constraint in constraints.items():
        for kernel in ("dense", "conv"):
            out[f"constraint/{name}/{kernel}"] = keras.ops.convert_to_numpy(constraint(data[kernel]))

    # Two proximal steps of SGD on one variable, then soft-thresholding.
    variable = keras.Variable(dense, name="kernel")
    optimizer = kreg.optimizers.ProximalL1(keras.optimizers.SGD(0.1, momentum=0.5), l1=0.8)
    optimizer.build([variable])
    for _ in range(2):
        optimizer.apply([keras.ops.convert_to_tensor(data["grads"])], [variable])
    out["proximal/steps"] = keras.ops.convert_to_numpy(variable)
    out["proximal/soft_threshold"] = keras.ops.convert_to_numpy(kreg.optimizers.soft_threshold(dense, 0.5))

    # Two compiled training steps (SGD, no shuffling), with penalties, a constraint and LossBreakdown.
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(4, activation="tanh", kernel_regularizer=kreg.regularizers.ElasticNet(0.01, 0.05),
                           kernel_constraint=kreg.constraints.MaxNorm(1.0)),
        keras.layers.Dense(3, kernel_regularizer=kreg.regularizers.GroupLasso(0.02)),
    ])
    model.set_weights([dense, np.linspace(-0.2, 0.2, 4, dtype="float32"), dense[:4, :3].copy(),
                       np.zeros(3, "float32")])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(0.1), loss, weighted_metrics=[kreg.metrics.DataLoss(loss)])
    history = model.fit(data["x"], data["y"], batch_size=8, epochs=2, shuffle=False, verbose=0,
                        callbacks=[kreg.callbacks.LossBreakdown()])
    for key in ("loss", "data_loss", "penalty"):
        out[f"fit/{key}"] = np.array(history.history[key])
    for i, weight in enumerate(model.get_weights()):
        out[f"fit/weight{i}"] = weight

    # Inference with test-time dropout scaling, folded and converted; mc_predict where no layer samples.
    inputs = keras.Input((5, 5, 2))
    h = kreg.layers.SpatialDropout2D(0.25, scaling="test_time")(inputs)
    h = keras.layers.Conv2D(3, 3, kernel_initializer="glorot_uniform")(h)
    h = keras.layers.Flatten()(h)
    h = kreg.layers.Dropout(0.4, scaling="test_time")(h)
    h = keras.layers.Dense(5, activation="relu")(h)
    h = kreg.layers.Dropout(0.0)(h)
    outputs = keras.layers.Dense(2)(h)
    network = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    network.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in network.get_weights()])
    images = data["images"]
    out["inference/model"] = keras.ops.convert_to_numpy(network(images, training=False))
    out["inference/folded"] = keras.ops.convert_to_numpy(kreg.fold_dropout_scaling(network)(images))
    out["inference/inverted"] = keras.ops.convert_to_numpy(
        kreg.convert_dropout_scaling(network, "inverted")(images, training=False))
    for layer in network.layers:
        if isinstance(layer, (kreg.layers.Dropout, kreg.layers.SpatialDropout2D)):
            layer.rate = 0.0
    out["inference/mc_mean"], out["inference/mc_std"] = kreg.mc_predict(network, images, samples=3, seed=0)
    return out


def run_backends(tmp_path, backends):
    np.savez(tmp_path / "inputs.npz", **inputs())
    processes = {
        backend: subprocess.Popen(
            [sys.executable, __file__, str(tmp_path / "inputs.npz"), str(tmp_path / f"{backend}.npz")],
            env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for backend in backends
    }
    for backend, process in processes.items():
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 0, f"{backend}:\n{output[-3000:]}"
    results = {}
    for backend in backends:
        with np.load(tmp_path / f"{backend}.npz") as f:
            results[backend] = dict(f)
    return results


@pytest.mark.one_backend  # it starts every backend itself
def test_numbers_agree_across_backends(tmp_path):
    results = run_backends(tmp_path, BACKENDS)
    reference = results["tensorflow"]
    for backend in BACKENDS[1:]:
        assert sorted(results[backend]) == sorted(reference)
        for name, value in reference.items():
            np.testing.assert_allclose(results[backend][name], value, rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name}: {backend} vs tensorflow")
    # The checks check something: the inference outputs are not all alike, the steps moved the weights.
    assert np.abs(reference["inference/model"]).max() > 0.01 and not reference["inference/mc_std"].any()
    assert reference["fit/penalty"].min() > 0 and (reference["proximal/steps"] == 0).any()
    assert not np.allclose(reference["fit/weight0"], inputs()["dense"])
    np.testing.assert_allclose(reference["inference/folded"], reference["inference/model"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reference["inference/inverted"], reference["inference/model"], rtol=1e-5, atol=1e-6)


NO_TENSORFLOW = textwrap.dedent("""
    import sys
    import traceback


    class Watch:  # prints where TensorFlow is first imported from
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow":
                print("tensorflow imported from:", "".join(traceback.format_stack(limit=22)))
                sys.meta_path.remove(self)


    sys.meta_path.insert(0, Watch())

    import keras
    import numpy as np

    import kreg, kreg.augment, kreg.callbacks, kreg.tuning

    log_dir = sys.argv[1]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, kernel_regularizer=kreg.regularizers.L2(0.5)), kreg.layers.Dropout(0.2), keras.layers.Dense(1)])
    model.compile("sgd", "mse", weighted_metrics=[kreg.metrics.DataLoss("mse")])
    x, y = np.ones((8, 3)), np.zeros((8, 1))
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[
        kreg.callbacks.LossBreakdown(), kreg.callbacks.RegularizationMonitor(log_dir, histograms=True),
        kreg.callbacks.FitDiagnosis(log_dir=log_dir)])
    sys.exit(1 if "tensorflow" in sys.modules else 0)
""")


@pytest.mark.one_backend
def test_kreg_and_its_tensorboard_logging_need_no_tensorflow_on_jax(tmp_path):
    log_dir = tmp_path / "logs"
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(log_dir)], capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    # What it wrote reads back in TensorBoard as ordinary scalars, texts and histograms.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    train = EventAccumulator(str(log_dir / "train"), size_guidance={"tensors": 0})
    train.Reload()
    penalty = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in train.Tensors("epoch_penalty")]
    assert [e.step for e in train.Tensors("epoch_penalty")] == [0, 1] and min(penalty) > 0
    assert "fit/verdict" in train.Tags()["tensors"] and "fit/summary" in train.Tags()["tensors"]
    histogram = tensor_util.make_ndarray(train.Tensors("weights/sequential/dense/kernel")[0].tensor_proto)
    assert histogram.shape == (30, 3) and histogram[:, 2].sum() == 6
    assert train.SummaryMetadata("epoch_penalty").plugin_data.plugin_name == "scalars"


if __name__ == "__main__":
    with np.load(sys.argv[1]) as f:
        arrays = dict(f)
    np.savez(sys.argv[2], **compute(arrays))
