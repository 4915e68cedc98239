"""MNIST: finding, downloading and parsing the four IDX files, and the imbalanced split.

The files are looked for in this order, and the first folder that has all four wins:

1. ``--data-dir`` (``Config.data_dir``),
2. ``$JAXLOSS_DATA_DIR``,
3. the user cache folder, ``$XDG_CACHE_HOME/jaxloss/mnist`` (``~/.cache/jaxloss/mnist``).

When none has them, the missing files are downloaded into the first of those folders
from the canonical mirrors, each checked against its MD5. Either the ``.gz`` file or
its decompressed twin (without ``.gz``) is accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# MD5 of the canonical .gz files (the same as torchvision's list).
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
# IDX type code -> big-endian NumPy dtype.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_FIX = (
    "Delete it to have it downloaded again, or pass --data-dir pointing at a folder "
    "with good copies."
)


class IDXError(ValueError):
    """An IDX file that is truncated, corrupt, or not the MNIST file it should be."""


class MNISTNotFoundError(FileNotFoundError):
    """The MNIST files are in none of the searched folders and could not be downloaded."""


class Dataset(NamedTuple):
    """MNIST as NumPy arrays: images flattened to (N, 784) uint8, labels (N,) int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parses the bytes of an (uncompressed) IDX file into an array.

    IDX layout: two zero bytes, a type code (0x08 = uint8, ...), the number of
    dimensions, each dimension as a big-endian uint32, then the data in C order.

    Args:
      raw: the file's bytes.
      name: the file's name, used in error messages.

    Returns:
      An array of the header's shape and type (native byte order).

    Raises:
      IDXError: the header is malformed, or the data is shorter or longer than the
        header says.
    """
    if len(raw) < 4:
        raise IDXError(
            f"{name}: truncated IDX file: {len(raw)} bytes, but the header alone has at "
            f"least 4. {_FIX}"
        )
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_DTYPES:
        magic = struct.unpack(">I", raw[:4])[0]
        raise IDXError(
            f"{name}: not an IDX file: magic number 0x{magic:08x}; an IDX file starts with "
            f"two zero bytes and a type code in "
            f"{{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}}. {_FIX}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(
            f"{name}: truncated IDX header: {len(raw)} bytes, but {ndim} dimensions need "
            f"{header}. {_FIX}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt"
        raise IDXError(
            f"{name}: {what} IDX file: the header says shape {dims} of {dtype.name} "
            f"({expected} bytes in all), but the file has {len(raw)} bytes. {_FIX}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path, *, magic: int | None = None) -> np.ndarray:
    """Reads an IDX file, gzip-compressed when its name ends in ``.gz``.

    Args:
      path: the file.
      magic: the expected magic number (first four bytes as big-endian int), if any.

    Raises:
      IDXError: the gzip stream or the IDX content is truncated or corrupt, or the
        magic number differs from ``magic``.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except EOFError as e:
            raise IDXError(f"{path}: truncated gzip file ({e}). {_FIX}") from e
        except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise IDXError(f"{path}: corrupt gzip file ({e}). {_FIX}") from e
    if magic is not None and len(raw) >= 4:
        found = struct.unpack(">I", raw[:4])[0]
        if found != magic:
            raise IDXError(
                f"{path}: magic number {found} (0x{found:08x}), expected {magic} "
                f"(0x{magic:08x}); is this the right file? {_FIX}"
            )
    return parse_idx(raw, str(path))


