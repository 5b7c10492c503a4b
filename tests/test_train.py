"""Tests of ebtheory.train: the GD update rule, determinism, checkpoint equivalence, divergence."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ebtheory.train import (
    TrainConfig,
    TrainingDivergedError,
    epoch_checkpoints,
    epoch_grid,
    epochs_to_steps,
    evaluate,
    examples_seen,
    fine_tune,
    fine_tune_epochs,
    loss_value,
    objective,
    select_device,
    steps_per_epoch,
    steps_to_epochs,
    train_with_checkpoints,
)
from ebtheory.train import _minibatches as minibatches


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


def batch_norm_mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))


@settings(max_examples=min(30, settings().max_examples))  # each example trains up to five nets
@given(
    grid=st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True).map(sorted),
    optimizer=st.sampled_from(["gd", "sgd", "adam", "adam_full"]),
    batch_norm=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_checkpoint_state_equals_a_separate_run_of_t_steps(grid, optimizer, batch_norm, seed):
    X, Y = regression_data(seed=seed)
    config = TrainConfig(
        optimizer="adam" if optimizer == "adam_full" else optimizer,
        lr=0.02,
        batch_size=5 if optimizer in ("sgd", "adam") else None,
        momentum=0.0 if optimizer.startswith("adam") else 0.5,
        weight_decay=1e-3,
        seed=seed,
    )
    build = batch_norm_mlp if batch_norm else mlp
    seen: list[int] = []
    sweep = train_with_checkpoints(
        build(seed), X, Y, config, grid, device="cpu", on_checkpoint=lambda t, model: seen.append(t)
    )
    assert seen == grid and sorted(sweep.states) == grid
    for t in grid:
        alone = train_with_checkpoints(build(seed), X, Y, config, [t], device="cpu")
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
    assert np.flatnonzero(result.recorded).tolist() == [0, 20]  # no full-data evaluation per step


def test_fine_tune_with_minibatches_evaluates_the_full_data_twice_and_trains_as_train_with_checkpoints_does():
    X, Y = regression_data()
    config = TrainConfig(optimizer="sgd", lr=0.01, batch_size=8, seed=3)
    tuned, reference = mlp(0), mlp(0)
    fine_tune(tuned, X, Y, 12, config, device="cpu")
    train_with_checkpoints(reference, X, Y, config, [12], device="cpu", keep_states=False)
    for a, b in zip(tuned.parameters(), reference.parameters()):
        assert torch.equal(a, b)


def test_progress_bar_runs(capsys):
    X, Y = regression_data()
    result = train_with_checkpoints(mlp(0), X, Y, TrainConfig(lr=0.01), [2], device="cpu", progress=True)
    assert result.recorded.all()


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(optimizer="adam", momentum=0.9), "momentum"),
        (dict(optimizer="adam", batch_size=0), "batch_size"),
        (dict(optimizer="adam", betas=(0.9, 1.0)), "betas"),
        (dict(optimizer="adam", adam_eps=0.0), "adam_eps"),
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


# --------------------------------------------------------------------------- the practitioner regime


def test_first_adam_step_is_the_adam_update():
    """Kingma and Ba (2015), Alg. 1, t = 1: m = (1-b1) g, v = (1-b2) g^2, bias-corrected to g and g^2,
    so W <- W - lr * g / (|g| + eps) on the mean loss of the full batch."""
    X, Y = regression_data()
    model = mlp(4)
    reference = mlp(4)
    lr, eps = 0.01, 1e-8
    objective(reference(X), Y, "mean_squares").backward()
    train_with_checkpoints(
        model, X, Y, TrainConfig(optimizer="adam", lr=lr, loss="mean_squares", adam_eps=eps), [1], device="cpu"
    )
    for trained, start in zip(model.parameters(), reference.parameters()):
        g = start.grad
        expected = start.detach() - lr * g / (g.abs() + eps)
        torch.testing.assert_close(trained.detach(), expected, rtol=1e-5, atol=1e-7)


def test_adam_minibatches_reduce_the_mean_loss():
    X, Y = regression_data(m=40)
    config = TrainConfig(optimizer="adam", lr=0.01, loss="mean_squares", batch_size=8)
    result = train_with_checkpoints(mlp(0), X, Y, config, epoch_checkpoints([0, 1, 10], 40, 8), device="cpu")
    assert list(result.states) == [0, 5, 50]
    assert result.losses[50] < 0.9 * result.losses[0]


def _first_step_reaching(epochs: Fraction, m: int, batch_size: int | None) -> int:
    """Slow twin: walk the minibatch stream of `_minibatches` until e * m examples have gone by."""
    stream = minibatches(m, m if batch_size is None else batch_size, seed=0)
    t, seen = 0, 0
    while seen < epochs * m:
        seen += len(next(stream))
        t += 1
    return t


@given(
    m=st.integers(1, 200),
    batch=st.one_of(st.none(), st.integers(1, 64)),
    whole=st.integers(0, 3),
    numerator=st.integers(0, 15),
)
def test_epochs_to_steps_is_the_first_step_that_covers_e_epochs(m, batch, whole, numerator):
    epochs = whole + Fraction(numerator, 16)
    t = epochs_to_steps(epochs, m, batch)
    assert t == _first_step_reaching(epochs, m, batch)
    assert examples_seen(t, m, batch) >= epochs * m
    assert t == 0 or examples_seen(t - 1, m, batch) < epochs * m
    assert steps_to_epochs(t, m, batch) >= epochs
    if numerator == 0:
        assert t == whole * steps_per_epoch(m, batch)  # whole epochs are exact multiples of S


def test_epoch_conversion_examples_and_float_fractions():
    assert steps_per_epoch(1000, 64) == 16 and steps_per_epoch(1000, None) == 1
    assert epochs_to_steps(0.1, 1000, 64) == 2  # ceil(100 / 64)
    assert epochs_to_steps(2, 1000, 64) == 32
    assert epochs_to_steps(0.1, 60000, 100) == 60  # 0.1 is read as 1/10, not its binary neighbour
    assert epochs_to_steps(1 / 3, 60000, 100) == 200
    assert steps_to_epochs(60, 60000, 100) == pytest.approx(0.1)
    assert steps_to_epochs(17, 1000, 64) == pytest.approx(1.064)
    grid = epoch_grid(3, every=1)
    assert grid == (0, Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), 1, 2, 3)
    assert epoch_grid(5, (0.5,), every=2) == (0, Fraction(1, 2), 2, 4, 5)
    assert epoch_checkpoints(grid, 1000, 64) == [0, 2, 4, 8, 16, 32, 48]


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: epochs_to_steps(-0.5, 10, 2), "epochs"),
        (lambda: epochs_to_steps(float("nan"), 10, 2), "epochs"),
        (lambda: epochs_to_steps("1", 10, 2), "epochs"),
        (lambda: epochs_to_steps(1, 0, 2), "m"),
        (lambda: epochs_to_steps(1, 10, 0), "batch_size"),
        (lambda: epoch_grid(0), "total_epochs"),
        (lambda: epoch_grid(2, (0.5, 0.25)), "early_fractions"),
        (lambda: epoch_grid(2, (1.0,)), "early_fractions"),
        (lambda: epoch_checkpoints([0, 0.125, 0.25], 10, 10), "epochs 0.125 and 0.25"),
        (lambda: examples_seen(-1, 10, 2), "t"),
    ],
)
def test_bad_epoch_arguments_raise(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_fine_tune_epochs_runs_t_of_e_iterations():
    X, Y = regression_data(m=12)
    config = TrainConfig(optimizer="sgd", lr=0.01, batch_size=5, seed=2)
    by_epochs = mlp(1)
    by_steps = mlp(1)
    result = fine_tune_epochs(by_epochs, X, Y, 1.5, config, device="cpu")
    assert list(result.states) == [epochs_to_steps(1.5, 12, 5)] == [5]  # S = 3; half of 12 -> ceil(6/5) = 2
    fine_tune(by_steps, X, Y, 5, config, device="cpu")
    for a, b in zip(by_epochs.state_dict().values(), by_steps.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("loss", ["sum_squares", "mean_squares", "cross_entropy"])
def test_evaluate_is_the_full_batch_loss_and_accuracy_in_any_chunking(loss):
    X, Y = regression_data(m=23)
    model = batch_norm_mlp(0)
    model(X)  # one train-mode pass, so the running statistics are not the identity
    labels = torch.arange(23) % 2
    targets = labels if loss == "cross_entropy" else Y
    model.eval()
    with torch.no_grad():
        outputs = model(X)
    model.train()
    whole = evaluate(model, X, targets, loss, chunk_size=100)
    assert model.training
    expected_accuracy = float(
        (outputs.argmax(1) == (labels if loss == "cross_entropy" else Y.argmax(1))).double().mean()
    )
    assert whole.accuracy == expected_accuracy
    assert whole.loss == pytest.approx(loss_value(model, X, targets, loss), rel=1e-6)
    for chunk in (1, 4, 7):
        chunked = evaluate(model, X, targets, loss, chunk_size=chunk)
        assert chunked.accuracy == whole.accuracy
        assert chunked.loss == pytest.approx(whole.loss, rel=1e-6)
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate(model, X, targets, loss, chunk_size=0)


def test_float64_inputs_train_a_float32_model_in_float32():
    X, Y = regression_data()
    config = TrainConfig(optimizer="sgd", lr=0.02, batch_size=4, seed=1)
    single = train_with_checkpoints(mlp(0), X, Y, config, [4], device="cpu")
    double_input = train_with_checkpoints(mlp(0), X.double(), Y.double(), config, [4], device="cpu")
    assert all(v.dtype == torch.float32 for k, v in double_input.states[4].items())
    for name, value in single.states[4].items():
        assert torch.equal(value, double_input.states[4][name])
