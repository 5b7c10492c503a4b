"""H_inf against Monte Carlo and planted spectra; lambda0 solvers against each other; degenerate inputs."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.constants import gram
from ebtheory.constants.gram import gram_spectrum, h_inf, lambda0


def unit(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    X = rng.standard_normal((m, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def entry(s: float) -> float:
    """H_inf entry typed independently of ebtheory.symbolic."""
    return s * (math.pi - math.acos(s)) / (2 * math.pi)


def paired_inputs(angles: list[float]) -> np.ndarray:
    """Pair p spans its own plane {e_2p, e_2p+1}, at angle angles[p]: H_inf is block diagonal with
    blocks [[1/2, h], [h, 1/2]], h = entry(cos angle), so its spectrum is {1/2 +- h_p}."""
    X = np.zeros((2 * len(angles), 2 * len(angles)))
    for p, angle in enumerate(angles):
        X[2 * p, 2 * p] = 1.0
        X[2 * p + 1, 2 * p], X[2 * p + 1, 2 * p + 1] = math.cos(angle), math.sin(angle)
    return X


def test_h_inf_matches_monte_carlo_with_shrinking_tolerance():
    rng = np.random.default_rng(0)
    X = unit(rng, 6, 4)
    exact = h_inf(X)
    errors = []
    for samples in (1_000, 10_000, 100_000):
        W = rng.standard_normal((samples, 4))
        active = (X @ W.T >= 0).astype(float)
        estimate = (X @ X.T) * (active @ active.T) / samples
        error = np.abs(estimate - exact).max()
        # each entry is a mean of values in [-1, 1] with variance <= 1/4: 5 standard errors
        assert error <= 5 * 0.5 / math.sqrt(samples)
        errors.append(error)
    assert errors[-1] < errors[0]


@given(st.integers(1, 30), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_h_inf_symmetric_psd_with_half_diagonal(m, d, seed):
    X = unit(np.random.default_rng(seed), m, d)
    H = h_inf(X, chunk_size=7)
    assert np.allclose(H, H.T, atol=1e-15)
    assert np.all(np.diag(H) == 0.5)
    assert np.linalg.eigvalsh(H)[0] >= -1e-12 * m
    i, j = np.triu_indices(m, 1)
    expected = [entry(float(np.clip(X[a] @ X[b], -1, 1))) for a, b in zip(i[:20], j[:20])]
    assert np.allclose(H[i[:20], j[:20]], expected, atol=1e-7)  # acos itself loses ~1e-8 near |s| = 1


def test_h_inf_is_accurate_near_parallel_inputs():
    angle = 1e-9
    X = np.array([[1.0, 0.0], [math.cos(angle), math.sin(angle)]])
    h = entry(math.cos(angle))  # = cos(a)(pi - a)/(2pi); acos(cos a) cannot resolve a = 1e-9
    exact = math.cos(angle) * (math.pi - angle) / (2 * math.pi)
    assert abs(h_inf(X)[0, 1] - exact) < 1e-16
    assert abs(h - exact) > 1e-11  # the naive formula would be wrong here


@given(
    st.lists(st.floats(0.05, math.pi - 0.05), min_size=1, max_size=12),
    st.sampled_from(["dense", "shift-invert", "torch"]),
)
def test_lambda0_on_planted_block_spectrum(angles, method):
    X = paired_inputs(angles)
    h = max(abs(entry(math.cos(a))) for a in angles)
    result = lambda0(X, method=method)
    assert result.lambda_min == pytest.approx(0.5 - h, abs=1e-9)
    assert result.lambda_max == pytest.approx(0.5 + h, abs=1e-9)
    assert not result.degenerate and result.converged


def test_orthonormal_inputs_give_half():
    result = lambda0(np.eye(7))
    assert result.lambda_min == pytest.approx(0.5, abs=1e-14) and result.lambda_max == pytest.approx(0.5, abs=1e-14)


@given(st.integers(3, 60), st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_dense_shift_invert_and_numpy_agree(m, d, seed):
    X = unit(np.random.default_rng(seed), m, d)
    reference = np.linalg.eigvalsh(h_inf(X))
    dense = lambda0(X, method="dense")
    iterative = lambda0(X, method="shift-invert", tol=1e-10)
    scale = 1e-9 * reference[-1]
    for result in (dense, iterative):
        assert result.lambda_min == pytest.approx(reference[0], abs=scale)
        assert result.lambda_max == pytest.approx(reference[-1], rel=1e-8)


def test_auto_picks_shift_invert_for_large_m_and_agrees_with_dense():
    X = unit(np.random.default_rng(1), gram.DENSE_MAX_M + 50, 30)
    auto = lambda0(X)
    dense = lambda0(X, method="dense")
    assert auto.method == "shift-invert"
    assert auto.lambda_min == pytest.approx(dense.lambda_min, rel=1e-6)
    assert auto.lambda_max == pytest.approx(dense.lambda_max, rel=1e-8)


@pytest.mark.parametrize("method", ["dense", "shift-invert"])
def test_duplicate_inputs_give_zero_and_are_flagged(method):
    rng = np.random.default_rng(2)
    X = np.abs(unit(rng, 40, 300))  # pixel-like: nonnegative, many coordinates
    # exact copies, and copies turned by ~1e-13 rad: H_inf's smallest eigenvalue is then ~1e-13/(2 pi),
    # below round-off, but arccos of a cosine rounded to 1 - 1e-16 would put it near 1e-9
    X = np.vstack([X, X[:10], X[10:20] + 1e-13 * rng.standard_normal((10, 300))]) * 3.0
    result = lambda0(X, method=method, normalize=True)
    assert result.degenerate
    assert abs(result.lambda_min) <= result.roundoff_scale
    assert result.roundoff_scale == pytest.approx(60 * np.finfo(float).eps * result.lambda_max)
    assert not lambda0(X[:40], method=method, normalize=True).degenerate


def test_duplicates_whose_cosine_rounds_below_one_are_still_degenerate():
    # arccos(1 - 1.1e-16) = 1.5e-8: without the chord formula such a pair alone leaves lambda0 ~ 2e-9
    for seed in range(100):
        X = np.abs(np.random.default_rng(seed).standard_normal((6, 784)))
        unit_x = gram.unit_rows(X, normalize=True)
        inexact = [i for i in range(6) if float(unit_x[i] @ unit_x[i]) < 1.0]
        if inexact:
            break
    X = np.vstack([X, X[inexact[:1]]])
    result = lambda0(X, normalize=True)
    assert result.degenerate and abs(result.lambda_min) <= result.roundoff_scale


def test_float32_unit_rows_are_accepted_and_torch_tensors_too():
    X = torch.nn.functional.normalize(torch.randn(20, 6, generator=torch.Generator().manual_seed(0)), dim=1)
    assert lambda0(X).lambda_min == pytest.approx(lambda0(X.double().numpy()).lambda_min, rel=1e-5)


def test_normalize_projects_onto_sphere():
    X = unit(np.random.default_rng(3), 10, 4)
    scaled = X * np.arange(1, 11)[:, None]
    assert lambda0(scaled, normalize=True).lambda_min == pytest.approx(lambda0(X).lambda_min, rel=1e-12)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[1.0, 0.0], [np.nan, 1.0]]), "row 1 holds NaN"),
        (np.array([[1.0, 0.0], [0.0, np.inf]]), "finite"),
        (np.ones(3), "2-D"),
        (np.zeros((0, 3)), "2-D"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), "row 1 is zero"),
        (np.array([[1.0, 0.0], [0.0, 2.0]]), "row 1 has norm 2"),
    ],
)
def test_bad_inputs_raise_clear_errors(X, message):
    with pytest.raises(ValueError, match=message):
        lambda0(X)


def test_bad_solver_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        lambda0(np.eye(3), method="qr")
    with pytest.raises(ValueError, match="square"):
        gram_spectrum(np.ones((3, 4)))
    with pytest.raises(ValueError, match="tol must lie in"):
        gram_spectrum(np.eye(3), tol=2.0)
    with pytest.raises(ValueError, match="chunk_size"):
        h_inf(np.eye(3), chunk_size=0)