def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/jaxloss/mnist`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxloss" / "mnist"


def _candidates(data_dir: Path | str | None) -> list[tuple[str, Path]]:
    folders = []
    if data_dir is not None:
        folders.append(("--data-dir", Path(data_dir).expanduser()))
    if os.environ.get("JAXLOSS_DATA_DIR"):
        folders.append(("$JAXLOSS_DATA_DIR", Path(os.environ["JAXLOSS_DATA_DIR"]).expanduser()))
    folders.append(("cache", cache_dir()))
    return folders


def _present(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _download(name: str, folder: Path, timeout: float = 30.0) -> list[str]:
    """Downloads one file into ``folder``; returns the list of failures (empty on success)."""
    failures = []
    for mirror in MIRRORS:
        url = mirror + name
        print(f"downloading {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{url}: {e}")
            continue
        digest = hashlib.md5(data).hexdigest()
        if digest != MD5[name]:
            failures.append(f"{url}: MD5 {digest}, expected {MD5[name]}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"{name}.part"
        part.write_bytes(data)
        part.replace(folder / name)
        return []
    return failures


def find_mnist(data_dir: Path | str | None = None, *, download: bool = True) -> dict[str, Path]:
    """Locates the four MNIST files, downloading the missing ones if allowed.

    Args:
      data_dir: the ``--data-dir`` folder, searched first.
      download: when no folder has all four files, download the missing ones into the
        first searched folder.

    Returns:
      A dict from the keys of ``FILES`` to the files' paths.

    Raises:
      MNISTNotFoundError: the files are not found and could not be downloaded; the
        message lists what is missing where, and how to point ``--data-dir`` at them.
    """
    folders = _candidates(data_dir)
    for _, folder in folders:
        found = {key: _present(folder, name) for key, name in FILES.items()}
        if all(found.values()):
            return found
    label, target = folders[0]
    missing = [name for name in FILES.values() if _present(target, name) is None]
    failures = []
    if download:
        for name in missing:
            failures += _download(name, target)
        found = {key: _present(target, name) for key, name in FILES.items()}
        if all(found.values()):
            return found
    searched = "\n".join(
        f"  {label}: {folder} (missing: "
        f"{', '.join(n for n in FILES.values() if _present(folder, n) is None)})"
        for label, folder in folders
    )
    why = (
        "Downloading failed:\n" + "\n".join(f"  {f}" for f in failures)
        if download
        else "Downloading is off (--no-download)."
    )
    raise MNISTNotFoundError(
        f"MNIST files not found. Searched, in order:\n{searched}\n{why}\n"
        f"Put the four files {', '.join(FILES.values())} in a folder and pass "
        f"--data-dir FOLDER (or set JAXLOSS_DATA_DIR=FOLDER)."
    )


def load_mnist(data_dir: Path | str | None = None, *, download: bool = True) -> Dataset:
    """Finds (see ``find_mnist``) and parses MNIST, checking shapes and labels."""
    paths = find_mnist(data_dir, download=download)
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], magic=IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], magic=LABELS_MAGIC)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise IDXError(
                f"{paths[f'{split}_images']}: expected uint8 images of shape (N, 28, 28), "
                f"got {images.dtype} {images.shape}. {_FIX}"
            )
        if labels.shape != images.shape[:1]:
            raise IDXError(
                f"{paths[f'{split}_labels']}: {labels.shape[0]} labels for "
                f"{images.shape[0]} images in {paths[f'{split}_images']}. {_FIX}"
            )
        if labels.size and labels.max() > 9:
            raise IDXError(
                f"{paths[f'{split}_labels']}: labels must be digits 0..9, found "
                f"{int(labels.max())}. {_FIX}"
            )
        arrays[f"x_{split}"] = images.reshape(len(images), 28 * 28)
        arrays[f"y_{split}"] = labels.astype(np.int32)
    return Dataset(**arrays)


def make_imbalanced(
    x: np.ndarray, y: np.ndarray, fraction: float, classes, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keeps a random ``fraction`` (at least one example) of each class in ``classes``.

    The kept examples stay in their original order; the choice depends only on ``seed``.
    """
    if fraction >= 1.0:
        return x, y
    rng = np.random.default_rng(seed)
    keep = np.ones(len(y), dtype=bool)
    for c in sorted(set(classes)):
        idx = np.flatnonzero(y == c)
        n_keep = max(1, round(fraction * len(idx))) if len(idx) else 0
        keep[rng.permutation(idx)[n_keep:]] = False
    return x[keep], y[keep]


def prepare(config) -> Dataset:
    """Loads MNIST and applies ``max_train``/``max_test`` (first N) and ``imbalance``."""
    ds = load_mnist(config.data_dir, download=config.download)
    x_train, y_train = ds.x_train[: config.max_train], ds.y_train[: config.max_train]
    x_train, y_train = make_imbalanced(
        x_train, y_train, config.imbalance, config.minority_classes, config.data_seed
    )
    return Dataset(x_train, y_train, ds.x_test[: config.max_test], ds.y_test[: config.max_test])
