"""Tests of ebtheory.prune.imp: exact counts, exact rewinding, nested masks, the magnitude rule."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from ebtheory.prune.imp import (
    current_masks,
    effective_weights,
    global_magnitude_keep,
    iterative_magnitude_pruning,
    one_shot_magnitude_pruning,
    prunable_parameters,
    remaining_schedule,
    remaining_weights,
    trainer_from_config,
)
from ebtheory.train import TrainConfig, train_with_checkpoints

STEPS = 4


def mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))


def data(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(10, 4, generator=generator), torch.randn(10, 2, generator=generator)


def train_fn(seed: int = 0):
    X, Y = data(seed)
    config = TrainConfig(optimizer="sgd", lr=0.05, batch_size=4, momentum=0.5, seed=seed)
    return trainer_from_config(X, Y, config, STEPS, device="cpu")


def recording(inner):
    """Wrap a train_fn to snapshot the model as each training call starts (just after a rewind)."""
    starts: list[dict[str, torch.Tensor]] = []

    def train(model, checkpoints, on_checkpoint):
        starts.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        starts[-1]["effective"] = [w.clone() for w in effective_weights(prunable_parameters(model))]
        inner(model, checkpoints, on_checkpoint)

    return train, starts


TOTAL = 4 * 6 + 6 * 3 + 3 * 2


@given(target=st.integers(1, TOTAL), rounds=st.integers(1, 4), seed=st.integers(0, 100))
def test_imp_reaches_the_target_count_exactly_with_nested_masks(target, rounds, seed):
    model = mlp(seed)
    masks_seen = []
    inner = train_fn(seed)

    def train(model, checkpoints, on_checkpoint):
        masks_seen.append(current_masks(prunable_parameters(model)))
        inner(model, checkpoints, on_checkpoint)

    result = iterative_magnitude_pruning(model, train, target_remaining=target, rounds=rounds)
    parameters = prunable_parameters(model)
    assert result.total == TOTAL and result.remaining[0] == TOTAL
    assert result.remaining[-1] == target == remaining_weights(parameters)
    assert len(result.remaining) == rounds + 1
    assert all(b <= a for a, b in zip(result.remaining, result.remaining[1:]))
    for earlier, later in zip(masks_seen, masks_seen[1:]):
        assert all(bool((l & ~e).sum() == 0) for e, l in zip(earlier, later))
    # pruned weights are exactly zero in the forward pass after retraining
    for weight, mask in zip(effective_weights(parameters), result.masks):
        assert bool((weight[~mask] == 0).all())


@given(sparsity=st.floats(0.0, 0.99), rounds=st.integers(1, 3))
def test_target_sparsity_is_count_based(sparsity, rounds):
    result = iterative_magnitude_pruning(mlp(0), train_fn(), target_sparsity=sparsity, rounds=rounds)
    assert result.remaining[-1] == max(1, int((1 - sparsity) * TOTAL + 0.5))


@pytest.mark.parametrize("rewind_iteration", [0, 2, STEPS])
def test_rewind_is_exact(rewind_iteration):
    """After every prune, surviving weights (and biases) equal their iteration-j values bitwise and
    pruned weights are 0. The iteration-j state comes from a separate run of exactly j steps."""
    reference = mlp(7)
    train_with_checkpoints(
        reference,
        *data(7),
        TrainConfig(optimizer="sgd", lr=0.05, batch_size=4, momentum=0.5, seed=7),
        [rewind_iteration],
        device="cpu",
    )
    at_j = {k: v.detach().clone() for k, v in reference.state_dict().items()}
    train, starts = recording(train_fn(7))
    model = mlp(7)
    result = iterative_magnitude_pruning(model, train, target_remaining=12, rounds=3, rewind_iteration=rewind_iteration)
    assert len(starts) == 4  # the dense run and three retrainings
    for key, value in at_j.items():
        assert torch.equal(result.rewind_state[key], value), key
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for start in starts[1:]:
        for name, weight in zip(names, start["effective"]):
            mask = start[f"{name}.weight_mask"].bool()
            assert torch.equal(weight[mask], at_j[f"{name}.weight"][mask])
            assert bool((weight[~mask] == 0).all())
            assert torch.equal(start[f"{name}.weight_orig"], at_j[f"{name}.weight"])
            assert torch.equal(start[f"{name}.bias"], at_j[f"{name}.bias"])


def test_one_shot_prunes_the_smallest_trained_weights():
    dense = mlp(3)
    train_fn(3)(dense, [], lambda t, m: None)
    trained = torch.cat([w.detach().abs().flatten() for w in effective_weights(prunable_parameters(dense))])
    model = mlp(3)
    result = one_shot_magnitude_pruning(model, train_fn(3), target_remaining=20, train_final=False)
    kept = torch.cat([mask.flatten() for mask in result.masks])
    assert int(kept.sum()) == 20
    assert trained[kept].min() >= trained[~kept].max()
    # without retraining the model is the rewound, masked initialisation
    init = mlp(3)
    for (module, _), original in zip(prunable_parameters(model), prunable_parameters(init)):
        assert torch.equal(module.weight, original[0].weight * module.weight_mask)


def brute_force_keep(weights, masks, keep):
    flat = [(abs(w), i) for i, (w, m) in enumerate(zip(weights, masks)) if m]
    chosen = {i for _, i in sorted(flat, key=lambda pair: (-pair[0], pair[1]))[:keep]}
    return [i in chosen for i in range(len(weights))]


@given(
    data=st.data(),
    size=st.integers(1, 25),
)
def test_global_magnitude_keep_matches_brute_force(data, size):
    values = data.draw(st.lists(st.integers(-4, 4).map(float), min_size=size, max_size=size))
    alive = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))
    keep = data.draw(st.integers(0, sum(alive)))
    split = data.draw(st.integers(0, size))
    weights = [torch.tensor(values[:split]), torch.tensor(values[split:])]
    masks = [torch.tensor(alive[:split], dtype=torch.bool), torch.tensor(alive[split:], dtype=torch.bool)]
    kept = torch.cat(global_magnitude_keep(weights, masks, keep)).tolist()
    assert kept == brute_force_keep(values, alive, keep)


@given(total=st.integers(1, 10_000), data=st.data())
def test_remaining_schedule_is_monotone_and_ends_at_target(total, data):
    target = data.draw(st.integers(1, total))
    rounds = data.draw(st.integers(1, 20))
    schedule = remaining_schedule(total, target, rounds)
    assert len(schedule) == rounds and schedule[-1] == target
    assert all(b <= a for a, b in zip([total] + schedule, schedule))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="exactly one"):
        iterative_magnitude_pruning(mlp(0), train_fn())
    with pytest.raises(ValueError, match="exactly one"):
        iterative_magnitude_pruning(mlp(0), train_fn(), target_sparsity=0.5, target_remaining=3)
    for sparsity in (-0.1, 1.0):
        with pytest.raises(ValueError, match="target_sparsity"):
            iterative_magnitude_pruning(mlp(0), train_fn(), target_sparsity=sparsity)
    for count in (0, TOTAL + 1):
        with pytest.raises(ValueError, match="target_remaining"):
            iterative_magnitude_pruning(mlp(0), train_fn(), target_remaining=count)
    with pytest.raises(ValueError, match="rounds"):
        iterative_magnitude_pruning(mlp(0), train_fn(), target_remaining=3, rounds=0)
    with pytest.raises(ValueError, match="rewind_iteration"):
        iterative_magnitude_pruning(mlp(0), train_fn(), target_remaining=3, rewind_iteration=-1)
    with pytest.raises(ValueError, match="checkpoints"):
        iterative_magnitude_pruning(mlp(0), train_fn(), target_remaining=3, rewind_iteration=STEPS + 1)
    with pytest.raises(ValueError, match="never called on_checkpoint"):
        iterative_magnitude_pruning(mlp(0), lambda m, c, cb: None, target_remaining=3)
    with pytest.raises(ValueError, match="no tensor"):
        model = mlp(0)
        iterative_magnitude_pruning(model, train_fn(), target_remaining=3, parameters=[(model[0], "scale")])
    with pytest.raises(ValueError, match="no layers"):
        prunable_parameters(nn.ReLU())
    with pytest.raises(ValueError, match="keep"):
        global_magnitude_keep([torch.ones(3)], [torch.ones(3, dtype=torch.bool)], 4)
    with pytest.raises(ValueError, match="finite"):
        global_magnitude_keep([torch.tensor([1.0, float("nan")])], [torch.ones(2, dtype=torch.bool)], 1)
    with pytest.raises(ValueError, match="steps"):
        trainer_from_config(*data(), TrainConfig(), -1)


def test_a_second_imp_continues_from_the_installed_masks():
    model = mlp(1)
    iterative_magnitude_pruning(model, train_fn(1), target_remaining=30, rounds=2)
    before = current_masks(prunable_parameters(model))
    result = iterative_magnitude_pruning(model, train_fn(1), target_remaining=10, rounds=2)
    assert result.remaining == [30, 17, 10]
    assert all(bool((l & ~e).sum() == 0) for e, l in zip(before, result.masks))
    with pytest.raises(ValueError, match="exceeds"):
        iterative_magnitude_pruning(model, train_fn(1), target_remaining=11)


def test_imp_on_a_conv_net_with_batchnorm_rewinds_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    X = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1] * 4)
    train = trainer_from_config(X, labels, TrainConfig(lr=0.1, loss="cross_entropy"), 3, device="cpu")
    result = one_shot_magnitude_pruning(model, train, target_sparsity=0.8, train_final=False)
    assert result.remaining[-1] == round(0.2 * (27 + 96))
    for key in ("1.running_mean", "1.running_var", "1.num_batches_tracked", "1.weight"):
        assert torch.equal(model.state_dict()[key], init[key])


def test_trainer_from_config_evaluates_the_full_data_only_at_start_and_end(monkeypatch):
    """With mini-batches a full-data loss per step would cost more than the training; IMP reads none."""
    import ebtheory.train as train_module

    X, Y = data()
    config = TrainConfig(optimizer="sgd", lr=0.05, batch_size=4, seed=1)
    calls = []
    real = train_module.loss_value
    monkeypatch.setattr(train_module, "loss_value", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    trained, reference = mlp(0), mlp(0)
    trainer_from_config(X, Y, config, 12)(trained, [0], lambda t, net: None)
    assert len(calls) == 2
    train_with_checkpoints(reference, X, Y, config, [12], keep_states=False)
    for a, b in zip(trained.parameters(), reference.parameters()):
        assert torch.equal(a, b)  # the same training, step for step
