"""The spectral predictor's formulas and numerics (docs/theory.md, section 9).

Oracles: the arc-cosine kernel against Monte Carlo and against an independently typed formula; the
spectral curve against the GD recursion it predicts (iterated on the m x m matrix) and against matrix
powers; the Lanczos method against the dense eigendecomposition to 1e-6 relative on real digits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebtheory import symbolic
from ebtheory.constants.gram import h_inf
from ebtheory.constants.spectral import arccos_kernel_matrix, spectral_dense_curve, spectral_measure


def unit(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    X = rng.standard_normal((m, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def kernel_entry(s: float) -> float:
    """K1 typed independently of ebtheory.symbolic."""
    theta = math.acos(max(-1.0, min(1.0, s)))
    return (math.sin(theta) + (math.pi - theta) * math.cos(theta)) / (2 * math.pi)


def one_hot_targets(rng: np.random.Generator, m: int, classes: int) -> np.ndarray:
    return np.eye(classes)[rng.integers(0, classes, m)]


# ------------------------------------------------------------------------------------------ formulas


def test_arccos_kernel_matches_monte_carlo():
    rng = np.random.default_rng(0)
    X = unit(rng, 5, 3)
    X[1] = -X[0]  # antipodal pair: K1 = 0
    w = rng.standard_normal((100_000, 3))
    features = np.maximum(X @ w.T, 0.0)
    estimate = features @ features.T / w.shape[0]
    standard_error = np.sqrt(np.var(features[:, None, :] * features[None, :, :], axis=2) / w.shape[0])
    exact = arccos_kernel_matrix(X)
    assert np.all(np.abs(estimate - exact) <= 5 * standard_error + 1e-12)
    assert exact[0, 1] == pytest.approx(0.0, abs=1e-15)
    assert np.allclose(np.diag(exact), 0.5)


def test_arccos_kernel_matrix_matches_the_typed_entry():
    rng = np.random.default_rng(1)
    X = unit(rng, 7, 4)
    exact = arccos_kernel_matrix(X)
    typed = np.array([[kernel_entry(float(a @ b)) for b in X] for a in X])
    assert np.allclose(exact, typed, rtol=0, atol=1e-14)


def test_arccos_kernel_is_h_inf_plus_the_sine_term():
    """K1(s) - H_inf(s) = sqrt(1 - s^2)/(2 pi): the two kernels differ by the sine term alone (sympy)."""
    difference = symbolic.arccos_kernel_cosine_expr() - symbolic.h_inf_entry_expr()
    target = sp.sqrt(1 - symbolic.cosine**2) / (2 * sp.pi)
    assert sp.simplify(difference - target) == 0


def test_mode_weight_and_pruned_model_match_typed_formulas():
    assert np.allclose(symbolic.spectral_mode_weights([1.0, 2.0], [0.5, 0.0], 10, 0.3), [1.0 + 10 * 0.09 * 0.5, 2.0])
    dense, m, k, eps, gamma, v, cap = np.array([30.0, 3.0]), 100, 64, 0.5, 0.1, np.array([100.0, 150.0]), 0.4
    c1 = 1 / (eps * (2 - eps)) + 1 / ((1 - eps) * k)
    assert symbolic.lemma_a_c1(k, eps) == pytest.approx(c1, rel=1e-14)
    typed = np.minimum(cap, c1 * dense / m + gamma * v / (2 * k))
    assert np.allclose(symbolic.pruned_curve_model(dense, m, k, c1, gamma, v, cap), typed, rtol=1e-14)
    assert symbolic.greedy_efficiency_theory(0.25) == pytest.approx(1 / 0.75)
    assert np.allclose(symbolic.per_example_time(0.01, 200, [0, 3]), [0.0, 6.0])
    assert np.allclose(symbolic.dilated_time([2.0, 0.5], [10.0, 10.0]), [20.0, 5.0])


def test_initial_spread_per_example_matches_networks_at_init():
    """E[V(0)]/m = C kappa^2 (N - 1)/2, against the measured spread of 60 seeded networks."""
    from ebtheory.models import TwoLayerNTK
    from ebtheory.prune.gfs import atom_spread

    rng = np.random.default_rng(2)
    X = torch.from_numpy(unit(rng, 20, 6))
    m, N, C, kappa = 20, 32, 3, 0.7
    spreads = []
    for seed in range(60):
        net = TwoLayerNTK(6, N, C, kappa=kappa, seed=seed).double()
        with torch.no_grad():
            spreads.append(atom_spread(net.hidden(X), net.readout()[0]) / m)
    mean, error = float(np.mean(spreads)), float(np.std(spreads) / math.sqrt(len(spreads)))
    assert abs(mean - symbolic.initial_spread_per_example(C, kappa, N)) <= 4 * error


def test_latex_of_every_spectral_expression():
    for name, expression in symbolic.spectral_expressions().items():
        assert symbolic.to_latex(expression), name
    assert r"\min" in symbolic.to_latex(symbolic.pruned_curve_model_expr())


# ------------------------------------------------------------------------------------- the curve


def gd_recursion_loss(H: np.ndarray, R0: np.ndarray, eta: float, ts: list[int]) -> np.ndarray:
    """The slow obvious twin: iterate R <- (I - eta H) R and record 1/2 ||R||^2 at each t."""
    out, R, step = [], R0.copy(), 0
    for t in ts:
        while step < t:
            R = R - eta * H @ R
            step += 1
        out.append(0.5 * float(np.sum(R**2)))
    return np.array(out)


@given(
    seed=st.integers(0, 10_000),
    m=st.integers(2, 12),
    d=st.integers(2, 6),
    eta_fraction=st.floats(0.05, 1.95),
)
def test_dense_curve_equals_the_gd_recursion(seed, m, d, eta_fraction):
    rng = np.random.default_rng(seed)
    X = unit(rng, m, d)
    Y = one_hot_targets(rng, m, 3)
    U0 = 0.3 * rng.standard_normal(Y.shape)
    H = h_inf(X)
    eta = eta_fraction / float(np.linalg.eigvalsh(H)[-1])
    ts = [0, 1, 2, 5, 17, 60]
    measure = spectral_measure(X, Y, init=U0, method="dense")
    assert np.allclose(measure.loss(eta, ts), gd_recursion_loss(H, Y - U0, eta, ts), rtol=1e-9, atol=1e-12)
    curve = measure.loss(eta, np.arange(0, 80))
    assert np.all(np.diff(curve) <= 1e-12 * curve[0])  # non-increasing: every |1 - eta lambda| <= 1


def test_expected_curve_equals_matrix_powers():
    """1/2 (tr(Y^T A Y) + C kappa^2 tr(A K1)) with A = (I - eta H)^(2t), by matrix powers."""
    rng = np.random.default_rng(3)
    X, Y = unit(rng, 15, 5), one_hot_targets(rng, 15, 4)
    kappa, H = 0.4, h_inf(X)
    eta = 1.0 / float(np.linalg.eigvalsh(H)[-1])
    K1 = arccos_kernel_matrix(X)
    measure = spectral_measure(X, Y, kappa=kappa, init="expected", method="dense")
    for t in (0, 1, 7, 40):
        A = np.linalg.matrix_power(np.eye(15) - eta * H, 2 * t)
        typed = 0.5 * (np.trace(Y.T @ A @ Y) + 4 * kappa**2 * np.trace(A @ K1))
        assert measure.loss(eta, [t])[0] == pytest.approx(typed, rel=1e-10)


def test_expected_curve_is_the_average_over_sampled_initial_outputs():
    rng = np.random.default_rng(4)
    X, Y = unit(rng, 10, 4), one_hot_targets(rng, 10, 2)
    kappa, H = 0.5, h_inf(X)
    eta = 0.8 / float(np.linalg.eigvalsh(H)[-1])
    root = np.linalg.cholesky(kappa**2 * arccos_kernel_matrix(X) + 1e-14 * np.eye(10))
    samples = [root @ rng.standard_normal(Y.shape) for _ in range(1000)]
    ts = [0, 3, 30]
    curves = np.array([spectral_measure(X, Y, init=U0, method="dense").loss(eta, ts) for U0 in samples])
    expected = spectral_measure(X, Y, kappa=kappa, init="expected").loss(eta, ts)
    error = curves.std(axis=0) / math.sqrt(len(samples))
    assert np.all(np.abs(curves.mean(axis=0) - expected) <= 5 * error)


@pytest.fixture(scope="module")
def digits_problem():
    """300 digits on the sphere, one-hot labels, eta = 1/lambda_max, an initial output, dense measures."""
    from ebtheory.data import flatten_unit_sphere, load_dataset, one_hot

    data = load_dataset("digits", None, seed=0)
    X = flatten_unit_sphere(data.X_train[:300]).double().numpy()
    Y = one_hot(data.y_train[:300], 10).double().numpy()
    U0 = 0.3 * np.random.default_rng(5).standard_normal(Y.shape)
    dense = {
        "zero": spectral_measure(X, Y, init="zero", method="dense"),
        "given": spectral_measure(X, Y, init=U0, method="dense"),
    }
    return X, Y, U0, 1.0 / float(dense["zero"].nodes.max()), dense


@pytest.mark.parametrize(
    "eta_fraction", [1.0, pytest.param(0.5, marks=pytest.mark.slow), pytest.param(1.9, marks=pytest.mark.slow)]
)
def test_lanczos_matches_dense_to_1e_6_on_digits(digits_problem, eta_fraction):
    X, Y, U0, eta_max, dense = digits_problem
    eta = eta_fraction * eta_max
    ts = np.concatenate([[0.0], np.unique(np.round(np.logspace(0, 4.3, 50)))])
    for name, init in (("zero", "zero"), ("given", U0)):
        exact = dense[name].loss(eta, ts)
        lanczos = spectral_measure(X, Y, init=init, method="lanczos", eta=eta, ts=ts)
        assert lanczos.converged and lanczos.steps < 300
        assert np.max(np.abs(lanczos.loss(eta, ts) - exact) / exact) <= 1e-6


def test_lanczos_is_exact_below_its_step_count_even_when_stopped_early(digits_problem):
    """Gauss quadrature with n nodes integrates degree <= 2n - 1 exactly, so t < n is exact."""
    X, Y, _, eta, dense = digits_problem
    early = spectral_measure(X, Y, init="zero", method="lanczos", eta=eta, ts=[10_000], max_steps=12, check_every=4)
    assert early.steps == 12 and not early.converged
    ts = np.arange(0, 12)
    assert np.allclose(early.loss(eta, ts), dense["zero"].loss(eta, ts), rtol=1e-9)
    assert not np.allclose(early.loss(eta, [5000]), dense["zero"].loss(eta, [5000]), rtol=1e-6)


def test_time_to_level_inverts_the_curve(digits_problem):
    _, _, _, eta, dense = digits_problem
    measure = dense["given"]
    for level in (100.0, 10.0, 1.0):
        time_at = measure.time_to_level(eta, level, 1e6)
        assert time_at is not None and measure.loss(eta, [time_at])[0] == pytest.approx(level, rel=1e-8)
    assert measure.time_to_level(eta, 1e-30, 10.0) is None
    assert measure.time_to_level(eta, 1e9, 10.0) == 0.0


def test_spectral_dense_curve_is_the_measure_loss(digits_problem):
    X, Y, *_ = digits_problem
    curve = spectral_dense_curve(X[:50], Y[:50], 0.05, [0, 10], init="zero")
    assert curve[0] == pytest.approx(0.5 * float(np.sum(Y[:50] ** 2)))


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda X, Y: spectral_dense_curve(X, Y, 10.0, [1]), "eta\\*lambda_i must lie in \\[0, 2\\]"),
        (lambda X, Y: spectral_dense_curve(X, Y, -1.0, [1]), "eta must lie in"),
        (lambda X, Y: spectral_dense_curve(X, Y[:3], 0.1, [1]), "one row per input"),
        (lambda X, Y: spectral_dense_curve(X, Y, 0.1, [-1.0]), "ts must be >= 0"),
        (lambda X, Y: spectral_measure(X, Y, method="lanczos", eta=0.1, ts=[1]), "init='expected' needs"),
        (lambda X, Y: spectral_measure(X, Y, init="zero", method="lanczos"), "needs eta"),
        (lambda X, Y: spectral_measure(X, Y, init=Y[:, :1]), "shape of Y"),
        (lambda X, Y: spectral_measure(X, Y, init="random"), "init must be one of"),
        (lambda X, Y: spectral_measure(X, Y, kappa=0.0), "kappa must lie in"),
        (lambda X, Y: spectral_measure(X * 2, Y), "unit-norm rows"),
        (lambda X, Y: spectral_measure(np.full_like(X, np.nan), Y), "finite"),
        (lambda X, Y: symbolic.arccos_kernel([4.0]), "angles must lie in \\[0, pi\\]"),
        (lambda X, Y: symbolic.pruned_curve_model([1.0], 10, 4, 0.5, 0.1, [1.0], 0.0), "cap \\(P0\\) must be > 0"),
        (lambda X, Y: symbolic.pruned_curve_model([1.0], 10, 4, -1.0, 0.1, [1.0], 1.0), "c1 must lie in"),
        (lambda X, Y: symbolic.lemma_a_c1(4, 1.5), "eps"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(call, message):
    rng = np.random.default_rng(6)
    X, Y = unit(rng, 6, 3), one_hot_targets(rng, 6, 2)
    with pytest.raises(ValueError, match=message):
        call(X, Y)


def test_bench_spectral_runs_and_reports_agreement(monkeypatch, capsys):
    """`ebtheory bench --which spectral --quick` at a planted tiny size: JSON rows, no time asserted."""
    import json

    from cli_helpers import run_cli

    from ebtheory.verify.bench import spectral_bench

    monkeypatch.setattr(spectral_bench, "QUICK_SIZES", (40,))
    code, out, err = run_cli(["bench", "--which", "spectral", "--quick"], capsys)
    assert code == 0, err
    rows = json.loads(out)["spectral"]["rows"]
    assert {row["method"] for row in rows} == {"dense", "lanczos"}
    lanczos = next(row for row in rows if row["method"] == "lanczos")
    assert lanczos["converged"] and lanczos["max_rel_diff"] <= 1e-6
