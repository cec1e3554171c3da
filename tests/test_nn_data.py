"""Data loaders: the embedded MNIST, IDX (gzip or not), Kaggle CSV, .npz, and their error messages."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from nonlocal_calc.nn.data import DataError, load_dataset, load_path, mnist_dir, read_idx


def test_embedded_mnist_matches_its_readme() -> None:
    ds = load_dataset("mnist10k")
    labels = np.concatenate([ds.y_train, ds.y_test])
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.y_train[:9].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5]  # image 9 is held out by the rule
    assert ds.y_test[0] == 9 and len(ds.y_train) == 9000 and len(ds.y_test) == 1000
    assert "LeCun" in ds.source and "CC BY-SA 3.0" in ds.source
    assert "LeCun" in (mnist_dir() / "README.md").read_text()
    x, y, _, _ = ds.arrays("float64")
    assert x.min() == 0.0 and x.max() == 1.0 and x.flags.c_contiguous


def _idx(shape: tuple[int, ...], magic: int, data: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in shape) + data


def _write_pair(d: Path, prefix: str, n: int, gz: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 4, 4), dtype=np.uint8)
    labs = rng.integers(0, 10, n, dtype=np.uint8)
    for kind, magic, arr in (("images-idx3-ubyte", 2051, imgs), ("labels-idx1-ubyte", 2049, labs)):
        raw = _idx(arr.shape, magic, arr.tobytes())
        path = d / f"{prefix}-{kind}" if not gz else d / f"{prefix}-{kind}.gz"
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return imgs.reshape(n, -1), labs


@pytest.mark.parametrize("gz", [False, True])
def test_full_mnist_directory_layout(tmp_path: Path, gz: bool) -> None:
    xtr, ytr = _write_pair(tmp_path, "train", 30, gz)
    xte, yte = _write_pair(tmp_path, "t10k", 12, gz, seed=1)
    ds = load_path(tmp_path)
    np.testing.assert_array_equal(ds.x_train, xtr)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert ds.n_features == 16


def test_single_idx_file_uses_the_fixed_split(tmp_path: Path) -> None:
    x, y = _write_pair(tmp_path, "t10k", 25, gz=True)
    ds = load_path(tmp_path / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(ds.x_test, x[[9, 19]])
    assert len(ds.x_train) == 23


def test_truncated_and_malformed_idx_files_are_named(tmp_path: Path) -> None:
    _write_pair(tmp_path, "train", 10, gz=False)
    img = tmp_path / "train-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated"):
        read_idx(img)
    gzpath = tmp_path / "x-images-idx3-ubyte.gz"
    gzpath.write_bytes(gzip.compress(_idx((3, 2, 2), 2051, bytes(12)))[:-10])
    with pytest.raises(DataError, match=r"x-images-idx3-ubyte.gz: the gzip stream ends early"):
        read_idx(gzpath)
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match=r"bad-images-idx3-ubyte: not an IDX file"):
        read_idx(bad)
    swapped = tmp_path / "s-labels-idx1-ubyte"
    swapped.write_bytes(_idx((3, 2, 2), 2051, bytes(12)))
    with pytest.raises(DataError, match=r"magic number 2051, expected 2049"):
        read_idx(swapped, 2049)


def test_image_and_label_counts_must_match(tmp_path: Path) -> None:
    _write_pair(tmp_path, "a", 10, gz=False)
    _write_pair(tmp_path, "b", 11, gz=False)
    (tmp_path / "a-labels-idx1-ubyte").write_bytes((tmp_path / "b-labels-idx1-ubyte").read_bytes())
    with pytest.raises(DataError, match="10 images but .* 11 labels"):
        load_path(tmp_path / "a-images-idx3-ubyte")


def test_kaggle_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (20, 6))
    lab = rng.integers(0, 10, 20)
    rows = ["label," + ",".join(f"pixel{i}" for i in range(6))]
    rows += [",".join(map(str, [label, *p])) for label, p in zip(lab, pix)]
    path = tmp_path / "train.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_path(path)
    np.testing.assert_array_equal(ds.x_train[0], pix[0])
    np.testing.assert_array_equal(ds.y_test, lab[[9, 19]])
    assert load_path(tmp_path).n_features == 6  # a directory with train.csv
    (tmp_path / "test.csv").write_text(rows[0].replace("label,", "") + "\n" + ",".join(map(str, pix[0])) + "\n")
    with pytest.raises(DataError, match="test.csv: the first column is 'pixel0'"):
        load_path(tmp_path / "test.csv")
    path.write_text("\n".join(rows[:5]) + "\n1,2,3\n")
    with pytest.raises(DataError, match="train.csv: malformed CSV"):
        load_path(path)


def test_npz_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 3, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 30)
    np.savez(tmp_path / "keras.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    ds = load_path(tmp_path / "keras.npz")
    assert ds.x_train.shape == (20, 9) and ds.n_classes == int(y.max()) + 1
    np.savez(tmp_path / "single.npz", x=x, y=y)
    assert len(load_path(tmp_path / "single.npz").x_test) == 3
    np.savez(tmp_path / "other.npz", a=x)
    with pytest.raises(DataError, match=r"other.npz: keys \['a'\]"):
        load_path(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="broken.npz: not a readable .npz"):
        load_path(tmp_path / "broken.npz")


def test_unknown_names_and_paths() -> None:
    with pytest.raises(DataError, match="unknown data set 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="no such file or directory"):
        load_path("/nonexistent/file.npz")
