"""The automatic fine-tuning step of a subnetwork: between 1/(2 (1 + tol) lambda_max) and 1/lambda_max of its
Gauss-Newton matrix J J^T over both trained layers, checked against the torch.func empirical NTK."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebtheory.constants import empirical_ntk_gram
from ebtheory.prune.gfs import pruned_two_layer
from ebtheory.verify.context import UnitContext, UnitData
from ebtheory.verify.families import FAMILIES, FINETUNE_LANCZOS_TOL
from ebtheory.verify.presets import TINY
from ebtheory.verify.spec import ExperimentSpec


def _context(spec: ExperimentSpec, data: UnitData) -> UnitContext:
    return UnitContext(spec=spec, m=int(data.X.shape[0]), seed=0, data=data, device=torch.device("cpu"))


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), m=st.integers(3, 12), n=st.integers(2, 8), k=st.integers(1, 6))
def test_auto_step_is_within_a_factor_two_of_the_stability_scale(seed: int, m: int, n: int, k: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    d, classes = 5, 3
    X = torch.randn(m, d, generator=generator, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    W1 = torch.randn(n, d, generator=generator, dtype=torch.float64)
    W2 = torch.randn(n, classes, generator=generator, dtype=torch.float64) / n**0.5
    counts = torch.bincount(torch.randint(0, n, (k,), generator=generator), minlength=n)
    subnet = pruned_two_layer(W1, W2, counts)
    labels = torch.zeros(m, dtype=torch.long)
    data = UnitData(
        X=X,
        Y=torch.zeros(m, classes, dtype=torch.float64),
        y=labels,
        X_test=X,
        y_test=labels,
        num_classes=classes,
        input_shape=(d,),
    )
    spec = dataclasses.replace(TINY, finetune_eta=0.0)
    step = FAMILIES["ntk"].finetune_step(_context(spec, data), subnet)
    gauss_newton = empirical_ntk_gram(subnet, X, outputs="full")
    lambda_max = float(np.linalg.eigvalsh(gauss_newton)[-1])
    if lambda_max == 0:  # every chosen neuron dead on X: no gradient, any finite step
        assert np.isfinite(step) and step > 0
        return
    slack = 1 + FINETUNE_LANCZOS_TOL  # the Lanczos Ritz value is raised by its tolerance
    assert 1 / (2 * slack * lambda_max) * (1 - 1e-9) <= step <= 1 / lambda_max * (1 + 1e-9)


def test_explicit_step_is_used_and_cnn_needs_one() -> None:
    spec = dataclasses.replace(TINY, finetune_eta=0.03)
    empty = torch.zeros(16, 2)
    data = UnitData(X=empty, Y=empty, y=empty, X_test=empty, y_test=empty, num_classes=2, input_shape=(2,))
    assert FAMILIES["ntk"].finetune_step(_context(spec, data), torch.nn.Identity()) == 0.03
    assert FAMILIES["deep_mlp"].finetune_step(_context(spec, data), torch.nn.Identity()) == 0.03
    with pytest.raises(ValueError, match="finetune_eta"):
        ExperimentSpec(model="cnn", finetune_eta=0.0)


def _random_subnet_and_data(seed: int, m: int, n: int = 6, k: int = 5, d: int = 5, classes: int = 3):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=generator, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    W1 = torch.randn(n, d, generator=generator, dtype=torch.float64)
    W2 = torch.randn(n, classes, generator=generator, dtype=torch.float64) / n**0.5
    counts = torch.bincount(torch.randint(0, n, (k,), generator=generator), minlength=n)
    labels = torch.zeros(m, dtype=torch.long)
    data = UnitData(
        X=X, Y=torch.zeros(m, classes), y=labels, X_test=X, y_test=labels, num_classes=classes, input_shape=(d,)
    )
    return pruned_two_layer(W1, W2, counts), data


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), m=st.integers(20, 40))
def test_auto_step_of_a_mean_loss_is_m_times_the_sum_loss_step(seed: int, m: int) -> None:
    """The Gauss-Newton matrix of the mean loss is the sum loss's divided by m, so its 1/lambda_max is m times."""
    subnet, data = _random_subnet_and_data(seed, m)
    summed = dataclasses.replace(TINY, finetune_eta=0.0)
    mean = dataclasses.replace(summed, train_loss="mean_squares")
    family = FAMILIES["ntk"]
    step_sum = family.finetune_step(_context(summed, data), subnet)
    step_mean = family.finetune_step(_context(mean, data), subnet)
    assert step_mean == pytest.approx(m * step_sum, rel=1e-12)


def test_auto_step_of_a_mean_loss_above_the_cap_is_measured_on_a_seeded_subset(monkeypatch) -> None:
    """Above AUTO_STEP_MAX_EXAMPLES the step is n / lambda_max on n seeded examples: the same as the
    sum-loss step of the unit restricted to that subset, times n."""
    from ebtheory.verify import families

    monkeypatch.setattr(families, "AUTO_STEP_MAX_EXAMPLES", 12)
    m, seed = 40, 0
    subnet, data = _random_subnet_and_data(7, m)
    mean = dataclasses.replace(TINY, finetune_eta=0.0, train_loss="mean_squares")
    step = FAMILIES["ntk"].finetune_step(_context(mean, data), subnet)
    chosen = torch.randperm(m, generator=torch.Generator().manual_seed(seed))[:12].sort().values
    subset = dataclasses.replace(data, X=data.X[chosen].clone(), Y=data.Y[chosen], y=data.y[chosen])
    summed = dataclasses.replace(TINY, finetune_eta=0.0)
    on_subset = FAMILIES["ntk"].finetune_step(_context(summed, subset), subnet)
    assert step == pytest.approx(12 * on_subset, rel=1e-12)
    assert FAMILIES["ntk"].finetune_step(_context(mean, data), subnet) == step  # deterministic


def test_auto_step_of_cross_entropy_is_the_per_example_squared_loss_step() -> None:
    """Cross-entropy is a per-example loss whose output Hessian is at most I/2: it takes the mean-squares step."""
    subnet, data = _random_subnet_and_data(3, 30)
    steps = {
        loss: FAMILIES["ntk"].finetune_step(
            _context(dataclasses.replace(TINY, finetune_eta=0.0, train_loss=loss), data), subnet
        )
        for loss in ("mean_squares", "cross_entropy")
    }
    assert steps["cross_entropy"] == steps["mean_squares"]
