"""Data for ebtheory: loaders (IDX, CIFAR-10, scikit-learn digits, synthetic teacher), the unit-sphere
projection, one-hot targets and nested subsets. See formats, datasets and preprocess."""

from ebtheory.data.datasets import (
    CIFAR10_BATCHES,
    DATA_DIR_ENV,
    DATASET_NAMES,
    FASHION_MNIST_SYSTEM_DIRS,
    Dataset,
    find_fashion_mnist_dir,
    load_cifar10,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist_idx,
    mnist_idx_files,
    synthetic_teacher,
)
from ebtheory.data.formats import DataFileError, read_cifar_batch, read_idx, write_idx
from ebtheory.data.preprocess import flatten_unit_sphere, nested_subset_indices, nested_subset_order, one_hot

__all__ = [
    "CIFAR10_BATCHES",
    "DATA_DIR_ENV",
    "DATASET_NAMES",
    "FASHION_MNIST_SYSTEM_DIRS",
    "DataFileError",
    "Dataset",
    "find_fashion_mnist_dir",
    "flatten_unit_sphere",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist_idx",
    "mnist_idx_files",
    "nested_subset_indices",
    "nested_subset_order",
    "one_hot",
    "read_cifar_batch",
    "read_idx",
    "synthetic_teacher",
    "write_idx",
]
