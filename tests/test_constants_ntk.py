"""Empirical NTK: torch.func against the two-layer closed form, the matrix-free operator, and convergence to H_inf."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.constants.gram import h_inf
from ebtheory.constants.ntk import (
    empirical_ntk_gram,
    empirical_ntk_jacobian,
    two_layer_ntk_gram,
    two_layer_ntk_lambda_max,
    two_layer_ntk_operator,
)
from ebtheory.models import MeanFieldTwoLayer, TwoLayerNTK


def unit_inputs(m: int, d: int, seed: int) -> torch.Tensor:
    X = torch.randn(m, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


@given(
    st.integers(1, 9),
    st.integers(1, 6),
    st.integers(1, 40),
    st.integers(1, 3),
    st.sampled_from(["signs", "vectors"]),
    st.sampled_from(["mean", "full"]),
    st.integers(0, 1000),
)
def test_torch_func_gram_matches_closed_form(m, d, width, outputs, mode, reduction, seed):
    X = unit_inputs(m, d, seed)
    model = TwoLayerNTK(d, width, outputs=outputs, output_mode=mode, kappa=0.7, seed=seed).double()
    W2, _ = model.readout()
    slow = empirical_ntk_gram(model, X, outputs=reduction, chunk_size=4)
    fast = two_layer_ntk_gram(X, model.input_weights, W2, outputs=reduction)
    assert slow.shape == fast.shape == ((m, m) if reduction == "mean" else (m * outputs, m * outputs))
    np.testing.assert_allclose(slow, fast, atol=1e-12)


def test_mean_reduction_is_average_of_diagonal_blocks():
    X = unit_inputs(5, 4, 0)
    model = TwoLayerNTK(4, 30, outputs=3, seed=1).double()
    full = empirical_ntk_gram(model, X, outputs="full").reshape(5, 3, 5, 3)
    mean = empirical_ntk_gram(model, X, outputs="mean")
    np.testing.assert_allclose(mean, np.einsum("icjc->ij", full) / 3, atol=1e-13)


def test_jacobian_covers_only_trained_parameters():
    X = unit_inputs(4, 3, 1)
    ntk = TwoLayerNTK(3, 10, outputs=2, seed=0).double()
    assert empirical_ntk_jacobian(ntk, X).shape == (4, 2, 30)  # W only: signs are a buffer
    mean_field = MeanFieldTwoLayer(3, 10, outputs=2, seed=0).double()
    trained = sum(p.numel() for p in mean_field.parameters() if p.requires_grad)
    assert empirical_ntk_jacobian(mean_field, X).shape == (4, 2, trained)


@given(st.integers(1, 8), st.integers(1, 5), st.integers(1, 30), st.integers(1, 3), st.integers(0, 1000))
def test_operator_matches_full_gram_and_lambda_max(m, d, width, outputs, seed):
    X = unit_inputs(m, d, seed)
    model = TwoLayerNTK(d, width, outputs=outputs, seed=seed).double()
    W2, _ = model.readout()
    full = two_layer_ntk_gram(X, model.input_weights, W2, outputs="full")
    operator = two_layer_ntk_operator(X, model.input_weights, W2)
    v = np.random.default_rng(seed).standard_normal(m * outputs)
    np.testing.assert_allclose(operator @ v, full @ v, atol=1e-12)
    expected = np.linalg.eigvalsh(full)[-1]
    assert two_layer_ntk_lambda_max(X, model.input_weights, W2, tol=1e-12) == pytest.approx(
        expected, rel=1e-8, abs=1e-12
    )


def test_empirical_gram_approaches_h_inf_as_width_grows():
    X = unit_inputs(12, 5, 3)
    target = h_inf(X.numpy())
    errors = []
    for width in (256, 1024, 4096):
        # average over seeds so the decrease (expected 1/sqrt(N)) is not a coin flip
        per_seed = []
        for seed in range(4):
            model = TwoLayerNTK(5, width, kappa=1.0, seed=seed).double()
            gram = empirical_ntk_gram(model, X, chunk_size=5)
            per_seed.append(np.linalg.norm(gram - target) / np.linalg.norm(target))
        errors.append(float(np.mean(per_seed)))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < errors[0] / 2.5  # 1/sqrt(N) predicts a factor 4


def test_bad_inputs():
    model = TwoLayerNTK(3, 5).double()
    with pytest.raises(ValueError, match="outputs must be one of"):
        empirical_ntk_gram(model, unit_inputs(2, 3, 0), outputs="trace")
    with pytest.raises(ValueError, match="finite"):
        empirical_ntk_gram(model, torch.full((2, 3), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="matching d and N"):
        two_layer_ntk_gram(unit_inputs(2, 3, 0), torch.zeros(5, 4), torch.zeros(5, 1))
    frozen = TwoLayerNTK(3, 5).double().requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        empirical_ntk_jacobian(frozen, unit_inputs(2, 3, 0))
