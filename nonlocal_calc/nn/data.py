"""Data sets for the trainer: the embedded MNIST test set and loaders for IDX, Kaggle CSV and ``.npz`` files.

The embedded default, ``mnist10k``, is the MNIST test set (10,000 images, by Yann LeCun, Corinna Cortes and
Christopher J. C. Burges, CC BY-SA 3.0) split by a fixed rule into 9,000 training and 1,000 held-out images:
image ``i`` is held out when ``i % 10 == 9`` (a rule, not a random draw, so it never changes between NumPy
versions, and it takes images from both halves of the file, which differ in difficulty).

>>> ds = load_dataset("mnist10k")
>>> ds.x_train.shape, ds.x_test.shape, ds.n_classes
((9000, 784), (1000, 784), 10)
>>> x, y, xt, yt = ds.arrays("float32")
>>> float(x.max()), x.dtype.name
(1.0, 'float32')
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

#: Magic numbers of the IDX files of MNIST (unsigned bytes, 3 dimensions / 1 dimension).
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
#: Every tenth row (i % 10 == 9) is held out when a file holds a single set.
HOLDOUT_EVERY = 10

ATTRIBUTION = (
    "MNIST database of handwritten digits by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, "
    "licensed under CC BY-SA 3.0"
)


class DataError(ValueError):
    """A data file is missing, malformed or truncated; the message names the file and the problem."""


@dataclass
class Dataset:
    """A train / held-out pair of arrays.

    ``x_*`` are 2-D (samples x features); ``uint8`` features are pixels and are divided by 255 by
    :meth:`arrays`. For classification ``y_*`` are integer labels and ``n_classes`` is set; for regression
    ``y_*`` are 2-D float targets and ``n_classes`` is ``None``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int | None = None
    source: str = ""

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.n_classes if self.n_classes is not None else self.y_train.shape[1])

    def arrays(self, dtype: str | np.dtype = "float64") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(x_train, y_train, x_test, y_test)`` with C-contiguous features in ``dtype`` (pixels / 255)."""
        dt = np.dtype(dtype)

        def feat(a: np.ndarray) -> np.ndarray:
            out = np.ascontiguousarray(a, dtype=dt)
            if a.dtype == np.uint8:
                out /= dt.type(255)
            return out

        def targ(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a, dtype=np.int64 if self.n_classes is not None else dt)

        return feat(self.x_train), targ(self.y_train), feat(self.x_test), targ(self.y_test)

    def fingerprint(self) -> str:
        """A hash of the contents, stored in checkpoints so that a run resumes only on the same data."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(np.ascontiguousarray(a).data)
        return h.hexdigest()[:16]

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and ``n_test`` held-out samples (for quick runs and tests)."""
        return Dataset(
            self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test], self.y_test[:n_test],
            f"{self.name}[:{n_train},:{n_test}]", self.n_classes, self.source,
        )


# --------------------------------------------------------------------------------------------- IDX


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip data; a damaged gzip stream is a :class:`DataError`."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: the gzip stream ends early (truncated download?); download the file again") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc}); download the file again") from None


def read_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) of unsigned bytes into an array of its shape.

    Raises :class:`DataError` naming the file when the magic number, the dimensions or the size are wrong.

    >>> from nonlocal_calc.nn.data import read_idx, mnist_dir
    >>> read_idx(mnist_dir() / "t10k-labels-idx1-ubyte.gz", IDX_LABELS_MAGIC)[:10]
    array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9], dtype=uint8)
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: file too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes (magic number {magic}; MNIST uses "
            f"{IDX_IMAGES_MAGIC} for images and {IDX_LABELS_MAGIC} for labels)"
        )
    if expect_magic is not None and magic != expect_magic:
        what = "images" if expect_magic == IDX_IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: magic number {magic}, expected {expect_magic} for an IDX {what} file")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: IDX header truncated or invalid ({ndim} dimensions, {len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) + header
    if len(data) < expected:
        raise DataError(
            f"{path}: truncated: the header announces shape {shape} ({expected} bytes) but the file has "
            f"{len(data)} bytes; download the file again"
        )
    if len(data) > expected:
        raise DataError(f"{path}: {len(data) - expected} unexpected bytes after the data of shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    if labels.ndim != 1:
        raise DataError(f"{where}: labels must be one number per sample, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise DataError(f"{where}: labels must be integers 0, 1, 2, ...")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise DataError(f"{where}: labels must be non-negative integers, found {labels.min()}")
    return labels


def _flatten_images(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim < 2:
        raise DataError(f"{where}: images must have at least 2 dimensions (samples, features), got {images.shape}")
    return images.reshape(images.shape[0], -1)


def load_idx_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (flattened, uint8) and labels from a pair of IDX files, checked for matching counts."""
    images = _flatten_images(read_idx(images_path, IDX_IMAGES_MAGIC), str(images_path))
    labels = _check_labels(read_idx(labels_path, IDX_LABELS_MAGIC), str(labels_path))
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has {labels.shape[0]} labels; "
            "use the labels file that belongs to these images"
        )
    return images, labels


