"""The analysis layer's pure parts: thresholds (a), (b), (c) with interpolation and censoring, the fits
across m, and the time units (ebtheory.verify.analysis; docs/theory.md, sections 5.5 and 7)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ebtheory.verify.analysis.fits import (
    Observation,
    bootstrap_slopes,
    censored_log_fit,
    fit_line,
    fit_thresholds,
    resample_indices,
    resolution_of,
    round_to,
)
from ebtheory.verify.analysis.thresholds import (
    antitonic_fit,
    first_crossing,
    interpolate_log_t,
    threshold_absolute,
    threshold_accuracy,
    threshold_relative,
)
from ebtheory.verify.analysis.timeunits import comparison_unit, prediction_scale, time_scale
from ebtheory.verify.presets import TINY
from ebtheory.verify.records import Prediction

grids = st.lists(st.integers(0, 5000), min_size=2, max_size=12, unique=True).map(sorted)
curves = st.lists(st.floats(0.0, 100.0), min_size=12, max_size=12)


def _first_index_slow(values, level):
    for index, value in enumerate(values):
        if value <= level:
            return index
    return None


# ---------------------------------------------------------------------------------- crossing


@given(grids, curves, st.floats(0.0, 100.0))
def test_first_crossing_against_a_plain_loop(ts, values, level):
    losses = values[: len(ts)]
    crossing = first_crossing(ts, losses, level)
    index = _first_index_slow(losses, level)
    if index is None:
        assert crossing.censoring == "right" and crossing.t == ts[-1] and crossing.index is None
    elif index == 0:
        assert crossing.censoring == "left" and crossing.t == ts[0]
    else:
        assert crossing.censoring == "none" and crossing.index == index
        assert ts[index - 1] <= crossing.t <= ts[index]  # interpolated inside the bracket


@given(st.floats(1.0, 1e4), st.floats(1.01, 100.0), st.floats(0.0, 1.0), st.floats(-5.0, 5.0), st.floats(0.1, 5.0))
def test_interpolation_is_exact_for_a_curve_linear_in_log_t(t_lo, ratio, fraction, intercept, slope):
    # l(t) = intercept - slope ln t: its level crossing is recovered exactly from two checkpoints.
    t_hi = t_lo * ratio
    t_true = math.exp(math.log(t_lo) + fraction * math.log(ratio))
    level = intercept - slope * math.log(t_true)
    found = interpolate_log_t(t_lo, t_hi, intercept - slope * math.log(t_lo), intercept - slope * math.log(t_hi), level)
    assert found == pytest.approx(t_true, rel=1e-9)


def test_interpolation_from_t_zero_is_linear_in_t():
    assert interpolate_log_t(0.0, 10.0, 1.0, 0.0, 0.25) == pytest.approx(7.5)
    with pytest.raises(ValueError, match="t_lo"):
        interpolate_log_t(5.0, 5.0, 1.0, 0.0, 0.5)


# ---------------------------------------------------------------------------------- antitonic


def _antitonic_slow(values):
    """Decreasing least squares by its min-max formula: f_i = min_{j <= i} max_{l >= i} mean(v[j..l])."""
    n = len(values)
    return [
        min(max(float(np.mean(values[j : last + 1])) for last in range(i, n)) for j in range(i + 1)) for i in range(n)
    ]


@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=10))
def test_antitonic_fit_against_its_min_max_formula(values):
    fit = antitonic_fit(values)
    np.testing.assert_allclose(fit, _antitonic_slow(values), rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(fit) <= 1e-12)


# ------------------------------------------------------------------------------ definitions


@given(st.floats(0.01, 10.0), st.floats(1.0, 100.0), st.floats(1.0, 500.0), st.floats(0.01, 0.5))
def test_relative_threshold_brackets_the_true_crossing_of_a_planted_decay(plateau, amplitude, tau, rel_tol):
    # l(t) = plateau + A exp(-t / tau), a grid long enough to settle: the true crossing of
    # (1 + rel_tol) plateau lies in the bracket the interpolated threshold lies in.
    assume(amplitude > 2 * rel_tol * plateau)
    ts = np.concatenate([[0.0], np.unique(np.round(np.geomspace(1, 60 * tau + 1000, 50)))])
    losses = plateau + amplitude * np.exp(-ts / tau)
    result = threshold_relative(ts, losses, rel_tol)
    level = (1 + rel_tol) * float(antitonic_fit(losses)[-1])
    t_true = tau * math.log(amplitude / (level - plateau))
    assert result.crossing.censoring == "none"
    j = result.crossing.index
    assert ts[j - 1] <= t_true <= ts[j] and ts[j - 1] <= result.crossing.t <= ts[j]


def test_relative_threshold_reads_the_minimum_not_the_last_value_of_a_u_shaped_curve():
    ts = [0, 1, 3, 10, 30, 100, 300, 1000]
    losses = [1.0, 0.5, 0.3, 0.2, 0.10, 0.12, 0.2, 0.3]  # minimum at t = 30, then it triples
    result = threshold_relative(ts, losses, 0.05)
    assert result.t_min == 30 and result.rise == pytest.approx(2.0)
    # the antitonic fit pools the rise into its last block: mean(0.10, 0.12, 0.2, 0.3) = 0.18
    assert result.level == pytest.approx(1.05 * 0.18)
    assert 10 < result.crossing.t < 30 and result.crossing.censoring == "none"
    # measured against the last value (the old definition) the threshold lands before t = 3, when
    # the pruned loss is still three times its minimum
    old = first_crossing(ts, losses, 1.05 * losses[-1])
    assert 1 < old.t < 3


def test_censoring_flags():
    ts = [0, 10, 100]
    assert threshold_absolute(ts, [0.05, 0.04, 0.03], 0.1).crossing.censoring == "left"
    never = threshold_absolute(ts, [0.5, 0.4, 0.3], 0.1).crossing
    assert never.censoring == "right" and never.t == 100
    # still falling at the end: (a) first met at the last checkpoint is right-censored
    assert threshold_relative(ts, [1.0, 0.5, 0.1], 0.05).crossing.censoring == "right"
    assert threshold_relative(ts, [1.0, 0.1, 0.1], 0.05).crossing.censoring == "none"


def test_accuracy_threshold_within_one_point_of_the_best():
    ts = [0, 1, 10, 100, 1000]
    result = threshold_accuracy(ts, [0.2, 0.5, 0.795, 0.80, 0.78])
    assert result.level == pytest.approx(0.79) and result.t_min == 100 and result.rise == pytest.approx(0.02)
    assert 1 < result.crossing.t < 10 and result.crossing.censoring == "none"
    assert threshold_accuracy(ts, [0.2, 0.3, 0.4, 0.5, 0.9]).crossing.censoring == "right"


def test_thresholds_reject_bad_input():
    with pytest.raises(ValueError, match="rel_tol"):
        threshold_relative([0, 1], [1.0, 0.5], 0.0)
    with pytest.raises(ValueError, match="ascending"):
        threshold_absolute([1, 0], [1.0, 0.5], 0.1)
    with pytest.raises(ValueError, match="finite"):
        threshold_absolute([0, 1], [float("nan"), 0.5], 0.1)
    with pytest.raises(ValueError, match="points"):
        threshold_accuracy([0, 1], [0.1, 0.2], points=1.5)


# ------------------------------------------------------------------------------------ fits


def _observations(data: dict[int, list[float]]) -> list[Observation]:
    return [Observation(m=m, value=v, censoring="none") for m, values in data.items() for v in values]


@given(
    st.floats(-100, 100),
    st.floats(-50, 50),
    st.lists(st.integers(2, 10**5), min_size=3, max_size=6, unique=True),
    st.integers(2, 5),
    st.integers(0, 2**16),
)
def test_log_fit_matches_polyfit_and_the_t_interval_matches_its_formula(alpha, beta, ms, n_seeds, seed):
    rng = np.random.default_rng(seed)
    data = {m: list(alpha + beta * math.log(m) + rng.normal(0, 1, n_seeds)) for m in ms}
    fit = fit_line("log", _observations(data), n_boot=50, seed=seed)
    assert not isinstance(fit, str)
    xs = np.concatenate([[math.log(m)] * n_seeds for m in ms])
    ys = np.concatenate([data[m] for m in ms])
    slope, intercept = np.polyfit(xs, ys, 1)
    assert fit.slope == pytest.approx(slope, abs=1e-6) and fit.intercept == pytest.approx(intercept, abs=1e-5)
    residuals = ys - (intercept + slope * xs)
    stderr = math.sqrt(float(residuals @ residuals) / (len(ys) - 2) / float(np.sum((xs - xs.mean()) ** 2)))
    from scipy.stats import t as student

    half = stderr * student.ppf(0.975, len(ys) - 2)
    assert fit.slope_ci_t is not None
    assert fit.slope_ci_t.low == pytest.approx(slope - half, abs=2 * fit.resolution)
    assert fit.slope_ci_t.high == pytest.approx(slope + half, abs=2 * fit.resolution)


@given(st.lists(st.integers(2, 1000), min_size=2, max_size=4, unique=True), st.integers(1, 4), st.integers(0, 99))
def test_bootstrap_slopes_against_a_loop_over_the_resamples(ms, n_seeds, seed):
    rng = np.random.default_rng(seed)
    cells = np.repeat(np.array(sorted(ms)), n_seeds)
    x = np.log(cells.astype(float))
    y = rng.normal(size=cells.size)
    fast = bootstrap_slopes(x, y, cells, 7, seed)
    for row, index in zip(fast, resample_indices(cells, 7, seed)):
        assert np.all(cells[index] == cells)  # every resample keeps each m's count
        assert row == pytest.approx(np.polyfit(x, y[index], 1)[0], abs=1e-9)


def test_power_law_recovered_and_preferred_by_leave_one_m_out():
    rng = np.random.default_rng(0)
    ms = [100, 200, 400, 800, 1600]
    power = {m: list(3.0 * m**1.5 * np.exp(rng.normal(0, 0.02, 4))) for m in ms}
    fits = fit_thresholds("tau", _observations(power), n_boot=200)
    assert fits.power is not None and fits.power.slope == pytest.approx(1.5, abs=0.05)
    assert fits.better == "power" and fits.grows == "yes"
    logarithmic = {m: list(10 + 20 * math.log(m) + rng.normal(0, 1, 4)) for m in ms}
    fits = fit_thresholds("tau", _observations(logarithmic), n_boot=200)
    assert fits.better == "log" and fits.log is not None and fits.log.slope == pytest.approx(20, abs=2)


def test_a_zero_width_bootstrap_is_degenerate_and_rounding_prints_zero():
    # seeds sharing values: every resample equal, as on a coarse grid
    data = {m: [5.0 + 2.0 * math.log(m)] * 3 for m in (10, 20, 40, 80)}
    fit = fit_line("log", _observations(data), n_boot=100)
    assert not isinstance(fit, str) and fit.slope_ci_bootstrap.degenerate
    fits = fit_thresholds("tau", _observations(data), n_boot=100)
    assert fits.grows == "undetermined"  # no usable CI: not "yes" from a point interval
    assert round_to(-1.78e-12, resolution_of(51.1)) == 0.0 and str(round_to(-1.78e-12, resolution_of(51.1))) == "0.0"


def test_right_censored_cells_go_to_the_censored_fit_not_silently_dropped():
    rng = np.random.default_rng(3)
    ms = [100, 200, 400, 800, 1600]
    cap = 10 + 20 * math.log(800)
    observations = []
    for m in ms:
        for _ in range(12):
            value = 10 + 20 * math.log(m) + rng.normal(0, 8)
            observations.append(Observation(m, min(value, cap), "right" if value > cap else "none"))
    fits = fit_thresholds("tau", observations, n_boot=200)
    assert fits.n_right > 0 and fits.censored is not None
    assert "censored" in fits.reasons["grows"]
    naive = fits.log
    assert naive is not None
    # dropping the censored cells biases the slope down; the censored fit recovers it
    assert abs(fits.censored.beta - 20) < abs(naive.slope - 20)
    assert fits.censored.beta_ci.low < 20 < fits.censored.beta_ci.high and fits.grows == "yes"


def test_censored_fit_refuses_with_a_reason_when_too_little_is_uncensored():
    observations = [Observation(100, 5.0, "none"), Observation(200, 50.0, "right"), Observation(400, 50.0, "right")]
    reason = censored_log_fit(observations)
    assert isinstance(reason, str) and "uncensored" in reason
    fits = fit_thresholds("tau", observations, n_boot=10)
    assert fits.grows == "undetermined" and "censored" in fits.reasons["grows"]


def test_fits_reject_bad_input():
    with pytest.raises(ValueError, match="model"):
        fit_line("cubic", [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        fit_line("log", [], level=1.5)


# ------------------------------------------------------------------------------ time units


def test_time_units_of_gd_and_sgd():
    assert comparison_unit(TINY) == "tau" and time_scale(TINY, 16, "iterations") == 1.0
    assert time_scale(TINY, 16, "tau") == pytest.approx(TINY.eta * 16)  # sum loss: eta m
    inverse = dataclasses.replace(TINY, eta_scaling="inverse_m")
    # the same per-example step at every m: tau per iteration is eta max(ms) for all m
    assert {round(time_scale(inverse, m, "tau") or 0, 12) for m in inverse.ms} == {round(TINY.eta * 48, 12)}
    mean = dataclasses.replace(TINY, train_loss="mean_squares")
    assert time_scale(mean, 16, "tau") == pytest.approx(TINY.eta)
    sgd = dataclasses.replace(TINY, optimizer="sgd", batch_size=8)
    assert comparison_unit(sgd) == "epochs" and time_scale(sgd, 16, "epochs") == 0.5
    assert time_scale(sgd, 16, "tau") is None
    prediction = Prediction(
        eta=0.5, t_star=10.0, t_star_upper=11.0, tol=1.0, c1=1.0, L0_bound=1.0, t_star_measured_L0=None
    )
    assert prediction_scale(prediction, 16, "tau") == 8.0
    with pytest.raises(ValueError, match="time unit"):
        time_scale(TINY, 16, "seconds")


def test_tau_is_the_symbolic_per_example_time():
    from ebtheory import symbolic

    if not hasattr(symbolic, "per_example_time"):
        pytest.skip("ebtheory.symbolic.per_example_time not present in this checkout")
    ts = np.array([0.0, 3.0, 100.0])
    expected = symbolic.per_example_time(TINY.eta, 24, ts)
    np.testing.assert_allclose([t * time_scale(TINY, 24, "tau") for t in ts], expected, rtol=1e-12)
