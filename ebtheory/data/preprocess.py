"""Preprocessing for the theory: inputs on the unit sphere, one-hot targets, nested subsets.

docs/theory.md, section 1 assumes ||x_i||_2 = 1 and, for classification, y_i one-hot in R^C.
The threshold t*(m) is compared across dataset sizes m, so the subsets must be nested: the subset
of size m1 lies inside the subset of size m2 whenever m1 < m2.
"""

from __future__ import annotations

import numpy as np
import torch


def flatten_unit_sphere(X: torch.Tensor | np.ndarray) -> torch.Tensor:
    """x_i -> vec(x_i) / ||vec(x_i)||_2: (n, ...) -> (n, d) float32 rows of unit norm.

    The norm is taken in float64, so rows have norm 1 to float32 rounding. A zero or non-finite
    row cannot be projected and raises ValueError naming its index.
    """
    X = torch.as_tensor(X)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n, d) or (n, *input_shape) with ndim >= 2; got shape {tuple(X.shape)}")
    flat = X.reshape(X.shape[0], -1).to(torch.float64)
    finite = torch.isfinite(flat).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()[:5].tolist()
        raise ValueError(f"X has non-finite values in rows {bad}; every row must be finite")
    norms = flat.norm(dim=1, keepdim=True)
    zero = norms.flatten() == 0
    if bool(zero.any()):
        bad = torch.nonzero(zero).flatten()[:5].tolist()
        raise ValueError(
            f"X has {int(zero.sum())} zero rows (first indices {bad}); a zero row has no direction on the unit sphere"
        )
    return (flat / norms).to(torch.float32)


def one_hot(y: torch.Tensor | np.ndarray, num_classes: int) -> torch.Tensor:
    """Y[i, c] = 1 if y_i == c else 0: labels (n,) in [0, num_classes) -> float32 (n, num_classes)."""
    labels = _as_labels(y, "y")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1; got {num_classes!r}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"y must lie in [0, {num_classes - 1}] for num_classes={num_classes}; "
            f"got range [{int(labels.min())}, {int(labels.max())}]"
        )
    return torch.nn.functional.one_hot(labels, int(num_classes)).to(torch.float32)


def nested_subset_order(labels: torch.Tensor | np.ndarray, seed: int, balanced: bool = False) -> torch.Tensor:
    """A seeded ordering of range(n) whose prefixes are the nested subsets.

    balanced=False: a uniform random permutation. balanced=True: each class is shuffled, then the
    classes are dealt round-robin (class order shuffled too), so in every prefix the counts of any
    two classes differ by at most one unless the smaller class is exhausted.
    """
    labels_np = _as_labels(labels, "labels").numpy()
    rng = np.random.default_rng(_check_seed(seed))
    permutation = rng.permutation(labels_np.shape[0])
    if not balanced:
        return torch.from_numpy(permutation.astype(np.int64))
    shuffled = labels_np[permutation]
    classes, class_of = np.unique(shuffled, return_inverse=True)
    by_class = np.argsort(class_of, kind="stable")
    group_start = np.searchsorted(class_of[by_class], np.arange(classes.size))
    rank = np.empty_like(by_class)
    rank[by_class] = np.arange(by_class.size) - group_start[class_of[by_class]]
    deal_position = rng.permutation(classes.size)[class_of]
    order = np.argsort(rank * classes.size + deal_position, kind="stable")
    return torch.from_numpy(permutation[order].astype(np.int64))


def nested_subset_indices(labels: torch.Tensor | np.ndarray, m: int, seed: int, balanced: bool = False) -> torch.Tensor:
    """The first m entries of nested_subset_order(labels, seed, balanced): int64 indices (m,)."""
    labels = _as_labels(labels, "labels")
    n = labels.shape[0]
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= n:
        raise ValueError(f"m must be an integer in [1, {n}] (the number of labels); got m={m!r}")
    return nested_subset_order(labels, seed, balanced)[: int(m)]


def _as_labels(y: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    labels = torch.as_tensor(y)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor of class labels; got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class labels; got dtype {labels.dtype}")
    labels = labels.to(torch.int64)
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"{name} must be non-negative class labels; got minimum {int(labels.min())}")
    return labels


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return int(seed)
