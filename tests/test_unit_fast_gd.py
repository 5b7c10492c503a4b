"""The closed-form GD loop (ebtheory.verify.fast_gd) against its slow twin, ebtheory.train (autograd)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebtheory.models import MeanFieldTwoLayer, TwoLayerNTK
from ebtheory.prune.gfs import pruned_two_layer
from ebtheory.train import TrainConfig, TrainingDivergedError, train_with_checkpoints
from ebtheory.verify import fast_gd


def _data(seed: int, m: int, d: int, C: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=gen)
    X = X / X.norm(dim=1, keepdim=True)
    return X, torch.randn(m, C, generator=gen)


@settings(max_examples=20)
@given(
    seed=st.integers(0, 10_000),
    m=st.integers(2, 30),
    N=st.integers(2, 40),
    C=st.integers(1, 4),
    loss=st.sampled_from(fast_gd.SQUARED_LOSSES),
)
def test_pretraining_matches_autograd_gd(seed: int, m: int, N: int, C: int, loss: str) -> None:
    X, Y = _data(seed, m, 6, C)
    model = TwoLayerNTK(6, N, C, kappa=0.5, seed=seed)
    twin = copy.deepcopy(model)
    config = TrainConfig(optimizer="gd", lr=0.05 if loss == "sum_squares" else 0.5, loss=loss)
    seen: list[int] = []
    fast = fast_gd.gradient_descent(model, X, Y, config, [0, 3, 25], lambda t, net: seen.append(t))
    slow = train_with_checkpoints(twin, X, Y, config, [0, 3, 25], device="cpu", keep_states=False)
    assert seen == [0, 3, 25]
    np.testing.assert_allclose(fast, slow.losses, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.input_weights, twin.input_weights, rtol=1e-4, atol=1e-5)


@settings(max_examples=20)
@given(seed=st.integers(0, 10_000), m=st.integers(2, 30), N=st.integers(2, 20), k=st.integers(1, 12))
def test_finetuning_a_pruned_subnetwork_matches_autograd_gd(seed: int, m: int, N: int, k: int) -> None:
    """Both layers of the subnetwork train, as in ebtheory.train.fine_tune."""
    X, Y = _data(seed, m, 5, 3)
    gen = torch.Generator().manual_seed(seed + 1)
    counts = torch.bincount(torch.randint(0, N, (k,), generator=gen), minlength=N)
    subnet = pruned_two_layer(torch.randn(N, 5, generator=gen), torch.randn(N, 3, generator=gen) / N, counts)
    twin = copy.deepcopy(subnet)
    config = TrainConfig(optimizer="gd", lr=0.02, loss="sum_squares")
    fast = fast_gd.gradient_descent(subnet, X, Y, config, [10])
    slow = train_with_checkpoints(twin, X, Y, config, [10], device="cpu", keep_states=False)
    np.testing.assert_allclose(fast, slow.losses, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(subnet.output_weights, twin.output_weights, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(subnet.input_weights, twin.input_weights, rtol=1e-4, atol=1e-5)


def test_only_what_it_computes_exactly_is_supported() -> None:
    model = TwoLayerNTK(4, 8, 2)
    gd = TrainConfig(optimizer="gd", lr=0.1, loss="sum_squares")
    assert fast_gd.supports(model, gd)
    assert not fast_gd.supports(model, TrainConfig(optimizer="gd", lr=0.1, loss="cross_entropy"))
    assert not fast_gd.supports(model, TrainConfig(optimizer="gd", lr=0.1, momentum=0.9))
    assert not fast_gd.supports(model, TrainConfig(optimizer="sgd", lr=0.1, batch_size=4))
    assert not fast_gd.supports(MeanFieldTwoLayer(4, 8, 2), gd)  # its readout trains too
    assert not fast_gd.supports(model, gd, penalty=lambda net: torch.zeros(()))
    with pytest.raises(ValueError, match="two-layer"):
        fast_gd.gradient_descent(MeanFieldTwoLayer(4, 8, 2), torch.zeros(3, 4), torch.zeros(3, 2), gd, [1])


def test_divergence_is_reported_like_ebtheory_train() -> None:
    X, Y = _data(0, 10, 4, 2)
    config = TrainConfig(optimizer="gd", lr=1e6, loss="sum_squares")
    with pytest.raises(TrainingDivergedError, match="lr"):
        fast_gd.gradient_descent(TwoLayerNTK(4, 8, 2), X, Y, config, [200])
