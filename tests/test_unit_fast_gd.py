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


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(4, 30), N=st.integers(3, 24), rounds=st.integers(1, 3))
def test_imp_with_the_closed_form_trainer_matches_the_autograd_trainer(seed: int, m: int, N: int, rounds: int) -> None:
    """IMP (rewind to 0) on the NTK net: the same masks, rewind state and final weights with fast_gd.imp_trainer
    as with ebtheory.prune.imp.trainer_from_config, in float64 where the two loops agree to round-off."""
    from ebtheory.prune.imp import iterative_magnitude_pruning, trainer_from_config

    X, Y = (tensor.double() for tensor in _data(seed, m, 6, 2))
    config = TrainConfig(optimizer="gd", lr=0.05, loss="sum_squares")
    results, nets = [], []
    for make in (fast_gd.imp_trainer, trainer_from_config):
        model = TwoLayerNTK(6, N, 2, kappa=0.5, seed=seed).double()
        trainers = iter([make(X, Y, config, steps, "cpu") for steps in (7, 5, 6, 4)[: rounds + 1]])
        result = iterative_magnitude_pruning(
            model,
            lambda net, checkpoints, callback, trainers=trainers: next(trainers)(net, checkpoints, callback),
            target_remaining=max(1, (N * 6) // 3),
            rounds=rounds,
            parameters=[(model, "input_weights")],  # as the two-layer family prunes (imp_parameters)
        )
        results.append(result)
        nets.append(model)
    fast, slow = results
    assert fast.remaining == slow.remaining
    assert all(torch.equal(a, b) for a, b in zip(fast.masks, slow.masks))
    torch.testing.assert_close(fast.rewind_state["input_weights"], slow.rewind_state["input_weights"])
    torch.testing.assert_close(nets[0].input_weights_orig, nets[1].input_weights_orig, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(nets[0](X), nets[1](X), rtol=1e-10, atol=1e-12)  # the prune hook's weights
    pruned = ~fast.masks[0]
    assert torch.all(nets[0].input_weights[pruned] == 0)


def test_imp_trainer_falls_back_to_autograd_for_other_configs() -> None:
    X, Y = _data(0, 12, 6, 2)
    config = TrainConfig(optimizer="gd", lr=0.05, loss="sum_squares", momentum=0.9)
    model, twin = TwoLayerNTK(6, 8, 2, seed=0), TwoLayerNTK(6, 8, 2, seed=0)
    from ebtheory.prune.imp import trainer_from_config

    fast_gd.imp_trainer(X, Y, config, 5, "cpu")(model, [], lambda t, net: None)
    trainer_from_config(X, Y, config, 5, "cpu")(twin, [], lambda t, net: None)
    assert torch.equal(model.input_weights, twin.input_weights)
