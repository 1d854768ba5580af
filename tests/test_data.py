"""Datasets: every loader round-trips small files in the real on-disk formats, and every bad
file or folder is one DataError naming it."""

from __future__ import annotations

import gzip
import os
import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adderflow.data import DATASETS, DataSplits, load_dataset, make_loader
from adderflow.errors import AdderflowError, DataError


def _u8_to_unit(codes: np.ndarray) -> np.ndarray:
    """What the loaders promise: uint8 codes / 255 in float32."""
    return codes.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits")


def test_digits_shapes_and_dtypes(digits):
    assert digits.name == "digits" and digits.num_classes == 10
    assert digits.train_x.shape == (1437, 1, 8, 8)
    assert digits.test_x.shape == (360, 1, 8, 8)
    assert digits.train_y.shape == (1437,) and digits.test_y.shape == (360,)
    assert digits.train_x.dtype == np.float32 and digits.test_x.dtype == np.float32
    assert digits.train_y.dtype == np.int64 and digits.test_y.dtype == np.int64
    assert digits.input_shape == (1, 8, 8)
    assert all(isinstance(d, int) for d in digits.input_shape)


def test_digits_values_are_sixteenths_in_unit_range(digits):
    for x in (digits.train_x, digits.test_x):
        assert x.min() == 0.0 and x.max() == 1.0
        sixteenths = x * 16
        assert np.array_equal(sixteenths, np.round(sixteenths))  # the division was exact


def test_digits_split_is_stratified_and_complete(digits):
    from sklearn.datasets import load_digits

    full = np.bincount(load_digits().target, minlength=10)
    train = np.bincount(digits.train_y, minlength=10)
    test = np.bincount(digits.test_y, minlength=10)
    assert train.sum() + test.sum() == 1797
    assert np.array_equal(train + test, full)
    assert set(digits.test_y.tolist()) == set(range(10))
    assert np.all(np.abs(test - 0.2 * full) <= 1)


def test_digits_split_is_deterministic(digits):
    again = load_dataset("digits", seed=0)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert np.array_equal(getattr(digits, field), getattr(again, field))
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(digits.test_x, other.test_x)
    assert other.test_x.shape == digits.test_x.shape


def test_digits_ignores_root_and_honours_test_fraction():
    d = load_dataset("digits", root="/does/not/matter", test_fraction=0.5)
    assert len(d.train_x) + len(d.test_x) == 1797
    assert len(d.test_x) in (898, 899)


