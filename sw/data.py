"""Datasets as plain NumPy arrays, so the training and the hardware side see the same tensors.

Every loader returns a :class:`DataSplits` of float32 NCHW images scaled to [0, 1] and int64
class indices. Only NumPy is imported at module load: the simulation side may import this
module without pulling in torch, scikit-learn or Pillow (they are imported where used).

Supported names (see :data:`DATASETS`):

- ``digits``: scikit-learn's bundled 8x8 digits, pixel values 0..16 divided by 16 (exact in
  float32), a stratified split drawn with ``test_fraction`` and ``seed``. ``root`` is ignored.
- ``cifar10`` / ``cifar100``: the "python version" pickle batches, the dataset's own split.
- ``mnist``: the four IDX files, optionally gzipped, the dataset's own split; any class
  count (the largest training label + 1), so Fashion-MNIST and EMNIST files load too.
- ``mnist1d``: MNIST-1D (Greydanus 2020), 4,000 train / 1,000 test signals of 40 samples,
  ``[N, 1, 40]`` float32 (signals, not scaled to [0, 1]), generated offline by the
  ``mnist1d`` package with its published default arguments (its seed 42; never its
  download path). ``root`` is ignored.
- ``npz``: ``root`` is one ``.npz`` file holding ``x`` (float32 ``[N, C, H, W]``,
  ``[N, C, L]`` or ``[N, K]``) and optionally ``y`` (int64 labels; zeros without). Both
  splits are those samples, unless the file also holds ``x_test`` (and optionally
  ``y_test``): then that is the test split. ``adderflow import --to-run`` writes one of
  seeded random inputs (``inputs.npz``).
- ``folder``: ``root/train/<class>/*.png|jpg|jpeg|bmp`` and ``root/test`` (or ``root/val``).
  Every image is converted to RGB and resized to the size of the first training image (the
  first file, in name order, of the first class folder, in name order).

Every problem with the files on disk raises :class:`~adderflow.errors.DataError` whose one-line
message names the file or folder at fault.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adderflow.errors import DataError

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

PathArg = str | os.PathLike[str] | None
Loader = Callable[[PathArg, float, int], "DataSplits"]


@dataclass(frozen=True)
class DataSplits:
    """A train/test split; images are float32 NCHW in [0, 1], labels int64 class indices."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    name: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(C, H, W) of one sample: what a model is built for."""
        return tuple(int(d) for d in self.train_x.shape[1:])


# --------------------------------------------------------------------------- shared helpers


def _err(name: str, message: str) -> DataError:
    """One message format for every data error, so the CLI prints a recognisable line."""
    return DataError(f"dataset '{name}': {message}")


def _require_root(name: str, root: PathArg, needs: str) -> Path:
    """Resolve ``root``; a file dataset without one, or with a missing one, is a user error."""
    if root is None:
        raise _err(name, f"needs root= pointing at {needs}")
    path = Path(root).expanduser()
    if not path.exists():
        raise _err(name, f"path {path} does not exist")
    if not path.is_dir():
        raise _err(name, f"path {path} is not a folder")
    return path


def _require_file(name: str, path: Path) -> Path:
    if not path.is_file():
        raise _err(name, f"missing file {path}")
    return path


def _scale_u8(images: np.ndarray) -> np.ndarray:
    """uint8 codes to float32 in [0, 1]; one definition so tests can reproduce it bit for bit."""
    return np.ascontiguousarray(images.astype(np.float32) / np.float32(255.0))


def _check_labels(name: str, labels: np.ndarray, num_classes: int, where: Path) -> np.ndarray:
    """Labels outside the class range would silently corrupt training: refuse them here."""
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise _err(
            name,
            f"{where} has labels outside 0..{num_classes - 1} "
            f"(found {labels.min()}..{labels.max()})",
        )
    return labels


# --------------------------------------------------------------------------- digits


