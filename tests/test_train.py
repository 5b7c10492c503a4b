"""Tests of ebtheory.train: the GD update rule, determinism, checkpoint equivalence, divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from ebtheory.train import (
    TrainConfig,
    TrainingDivergedError,
    fine_tune,
    loss_value,
    objective,
    select_device,
    train_with_checkpoints,
)


class TwoLayer(nn.Module):
    """f(x) = (1/sqrt(N)) relu(x W^T) a, W trainable, a fixed: the theory's net, written out here."""

    def __init__(self, d: int, width: int, outputs: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.input_weights = nn.Parameter(torch.randn(width, d, generator=generator))
        signs = torch.randint(0, 2, (width, outputs), generator=generator) * 2.0 - 1.0
        self.register_buffer("a", signs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.input_weights.T) @ self.a / math.sqrt(self.a.shape[0])


def regression_data(m: int = 12, d: int = 5, outputs: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=generator)
    X = X / X.norm(dim=1, keepdim=True)
    Y = torch.randn(m, outputs, generator=generator)
    return X, Y


def mlp(seed: int, dropout: float | None = None) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(5, 16), nn.ReLU()]
    if dropout is not None:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 2))
    return nn.Sequential(*layers)


def test_gd_step_is_the_theory_update():
    """One gd step on the sum loss is W - eta * dL/dW, with the gradient written out by hand."""
    X, Y = regression_data()
    model = TwoLayer(5, 32, 2, seed=1)
    W0 = model.input_weights.detach().clone()
    eta = 0.05
    train_with_checkpoints(model, X, Y, TrainConfig(lr=eta), [1], device="cpu")
    N = W0.shape[0]
    pre = X @ W0.T
    residual = torch.relu(pre) @ model.a / math.sqrt(N) - Y  # dL/du for L = 1/2||u - Y||^2
    # dL/dw_r = (1/sqrt(N)) sum_i (a_r . residual_i) 1[w_r.x_i > 0] x_i
    grad = ((residual @ model.a.T) * (pre > 0)).T @ X / math.sqrt(N)
    torch.testing.assert_close(model.input_weights.detach(), W0 - eta * grad, rtol=1e-5, atol=1e-6)


def test_loss_curve_is_the_loss_after_t_iterations():
    X, Y = regression_data()
    model = TwoLayer(5, 32, 2, seed=2)
    config = TrainConfig(lr=0.05)
    result = train_with_checkpoints(model, X, Y, config, [0, 2, 5], device="cpu")
    assert result.losses.shape == (6,) and result.recorded.all()
    for t in (0, 2, 5):
        model.load_state_dict(result.states[t])
        assert result.losses[t] == pytest.approx(loss_value(model, X, Y, "sum_squares"), rel=1e-5)
    assert result.losses[5] < result.losses[0]


def test_reused_forward_matches_separate_evaluation():
    """gd records the step's own forward; a model with dropout takes the eval-mode path instead.
    Dropout(p=0) changes nothing, so both curves must agree."""
    X, Y = regression_data()
    config = TrainConfig(lr=0.01, loss="mean_squares")
    plain = train_with_checkpoints(mlp(3), X, Y, config, [6], device="cpu")
    with_dropout = train_with_checkpoints(mlp(3, dropout=0.0), X, Y, config, [6], device="cpu")
    np.testing.assert_allclose(plain.losses, with_dropout.losses, rtol=1e-5)


@given(seed=st.integers(0, 2**16), momentum=st.sampled_from([0.0, 0.9]), batch=st.integers(1, 12))
def test_sgd_is_deterministic_for_a_seed(seed, momentum, batch):
    X, Y = regression_data()
    config = TrainConfig(optimizer="sgd", lr=0.02, batch_size=batch, momentum=momentum, seed=seed)
    first = train_with_checkpoints(mlp(seed), X, Y, config, [7], device="cpu")
    second = train_with_checkpoints(mlp(seed), X, Y, config, [7], device="cpu")
    np.testing.assert_array_equal(first.losses, second.losses)


def test_sgd_seed_changes_minibatch_order():
    X, Y = regression_data()
    curves = [
        train_with_checkpoints(
            mlp(0), X, Y, TrainConfig(optimizer="sgd", lr=0.02, batch_size=3, seed=s), [6], device="cpu"
        ).losses
        for s in (0, 1)
    ]
    assert not np.array_equal(curves[0], curves[1])


