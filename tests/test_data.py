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
