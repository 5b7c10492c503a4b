"""Rate fit recovers planted rates, drift and radius against direct formulas, checks report failures."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from ebtheory.constants import diagnostics
from ebtheory.constants.diagnostics import (
    check,
    dense_rate_pointwise,
    drift_bound,
    fit_contraction_rate,
    lazy_drift_check,
    lazy_radius,
    step_size_requirement,
    weight_drift,
    width_requirement,
)


@given(st.floats(0.5, 0.9999), st.floats(1e-3, 1e6), st.integers(3, 300))
def test_noiseless_planted_rate_is_recovered(rate, initial, steps):
    losses = initial * rate ** np.arange(steps)
    fit = fit_contraction_rate(losses)
    assert fit.rate == pytest.approx(rate, rel=1e-9)
    assert fit.rate_ci[0] <= fit.rate <= fit.rate_ci[1]
    assert fit.rate_ci[1] - fit.rate_ci[0] < 1e-9
    assert math.exp(fit.intercept) == pytest.approx(initial, rel=1e-6)


@given(st.floats(0.8, 0.999), st.floats(0.001, 0.2), st.integers(0, 2**32 - 1))
def test_noisy_fit_matches_scipy_linregress(rate, noise, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(40)
    losses = 10.0 * rate**t * np.exp(noise * rng.standard_normal(40))
    fit = fit_contraction_rate(losses)
    reference = stats.linregress(t, np.log(losses))
    assert fit.slope == pytest.approx(reference.slope, rel=1e-9, abs=1e-12)
    assert fit.slope_stderr == pytest.approx(reference.stderr, rel=1e-9, abs=1e-12)


def test_confidence_interval_covers_planted_rate_at_nominal_level():
    rng = np.random.default_rng(0)
    t = np.arange(30)
    trials = 2000
    covered = 0
    for _ in range(trials):
        fit = fit_contraction_rate(5.0 * 0.97**t * np.exp(0.05 * rng.standard_normal(30)), confidence=0.9)
        covered += fit.rate_ci[0] <= 0.97 <= fit.rate_ci[1]
    # binomial(2000, 0.9): standard deviation 0.0067; 4 of them
    assert abs(covered / trials - 0.9) < 0.027


def test_fit_drops_round_off_floor_and_unrecorded_points():
    losses = 3.0 * 0.5 ** np.arange(80.0)  # reaches 1e-24: below the 1e-12 floor after ~40 steps
    losses[60:] = 1e-30
    losses[5] = np.nan
    fit = fit_contraction_rate(losses)
    assert fit.rate == pytest.approx(0.5, rel=1e-9)
    assert fit.t_last < 60 and fit.n_points < 60


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match=">= 3"):
        fit_contraction_rate([1.0, 0.5])
    with pytest.raises(ValueError, match="finite and >= 0"):
        fit_contraction_rate([1.0, -0.5, 0.2])
    with pytest.raises(ValueError, match="same length"):
        fit_contraction_rate([1.0, 0.5, 0.2], ts=[0, 1])
    with pytest.raises(ValueError, match="confidence"):
        fit_contraction_rate([1.0, 0.5, 0.2], confidence=1.0)


@given(st.integers(1, 20), st.integers(1, 6), st.integers(0, 1000))
def test_weight_drift_is_max_row_norm(N, d, seed):
    rng = np.random.default_rng(seed)
    W0, Wt = rng.standard_normal((N, d)), rng.standard_normal((N, d))
    expected = max(math.sqrt(sum((Wt[r, j] - W0[r, j]) ** 2 for j in range(d))) for r in range(N))
    assert weight_drift(W0, Wt) == pytest.approx(expected, rel=1e-12)


@given(st.integers(1, 10**4), st.integers(1, 10**5), st.floats(0, 1e4), st.floats(1e-4, 10))
def test_drift_bound_formula(m, N, residual, lam):
    """Du et al.'s bound on how far GD moves a neuron (Lemma 3.3), not the radius the proof needs."""
    assert drift_bound(m, N, residual, lam) == pytest.approx(math.sqrt(m) * residual / (math.sqrt(N) * lam), rel=1e-12)


@given(st.integers(1, 10**4), st.floats(1e-6, 10), st.floats(1e-3, 0.999), st.floats(1e-3, 1e3))
def test_lazy_radius_is_du_lemma_3_2_radius(m, lam, delta, kappa):
    """R = c kappa delta lambda0 / m^2 with c = 1 (Du et al. 2019, Lemma 3.2; kappa scales the init)."""
    assert lazy_radius(m, lam, delta, kappa) == pytest.approx(kappa * delta * lam / m**2, rel=1e-12)
    assert diagnostics.LAZY_RADIUS_CONSTANT == 1.0


def test_lazy_drift_compares_the_drift_with_the_proof_radius_not_the_drift_bound():
    m, lam, delta = 100, 0.02, 0.1
    radius = delta * lam / m**2  # 2e-7
    # A drift far inside Du et al.'s drift bound (here about 2) but outside R must fail the hypothesis.
    assert drift_bound(m, 64, 10.0, lam) > 1.0
    failed = lazy_drift_check(1e-3, m, lam, delta)
    assert failed.name == "lazy_drift" and not failed.holds and failed.reference == pytest.approx(radius)
    assert lazy_drift_check(0.5 * radius, m, lam, delta).holds
    with pytest.raises(ValueError, match="delta"):
        lazy_radius(m, lam, 1.0)
    with pytest.raises(ValueError, match="lambda0"):
        lazy_radius(m, 0.0, delta)


def test_width_and_step_requirements():
    assert width_requirement(10, 0.5, 0.1) == pytest.approx(10**6 / (0.5**4 * 0.1**3), rel=1e-12)
    assert width_requirement(10**6, 1e-4, 1e-3) == pytest.approx(1e36 / 1e-16 / 1e-9, rel=1e-9)
    assert step_size_requirement(100, 0.02) == pytest.approx(0.02 / 100**2)
    with pytest.raises(ValueError, match="delta"):
        width_requirement(10, 0.5, 1.5)


def test_pointwise_rate_check():
    losses = [4.0, 2.0, 1.2, 0.5]
    holds, worst = dense_rate_pointwise(losses, 0.6)
    assert holds and worst == pytest.approx(max(2.0 / 2.4, 1.2 / 1.44, 0.5 / 0.864))
    holds, worst = dense_rate_pointwise(losses, 0.5)
    assert not holds and worst == pytest.approx(1.2)


def test_check_reports_failure_without_hiding_it():
    failed = check("width", 512, ">=", 1e24, "c_N taken as 1")
    assert not failed.holds and failed.value == 512 and failed.reference == 1e24 and failed.constant == 1.0
    assert check("x", 1.0, "<=", 1.0).holds and not check("x", 1.0, "<", 1.0).holds
    assert set(failed.to_dict()) == {"name", "value", "relation", "reference", "holds", "constant", "note"}
    assert diagnostics.lazy_radius_expr().free_symbols  # the formula lives as a sympy expression
