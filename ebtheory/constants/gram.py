"""The infinite-width Gram matrix H_inf and its extreme eigenvalues lambda0 = lambda_min, lambda_max.

H_inf[i, j] = s (pi - arccos s) / (2 pi), s = x_i . x_j (Du, Zhai, Poczos, Singh, ICLR 2019, eq. 3.1;
docs/theory.md, section 1; the entry is `ebtheory.symbolic.h_inf_entry_expr`, lambdified here). Built in float64 in
row chunks, with the cosine clipped to [-1, 1].

Eigensolvers (`method`):
  dense         scipy.linalg.eigvalsh, all eigenvalues: O(m^3), the choice up to m = DENSE_MAX_M.
  shift-invert  Cholesky of H + tau I (tau = the round-off scale, so it factors even when H is singular),
                then Lanczos (scipy eigsh) on (H + tau I)^{-1} for its largest eigenvalue 1/(lambda_min + tau);
                lambda_max by Lanczos on H. One O(m^3/3) factorisation and cheap triangular solves.
  torch         torch.linalg.eigvalsh in float64 on `device` (a GPU when there is one).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import sympy as sp
import torch

from ebtheory import symbolic
from ebtheory.validation import require_choice, require_positive_int

METHODS = ("auto", "dense", "shift-invert", "torch")
DENSE_MAX_M = 1000
UNIT_NORM_RTOL = 1e-4
FLOAT64_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Spectrum:
    """Extreme eigenvalues of a symmetric PSD Gram matrix (H_inf or an empirical NTK Gram).

    degenerate: lambda_min <= roundoff_scale = m * eps_float64 * lambda_max, i.e. lambda_min is zero
    to within the round-off of the eigensolver (duplicate inputs, too few features). converged: the
    iterative solver met its tolerance (always True for dense solvers); residual: its relative residual."""

    lambda_min: float
    lambda_max: float
    method: str
    degenerate: bool
    roundoff_scale: float
    m: int
    converged: bool = True
    residual: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float | int | str | bool]:
        return asdict(self)


def as_float64_matrix(name: str, X: object) -> np.ndarray:
    """X as a finite 2-D float64 numpy array with at least one row, else ValueError naming `name`."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().to(torch.float64).numpy()
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D matrix (m rows >= 1, d columns >= 1); got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.argwhere(~np.isfinite(array))[0][0])
        raise ValueError(f"{name} must be finite; row {bad} holds NaN or inf")
    return array


def unit_rows(X: object, *, normalize: bool = False) -> np.ndarray:
    """Rows of X in float64 with norm exactly 1 (up to float64 round-off).

    normalize=False: every row must already have norm 1 within relative tolerance UNIT_NORM_RTOL (a
    float32 normalisation passes) and is renormalised in float64. normalize=True: any nonzero row is
    divided by its norm. Zero rows are rejected either way (they have no direction)."""
    array = as_float64_matrix("X", X)
    # Norms of rows divided by their largest entry: squares of entries near 1e200 (or 1e-200) would
    # overflow (underflow), and the row would become zero or be called zero.
    scale = np.max(np.abs(array), axis=1)
    zero = np.flatnonzero(scale == 0)
    if zero.size:
        raise ValueError(f"X must have nonzero rows (inputs on the unit sphere); row {int(zero[0])} is zero")
    array = array / scale[:, None]
    scaled_norms = np.linalg.norm(array, axis=1)
    with np.errstate(over="ignore"):
        norms = scale * scaled_norms
    if not normalize:
        off = np.flatnonzero(np.abs(norms - 1.0) > UNIT_NORM_RTOL)
        if off.size:
            i = int(off[0])
            raise ValueError(
                f"X must have unit-norm rows (|norm - 1| <= {UNIT_NORM_RTOL:g}); row {i} has norm {norms[i]:.6g} "
                f"({off.size} of {array.shape[0]} rows are off). Pass normalize=True to project onto the sphere."
            )
    return array / scaled_norms[:, None]


ANGLE = sp.Symbol("theta", nonnegative=True)
NEAR_PARALLEL = 1e-4


@functools.cache
def _h_inf_entry() -> Callable[[np.ndarray], np.ndarray]:
    return sp.lambdify(symbolic.cosine, symbolic.h_inf_entry_expr(), modules="numpy")


