"""Datasets as frozen tensors on CPU, and their loaders.

Images are float32 (n, C, H, W) scaled to [0, 1], ready for CNNs; flatten_unit_sphere turns them
into the unit-norm rows that the two-layer theory (docs/theory.md, section 1) needs. Nothing is
downloaded: each loader reads files already on disk or data bundled with scikit-learn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ebtheory.data.formats import DataFileError, read_cifar_batch, read_idx
from ebtheory.data.preprocess import flatten_unit_sphere

DATA_DIR_ENV = "EBTHEORY_DATA_DIR"
DATASET_NAMES = ("digits", "fashion-mnist", "mnist", "cifar10", "synthetic")
FASHION_MNIST_SYSTEM_DIRS: tuple[str, ...] = (
    "/usr/share/datasets/fashion-mnist",  # Debian's dataset-fashion-mnist package
    "/usr/local/share/datasets/fashion-mnist",
    "~/.local/share/datasets/fashion-mnist",
)
_TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split: X float32 (n, *input_shape), y int64 (n,) in [0, num_classes).

    Y_train / Y_test are optional float32 (n, num_classes) regression targets (synthetic teacher).
    """

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    Y_train: torch.Tensor | None = None
    Y_test: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {self.num_classes}")
        for split in ("train", "test"):
            X, y, Y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}"), getattr(self, f"Y_{split}")
            if X.dtype != torch.float32 or tuple(X.shape[1:]) != tuple(self.input_shape):
                raise ValueError(
                    f"X_{split} must be float32 of shape (n, *{tuple(self.input_shape)}); got {X.dtype} {tuple(X.shape)}"
                )
            if y.dtype != torch.int64 or tuple(y.shape) != (X.shape[0],):
                raise ValueError(f"y_{split} must be int64 of shape ({X.shape[0]},); got {y.dtype} {tuple(y.shape)}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(
                    f"y_{split} must lie in [0, {self.num_classes - 1}]; got range [{int(y.min())}, {int(y.max())}]"
                )
            if Y is not None and (Y.dtype != torch.float32 or tuple(Y.shape) != (X.shape[0], self.num_classes)):
                raise ValueError(
                    f"Y_{split} must be float32 of shape ({X.shape[0]}, {self.num_classes}); got {Y.dtype} {tuple(Y.shape)}"
                )

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    def with_train_subset(self, indices: torch.Tensor) -> Dataset:
        """The same dataset with the training split restricted to `indices` (test split unchanged)."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return Dataset(
            name=self.name,
            X_train=self.X_train[indices],
            y_train=self.y_train[indices],
            X_test=self.X_test,
            y_test=self.y_test,
            num_classes=self.num_classes,
            input_shape=self.input_shape,
            Y_train=None if self.Y_train is None else self.Y_train[indices],
            Y_test=self.Y_test,
        )


def _images_to_unit_interval(images: np.ndarray, scale: float) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32)).mul_(1.0 / scale)


# --- MNIST-format IDX -------------------------------------------------------------------------


def _idx_file_names(split: str, kind: str) -> list[str]:
    """Names used in the wild: train-images-idx3-ubyte(.gz) and train-images.idx3-ubyte(.gz)."""
    stems = [f"{split}-{kind}-ubyte", f"{split}-{kind.replace('-', '.')}-ubyte"]
    return [stem + suffix for stem in stems for suffix in (".gz", "")]


_IDX_PARTS = {
    "train_images": ("train", "images-idx3"),
    "train_labels": ("train", "labels-idx1"),
    "test_images": ("t10k", "images-idx3"),
    "test_labels": ("t10k", "labels-idx1"),
}


def mnist_idx_files(directory: str | os.PathLike[str]) -> dict[str, Path] | None:
    """Paths of the four MNIST-format IDX files in `directory`, or None unless all four are there."""
    directory = Path(directory).expanduser()
    found: dict[str, Path] = {}
    for part, (split, kind) in _IDX_PARTS.items():
        path = next((directory / n for n in _idx_file_names(split, kind) if (directory / n).is_file()), None)
        if path is None:
            return None
        found[part] = path
    return found


def _candidate_dirs(base: str | os.PathLike[str], name: str) -> list[Path]:
    base = Path(base).expanduser()
    candidates = [base, base / name]
    if name in _TORCHVISION_FOLDERS:
        candidates.append(base / _TORCHVISION_FOLDERS[name] / "raw")
    return candidates


def _first_with_idx_files(candidates: Sequence[Path], what: str) -> dict[str, Path]:
    for directory in candidates:
        files = mnist_idx_files(directory)
        if files is not None:
            return files
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no {what} IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
        f"t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) found; tried: {tried}"
    )


def _checked_idx_split(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFileError(images_path, f"images must be uint8 of shape (n, H, W); got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFileError(labels_path, f"labels must be uint8 of shape (n,); got {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataFileError(
            labels_path, f"holds {labels.shape[0]} labels but {images_path} holds {images.shape[0]} images"
        )
    if labels.size and labels.max() >= num_classes:
        raise DataFileError(labels_path, f"labels must lie in [0, {num_classes - 1}]; got maximum {labels.max()}")
    return images, labels


def load_mnist_idx(data_dir: str | os.PathLike[str], name: str = "mnist", num_classes: int = 10) -> Dataset:
    """Load MNIST-format IDX files from data_dir (or data_dir/name, or torchvision's data_dir/MNIST/raw).

    Images become float32 (n, 1, H, W) in [0, 1]; labels int64.
    """
    files = _first_with_idx_files(_candidate_dirs(data_dir, name), name)
    X_train, y_train = _checked_idx_split(files["train_images"], files["train_labels"], num_classes)
    X_test, y_test = _checked_idx_split(files["test_images"], files["test_labels"], num_classes)
    if X_train.shape[1:] != X_test.shape[1:]:
        raise DataFileError(
            files["test_images"], f"image size {X_test.shape[1:]} differs from the training images' {X_train.shape[1:]}"
        )
    return Dataset(
        name=name,
        X_train=_images_to_unit_interval(X_train[:, None], 255.0),
        y_train=torch.from_numpy(y_train.astype(np.int64)),
        X_test=_images_to_unit_interval(X_test[:, None], 255.0),
        y_test=torch.from_numpy(y_test.astype(np.int64)),
        num_classes=num_classes,
        input_shape=(1, *X_train.shape[1:]),
    )


def find_fashion_mnist_dir(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    system_dirs: Sequence[str | os.PathLike[str]] = FASHION_MNIST_SYSTEM_DIRS,
) -> Path:
    """The folder holding the Fashion-MNIST IDX files.

    An explicit data_dir is searched alone (also its /fashion-mnist and torchvision's
    /FashionMNIST/raw): a user who names a folder never silently gets data from elsewhere. Without
    it: $EBTHEORY_DATA_DIR (same sub-folders), then system_dirs (Debian's
    /usr/share/datasets/fashion-mnist first). Raises FileNotFoundError naming every folder tried."""
    environ = os.environ if environ is None else environ
    if data_dir is not None:
        return _first_with_idx_files(_candidate_dirs(data_dir, "fashion-mnist"), "Fashion-MNIST")["train_images"].parent
    candidates: list[Path] = []
    if environ.get(DATA_DIR_ENV):
        candidates += _candidate_dirs(environ[DATA_DIR_ENV], "fashion-mnist")
    candidates += [Path(d).expanduser() for d in system_dirs]
    return _first_with_idx_files(candidates, "Fashion-MNIST")["train_images"].parent


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60000 train / 10000 test, float32 (n, 1, 28, 28) in [0, 1]."""
    return load_mnist_idx(find_fashion_mnist_dir(data_dir, environ=environ), name="fashion-mnist")


# --- CIFAR-10 ---------------------------------------------------------------------------------


def load_cifar10(data_dir: str | os.PathLike[str]) -> Dataset:
    """CIFAR-10 python batches from data_dir or data_dir/cifar-10-batches-py: float32 (n, 3, 32, 32) in [0, 1]."""
    base = Path(data_dir).expanduser()
    candidates = [base, base / "cifar-10-batches-py"]
    directory = next((c for c in candidates if (c / CIFAR10_BATCHES[0]).is_file()), None)
    if directory is None:
        raise FileNotFoundError(
            f"no CIFAR-10 python batches ({', '.join(CIFAR10_BATCHES)}) found; tried: {', '.join(map(str, candidates))}"
        )
    missing = [name for name in CIFAR10_BATCHES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: CIFAR-10 batches missing: {', '.join(missing)}")
    batches = [read_cifar_batch(directory / name) for name in CIFAR10_BATCHES]
    train_images = np.concatenate([images for images, _ in batches[:-1]])
    train_labels = np.concatenate([labels for _, labels in batches[:-1]])
    test_images, test_labels = batches[-1]
    return Dataset(
        name="cifar10",
        X_train=_images_to_unit_interval(train_images, 255.0),
        y_train=torch.from_numpy(train_labels),
        X_test=_images_to_unit_interval(test_images, 255.0),
        y_test=torch.from_numpy(test_labels),
        num_classes=10,
        input_shape=(3, 32, 32),
    )


# --- bundled and synthetic --------------------------------------------------------------------


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, no download), a seeded stratified split.

    Pixels 0..16 are scaled to [0, 1]; X is float32 (n, 1, 8, 8).
    """
    from sklearn.datasets import load_digits as sklearn_load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}")
    bunch = sklearn_load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return Dataset(
        name="digits",
        X_train=torch.from_numpy(np.ascontiguousarray(X_train[:, None])),
        y_train=torch.from_numpy(y_train),
        X_test=torch.from_numpy(np.ascontiguousarray(X_test[:, None])),
        y_test=torch.from_numpy(y_test),
        num_classes=10,
        input_shape=(1, 8, 8),
    )


def synthetic_teacher(
    n_train: int,
    n_test: int,
    d: int,
    num_classes: int,
    seed: int,
    teacher_width: int = 32,
    noise: float = 0.0,
) -> Dataset:
    """Inputs uniform on the unit sphere S^{d-1}; targets from a random two-layer ReLU teacher.

    Y = relu(X W^T) A / sqrt(teacher_width) - b + noise * Z, with W, A, Z standard normal and the
    output bias b the mean over the drawn sample (so no class wins by offset alone); labels
    y = argmax_c Y[:, c]. Y_train / Y_test hold the regression targets (float32 (n, num_classes)).
    """
    for arg, value, low in (
        ("n_train", n_train, 1),
        ("n_test", n_test, 0),
        ("d", d, 2),
        ("num_classes", num_classes, 2),
        ("teacher_width", teacher_width, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{arg} must be an integer >= {low}; got {value!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must lie in [0, inf); got {noise!r}")
    generator = torch.Generator().manual_seed(int(seed))
    n = n_train + n_test
    X = flatten_unit_sphere(torch.randn(n, d, generator=generator, dtype=torch.float64))
    W = torch.randn(teacher_width, d, generator=generator, dtype=torch.float64)
    A = torch.randn(teacher_width, num_classes, generator=generator, dtype=torch.float64)
    Y = torch.relu(X.double() @ W.T) @ A / teacher_width**0.5
    Y = Y - Y.mean(dim=0, keepdim=True) + noise * torch.randn(n, num_classes, generator=generator, dtype=torch.float64)
    Y = Y.to(torch.float32)
    labels = Y.argmax(dim=1)
    return Dataset(
        name="synthetic",
        X_train=X[:n_train].contiguous(),
        y_train=labels[:n_train].contiguous(),
        X_test=X[n_train:].contiguous(),
        y_test=labels[n_train:].contiguous(),
        num_classes=num_classes,
        input_shape=(d,),
        Y_train=Y[:n_train].contiguous(),
        Y_test=Y[n_train:].contiguous(),
    )


# --- by name ----------------------------------------------------------------------------------

SYNTHETIC_DEFAULTS = {"n_train": 2000, "n_test": 500, "d": 64, "num_classes": 10}


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    environ: Mapping[str, str] | None = None,
) -> Dataset:
    """Load a dataset by name: digits (default, bundled), fashion-mnist, mnist, cifar10, synthetic.

    seed picks the digits split and the synthetic teacher; the other datasets have fixed splits.
    mnist and cifar10 read data_dir, else $EBTHEORY_DATA_DIR.
    """
    environ = os.environ if environ is None else environ
    if name == "digits":
        return load_digits(seed=seed)
    if name == "synthetic":
        return synthetic_teacher(seed=seed, **SYNTHETIC_DEFAULTS)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir, environ=environ)
    if name in ("mnist", "cifar10"):
        directory = data_dir if data_dir is not None else environ.get(DATA_DIR_ENV) or None
        if directory is None:
            raise ValueError(f"data_dir must name a folder holding {name} (or set ${DATA_DIR_ENV}); got None")
        return load_mnist_idx(directory, name="mnist") if name == "mnist" else load_cifar10(directory)
    raise ValueError(f"name must be one of {', '.join(DATASET_NAMES)}; got {name!r}")