def _find_idx(directory: Path, prefix: str, kind: str) -> Path | None:
    for name in (f"{prefix}-{kind}", f"{prefix}-{kind}.gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _labels_for(images_path: Path) -> Path:
    name = images_path.name
    if "images-idx3" not in name:
        raise DataError(
            f"{images_path}: cannot tell which labels file belongs to it; name the images file "
            "'<prefix>-images-idx3-ubyte[.gz]' next to '<prefix>-labels-idx1-ubyte[.gz]', or pass the directory"
        )
    for cand in (name.replace("images-idx3", "labels-idx1"),):
        for variant in (cand, cand.removesuffix(".gz"), cand if cand.endswith(".gz") else cand + ".gz"):
            if (images_path.parent / variant).is_file():
                return images_path.parent / variant
    raise DataError(f"{images_path}: the matching labels file {name.replace('images-idx3', 'labels-idx1')} is missing")


# ------------------------------------------------------------------------------------------- split


def holdout_split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split one set by the fixed rule: sample ``i`` is held out when ``i % 10 == 9``.

    >>> a, b, c, d = holdout_split(np.arange(20).reshape(20, 1), np.arange(20))
    >>> d.tolist()
    [9, 19]
    """
    held = np.zeros(len(x), dtype=bool)
    held[HOLDOUT_EVERY - 1 :: HOLDOUT_EVERY] = True
    return x[~held], y[~held], x[held], y[held]


def _n_classes(*label_arrays: np.ndarray) -> int:
    top = max(int(a.max()) for a in label_arrays if a.size)
    return max(top + 1, 2)


def _classification(x_tr, y_tr, x_te, y_te, name: str, source: str) -> Dataset:  # noqa: ANN001
    if x_tr.shape[1] != x_te.shape[1]:
        raise DataError(f"{source}: training and held-out images differ in size ({x_tr.shape[1]} vs {x_te.shape[1]})")
    if len(x_tr) == 0 or len(x_te) == 0:
        raise DataError(f"{source}: need at least one training and one held-out sample")
    return Dataset(x_tr, y_tr, x_te, y_te, name, _n_classes(y_tr, y_te), source)


# ------------------------------------------------------------------------------------- CSV and NPZ


def load_kaggle_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and pixels from a Kaggle ``train.csv`` (header line, then ``label,pixel0,...,pixel783`` rows)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8", "replace").strip()
    cols = first.split(",")
    skip = 1 if cols and not cols[0].strip().lstrip("-").isdigit() else 0
    if skip and cols[0].strip().lower() != "label":
        raise DataError(
            f"{path}: the first column is {cols[0]!r}, expected 'label' (Kaggle train.csv layout: label, then "
            "the pixels); the Kaggle test.csv has no labels and cannot be used for training"
        )
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if table.shape[0] == 0:
        raise DataError(f"{path}: no data rows")
    if table.shape[1] < 2:
        raise DataError(f"{path}: expected a label column and pixel columns, got {table.shape[1]} column(s)")
    labels = _check_labels(table[:, 0], str(path))
    pixels = table[:, 1:]
    if pixels.min() < 0 or pixels.max() > 255 or np.any(pixels != np.round(pixels)):
        raise DataError(f"{path}: pixels must be integers 0..255 (found values outside, e.g. {pixels.max()})")
    return pixels.astype(np.uint8), labels


_NPZ_PAIRS = (("x_train", "y_train", "x_test", "y_test"), ("X_train", "y_train", "X_test", "y_test"))
_NPZ_SINGLE = (("x", "y"), ("X", "y"), ("images", "labels"))


def load_npz(path: str | Path) -> Dataset:
    """A data set from ``.npz``: keys ``x_train, y_train, x_test, y_test`` (Keras ``mnist.npz``), or ``x, y``
    (also ``X, y`` or ``images, labels``) split by the fixed rule. Integer-valued ``uint8`` features are pixels."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    for keys in _NPZ_PAIRS:
        if all(k in arrays for k in keys):
            xtr, ytr, xte, yte = (arrays[k] for k in keys)
            xtr, xte = _flatten_images(xtr, str(path)), _flatten_images(xte, str(path))
            ytr, yte = _check_labels(ytr, str(path)), _check_labels(yte, str(path))
            break
    else:
        for kx, ky in _NPZ_SINGLE:
            if kx in arrays and ky in arrays:
                x, y = _flatten_images(arrays[kx], str(path)), _check_labels(arrays[ky], str(path))
                if len(x) != len(y):
                    raise DataError(f"{path}: {len(x)} samples in {kx!r} but {len(y)} in {ky!r}")
                xtr, ytr, xte, yte = holdout_split(x, y)
                break
        else:
            raise DataError(
                f"{path}: keys {sorted(arrays)}; expected x_train, y_train, x_test, y_test or x, y"
            )
    for name, x, y in (("training", xtr, ytr), ("held-out", xte, yte)):
        if len(x) != len(y):
            raise DataError(f"{path}: {len(x)} {name} samples but {len(y)} labels")
        if x.dtype != np.uint8 and not np.all(np.isfinite(x)):
            raise DataError(f"{path}: {name} features contain NaN or inf")
    return _classification(xtr, ytr, xte, yte, path.stem, str(path))


# ------------------------------------------------------------------------------------------ public


def mnist_dir() -> Path:
    """The directory of the embedded MNIST test set."""
    return Path(str(resources.files("nonlocal_calc") / "data" / "mnist"))


def load_path(path: str | Path) -> Dataset:
    """Load a data set from a file or directory, chosen by its form.

    * a directory with ``train-*`` and ``t10k-*`` IDX files (full MNIST): train on train, hold out t10k;
      a directory with only one of the two sets, or a single ``...-images-idx3-ubyte[.gz]`` file: fixed split;
    * ``*.csv``: the Kaggle ``train.csv`` layout (label, then pixels), fixed split;
    * ``*.npz``: see :func:`load_npz`.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        tr_i, tr_l = _find_idx(p, "train", "images-idx3-ubyte"), _find_idx(p, "train", "labels-idx1-ubyte")
        te_i, te_l = _find_idx(p, "t10k", "images-idx3-ubyte"), _find_idx(p, "t10k", "labels-idx1-ubyte")
        if tr_i and tr_l and te_i and te_l:
            x_tr, y_tr = load_idx_pair(tr_i, tr_l)
            x_te, y_te = load_idx_pair(te_i, te_l)
            return _classification(x_tr, y_tr, x_te, y_te, p.name or "mnist", str(p))
        for img, lab in ((tr_i, tr_l), (te_i, te_l)):
            if img and lab:
                return _classification(*holdout_split(*load_idx_pair(img, lab)), p.name, str(p))
        if (p / "train.csv").is_file():
            return load_path(p / "train.csv")
        raise DataError(
            f"{p}: no data found; expected train-/t10k-images-idx3-ubyte[.gz] with their labels files, "
            "or a Kaggle train.csv"
        )
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    suffixes = "".join(p.suffixes).lower()
    if suffixes.endswith(".csv") or suffixes.endswith(".csv.gz"):
        return _classification(*holdout_split(*load_kaggle_csv(p)), p.stem, str(p))
    if suffixes.endswith(".npz"):
        return load_npz(p)
    x, y = load_idx_pair(p, _labels_for(p))
    return _classification(*holdout_split(x, y), p.name.split("-")[0], str(p))


def load_mnist10k() -> Dataset:
    """The embedded MNIST test set, split 9,000 / 1,000 by the fixed rule (see the module docstring)."""
    d = mnist_dir()
    x, y = load_idx_pair(d / "t10k-images-idx3-ubyte.gz", d / "t10k-labels-idx1-ubyte.gz")
    ds = _classification(*holdout_split(x, y), "mnist10k", f"embedded MNIST test set ({ATTRIBUTION})")
    return ds


#: Named data sets (``--dataset NAME``): name -> loader. Modules that define a data set add it with
#: :func:`register` (``nonlocal_calc.nn.laaf`` adds ``laaf``), so this module needs to know none of them.
DATASETS: dict[str, Callable[[], Dataset]] = {}


def register(name: str, loader: Callable[[], Dataset]) -> None:
    """Make ``loader`` the data set ``name`` of :func:`load_dataset`."""
    DATASETS[name] = loader


register("mnist10k", load_mnist10k)


def load_dataset(name: str) -> Dataset:
    """A named data set of :data:`DATASETS`: ``mnist10k`` (embedded) or ``laaf`` (the discontinuous function
    of the LAAF paper).

    >>> sorted(DATASETS)
    ['laaf', 'mnist10k']
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise DataError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)} or pass --data PATH") from None
    return loader()


def to_bytes_npz(**arrays: np.ndarray) -> bytes:
    """Arrays as ``.npz`` bytes (for atomic writes)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
