"""File formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 python batches, with strict checks.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of
dimensions D, then D big-endian uint32 sizes and the values, big-endian, in C order. Files may be
gzipped; a gzip stream is recognised by its magic bytes, not by the file name.

CIFAR-10 (Krizhevsky 2009): each batch is a pickled dict with b"data" a uint8 array (n, 3072),
channel-major (1024 red, 1024 green, 1024 blue, rows of 32), and b"labels" a list of n ints.

Every problem with a file raises DataFileError (a ValueError) whose message starts with the path.
Input is bounded: a header is checked before anything is decompressed, an IDX file's data is read
as a stream into an array of the size its header announces (at most MAX_IDX_BYTES), and any other
file (a CIFAR batch) is decompressed only up to MAX_CIFAR_BATCH_BYTES, so a gzip bomb named like a
data file fails fast with bounded memory.
"""

from __future__ import annotations

import gzip as gzip_module
import io
import math
import os
import pickle
import zlib
from pathlib import Path

import numpy as np

IDX_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
CIFAR10_IMAGE_SIZE = 3 * 32 * 32


class DataFileError(ValueError):
    """A data file is truncated, corrupt or not in the expected format; `path` names the file."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


MAX_IDX_BYTES = 2 * 2**30  # the data an IDX header may announce (MNIST's largest file holds 47 MB)
MAX_CIFAR_BATCH_BYTES = 512 * 2**20  # a decompressed CIFAR batch (a real one is 30 MB)
_CHUNK = 1 << 20


def _open_stream(path: str | os.PathLike[str]) -> tuple[io.BufferedIOBase, bool]:
    """The file as a binary stream, decompressed on the fly when it starts with the gzip magic.

    Returns (stream, gzipped); nothing is decompressed before the caller reads."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    if gzipped:
        return gzip_module.GzipFile(path, mode="rb"), True
    return path.open("rb"), False


def _read_exactly(stream: io.BufferedIOBase, path: str | os.PathLike[str], count: int, what: str) -> bytes:
    """Read up to `count` bytes; decompression errors become DataFileError naming `path`."""
    try:
        return stream.read(count)
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(path, f"corrupt or truncated gzip stream while reading {what} ({error})") from error


