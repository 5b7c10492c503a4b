"""Tests for ebtheory.prune.batchnorm: grouped batch-statistics normalisation against train-mode
BatchNorm one group at a time, and the re-estimate against a direct computation over all rows."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from ebtheory.models import ResidualCNN
from ebtheory.prune.batchnorm import batch_norms, normalise, reestimate_batch_norm


def _cnn(seed: int) -> ResidualCNN:
    model = ResidualCNN(1, 3, 8, widths=(3, 4), seed=seed).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in batch_norms(model):
            bn.weight.copy_(0.5 + torch.rand(bn.num_features, generator=generator, dtype=torch.float64))
            bn.bias.copy_(0.3 * torch.randn(bn.num_features, generator=generator, dtype=torch.float64))
    return model


def _images(m: int, seed: int) -> Tensor:
    return torch.randn(m, 1, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@given(st.integers(1, 4), st.integers(2, 6), st.integers(1, 5), st.integers(0, 1000))
def test_grouped_normalise_is_train_mode_batch_norm_per_group(groups, n, channels, seed):
    bn = nn.BatchNorm2d(channels).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels, generator=generator, dtype=torch.float64) + 0.5)
        bn.bias.copy_(torch.randn(channels, generator=generator, dtype=torch.float64))
        bn.running_mean.copy_(torch.randn(channels, generator=generator, dtype=torch.float64))
    x = torch.randn(groups * n, channels, 3, 2, generator=generator, dtype=torch.float64)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    grouped = normalise(bn, x, groups)
    assert all(torch.equal(before[k], v) for k, v in bn.state_dict().items())  # running buffers untouched
    for g in range(groups):  # interleaved: batch g is rows g, g + G, g + 2G, ...
        reference = copy.deepcopy(bn).train()
        torch.testing.assert_close(grouped[g::groups], reference(x[g::groups]))
    torch.testing.assert_close(normalise(bn, x, None), bn.eval()(x), rtol=0, atol=0)


def _inputs_seen(model: nn.Module, X: Tensor, batch_size: int) -> dict[str, Tensor]:
    """Slow twin: every BatchNorm's inputs over a train-mode pass in batches, concatenated."""
    twin = copy.deepcopy(model).train()
    seen: dict[str, list[Tensor]] = {}
    handles = [
        module.register_forward_pre_hook(lambda mod, args, name=name: seen.setdefault(name, []).append(args[0]))
        for name, module in twin.named_modules()
        if isinstance(module, nn.BatchNorm2d)
    ]
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            twin(X[start : start + batch_size])
    for handle in handles:
        handle.remove()
    return {name: torch.cat(parts) for name, parts in seen.items()}


@given(st.integers(2, 13), st.integers(2, 16), st.integers(0, 1000))
def test_reestimate_is_the_mean_and_unbiased_variance_over_all_rows(m, batch_size, seed):
    model = _cnn(seed)
    X = _images(m, seed + 1)
    if any(min(batch_size, m - start) == 1 for start in range(0, m, batch_size)):
        batch_size = m  # a one-row batch has one value per channel at 1x1 maps; torch refuses it
    inputs = _inputs_seen(model, X, batch_size)
    reestimate_batch_norm(model, X, batch_size=batch_size)
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            values = inputs[name].transpose(0, 1).flatten(1)  # (C, n)
            torch.testing.assert_close(module.running_mean, values.mean(dim=1))
            torch.testing.assert_close(module.running_var, values.var(dim=1, correction=1))


def test_reestimate_changes_only_running_statistics_and_keeps_modes():
    model = _cnn(3)
    model.train()
    model.blocks[0].eval()
    X = _images(20, 4)
    modes = {name: module.training for name, module in model.named_modules()}
    before = copy.deepcopy(model.state_dict())
    reestimate_batch_norm(model, X, batch_size=6)
    after = model.state_dict()
    changed = {name for name, value in after.items() if not torch.equal(value, before[name])}
    running = {name for name in after if name.endswith(("running_mean", "running_var"))}
    assert changed and changed <= running
    assert {name: module.training for name, module in model.named_modules()} == modes


def test_one_batch_reestimate_equals_a_full_batch_train_forward():
    model = _cnn(5)
    X = _images(9, 6)
    reference = copy.deepcopy(model).train()
    for bn in batch_norms(reference):
        bn.momentum = 1.0  # the running statistics become exactly those of this one batch
    with torch.no_grad():
        reference(X)
    reestimate_batch_norm(model, X, batch_size=100)
    for ours, theirs in zip(batch_norms(model), batch_norms(reference)):
        torch.testing.assert_close(ours.running_mean, theirs.running_mean)
        torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_reestimate_without_batch_norm_is_a_no_op_and_bad_arguments_raise():
    mlp = nn.Sequential(nn.Linear(3, 2))
    assert reestimate_batch_norm(mlp, torch.randn(4, 3)) is mlp
    with pytest.raises(ValueError, match="batch_size"):
        reestimate_batch_norm(_cnn(0), _images(4, 0), batch_size=0)
    with pytest.raises(ValueError, match="X must be"):
        reestimate_batch_norm(_cnn(0), torch.zeros(0, 64))