def test_import_needs_only_numpy():
    code = (
        "import sys\nimport adderflow.data\n"
        "heavy = [m for m in ('torch', 'sklearn', 'PIL') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- CIFAR


def _write_cifar_batch(path: Path, data: np.ndarray, labels: list[int], key: bytes) -> None:
    """The official layout: a protocol-2 pickle of a dict with bytes keys."""
    batch = {
        b"batch_label": b"testing batch",
        key: labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def _make_cifar10(folder: Path, rng: np.random.Generator, n: int = 5):
    folder.mkdir(parents=True)
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    parts = {}
    for name in files:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        _write_cifar_batch(folder / name, data, labels, b"labels")
        parts[name] = (data, labels)
    return parts


def _expected(parts, names):
    x = np.concatenate([parts[n][0] for n in names]).reshape(-1, 3, 32, 32)
    y = np.concatenate([np.asarray(parts[n][1], dtype=np.int64) for n in names])
    return _u8_to_unit(x), y


@pytest.mark.parametrize("via_parent", [False, True])
def test_cifar10_round_trip(tmp_path, via_parent):
    folder = tmp_path / "cifar-10-batches-py"
    parts = _make_cifar10(folder, np.random.default_rng(0))
    d = load_dataset("cifar10", str(tmp_path if via_parent else folder))
    train_x, train_y = _expected(parts, [f"data_batch_{i}" for i in range(1, 6)])
    test_x, test_y = _expected(parts, ["test_batch"])
    assert d.name == "cifar10" and d.num_classes == 10 and d.input_shape == (3, 32, 32)
    assert d.train_x.shape == (25, 3, 32, 32) and d.test_x.shape == (5, 3, 32, 32)
    assert d.train_x.dtype == np.float32 and d.train_y.dtype == np.int64
    assert np.array_equal(d.train_x, train_x) and np.array_equal(d.train_y, train_y)
    assert np.array_equal(d.test_x, test_x) and np.array_equal(d.test_y, test_y)
    assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0


def test_cifar10_channel_layout_is_rgb_planes(tmp_path):
    """The 3072 bytes are 1024 red, then green, then blue values, row-major."""
    folder = tmp_path / "c10"
    parts = _make_cifar10(folder, np.random.default_rng(1), n=2)
    d = load_dataset("cifar10", folder)
    raw = parts["data_batch_1"][0][1]
    assert d.train_x[1, 2, 3, 4] == np.float32(raw[2 * 1024 + 3 * 32 + 4]) / np.float32(255)


def test_cifar100_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    parts = {}
    for name, n in (("train", 6), ("test", 4)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [0, 99] + rng.integers(0, 100, size=n - 2).tolist()
        batch = {b"data": data, b"fine_labels": labels, b"coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        parts[name] = (data, labels)
    for root in (folder, tmp_path):
        d = load_dataset("cifar100", root)
        assert d.num_classes == 100 and d.name == "cifar100"
        train_x, train_y = _expected(parts, ["train"])
        test_x, test_y = _expected(parts, ["test"])
        assert np.array_equal(d.train_x, train_x) and np.array_equal(d.train_y, train_y)
        assert np.array_equal(d.test_x, test_x) and np.array_equal(d.test_y, test_y)


def test_cifar_missing_batch_is_named(tmp_path):
    folder = tmp_path / "c10"
    _make_cifar10(folder, np.random.default_rng(3))
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="missing file .*data_batch_3"):
        load_dataset("cifar10", folder)


@pytest.mark.parametrize("payload", [b"not a pickle at all", b"\x80\x02}q\x00(U\x04da"])
def test_corrupt_cifar_pickle_is_named(tmp_path, payload):
    folder = tmp_path / "c10"
    _make_cifar10(folder, np.random.default_rng(4))
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", folder)
    assert str(folder / "test_batch") in str(info.value)
    assert "not a valid CIFAR pickle" in str(info.value)
    assert info.value.__cause__ is not None


class _Payload:
    """A pickle that would create a folder when loaded by a naive unpickler."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = tmp_path / "c10"
    _make_cifar10(folder, np.random.default_rng(5))
    marker = tmp_path / "pwned"
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Payload(str(marker))}))
    with pytest.raises(DataError, match="refuses to import"):
        load_dataset("cifar10", folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([1, 2, 3], "expected a dict"),
        ({b"labels": [0]}, "no key b'data'"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "no key b'labels'"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"shape \(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "must be uint8"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "outside 0..9"),
    ],
)
def test_malformed_cifar_batch_is_named(tmp_path, batch, message):
    folder = tmp_path / "c10"
    _make_cifar10(folder, np.random.default_rng(6))
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=message) as info:
        load_dataset("cifar10", folder)
    assert str(folder / "data_batch_2") in str(info.value)


# --------------------------------------------------------------------------- MNIST


def _idx_bytes(array: np.ndarray) -> bytes:
    """Unsigned-byte IDX: two zero bytes, dtype code 0x08, ndim, big-endian uint32 dims."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _make_mnist(folder: Path, rng: np.random.Generator, *, gz: bool) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 9, 3, 3, 7], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([1, 2, 9], dtype=np.uint8),
    }
    for name, array in arrays.items():
        raw = _idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_round_trip(tmp_path, gz):
    arrays = _make_mnist(tmp_path, np.random.default_rng(7), gz=gz)
    d = load_dataset("mnist", str(tmp_path))
    assert d.name == "mnist" and d.num_classes == 10 and d.input_shape == (1, 28, 28)
    assert d.train_x.shape == (5, 1, 28, 28) and d.test_x.shape == (3, 1, 28, 28)
    assert d.train_x.dtype == np.float32 and d.test_y.dtype == np.int64
    assert np.array_equal(d.train_x[:, 0], _u8_to_unit(arrays["train-images-idx3-ubyte"]))
    assert np.array_equal(d.test_x[:, 0], _u8_to_unit(arrays["t10k-images-idx3-ubyte"]))
    assert d.train_y.tolist() == [0, 9, 3, 3, 7]
    assert d.test_y.tolist() == [1, 2, 9]
    assert d.train_x.flags.writeable and d.train_y.flags.writeable


def test_mnist_wrong_magic_is_named(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(8), gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros((5, 1, 1), np.uint8)))  # magic 0x0803, not 0x0801
    with pytest.raises(DataError, match="magic number 0x00000803, expected 0x00000801") as info:
        load_dataset("mnist", tmp_path)
    assert str(labels) in str(info.value)


def test_mnist_wrong_dtype_code_is_named(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(8), gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    raw = bytearray(images.read_bytes())
    raw[2] = 0x0D  # float32 code
    images.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="magic number 0x00000d03") as info:
        load_dataset("mnist", tmp_path)
    assert str(images) in str(info.value)


@pytest.mark.parametrize("cut", [1, 100, 5 * 28 * 28, 5 * 28 * 28 + 10])
def test_mnist_truncated_idx_is_named(tmp_path, cut):
    _make_mnist(tmp_path, np.random.default_rng(9), gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-cut])
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path)
    assert str(images) in str(info.value)