def read_file_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_CIFAR_BATCH_BYTES) -> bytes:
    """Read a whole file, decompressing it when it starts with the gzip magic bytes.

    The decompressed size is capped at `max_bytes`: the stream is read in chunks and refused as
    soon as it passes the cap, so a small gzip bomb cannot take more than max_bytes of memory."""
    stream, _ = _open_stream(path)
    chunks, total = [], 0
    with stream:
        while chunk := _read_exactly(stream, path, _CHUNK, "the file"):
            total += len(chunk)
            if total > max_bytes:
                raise DataFileError(
                    path, f"holds more than {max_bytes} bytes (decompressed); not a data file of this kind"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _read_idx_header(stream: io.BufferedIOBase, path: str | os.PathLike[str]) -> tuple[np.dtype, tuple[int, ...]]:
    head = _read_exactly(stream, path, 4, "the IDX header")
    if len(head) < 4:
        raise DataFileError(path, f"truncated IDX header: {len(head)} bytes, need at least 4")
    if head[0] != 0 or head[1] != 0:
        raise DataFileError(path, f"wrong IDX magic number 0x{head[:4].hex()}: the first two bytes must be zero")
    type_code, ndim = head[2], head[3]
    if type_code not in IDX_TYPE_CODES:
        allowed = ", ".join(f"0x{code:02X}" for code in IDX_TYPE_CODES)
        raise DataFileError(path, f"unknown IDX type code 0x{type_code:02X}; allowed: {allowed}")
    if ndim == 0:
        raise DataFileError(path, "IDX header declares 0 dimensions; need at least 1")
    sizes = _read_exactly(stream, path, 4 * ndim, "the IDX header")
    if len(sizes) < 4 * ndim:
        raise DataFileError(path, f"truncated IDX header: {4 + len(sizes)} bytes, the {ndim} sizes need {4 + 4 * ndim}")
    shape = tuple(int(s) for s in np.frombuffer(sizes, dtype=">u4"))
    return IDX_TYPE_CODES[type_code], shape


def read_idx(path: str | os.PathLike[str], max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a native-endian array of the shape its header gives.

    The header is read and checked first; then exactly the bytes it announces are read into a
    preallocated array (refused when they exceed `max_bytes`), and one more byte is tried to
    detect trailing data. Memory stays bounded by what the header announces, whatever the
    (decompressed) file holds."""
    stream, gzipped = _open_stream(path)
    with stream:
        dtype, shape = _read_idx_header(stream, path)
        expected = math.prod(shape) * dtype.itemsize
        if expected > max_bytes:
            raise DataFileError(
                path, f"header shape {shape} of {dtype.name} announces {expected} data bytes, more than {max_bytes}"
            )
        if not gzipped:
            found = Path(path).stat().st_size - 4 - 4 * len(shape)
            if found != expected:
                kind = "truncated" if found < expected else "trailing bytes"
                raise DataFileError(
                    path, f"{kind}: header shape {shape} of {dtype.name} needs {expected} data bytes, found {found}"
                )
        values = np.empty(shape, dtype=dtype)
        view = values.reshape(-1).view(np.uint8)
        filled = 0
        while filled < expected:
            chunk = _read_exactly(stream, path, min(_CHUNK, expected - filled), "the IDX data")
            if not chunk:
                break
            view[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            filled += len(chunk)
        if filled < expected:
            raise DataFileError(
                path, f"truncated: header shape {shape} of {dtype.name} needs {expected} data bytes, found {filled}"
            )
        if _read_exactly(stream, path, 1, "the end of the IDX data"):
            raise DataFileError(
                path,
                f"trailing bytes: header shape {shape} of {dtype.name} needs {expected} data bytes, found more",
            )
    return values.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gzip: bool | None = None) -> Path:
    """Write `array` as an IDX file; gzip=None compresses when the name ends in .gz. Returns the path."""
    path = Path(path)
    array = np.asarray(array)
    code_of = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPE_CODES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in code_of:
        allowed = ", ".join(dtype.name for dtype in code_of)
        raise ValueError(f"array dtype must be one of {allowed}; got {array.dtype}")
    if array.ndim < 1 or array.ndim > 255:
        raise ValueError(f"array.ndim must lie in [1, 255]; got {array.ndim}")
    header = bytes([0, 0, code_of[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    compress = path.name.endswith(".gz") if gzip is None else bool(gzip)
    path.write_bytes(gzip_module.compress(payload, compresslevel=6) if compress else payload)
    return path


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays only: a CIFAR batch needs no more,
    and refusing other globals keeps a hostile pickle from running code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch: images uint8 (n, 3, 32, 32) and labels int64 (n,) in [0, 10)."""
    data = read_file_bytes(path)
    try:
        batch = _ArrayOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # pickle raises many types on garbage: all mean "not a CIFAR pickle"
        raise DataFileError(path, f"not a readable pickle ({type(error).__name__}: {error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(map(repr, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataFileError(path, f"expected a dict with keys b'data' and b'labels'; got {keys}")
    images = np.asarray(batch[b"data"])
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != CIFAR10_IMAGE_SIZE:
        raise DataFileError(
            path, f"b'data' must be uint8 of shape (n, {CIFAR10_IMAGE_SIZE}); got {images.dtype} {images.shape}"
        )
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataFileError(path, f"b'labels' is not a list of integers ({error})") from error
    if labels.shape != (images.shape[0],):
        raise DataFileError(path, f"b'labels' has shape {labels.shape} but b'data' holds {images.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(path, f"labels must lie in [0, 9]; got range [{labels.min()}, {labels.max()}]")
    return images.reshape(-1, 3, 32, 32), labels
