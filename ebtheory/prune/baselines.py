"""Baseline neuron selections for a two-layer net, compared with GFS at equal k.

Both return index tensors; `subnetwork_from_indices` turns any multiset of indices into the same
averaged `PrunedTwoLayer` that GFS builds: out = relu(x W1_S^T + b1_S) @ (N * counts_S / k * W2_S) + bias,
i.e. u_S = (1/k) sum_{r in S} g_r with g_r = N * H[:, r] W2[r]^T + b (docs/theory.md, section 2).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebtheory.prune.gfs import PrunedTwoLayer, pruned_two_layer
from ebtheory.validation import require_positive_int

__all__ = ["magnitude_selection", "random_selection", "subnetwork_from_indices"]


def _as_weights(name: str, value: object) -> Tensor:
    tensor = torch.as_tensor(value)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite; got NaN/inf entries in shape {tuple(tensor.shape)}")
    return tensor


def _require_k_at_most(k: object, n_neurons: int) -> int:
    k = require_positive_int("k", k)
    if k > n_neurons:
        raise ValueError(f"k must lie in [1, N] = [1, {n_neurons}]; got k={k}")
    return k


def magnitude_selection(W1: Tensor, W2: Tensor, k: int) -> Tensor:
    """The k neurons with the largest ||w_r||_2 * ||W2[r]||_2 (the size of the atom's weights; for
    ReLU and unit-norm inputs ||g_r|| <= N sqrt(m) ||w_r|| ||W2[r]|| up to the bias), sorted by
    decreasing score, ties to the lowest index. Returns (k,) int64 indices without repeats."""
    W1 = _as_weights("W1", W1)
    W2 = _as_weights("W2", W2)
    W2 = W2.reshape(W2.shape[0], -1) if W2.ndim >= 1 else W2
    if W1.ndim != 2 or W2.ndim != 2 or W1.shape[0] != W2.shape[0]:
        raise ValueError(
            f"W1 must be (N, d) and W2 (N, C) with the same N; got {tuple(W1.shape)} and {tuple(W2.shape)}"
        )
    k = _require_k_at_most(k, W1.shape[0])
    score = W1.double().norm(dim=1) * W2.double().norm(dim=1)
    order = torch.sort(-score, stable=True).indices
    return order[:k].to(torch.int64)


def random_selection(N: int, k: int, seed: int) -> Tensor:
    """k distinct neurons drawn uniformly from range(N) with a seeded generator, in draw order."""
    N = require_positive_int("N", N)
    k = _require_k_at_most(k, N)
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randperm(N, generator=generator)[:k].to(torch.int64)


def subnetwork_from_indices(
    W1: Tensor, W2: Tensor, indices: Tensor, bias: Tensor | None = None, b1: Tensor | None = None
) -> PrunedTwoLayer:
    """The averaged subnetwork of the multiset `indices` (repeats count), the same module GFS builds."""
    W1 = _as_weights("W1", W1)
    W2 = _as_weights("W2", W2)
    if W1.ndim != 2 or W1.shape[0] != W2.shape[0]:
        raise ValueError(f"W1 must be (N, d) with N = W2 rows ({W2.shape[0]}); got {tuple(W1.shape)}")
    indices = torch.as_tensor(indices)
    if indices.ndim != 1 or indices.numel() < 1 or indices.is_floating_point():
        raise ValueError(
            f"indices must be a non-empty 1-D integer tensor; got shape {tuple(indices.shape)}, dtype {indices.dtype}"
        )
    n_neurons = W1.shape[0]
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= n_neurons:
        raise ValueError(f"indices must lie in [0, N-1] = [0, {n_neurons - 1}]; got range [{low}, {high}]")
    counts = torch.bincount(indices.to(torch.int64), minlength=n_neurons)
    bias = None if bias is None else _as_weights("bias", bias).reshape(-1)
    b1 = None if b1 is None else _as_weights("b1", b1).reshape(-1)
    return pruned_two_layer(W1, W2, counts, bias=bias, b1=b1)
