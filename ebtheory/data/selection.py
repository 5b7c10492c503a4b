"""The training subset of size m for a seed: one function, shared by the harness and `ebtheory estimate`.

A cell (m, seed) of a sweep and `ebtheory estimate --m M --seed S` must see the same examples, or a
constant estimated on one cannot be compared with a threshold measured on the other (issue 9.2). Both
call `training_subset`:

- the dataset is loaded with a fixed split seed, SPLIT_SEED = 0 (it matters only for the digits
  split and the synthetic teacher; the other datasets have fixed splits), so the seed of the subset
  never changes which examples are training examples;
- the training subset is the first m entries of the seeded nested ordering
  (ebtheory.data.preprocess.nested_subset_order, class-balanced by default), so for one seed the
  subset of a smaller m lies inside that of a larger m;
- the test split is its first n_test examples (0 = all of them), independent of the seed.

Inputs are returned as stored (images keep their shape); projecting onto the unit sphere and one-hot
targets are the caller's choice (the two-layer theory needs both, a CNN neither).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ebtheory.data.datasets import load_dataset
from ebtheory.data.preprocess import nested_subset_indices

__all__ = ["SPLIT_SEED", "TrainingSubset", "training_subset"]

SPLIT_SEED = 0


@dataclass(frozen=True)
class TrainingSubset:
    """m training examples (X, integer labels y; `indices` into the full training split) and the test split.

    X: (m, *input_shape) float tensor as stored by the loader; y: (m,) int64; X_test, y_test: the first
    n_test test examples; num_classes: C; input_shape: the shape of one example.
    """

    X: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]


def training_subset(
    dataset: str,
    data_dir: str | os.PathLike[str] | None,
    m: int,
    seed: int,
    *,
    balanced: bool = True,
    n_test: int = 0,
) -> TrainingSubset:
    """The nested seeded training subset of size m of `dataset` and its first n_test test examples.

    dataset: a name of ebtheory.data.load_dataset; data_dir: its folder ('' or None = the loader's
    default); m: in [1, training examples]; seed: >= 0, picks the ordering; balanced: class-balanced
    ordering (every prefix has class counts within one of each other); n_test: >= 0, 0 = all.
    Raises ValueError naming the argument on anything out of range.
    """
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 0:
        raise ValueError(f"n_test must be an integer >= 0 (0 = all test examples); got n_test={n_test!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got seed={seed!r}")
    data = load_dataset(dataset, data_dir or None, seed=SPLIT_SEED)
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= data.n_train:
        raise ValueError(f"m must be an integer in [1, {data.n_train}] (training examples of {dataset}); got m={m!r}")
    index = nested_subset_indices(data.y_train, m, seed=seed, balanced=balanced)
    tests = data.n_test if n_test == 0 else min(n_test, data.n_test)
    return TrainingSubset(
        X=data.X_train[index],
        y=data.y_train[index].to(torch.int64),
        indices=index,
        X_test=data.X_test[:tests],
        y_test=data.y_test[:tests].to(torch.int64),
        num_classes=int(data.num_classes),
        input_shape=tuple(int(s) for s in data.input_shape),
    )