@given(
    grid=st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True).map(sorted),
    optimizer=st.sampled_from(["gd", "sgd"]),
    seed=st.integers(0, 1000),
)
def test_checkpoint_state_equals_a_separate_run_of_t_steps(grid, optimizer, seed):
    X, Y = regression_data(seed=seed)
    config = TrainConfig(
        optimizer=optimizer,
        lr=0.02,
        batch_size=5 if optimizer == "sgd" else None,
        momentum=0.5,
        weight_decay=1e-3,
        seed=seed,
    )
    seen: list[int] = []
    sweep = train_with_checkpoints(
        mlp(seed), X, Y, config, grid, device="cpu", on_checkpoint=lambda t, model: seen.append(t)
    )
    assert seen == grid and sorted(sweep.states) == grid
    for t in grid:
        alone = train_with_checkpoints(mlp(seed), X, Y, config, [t], device="cpu")
        for name, value in sweep.states[t].items():
            assert torch.equal(value, alone.states[t][name]), (t, name)
        assert sweep.losses[t] == alone.losses[t]


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_checkpoints_of_a_batchnorm_model_match_separate_runs(optimizer):
    """A train-mode BatchNorm forward moves the running statistics, so the state at t must be taken
    before the forward of update t + 1."""
    X, Y = regression_data()

    def bn_mlp() -> nn.Sequential:
        torch.manual_seed(4)
        return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    config = TrainConfig(optimizer=optimizer, lr=0.02, batch_size=4 if optimizer == "sgd" else None)
    sweep = train_with_checkpoints(bn_mlp(), X, Y, config, [0, 2, 5], device="cpu")
    for t in (0, 2, 5):
        alone = train_with_checkpoints(bn_mlp(), X, Y, config, [t], device="cpu")
        for name, value in sweep.states[t].items():
            assert torch.equal(value, alone.states[t][name]), (t, name)


def test_divergence_names_the_iteration_and_suggests_a_smaller_lr():
    X, Y = regression_data()
    with pytest.raises(TrainingDivergedError, match=r"iteration \d+.*smaller lr"):
        train_with_checkpoints(mlp(0), X, Y * 1e3, TrainConfig(lr=1e3), [200], device="cpu")


def test_divergence_is_caught_between_recorded_losses():
    X, Y = regression_data()
    config = TrainConfig(optimizer="sgd", lr=1e3, batch_size=4)
    with pytest.raises(TrainingDivergedError, match="iteration"):
        train_with_checkpoints(mlp(0), X, Y * 1e3, config, [300], device="cpu", loss_every=1000)


def test_loss_every_records_a_subset_of_the_same_curve():
    X, Y = regression_data()
    config = TrainConfig(optimizer="sgd", lr=0.02, batch_size=4, seed=3)
    full = train_with_checkpoints(mlp(1), X, Y, config, [3, 10], device="cpu")
    sparse = train_with_checkpoints(mlp(1), X, Y, config, [3, 10], device="cpu", loss_every=4)
    assert np.flatnonzero(sparse.recorded).tolist() == [0, 3, 4, 8, 10]
    np.testing.assert_array_equal(sparse.losses[sparse.recorded], full.losses[sparse.recorded])
    assert np.isnan(sparse.losses[~sparse.recorded]).all()


def test_losses_and_their_units():
    X, Y = regression_data()
    model = mlp(0)
    total = loss_value(model, X, Y, "sum_squares")
    assert loss_value(model, X, Y, "mean_squares") == pytest.approx(total / X.shape[0], rel=1e-6)
    assert loss_value(model, X, Y, "sum_squares", chunk_size=5) == pytest.approx(total, rel=1e-6)
    with torch.no_grad():
        u = model(X)
    assert total == pytest.approx(0.5 * float(((u - Y) ** 2).sum()), rel=1e-6)
    labels = torch.tensor([0, 1] * 6)
    by_label = loss_value(model, X, labels, "cross_entropy", chunk_size=5)
    by_one_hot = loss_value(model, X, nn.functional.one_hot(labels, 2).float(), "cross_entropy")
    assert by_label == pytest.approx(by_one_hot, rel=1e-6)
    assert by_label == pytest.approx(float(nn.functional.cross_entropy(u, labels)), rel=1e-6)
    assert objective(u[:, :1], Y[:, 0], "sum_squares") == pytest.approx(0.5 * float(((u[:, 0] - Y[:, 0]) ** 2).sum()))


