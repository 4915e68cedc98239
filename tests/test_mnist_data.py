"""The MNIST example's data layer: IDX parsing, file lookup, download, imbalance.

Never touches the network: every test runs with ``urlopen`` replaced.
"""

import gzip
import hashlib
import re
import struct
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED_MNIST, needs_mnist

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from examples.mnist import data  # noqa: E402

NAMES = list(data.FILES.values())


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test may download: urlopen fails; the cache and $JAXLOSS_DATA_DIR are empty."""
    calls = []

    def urlopen(url, timeout=None):
        calls.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("JAXLOSS_DATA_DIR", raising=False)
    return calls


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype("uint8"): 0x08, np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D}
    header = struct.pack(">HBB", 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(folder: Path, n_train=6, n_test=4, seed=0, gz=True) -> dict:
    """Writes the four files of a tiny MNIST; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in data.FILES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / name).write_bytes(gzip.compress(raw))
        else:
            (folder / name.removesuffix(".gz")).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_load_roundtrip(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    ds = data.load_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"].reshape(6, 784))
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.x_test, arrays["test_images"].reshape(4, 784))
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int32


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4) - 5,
        np.linspace(-1, 1, 7, dtype=np.float32),
        np.zeros((0, 2), np.uint8),
    ],
)
def test_parse_idx_types_and_shapes(array):
    out = data.parse_idx(idx_bytes(array))
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_truncated_gzip_names_the_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(data.IDXError, match=re.escape(f"{path}: truncated gzip file")):
        data.load_mnist(tmp_path, download=False)


def test_corrupt_gzip_names_the_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(data.IDXError, match=re.escape(f"{path}: corrupt gzip file")):
        data.load_mnist(tmp_path, download=False)


def test_truncated_idx_data(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = idx_bytes(np.zeros((6, 28, 28), np.uint8))[:-100]
    path.write_bytes(gzip.compress(raw))
    message = (
        f"{path}: truncated IDX file: the header says shape (6, 28, 28) of uint8 "
        f"(4720 bytes in all), but the file has 4620 bytes."
    )
    with pytest.raises(data.IDXError, match=re.escape(message)):
        data.load_mnist(tmp_path, download=False)


def test_trailing_bytes_are_an_error():
    raw = idx_bytes(np.zeros(3, np.uint8)) + b"\x00"
    with pytest.raises(data.IDXError, match=re.escape("x.idx: corrupt IDX file")):
        data.parse_idx(raw, "x.idx")


def test_truncated_header():
    raw = idx_bytes(np.zeros((2, 2), np.uint8))[:7]
    with pytest.raises(data.IDXError, match=re.escape("f: truncated IDX header: 7 bytes")):
        data.parse_idx(raw, "f")
    with pytest.raises(data.IDXError, match=re.escape("f: truncated IDX file: 2 bytes")):
        data.parse_idx(b"\x00\x00", "f")


def test_not_an_idx_file():
    with pytest.raises(data.IDXError, match=re.escape("f: not an IDX file: magic number")):
        data.parse_idx(b"PK\x03\x04" + bytes(20), "f")


def test_swapped_files_fail_on_the_magic_number(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    labels.write_bytes((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    message = f"{labels}: magic number 2051 (0x00000803), expected 2049 (0x00000801)"
    with pytest.raises(data.IDXError, match=re.escape(message)):
        data.load_mnist(tmp_path, download=False)


def test_label_count_must_match_images(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(data.IDXError, match=re.escape(f"{labels}: 3 labels for 4 images")):
        data.load_mnist(tmp_path, download=False)


def test_lookup_order(tmp_path, monkeypatch):
    given, env, cache = tmp_path / "given", tmp_path / "env", data.cache_dir()
    for folder in (given, env, cache):
        write_mnist(folder)
    monkeypatch.setenv("JAXLOSS_DATA_DIR", str(env))
    assert data.find_mnist(given)["train_images"].parent == given
    assert data.find_mnist(None)["train_images"].parent == env
    assert data.find_mnist(tmp_path / "empty")["train_images"].parent == env
    monkeypatch.delenv("JAXLOSS_DATA_DIR")
    assert data.find_mnist(None)["train_images"].parent == cache
    assert cache == tmp_path / "xdg-cache" / "jaxloss" / "mnist"


def test_offline_error_lists_missing_files_and_the_fix(tmp_path, offline):
    write_mnist(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.MNISTNotFoundError) as info:
        data.find_mnist(tmp_path / "partial")
    message = str(info.value)
    assert f"--data-dir: {tmp_path / 'partial'} (missing: t10k-labels-idx1-ubyte.gz)" in message
    assert f"cache: {data.cache_dir()} (missing: {', '.join(NAMES)})" in message
    assert "network disabled in tests" in message
    assert "pass --data-dir FOLDER (or set JAXLOSS_DATA_DIR=FOLDER)" in message
    # Only the missing file was tried, from every mirror, into the first folder.
    assert offline == [m + "t10k-labels-idx1-ubyte.gz" for m in data.MIRRORS]


def test_no_download(tmp_path, offline):
    with pytest.raises(data.MNISTNotFoundError, match=re.escape("Downloading is off")):
        data.find_mnist(tmp_path, download=False)
    assert offline == []


def test_download_checks_md5(tmp_path, monkeypatch):
    source = tmp_path / "source"
    write_mnist(source)
    good = {name: (source / name).read_bytes() for name in NAMES}
    monkeypatch.setattr(data, "MD5", {n: hashlib.md5(b).hexdigest() for n, b in good.items()})
    served = []

    class Response:
        def __init__(self, body):
            self.body = body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return self.body

    def urlopen(url, timeout=None):
        served.append(url)
        name = url.rsplit("/", 1)[1]
        # The first mirror serves a corrupted copy; the second a good one.
        return Response(good[name][:-1] if url.startswith(data.MIRRORS[0]) else good[name])

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    target = tmp_path / "target"
    paths = data.find_mnist(target)
    assert {p.parent for p in paths.values()} == {target}
    assert len(served) == 8
    for name in NAMES:
        assert (target / name).read_bytes() == good[name]
    assert not list(target.glob("*.part"))
    assert data.load_mnist(target).x_train.shape == (6, 784)


def test_make_imbalanced():
    y = np.repeat(np.arange(10, dtype=np.int32), 100)
    x = np.arange(1000)
    xs, ys = data.make_imbalanced(x, y, 0.05, (2, 7), seed=0)
    counts = np.bincount(ys, minlength=10)
    assert counts.tolist() == [100, 100, 5, 100, 100, 100, 100, 5, 100, 100]
    np.testing.assert_array_equal(y[xs], ys)  # the kept pairs are the original pairs
    assert np.all(np.diff(xs) > 0)  # in their original order
    xs2, _ = data.make_imbalanced(x, y, 0.05, (2, 7), seed=0)
    np.testing.assert_array_equal(xs, xs2)
    xs3, _ = data.make_imbalanced(x, y, 0.05, (2, 7), seed=1)
    assert not np.array_equal(xs, xs3)
    _, ys_tiny = data.make_imbalanced(x, y, 0.001, (3,), seed=0)
    assert np.sum(ys_tiny == 3) == 1  # at least one example of a class is kept


@needs_mnist
def test_shared_copy_is_the_canonical_mnist():
    for name in NAMES:
        digest = hashlib.md5((SHARED_MNIST / name).read_bytes()).hexdigest()
        assert digest == data.MD5[name], name
    ds = data.load_mnist(SHARED_MNIST, download=False)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert np.bincount(ds.y_test).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