@functools.cache
def _h_inf_entry_from_angle() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The same entry with arccos s replaced by the angle theta between x_i and x_j."""
    expression = symbolic.h_inf_entry_expr().subs(sp.acos(symbolic.cosine), ANGLE)
    return sp.lambdify((symbolic.cosine, ANGLE), expression, modules="numpy")


def _near_parallel_entries(unit: np.ndarray, rows: np.ndarray, cols: np.ndarray, cosines: np.ndarray) -> np.ndarray:
    """Entries for |s| close to 1, where arccos s is ill-conditioned (d arccos/ds = -1/sqrt(1 - s^2)).

    A round-off of 1e-16 in s near 1 moves arccos s by 1e-8, so a duplicate input would leave lambda0
    at ~1e-9 instead of 0. The angle from the chord, theta = 2 arcsin(||x_i - x_j|| / 2) (and
    pi - 2 arcsin(||x_i + x_j|| / 2) near s = -1), is accurate to float64 round-off."""
    sign = np.where(cosines > 0, -1.0, 1.0)
    chord = np.linalg.norm(unit[rows] + sign[:, None] * unit[cols], axis=1)
    half_angle = 2.0 * np.arcsin(np.minimum(chord / 2.0, 1.0))
    angle = np.where(cosines > 0, half_angle, np.pi - half_angle)
    return _h_inf_entry_from_angle()(cosines, angle)


def h_inf(X: object, *, normalize: bool = False, chunk_size: int = 2048) -> np.ndarray:
    """H_inf[i, j] = s (pi - arccos s)/(2 pi), s = clip(x_i . x_j, -1, 1), float64 (m x m), row chunks.

    Source: Du et al. 2019, eq. 3.1; docs/theory.md, section 1. Symmetric PSD with diagonal exactly 1/2. For
    |s| > 1 - NEAR_PARALLEL the angle comes from the chord ||x_i -+ x_j|| (see _near_parallel_entries)."""
    unit = unit_rows(X, normalize=normalize)
    chunk_size = require_positive_int("chunk_size", chunk_size)
    entry = _h_inf_entry()
    m = unit.shape[0]
    gram = np.empty((m, m), dtype=np.float64)
    for start in range(0, m, chunk_size):
        cosines = np.clip(unit[start : start + chunk_size] @ unit.T, -1.0, 1.0)
        block = entry(cosines)
        near_rows, near_cols = np.nonzero(np.abs(cosines) > 1.0 - NEAR_PARALLEL)
        if near_rows.size:
            block[near_rows, near_cols] = _near_parallel_entries(
                unit, near_rows + start, near_cols, cosines[near_rows, near_cols]
            )
        gram[start : start + chunk_size] = block
    np.fill_diagonal(gram, 0.5)  # s = 1 exactly on the diagonal; round-off in ||x||^2 must not move it
    return gram


def roundoff_scale(m: int, lambda_max: float) -> float:
    """m * eps_float64 * lambda_max: the eigenvalue error scale of a backward-stable symmetric eigensolver."""
    return float(m * FLOAT64_EPS * max(lambda_max, 0.0))


def _spectrum(
    lambda_min: float,
    lambda_max: float,
    method: str,
    m: int,
    start: float,
    converged: bool = True,
    residual: float = 0.0,
) -> Spectrum:
    scale = roundoff_scale(m, lambda_max)
    return Spectrum(
        lambda_min=float(lambda_min),
        lambda_max=float(lambda_max),
        method=method,
        degenerate=bool(lambda_min <= scale),
        roundoff_scale=scale,
        m=m,
        converged=converged,
        residual=float(residual),
        seconds=time.perf_counter() - start,
    )


def _dense_spectrum(gram: np.ndarray, start: float) -> Spectrum:
    values = scipy.linalg.eigvalsh(gram, driver="evr", check_finite=False)  # "ev" is ~30x slower here
    return _spectrum(values[0], values[-1], "dense", gram.shape[0], start)


def _torch_spectrum(gram: np.ndarray, device: str, start: float) -> Spectrum:
    values = torch.linalg.eigvalsh(torch.from_numpy(gram).to(device=device, dtype=torch.float64)).cpu()
    return _spectrum(float(values[0]), float(values[-1]), f"torch:{device}", gram.shape[0], start)


def _shift_invert_spectrum(gram: np.ndarray, tol: float, seed: int, start: float) -> Spectrum:
    m = gram.shape[0]
    rng = np.random.default_rng(seed)
    lambda_max = float(
        scipy.sparse.linalg.eigsh(gram, k=1, which="LA", tol=tol, v0=rng.standard_normal(m), return_eigenvectors=False)[
            0
        ]
    )
    shift = max(roundoff_scale(m, lambda_max), np.finfo(np.float64).tiny)
    for _ in range(12):  # H is PSD in exact arithmetic; a larger shift absorbs negative round-off
        try:
            shifted = gram.copy()
            shifted.flat[:: m + 1] += shift
            factor = scipy.linalg.cho_factor(shifted, lower=True, overwrite_a=True, check_finite=False)
            break
        except np.linalg.LinAlgError:
            shift *= 10.0
    else:
        raise ValueError(f"H + tau I is not positive definite even at tau={shift:g}: the matrix is not PSD")

    def solve(v: np.ndarray) -> np.ndarray:
        return scipy.linalg.cho_solve(factor, v, check_finite=False)

    inverse = scipy.sparse.linalg.LinearOperator((m, m), matvec=solve, matmat=solve, dtype=np.float64)
    converged = True
    try:
        mu, vectors = scipy.sparse.linalg.eigsh(
            inverse, k=1, which="LA", tol=tol, ncv=min(m, 48), maxiter=40 * m, v0=rng.standard_normal(m)
        )
    except scipy.sparse.linalg.ArpackNoConvergence as failure:  # pragma: no cover - reported, not hidden
        converged = False
        mu, vectors = failure.eigenvalues, failure.eigenvectors
        if len(mu) == 0:
            raise ValueError(
                "the shift-invert Lanczos iteration returned no Ritz value; use method='dense'"
            ) from failure
    vector = vectors[:, 0] / np.linalg.norm(vectors[:, 0])
    lambda_min = 1.0 / float(mu[0]) - shift
    residual = float(np.linalg.norm(gram @ vector - lambda_min * vector)) / max(lambda_max, 1e-300)
    return _spectrum(lambda_min, lambda_max, "shift-invert", m, start, converged, residual)


def gram_spectrum(
    gram: object, *, method: str = "auto", tol: float = 1e-7, seed: int = 0, device: str = "cpu"
) -> Spectrum:
    """lambda_min and lambda_max of a symmetric PSD matrix (float64), with the degenerate flag.

    method="auto": dense for m <= DENSE_MAX_M, else torch when `device` is a GPU, else shift-invert."""
    start = time.perf_counter()
    matrix = as_float64_matrix("gram", gram)
    method = require_choice("method", method, METHODS)
    m = matrix.shape[0]
    if matrix.shape[1] != m:
        raise ValueError(f"gram must be square; got shape {matrix.shape}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1); got tol={tol!r}")
    if method == "auto":
        method = "dense" if m <= DENSE_MAX_M else ("torch" if device != "cpu" else "shift-invert")
    if method == "dense" or m <= 2:
        return _dense_spectrum(matrix, start)
    if method == "torch":
        return _torch_spectrum(matrix, device, start)
    return _shift_invert_spectrum(matrix, tol, seed, start)


def lambda0(
    X: object,
    *,
    normalize: bool = False,
    method: str = "auto",
    tol: float = 1e-7,
    chunk_size: int = 2048,
    seed: int = 0,
    device: str = "cpu",
) -> Spectrum:
    """lambda0 = lambda_min(H_inf) for unit-norm inputs X (m x d), with lambda_max(H_inf) and the solver used.

    Du et al. 2019, Thm 3.1: lambda0 > 0 when no two inputs are parallel; duplicates give lambda0 = 0 to
    within round-off, reported by Spectrum.degenerate."""
    start = time.perf_counter()
    gram = h_inf(X, normalize=normalize, chunk_size=chunk_size)
    result = gram_spectrum(gram, method=method, tol=tol, seed=seed, device=device)
    return dataclasses.replace(result, seconds=time.perf_counter() - start)