def test_cross_entropy_training_reduces_the_loss():
    X, _ = regression_data()
    labels = (X[:, 0] > 0).long()
    result = train_with_checkpoints(mlp(0), X, labels, TrainConfig(lr=0.5, loss="cross_entropy"), [30], device="cpu")
    assert result.losses[-1] < result.losses[0]


def test_penalty_enters_the_objective_but_not_the_record():
    X, Y = regression_data()
    config = TrainConfig(lr=0.01)
    plain = train_with_checkpoints(mlp(0), X, Y, config, [3], device="cpu")
    pulled = train_with_checkpoints(mlp(0), X, Y, config, [3], device="cpu", penalty=lambda m: m[0].weight.abs().sum())
    assert plain.losses[0] == pulled.losses[0]
    assert pulled.states[3]["0.weight"].abs().sum() < plain.states[3]["0.weight"].abs().sum()


def test_fine_tune_trains_in_place():
    X, Y = regression_data()
    model = mlp(0)
    before = loss_value(model, X, Y, "sum_squares")
    assert fine_tune(model, X, Y, 0, TrainConfig(lr=0.01), device="cpu").final_loss == pytest.approx(before)
    result = fine_tune(model, X, Y, 20, TrainConfig(lr=0.01), device="cpu")
    assert result.final_loss < before
    assert result.final_loss == pytest.approx(loss_value(model, X, Y, "sum_squares"), rel=1e-5)
    assert list(result.states) == [20]


def test_progress_bar_runs(capsys):
    X, Y = regression_data()
    result = train_with_checkpoints(mlp(0), X, Y, TrainConfig(lr=0.01), [2], device="cpu", progress=True)
    assert result.recorded.all()


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(optimizer="adam"), "optimizer"),
        (dict(loss="l1"), "loss"),
        (dict(lr=0.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(batch_size=4), "batch_size"),
        (dict(optimizer="sgd"), "batch_size"),
        (dict(optimizer="sgd", batch_size=0), "batch_size"),
        (dict(momentum=1.0), "momentum"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_config_raises(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("grid", [[], [3, 1], [2, 2], [-1, 4], [1.5]])
def test_bad_checkpoints_raise(grid):
    X, Y = regression_data()
    with pytest.raises(ValueError, match="checkpoints"):
        train_with_checkpoints(mlp(0), X, Y, TrainConfig(), grid, device="cpu")


def test_bad_data_raises():
    X, Y = regression_data()
    with pytest.raises(ValueError, match="Y"):
        train_with_checkpoints(mlp(0), X, Y[:3], TrainConfig(), [1], device="cpu")
    with pytest.raises(ValueError, match="floating-point"):
        train_with_checkpoints(mlp(0), X, torch.zeros(12, dtype=torch.long), TrainConfig(), [1], device="cpu")
    with pytest.raises(ValueError, match="outputs"):
        train_with_checkpoints(mlp(0), X, Y[:, :1], TrainConfig(), [1], device="cpu")
    with pytest.raises(ValueError, match="steps"):
        fine_tune(mlp(0), X, Y, -1, TrainConfig(), device="cpu")
    with pytest.raises(ValueError, match="loss_every"):
        train_with_checkpoints(mlp(0), X, Y, TrainConfig(), [1], device="cpu", loss_every=0)


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    for bad in ("gpu", "cuda:x", ""):
        with pytest.raises(ValueError, match="device"):
            select_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    X, Y = regression_data()
    config = TrainConfig(optimizer="sgd", lr=0.02, batch_size=4)
    cpu = train_with_checkpoints(mlp(0), X, Y, config, [5], device="cpu")
    gpu = train_with_checkpoints(mlp(0), X, Y, config, [5], device="cuda")
    np.testing.assert_allclose(cpu.losses, gpu.losses, rtol=1e-4)