def _digits(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    """Bundled with scikit-learn, so tests and demos run offline with no files."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0))[:, None]
    y = bunch.target.astype(np.int64)
    tx, vx, ty, vy = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return DataSplits(
        np.ascontiguousarray(tx),
        np.ascontiguousarray(ty),
        np.ascontiguousarray(vx),
        np.ascontiguousarray(vy),
        10,
        "digits",
    )


# --------------------------------------------------------------------------- CIFAR

# The official pickles hold dicts of bytes, lists and NumPy arrays. Anything else a pickle asks
# to import is refused: unpickling can run arbitrary code, and a dataset must not.
# (_codecs.encode is how Python 3 writes bytes into a protocol-2 pickle; it only encodes text.)
_PICKLE_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}

_PICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    OverflowError,
)


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refuses to import {module}.{name}")
        return super().find_class(module, name)


def _read_pickle(name: str, path: Path) -> dict[bytes, Any]:
    try:
        with path.open("rb") as handle:
            obj = _SafeUnpickler(handle, encoding="bytes").load()
    except _PICKLE_ERRORS as exc:
        raise _err(name, f"{path} is not a valid CIFAR pickle ({exc})") from exc
    if not isinstance(obj, dict):
        raise _err(name, f"{path} holds a {type(obj).__name__}, expected a dict")
    return obj


def _cifar_batch(
    name: str, path: Path, label_key: bytes, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One pickle batch to (uint8 N x 3 x 32 x 32, int64 N)."""
    batch = _read_pickle(name, path)
    for key in (b"data", label_key):
        if key not in batch:
            raise _err(name, f"{path} has no key {key!r}")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _err(
            name,
            f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}",
        )
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise _err(name, f"{path}: {label_key!r} is not a list of integers") from exc
    if labels.shape != (data.shape[0],):
        raise _err(
            name, f"{path}: {data.shape[0]} images but {label_key!r} has shape {labels.shape}"
        )
    labels = _check_labels(name, labels, num_classes, path)
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_root(name: str, root: PathArg, subfolder: str, first: str) -> Path:
    """Accept the batch folder itself or its parent (where the archive was unpacked)."""
    path = _require_root(name, root, f"a folder holding {subfolder}/")
    if not (path / first).exists() and (path / subfolder).is_dir():
        return path / subfolder
    return path


