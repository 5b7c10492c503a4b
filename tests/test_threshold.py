"""Threshold detection (a)/(b) and the log-m fit, on planted data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.verify.threshold import fit_log_m, threshold_absolute, threshold_relative

grids = st.lists(st.integers(0, 5000), min_size=2, max_size=12, unique=True).map(sorted)
curves = st.lists(st.floats(0.0, 100.0), min_size=12, max_size=12)


def _first_reached_slow(ts, losses, level):
    for t, loss in zip(ts, losses):
        if loss <= level:
            return float(t)
    return None


@given(grids, curves, st.floats(1e-3, 2.0))
def test_relative_threshold_matches_a_plain_loop(ts, values, rel_tol):
    losses = values[: len(ts)]
    expected = _first_reached_slow(ts, losses, (1 + rel_tol) * losses[-1])
    assert threshold_relative(ts, losses, rel_tol) == expected


@given(grids, curves, st.floats(1e-3, 50.0))
def test_absolute_threshold_matches_a_plain_loop(ts, values, abs_tol):
    losses = values[: len(ts)]
    assert threshold_absolute(ts, losses, abs_tol) == _first_reached_slow(ts, losses, abs_tol)


@given(st.floats(0.01, 10.0), st.floats(1.0, 100.0), st.floats(1.0, 500.0), st.floats(0.01, 0.5))
def test_relative_threshold_on_planted_exponential_decay(plateau, amplitude, tau, rel_tol):
    # L(t) = plateau + A exp(-t / tau): the first grid t with A exp(-t/tau) <= rel_tol * plateau.
    ts = np.unique(np.round(np.geomspace(1, 20 * tau + 50 * math.log(amplitude / plateau / rel_tol + 2), 40)))
    ts = np.concatenate([[0.0], ts])
    losses = plateau + amplitude * np.exp(-ts / tau)
    t_true = tau * math.log(amplitude / (rel_tol * plateau)) if amplitude > rel_tol * plateau else 0.0
    t_hat = threshold_relative(ts, losses, rel_tol)
    previous = ts[max(np.searchsorted(ts, t_hat) - 1, 0)]
    assert previous <= t_true * (1 + 1e-9) + 1e-9 and t_hat >= t_true * (1 - 1e-9) - 1e-9 or t_hat == 0.0


def test_threshold_rejects_bad_input():
    with pytest.raises(ValueError, match="rel_tol"):
        threshold_relative([0, 1], [1.0, 0.5], 0.0)
    with pytest.raises(ValueError, match="ascending"):
        threshold_absolute([1, 0], [1.0, 0.5], 0.1)
    with pytest.raises(ValueError, match="finite"):
        threshold_absolute([0, 1], [float("nan"), 0.5], 0.1)


@given(
    st.floats(-100, 100),
    st.floats(-50, 50),
    st.lists(st.integers(2, 10**5), min_size=2, max_size=6, unique=True),
    st.integers(1, 5),
    st.integers(0, 2**16),
)
def test_log_fit_recovers_planted_line_and_matches_polyfit(alpha, beta, ms, n_seeds, seed):
    rng = np.random.default_rng(seed)
    data = {m: list(alpha + beta * math.log(m) + rng.normal(0, 1, n_seeds)) for m in ms}
    fit = fit_log_m(data, n_boot=50, seed=seed)
    xs = np.concatenate([[math.log(m)] * n_seeds for m in ms])
    ys = np.concatenate([data[m] for m in ms])
    slope, intercept = np.polyfit(xs, ys, 1)
    assert fit.beta == pytest.approx(slope, abs=1e-6) and fit.alpha == pytest.approx(intercept, abs=1e-5)
    assert fit.beta_low <= fit.beta_high and fit.n_points == len(ms) * n_seeds


@given(st.floats(-50, 50), st.lists(st.integers(2, 10**5), min_size=2, max_size=6, unique=True))
def test_log_fit_without_noise_has_a_point_ci(beta, ms):
    data = {m: [3.0 + beta * math.log(m)] * 3 for m in ms}
    fit = fit_log_m(data, n_boot=20)
    assert fit.beta_low == pytest.approx(beta, abs=1e-6) and fit.beta_high == pytest.approx(beta, abs=1e-6)


def test_log_fit_ci_covers_truth_and_detects_growth():
    rng = np.random.default_rng(1)
    ms = [100, 200, 400, 800, 1600]
    data = {m: list(10 + 20 * math.log(m) + rng.normal(0, 5, 5)) for m in ms}
    data[100].append(None)
    fit = fit_log_m(data, n_boot=500, seed=3)
    assert fit.beta_low < 20 < fit.beta_high and fit.beta_positive and fit.n_missing == 1
    assert fit_log_m(data, n_boot=500, seed=3) == fit  # seeded: reproducible
    flat = {m: list(rng.normal(50, 5, 5)) for m in ms}
    assert not fit_log_m(flat, n_boot=500, seed=3).beta_positive


def test_log_fit_needs_two_sizes():
    assert fit_log_m({100: [1.0, 2.0], 200: [None]}) is None