def test_mnist_trailing_bytes_are_an_error(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(9), gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="holds 2353 bytes of data"):
        load_dataset("mnist", tmp_path)


def test_mnist_truncated_gzip_is_named(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(10), gz=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:40])
    with pytest.raises(DataError, match="cannot read") as info:
        load_dataset("mnist", tmp_path)
    assert str(images) in str(info.value)
    assert info.value.__cause__ is not None


def test_mnist_missing_file_is_named(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(11), gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing file .*t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


def test_mnist_label_count_mismatch_is_named(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(12), gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="5 images but .*train-labels-idx1-ubyte has 4 labels"):
        load_dataset("mnist", tmp_path)


def test_mnist_label_out_of_range_is_named(tmp_path):
    _make_mnist(tmp_path, np.random.default_rng(13), gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1, 2, 10], np.uint8)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte has labels outside 0..9"):
        load_dataset("mnist", tmp_path)


# --------------------------------------------------------------------------- image folder


def _save(path: Path, pixels: np.ndarray) -> None:
    """HxWx3 uint8 saves as RGB, HxW as 8-bit gray; PNG and BMP are lossless."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _make_folder(root: Path, rng: np.random.Generator, test_name: str = "test"):
    """Two classes, 5x6 (HxW) lossless images; returns the HWC arrays per split, in order."""
    layout = {
        "train": {"dog": ["a.png", "b.bmp"], "cat": ["z.png", "m.PNG", "a.bmp"]},
        test_name: {"cat": ["t.png"], "dog": ["u.png", "v.bmp"]},
    }
    expected: dict[str, list[tuple[np.ndarray, int]]] = {}
    for split, classes in layout.items():
        rows = []
        for label, cls in enumerate(sorted(classes)):
            for name in sorted(classes[cls]):
                pixels = rng.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
                _save(root / split / cls / name, pixels)
                rows.append((pixels, label))
        expected[split] = rows
    (root / "train" / "cat" / "notes.txt").write_text("ignored: not an image")
    return expected


def _as_nchw(rows) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([r[0] for r in rows]).transpose(0, 3, 1, 2)
    return _u8_to_unit(x), np.array([r[1] for r in rows], dtype=np.int64)


@pytest.mark.parametrize("test_name", ["test", "val"])
def test_folder_round_trip(tmp_path, test_name):
    expected = _make_folder(tmp_path, np.random.default_rng(14), test_name)
    d = load_dataset("folder", str(tmp_path))
    assert d.name == "folder" and d.num_classes == 2 and d.input_shape == (3, 5, 6)
    train_x, train_y = _as_nchw(expected["train"])
    test_x, test_y = _as_nchw(expected[test_name])
    assert train_y.tolist() == [0, 0, 0, 1, 1]  # cat before dog: sorted class names
    assert np.array_equal(d.train_x, train_x) and np.array_equal(d.train_y, train_y)
    assert np.array_equal(d.test_x, test_x) and np.array_equal(d.test_y, test_y)
    assert d.train_x.dtype == np.float32 and d.train_y.dtype == np.int64


def test_folder_converts_to_rgb_and_resizes_to_first_image(tmp_path):
    rng = np.random.default_rng(15)
    _save(tmp_path / "train" / "a" / "1.png", rng.integers(0, 256, (4, 7, 3), dtype=np.uint8))
    gray = rng.integers(0, 256, (4, 7), dtype=np.uint8)
    _save(tmp_path / "train" / "b" / "1.png", gray)
    _save(tmp_path / "train" / "b" / "2.png", rng.integers(0, 256, (9, 3, 3), dtype=np.uint8))
    _save(tmp_path / "test" / "a" / "1.png", rng.integers(0, 256, (2, 2, 3), dtype=np.uint8))
    d = load_dataset("folder", tmp_path)
    assert d.train_x.shape == (3, 3, 4, 7) and d.test_x.shape == (1, 3, 4, 7)
    for channel in range(3):  # a gray image becomes three equal channels
        assert np.array_equal(d.train_x[1, channel], _u8_to_unit(gray))


def test_folder_test_class_missing_from_train(tmp_path):
    _make_folder(tmp_path, np.random.default_rng(16))
    _save(tmp_path / "test" / "bird" / "x.png", np.zeros((5, 6, 3), np.uint8))
    with pytest.raises(DataError, match="no counterpart in train") as info:
        load_dataset("folder", tmp_path)
    assert str(tmp_path / "test" / "bird") in str(info.value)


def test_folder_corrupt_image_is_named(tmp_path):
    _make_folder(tmp_path, np.random.default_rng(17))
    bad = tmp_path / "test" / "dog" / "w.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing sensible")
    with pytest.raises(DataError, match="cannot read image") as info:
        load_dataset("folder", tmp_path)
    assert str(bad) in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("missing", ["train", "test"])
def test_folder_missing_split_is_named(tmp_path, missing):
    _make_folder(tmp_path, np.random.default_rng(18))
    for path in sorted((tmp_path / missing).rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (tmp_path / missing).rmdir()
    with pytest.raises(DataError, match=f"missing folder {re.escape(str(tmp_path / missing))}"):
        load_dataset("folder", tmp_path)


def test_folder_empty_train_class_is_named(tmp_path):
    _make_folder(tmp_path, np.random.default_rng(19))
    (tmp_path / "train" / "eel").mkdir()
    with pytest.raises(DataError, match="holds no .png") as info:
        load_dataset("folder", tmp_path)
    assert str(tmp_path / "train" / "eel") in str(info.value)


# --------------------------------------------------------------------------- generic errors


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "folder"])
def test_nonexistent_root_is_named(tmp_path, name):
    missing = tmp_path / "x" / "y"
    with pytest.raises(DataError) as info:
        load_dataset(name, str(missing))
    assert str(info.value) == f"dataset '{name}': path {missing} does not exist"


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "folder"])
def test_file_datasets_need_a_root(name):
    with pytest.raises(DataError, match=f"dataset '{name}': needs root="):
        load_dataset(name)


def test_root_that_is_a_file_is_named(tmp_path):
    f = tmp_path / "file.bin"
    f.write_bytes(b"")
    with pytest.raises(DataError, match=f"path {re.escape(str(f))} is not a folder"):
        load_dataset("mnist", f)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DataError) as info:
        load_dataset("imagenet")
    message = str(info.value)
    assert "'imagenet'" in message
    for name in ("cifar10", "cifar100", "digits", "folder", "mnist"):
        assert name in message
    assert isinstance(info.value, AdderflowError)


def test_registry_is_explicit():
    assert set(DATASETS) == {"digits", "cifar10", "cifar100", "mnist", "mnist1d", "folder", "npz"}


def test_mnist1d_is_generated_offline_with_the_published_split():
    data = load_dataset("mnist1d")
    assert data.train_x.shape == (4000, 1, 40) and data.test_x.shape == (1000, 1, 40)
    assert data.train_x.dtype == np.float32 and data.train_y.dtype == np.int64
    assert set(np.unique(data.train_y)) == set(range(10))
    again = load_dataset("mnist1d")  # deterministic: the generator's own seed
    assert np.array_equal(data.train_x, again.train_x)


def test_npz_splits_are_the_samples_or_its_own_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x, tx = rng.normal(size=(6, 1, 5)), rng.normal(size=(3, 1, 5))
    y, ty = np.array([0, 1, 2, 0, 1, 2]), np.array([4, 0, 1])
    np.savez(tmp_path / "one.npz", x=x, y=y)
    one = load_dataset("npz", tmp_path / "one.npz")
    assert np.array_equal(one.test_x, one.train_x) and one.num_classes == 3
    np.savez(tmp_path / "two.npz", x=x, y=y, x_test=tx, y_test=ty)
    two = load_dataset("npz", tmp_path / "two.npz")
    assert np.array_equal(two.train_x, x.astype(np.float32)) and np.array_equal(two.train_y, y)
    assert np.array_equal(two.test_x, tx.astype(np.float32)) and np.array_equal(two.test_y, ty)
    assert two.test_y.dtype == np.int64 and two.num_classes == 5  # the larger label of both
    np.savez(tmp_path / "bad.npz", x=x, y=y, x_test=rng.normal(size=(3, 1, 4)))
    with pytest.raises(DataError, match=r"x_test samples of shape \[1, 4\]"):
        load_dataset("npz", tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", x=x, y=y, x_test=tx, y_test=ty[:2])
    with pytest.raises(DataError, match="2 labels in y_test"):
        load_dataset("npz", tmp_path / "short.npz")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_test_fraction_outside_unit_interval(fraction):
    with pytest.raises(DataError, match="test_fraction"):
        load_dataset("digits", test_fraction=fraction)


# --------------------------------------------------------------------------- make_loader


def _order(loader) -> list[int]:
    return [int(v) for _, yb in loader for v in yb]


def test_make_loader_covers_every_sample_once():
    x = np.random.default_rng(20).random((23, 1, 2, 2), dtype=np.float32)
    y = np.arange(23, dtype=np.int64)
    loader = make_loader(x, y, 5, shuffle=True, seed=0)
    batches = list(loader)
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23))
    for xb, yb in batches:  # images travel with their labels
        assert np.array_equal(xb.numpy(), x[yb.numpy()])
        assert str(xb.dtype) == "torch.float32" and str(yb.dtype) == "torch.int64"


def test_make_loader_shuffle_is_seeded():
    x = np.zeros((64, 1, 1, 1), np.float32)
    y = np.arange(64, dtype=np.int64)
    first = _order(make_loader(x, y, 8, shuffle=True, seed=3))
    again = _order(make_loader(x, y, 8, shuffle=True, seed=3))
    other = _order(make_loader(x, y, 8, shuffle=True, seed=4))
    assert first == again
    assert first != other and first != list(range(64))
    assert _order(make_loader(x, y, 8, shuffle=False, seed=3)) == list(range(64))


def test_make_loader_accepts_read_only_arrays():
    x = np.zeros((4, 1, 1, 1), np.float32)
    y = np.arange(4, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    assert _order(make_loader(x, y, 2, shuffle=False, seed=0)) == [0, 1, 2, 3]


def test_make_loader_rejects_mismatched_lengths():
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        make_loader(np.zeros((3, 1), np.float32), np.zeros(2, np.int64), 1, shuffle=False, seed=0)