def _load_cifar(
    name: str,
    root: Path,
    train_files: list[str],
    test_files: list[str],
    label_key: bytes,
    num_classes: int,
) -> DataSplits:
    def stack(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        paths = [_require_file(name, root / f) for f in files]
        parts = [_cifar_batch(name, p, label_key, num_classes) for p in paths]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    tx, ty = stack(train_files)
    vx, vy = stack(test_files)
    return DataSplits(_scale_u8(tx), ty, _scale_u8(vx), vy, num_classes, name)


def _cifar10(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    """The dataset's own 50k/10k split; ``test_fraction`` and ``seed`` do not apply."""
    path = _cifar_root("cifar10", root, "cifar-10-batches-py", "data_batch_1")
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return _load_cifar("cifar10", path, train, ["test_batch"], b"labels", 10)


def _cifar100(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    """Fine labels (100 classes), the dataset's own split."""
    path = _cifar_root("cifar100", root, "cifar-100-python", "train")
    return _load_cifar("cifar100", path, ["train"], ["test"], b"fine_labels", 100)


# --------------------------------------------------------------------------- MNIST (IDX)

_IDX_UBYTE = 0x08


def _read_maybe_gz(name: str, path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise _err(name, f"cannot read {path} ({exc})") from exc


def _parse_idx(name: str, path: Path, raw: bytes, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file: 0x0000, dtype code, ndim, big-endian uint32 dims."""
    if len(raw) < 4:
        raise _err(name, f"{path} is too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    expected = (_IDX_UBYTE << 8) | ndim
    if magic != expected:
        raise _err(
            name,
            f"{path} has magic number 0x{magic:08x}, expected 0x{expected:08x} "
            f"(unsigned-byte IDX with {ndim} dimension(s))",
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _err(name, f"{path} is truncated inside its header ({len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != size:
        raise _err(
            name,
            f"{path} declares dims {dims} ({size} bytes of data) "
            f"but holds {len(raw) - header} bytes of data",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _idx_file(name: str, root: Path, stem: str) -> Path:
    """Prefer the plain file, fall back to the ``.gz`` the dataset is downloaded as."""
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise _err(name, f"missing file {root / stem} (or {stem}.gz)")


def _mnist_part(root: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    img_path = _idx_file("mnist", root, f"{prefix}-images-idx3-ubyte")
    lbl_path = _idx_file("mnist", root, f"{prefix}-labels-idx1-ubyte")
    images = _parse_idx("mnist", img_path, _read_maybe_gz("mnist", img_path), 3)
    labels = _parse_idx("mnist", lbl_path, _read_maybe_gz("mnist", lbl_path), 1)
    if len(images) != len(labels):
        raise _err(
            "mnist", f"{img_path} has {len(images)} images but {lbl_path} has {len(labels)} labels"
        )
    return images, labels.astype(np.int64)


def _mnist(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    """The dataset's own 60k/10k split; the image size is taken from the IDX headers and the
    class count from the training labels (MNIST's 10, EMNIST letters' 26, ...)."""
    path = _require_root("mnist", root, "a folder holding the four MNIST IDX files")
    tx, ty = _mnist_part(path, "train")
    vx, vy = _mnist_part(path, "t10k")
    if tx.shape[1:] != vx.shape[1:]:
        raise _err(
            "mnist", f"train images are {tx.shape[1:]} but test images are {vx.shape[1:]} in {path}"
        )
    # The training labels define the classes; a test label beyond them is a broken file.
    classes = int(ty.max(initial=0)) + 1
    vy = _check_labels("mnist", vy, classes, _idx_file("mnist", path, "t10k-labels-idx1-ubyte"))
    return DataSplits(_scale_u8(tx[:, None]), ty, _scale_u8(vx[:, None]), vy, classes, "mnist")


# --------------------------------------------------------------------------- image folder

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def _image_files(folder: Path) -> list[Path]:
    """Sorted, so the sample order (and the reference size) never depends on the filesystem."""
    found = (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    return sorted(found)


def _load_image(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """RGB uint8 HxWx3; resized (bilinear) only when it differs from ``size`` (W, H)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            if size is not None and rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _err("folder", f"cannot read image {path} ({exc})") from exc


def _folder_split(
    split: Path, classes: list[str], size: tuple[int, int] | None, *, is_train: bool
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    index = {c: i for i, c in enumerate(classes)}
    images: list[np.ndarray] = []
    labels: list[int] = []
    for folder in sorted(p for p in split.iterdir() if p.is_dir()):
        if folder.name not in index:
            raise _err("folder", f"test class folder {folder} has no counterpart in train/")
        files = _image_files(folder)
        if is_train and not files:
            raise _err("folder", f"class folder {folder} holds no .png/.jpg/.jpeg/.bmp images")
        for path in files:
            arr = _load_image(path, size)
            if size is None:
                size = (arr.shape[1], arr.shape[0])
            images.append(arr)
            labels.append(index[folder.name])
    if not images or size is None:
        raise _err("folder", f"{split} holds no images in class subfolders")
    x = np.stack(images).transpose(0, 3, 1, 2)
    return _scale_u8(x), np.asarray(labels, dtype=np.int64), size


def _folder(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    """ImageNet-style class folders; class index = position of the train folder name, sorted."""
    path = _require_root("folder", root, "a folder holding train/<class>/ and test/<class>/")
    train = path / "train"
    if not train.is_dir():
        raise _err("folder", f"missing folder {train}")
    test = next((path / s for s in ("test", "val") if (path / s).is_dir()), None)
    if test is None:
        raise _err("folder", f"missing folder {path / 'test'} (or {path / 'val'})")
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    if not classes:
        raise _err("folder", f"{train} holds no class subfolders")
    tx, ty, size = _folder_split(train, classes, None, is_train=True)
    vx, vy, _ = _folder_split(test, classes, size, is_train=False)
    return DataSplits(tx, ty, vx, vy, len(classes), "folder")


# --------------------------------------------------------------------------- public API


def _mnist1d(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    del root, test_fraction, seed  # the published split: the generator's own arguments
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise DataError("mnist1d: the generator is not installed (pip install mnist1d)") from exc
    data = make_dataset(get_dataset_args())

    def signals(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32)[:, None, :]

    return DataSplits(
        signals(data["x"]),
        np.asarray(data["y"], dtype=np.int64),
        signals(data["x_test"]),
        np.asarray(data["y_test"], dtype=np.int64),
        10,
        "mnist1d",
    )


def _npz_arrays(path: Path, arrays: Any, x_key: str, y_key: str) -> tuple[np.ndarray, ...]:
    """``x_key`` as float32 and ``y_key`` as int64 labels (zeros when the file has none)."""
    x = np.ascontiguousarray(arrays[x_key], dtype=np.float32)
    y = arrays[y_key].astype(np.int64) if y_key in arrays else np.zeros(len(x), np.int64)
    if x.ndim < 2 or not len(x) or len(y) != len(x):
        raise _err("npz", f"{path}: {x_key} of shape {list(x.shape)} (want [N, ...], N > 0) "
                   f"and {len(y)} labels in {y_key}")  # fmt: skip
    return x, y


def _npz(root: PathArg, test_fraction: float, seed: int) -> DataSplits:
    """Samples as arrays: what a model made elsewhere is checked on (no training), or a
    split of one's own (``x_test``/``y_test`` beside ``x``/``y``)."""
    del test_fraction, seed  # the splits are the file's samples
    if root is None:
        raise _err("npz", "needs root= naming a .npz file with an array 'x'")
    path = _require_file("npz", Path(root).expanduser())
    try:
        with np.load(path, allow_pickle=False) as arrays:
            x, y = _npz_arrays(path, arrays, "x", "y")
            tx, ty = _npz_arrays(path, arrays, "x_test", "y_test") if "x_test" in arrays else (x, y)
    except (OSError, ValueError, KeyError, zlib.error) as exc:
        raise _err("npz", f"{path} is not a .npz file with an array 'x' ({exc})") from exc
    if tx.shape[1:] != x.shape[1:]:
        raise _err("npz", f"{path}: x_test samples of shape {list(tx.shape[1:])}, "
                   f"x samples of shape {list(x.shape[1:])}")  # fmt: skip
    classes = int(max(y.max(initial=0), ty.max(initial=0))) + 1
    return DataSplits(x, y, tx, ty, classes, "npz")


DATASETS: dict[str, Loader] = {
    "digits": _digits,
    "cifar10": _cifar10,
    "cifar100": _cifar100,
    "mnist": _mnist,
    "mnist1d": _mnist1d,
    "folder": _folder,
    "npz": _npz,
}


def load_dataset(
    name: str, root: PathArg = None, *, test_fraction: float = 0.2, seed: int = 0
) -> DataSplits:
    """Load ``name`` from :data:`DATASETS`; ``test_fraction``/``seed`` only shape ``digits``."""
    loader = DATASETS.get(name)
    if loader is None:
        raise DataError(f"unknown dataset '{name}'; valid names: {', '.join(sorted(DATASETS))}")
    if not 0.0 < test_fraction < 1.0:
        raise _err(name, f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    return loader(root, test_fraction, seed)


def make_loader(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int
) -> DataLoader:
    """A single-process DataLoader whose shuffle order depends on ``seed`` alone (reruns match)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    if len(x) != len(y):
        raise DataError(f"make_loader: {len(x)} samples but {len(y)} labels")
    if batch_size < 1:
        raise DataError(f"make_loader: batch_size must be positive, got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    # torch.from_numpy wants C-contiguous, writable memory; copy only when the input is not.
    xs, ys = (np.require(a, requirements=["C", "W"]) for a in (x, y))
    dataset = TensorDataset(torch.from_numpy(xs), torch.from_numpy(ys))
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0
    )
