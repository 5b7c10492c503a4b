"""Run-directory identity and isolation: the data a run read, one process at a time, no escape.

- ``data_identity(spec)``: the data a sweep reads, as JSON: the dataset, and for file-based data
  sets the absolute folder the loader reads and every file's name and size (bundled data sets:
  ``source: bundled``). It is recorded in spec.json when a run directory is created and compared
  on every resume (``check_data_identity``): ``data_dir`` is not part of the run-directory hash
  (tests/test_spec.py pins the preset hashes), so without this check a resume with another folder
  would mix rows computed on two data sets under one spec.
- ``RunDirLock``: an advisory lock file RUN_DIR/.lock (fcntl.flock, holding the owner's pid and
  host) held while a process works in the run directory. A second process is refused with one
  line naming the holder; a lock left by a dead process is free (the kernel drops flock locks of
  dead processes) and is taken over. The file is removed on release.
- ``run_dir_inside(out, name)``: OUT/NAME, refused unless it lies directly inside OUT.
- ``remove_temporary_files(run_dir)``: the ``.*.tmp`` files of atomic writes a killed writer left
  (older than a minute); only a process that holds the lock may call it, so another process's
  in-flight row is safe.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Any

from ebtheory.verify.spec import ExperimentSpec, is_plain_name

LOCK_FILE = ".lock"
DATA_IDENTITY_KEY = "data_identity"
BUNDLED_DATASETS = ("digits", "synthetic")


class RunDirBusy(OSError):
    """Another live process holds the run directory's lock."""


def run_dir_inside(out: str | os.PathLike[str], name: str) -> Path:
    """OUT/NAME for a plain directory name; a name that would leave OUT is a ValueError."""
    if not is_plain_name(name):
        raise ValueError(f"run directory name must be a plain name (letters, digits, '.', '_', '-'); got {name!r}")
    out_path = Path(out)
    run_dir = out_path / name
    if run_dir.resolve().parent != out_path.resolve():
        raise ValueError(f"run directory {run_dir} would lie outside out={str(out)!r}")
    return run_dir


def _file_sizes(paths: list[Path]) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in sorted(paths)}


def _idx_folder(candidates: list[Path]) -> dict[str, Path] | None:
    from ebtheory.data.datasets import mnist_idx_files

    return next((files for c in candidates if (files := mnist_idx_files(c)) is not None), None)


def data_identity(spec: ExperimentSpec, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """What data a sweep of `spec` reads: dataset, absolute folder and file sizes (or 'bundled').

    Mirrors the loaders' search (ebtheory.data.datasets.load_dataset): fashion-mnist through
    find_fashion_mnist_dir, mnist in DIR, DIR/mnist or DIR/MNIST/raw, cifar10 in DIR or
    DIR/cifar-10-batches-py, DIR being data_dir or else $EBTHEORY_DATA_DIR. When no files are
    found the identity holds the folder named and ``files: None`` (the unit then reports the
    missing files itself)."""
    from ebtheory.data.datasets import CIFAR10_BATCHES, DATA_DIR_ENV, find_fashion_mnist_dir

    environ = dict(os.environ) if environ is None else environ
    if spec.dataset in BUNDLED_DATASETS:
        return {"dataset": spec.dataset, "source": "bundled"}
    named = spec.data_dir or environ.get(DATA_DIR_ENV, "")
    base = Path(named).expanduser().resolve() if named else None
    files: dict[str, Path] | None = None
    if spec.dataset == "fashion-mnist":
        try:
            folder = find_fashion_mnist_dir(spec.data_dir or None, environ=environ)
        except FileNotFoundError:
            folder = None
        files = _idx_folder([folder]) if folder is not None else None
    elif spec.dataset == "mnist" and base is not None:
        files = _idx_folder([base, base / "mnist", base / "MNIST" / "raw"])
    elif spec.dataset == "cifar10" and base is not None:
        folder = next((c for c in (base, base / "cifar-10-batches-py") if (c / CIFAR10_BATCHES[0]).is_file()), None)
        if folder is not None and all((folder / name).is_file() for name in CIFAR10_BATCHES):
            files = {name: folder / name for name in CIFAR10_BATCHES}
    if files is None:
        return {"dataset": spec.dataset, "folder": str(base) if base else None, "files": None}
    paths = [path.resolve() for path in files.values()]
    return {"dataset": spec.dataset, "folder": str(paths[0].parent), "files": _file_sizes(paths)}


def check_data_identity(recorded: Any, current: dict[str, Any], run_dir: Path) -> None:
    """Refuse to resume `run_dir` when the data it would read now differs from what it recorded."""
    if recorded is None or recorded == current:
        return
    raise ValueError(
        f"{run_dir} was computed on data {_describe(recorded)} but data_dir now gives {_describe(current)}; "
        "resuming would mix rows of two data sets: use the original data_dir or another --out"
    )


def _describe(identity: Any) -> str:
    if not isinstance(identity, dict):
        return repr(identity)
    if identity.get("source") == "bundled":
        return f"{identity.get('dataset')} (bundled)"
    files = identity.get("files")
    shown = "no files found" if not files else ", ".join(f"{n} ({s} bytes)" for n, s in files.items())
    return f"{identity.get('dataset')} in {identity.get('folder')} [{shown}]"


STALE_TEMPORARY_S = 60.0  # an atomic write holds its temporary file for milliseconds


def remove_temporary_files(run_dir: Path, min_age_s: float = STALE_TEMPORARY_S) -> int:
    """Remove the temporary files of interrupted atomic writes (call only while holding the lock).

    Only files older than `min_age_s` go: units of a detached cluster submission write rows without
    the lock, and their in-flight temporary files must survive a later `ebtheory run` on the run
    directory. After its own workers are killed the runner passes 0."""
    removed = 0
    now = time.time()
    for leftover in [*run_dir.glob(".*.tmp"), *run_dir.glob("*/.*.tmp")]:
        try:
            if now - leftover.stat().st_mtime >= min_age_s:
                leftover.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # its writer finished meanwhile
    return removed


class RunDirLock:
    """Exclusive advisory lock on RUN_DIR/.lock while a process works in the run directory.

    ``with RunDirLock(run_dir):`` acquires or raises RunDirBusy naming the holder's pid and host.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = _read_holder(fd)
                os.close(fd)
                if error.errno in (errno.EAGAIN, errno.EACCES):
                    raise RunDirBusy(
                        f"run directory {self.path.parent} is in use by {holder}; wait for it to finish "
                        "(two processes would compute the same points)"
                    ) from None
                raise
            # The previous holder may have removed the file between our open and flock: then we
            # lock an orphan inode that nobody else sees. Retry until the locked file is the path.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"
