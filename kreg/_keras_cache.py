"""Reads the files that `keras.datasets.NAME.load_data()` leaves in Keras's cache, in their own formats.

Nothing here downloads: a file missing from the cache is an error that names
the path expected and how to fill the cache. The file names and formats are
those of Keras 3 (`keras/src/datasets/NAME.py`): MNIST one `.npz`,
Fashion-MNIST four gzipped IDX files, CIFAR pickled batches in the folder that
`get_file(extract=True)` extracts its archive into.
"""

import gzip
import os
import pickle
import zipfile

import numpy as np

_CIFAR10 = "cifar-10-batches-py-target/cifar-10-batches-py/"
_CIFAR100 = "cifar-100-python-target/cifar-100-python/"
FILES = {  # under cache(), for each dataset: the training files, then the test files
    "mnist": ["mnist.npz"],
    "fashion_mnist": [f"fashion-mnist/{part}-{kind}-idx{rank}-ubyte.gz" for part in ("train", "t10k")
                      for kind, rank in (("images", 3), ("labels", 1))],
    "cifar10": [f"{_CIFAR10}data_batch_{i}" for i in range(1, 6)] + [f"{_CIFAR10}test_batch"],
    "cifar100": [f"{_CIFAR100}train", f"{_CIFAR100}test"],
}


def cache():
    """The folder where `keras.datasets` keeps its files, by Keras's rule, read at each call.

    `$KERAS_HOME/datasets`; where KERAS_HOME is unset, `~/.keras/datasets`
    (`/tmp/.keras/datasets` where the home folder is not writable).
    """
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.join(os.path.expanduser(home), "datasets")


def read(name):
    """`((x_train, y_train), (x_test, y_test))` of dataset `name` (a key of `FILES`): uint8 images, int32 labels."""
    folder = cache()
    paths = [os.path.join(folder, *file.split("/")) for file in FILES[name]]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        more = f" (and {len(missing) - 1} more of its files)" if len(missing) > 1 else ""
        raise ValueError(
            f"keras:{name} is not in Keras's dataset cache: no file {missing[0]}{more}. kreg reads the cache "
            f"({folder}: $KERAS_HOME/datasets, else ~/.keras/datasets) and never downloads. Fill it once where "
            f"there is a network, with the same KERAS_HOME: python -c \"import keras; "
            f"keras.datasets.{name}.load_data()\"; or copy the files there from a machine that has them.")
    return READERS[name](paths)


def _read(path, read):
    """`read(path)`; a damaged file is an error naming it."""
    try:
        return read(path)
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise ValueError(f"Cannot read {path}, a file of Keras's dataset cache ({type(error).__name__}: {error}). "
                         f"Delete it and fill the cache again.") from None


def _paired(path, x, y):
    y = np.asarray(y).reshape(-1)
    if len(x) != len(y) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels of type {y.dtype}: the file is damaged")
    return x, y.astype("int32")


def _npz(path):
    with np.load(path, allow_pickle=False) as f:
        return [_paired(path, f[f"x_{part}"], f[f"y_{part}"]) for part in ("train", "test")]


def _idx(paths):
    """Fashion-MNIST's IDX files: images after a 16-byte header, labels after an 8-byte one."""
    def read(path, offset):
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    parts = []
    for images, labels in (paths[0:2], paths[2:4]):
        x, y = _read(images, lambda p: read(p, 16)), _read(labels, lambda p: read(p, 8))
        if x.size != 28 * 28 * len(y):
            raise ValueError(f"{images}: {x.size} pixels are not 28 x 28 for each of the {len(y)} labels of "
                             f"{labels}: a file is damaged")
        parts.append(_paired(images, x.reshape(-1, 28, 28), y))
    return parts


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays, lists, dicts and numbers and nothing else: a pickle can run code, a dataset has none."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, where a dataset holds only arrays")
        return super().find_class(module, name)


def _cifar(label_key):
    """Reads CIFAR's pickled batches: `data`, rows of 3x32x32 pixels, and a list of labels under `label_key`."""
    def read(path):
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
        if not isinstance(batch, dict):
            raise ValueError(f"it holds a {type(batch).__name__}, not a batch (a dict of data and labels)")
        batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
        x = np.asarray(batch["data"], dtype="uint8").reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return _paired(path, x, batch[label_key])

    def batches(paths):
        train = [_read(path, read) for path in paths[:-1]]
        return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), _read(paths[-1], read)

    return batches


READERS = {
    "mnist": lambda paths: _read(paths[0], _npz),
    "fashion_mnist": _idx,
    "cifar10": _cifar("labels"),
    "cifar100": _cifar("fine_labels"),
}
