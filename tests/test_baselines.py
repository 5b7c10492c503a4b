"""Magnitude and random baselines, and the shared averaged-subnetwork builder."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.prune.baselines import magnitude_selection, random_selection, subnetwork_from_indices
from ebtheory.prune.gfs import greedy_forward_selection

F64 = torch.float64


def make_net(seed: int, n: int, d: int = 3, outputs: int = 2):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, d, generator=gen, dtype=F64),
        torch.randn(n, outputs, generator=gen, dtype=F64),
        torch.randn(n, generator=gen, dtype=F64),
        torch.randn(outputs, generator=gen, dtype=F64),
    )


@given(seed=st.integers(0, 10**6), n=st.integers(1, 30), data=st.data())
def test_magnitude_selection_keeps_the_largest_weight_products(seed, n, data):
    W1, W2, _, _ = make_net(seed, n)
    W1[n // 2] = W1[0]  # a planted tie: the lower index must come first
    W2[n // 2] = W2[0]
    k = data.draw(st.integers(1, n))
    chosen = magnitude_selection(W1, W2, k)
    scores = [float(W1[r].norm() * W2[r].norm()) for r in range(n)]
    expected = sorted(range(n), key=lambda r: (-scores[r], r))[:k]
    assert chosen.dtype == torch.int64
    assert chosen.tolist() == expected


@given(n=st.integers(1, 50), seed=st.integers(0, 10**6), data=st.data())
def test_random_selection_is_seeded_distinct_and_in_range(n, seed, data):
    k = data.draw(st.integers(1, n))
    first = random_selection(n, k, seed)
    assert first.dtype == torch.int64
    assert len(set(first.tolist())) == k
    assert all(0 <= r < n for r in first.tolist())
    assert torch.equal(first, random_selection(n, k, seed))


def test_random_selection_depends_on_the_seed():
    draws = {tuple(random_selection(100, 10, seed).tolist()) for seed in range(5)}
    assert len(draws) == 5


@given(seed=st.integers(0, 10**6), n=st.integers(1, 12), data=st.data())
def test_subnetwork_from_indices_averages_the_atoms_of_the_multiset(seed, n, data):
    W1, W2, b1, bias = make_net(seed, n)
    indices = torch.tensor(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=15)))
    X = torch.randn(7, W1.shape[1], generator=torch.Generator().manual_seed(seed), dtype=F64)
    H = torch.relu(X @ W1.T + b1)
    atoms = torch.stack([n * H[:, r : r + 1] * W2[r] + bias for r in indices.tolist()])
    module = subnetwork_from_indices(W1, W2, indices, bias=bias, b1=b1)
    torch.testing.assert_close(module(X), atoms.mean(0), rtol=1e-10, atol=1e-10)
    assert module.width == len(set(indices.tolist()))


def test_subnetwork_from_indices_is_the_module_gfs_builds():
    W1, W2, b1, bias = make_net(4, 15)
    X = torch.randn(40, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    H = torch.relu(X @ W1.T + b1)
    Y = torch.randn(40, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    result = greedy_forward_selection(H, W2, Y, 12, bias=bias, W1=W1, b1=b1)
    rebuilt = subnetwork_from_indices(W1, W2, result.indices, bias=bias, b1=b1)
    torch.testing.assert_close(rebuilt(X), result.module(X))
    torch.testing.assert_close(0.5 * (rebuilt(X) - Y).square().sum(), torch.tensor(result.losses[-1], dtype=F64))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: magnitude_selection(torch.ones(4, 3), torch.ones(5, 2), 2), "same N"),
        (lambda: magnitude_selection(torch.ones(4, 3), torch.ones(4, 2), 5), r"k must lie in \[1, N\]"),
        (lambda: magnitude_selection(torch.full((4, 3), float("nan")), torch.ones(4, 2), 2), "W1 must be finite"),
        (lambda: random_selection(4, 0, 0), "k must be a positive integer"),
        (lambda: random_selection(0, 1, 0), "N must be a positive integer"),
        (lambda: subnetwork_from_indices(torch.ones(4, 3), torch.ones(4, 2), torch.tensor([4])), r"\[0, 3\]"),
        (lambda: subnetwork_from_indices(torch.ones(4, 3), torch.ones(4, 2), torch.tensor([])), "non-empty"),
        (lambda: subnetwork_from_indices(torch.ones(4, 3), torch.ones(3, 2), torch.tensor([0])), "W1 must be"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
