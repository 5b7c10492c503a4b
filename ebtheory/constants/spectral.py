"""The spectral prediction of the dense training curve (docs/theory.md, section 9).

For full-batch GD on the sum loss at step eta, in the infinite-width limit each output column's
residual evolves as Y_c - u_c(t) = (I - eta H_inf)^t (Y_c - u_c(0)) (Arora, Du, Hu, Li, Wang, ICML
2019, Thm 4.1), so with the eigenpairs (lambda_i, v_i) of H_inf

    L_pred(t) = 1/2 sum_i |1 - eta lambda_i|^(2t) p_i          (sum loss, t in iterations)

(`ebtheory.symbolic.spectral_dense_loss_expr`). The pair (lambda_i, p_i) is a discrete measure on
the spectrum (`SpectralMeasure`); the curve at any t is a sum over it. The weights p_i depend on the
initial output (`init`):

  "expected"  p_i = q_i + C kappa^2 r_i, q_i = sum_c (v_i^T Y_c)^2, r_i = v_i^T K1 v_i: the curve
              averaged over the initialisation, K1 the degree-1 arc-cosine kernel
              (`ebtheory.symbolic.arccos_kernel_expr`);
  "zero"      p_i = q_i (the kappa -> 0 limit);
  an array U0 (m x C), the initial output of one network: p_i = sum_c (v_i^T (Y_c - U0_c))^2.

Methods (`method`):

  dense    scipy.linalg.eigh of H_inf, O(m^3); the choice up to m = DENSE_MAX_M.
  lanczos  C independent Lanczos recurrences, one per column of R = Y - U0 (or Y), advanced together
           (one product H @ Q of m x m by m x C per step) with full reorthogonalisation. Column c's
           tridiagonal T_c = S diag(theta) S^T gives the Gauss quadrature rule: nodes theta_j (Ritz
           values), weights ||R_c||^2 S[0, j]^2, so R_c^T f(H) R_c ~ sum_j w_j f(theta_j). With n steps
           the rule is exact for polynomials of degree <= 2n - 1, hence for every t < n; steps are
           added until the curve at every t of the grid moves by less than rtol (relative) between
           checks. O(m^2 C) a step, no m x m eigendecomposition. The expected term C kappa^2
           tr(f(H) K1) is a trace against a full-rank matrix with no few-vector Krylov form, so
           init="expected" needs the dense method; pass the initial output of the network instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from ebtheory import symbolic
from ebtheory.constants.gram import as_float64_matrix, h_inf, unit_rows
from ebtheory.validation import require_choice, require_positive, require_positive_int

__all__ = [
    "DENSE_MAX_M",
    "METHODS",
    "SpectralMeasure",
    "arccos_kernel_matrix",
    "spectral_dense_curve",
    "spectral_measure",
]

DENSE_MAX_M = 5000
METHODS = ("auto", "dense", "lanczos")
INIT_NAMES = ("expected", "zero")
_BREAKDOWN_RTOL = 1e-13


@dataclass(frozen=True)
class SpectralMeasure:
    """The discrete measure sum_j weights_j delta(nodes_j) on the spectrum of H_inf that gives L_pred.

    dense: nodes are the m eigenvalues, weights the p_i (summed over outputs). lanczos: Gauss
    quadrature nodes and weights, exact for t < exact_below and converged to rtol on the grid it was
    built for (t <= t_max). eta_limit = 2 / max(nodes): the largest step for which L_pred decreases.
    m: examples; outputs: C; init: "expected", "zero" or "given"; steps: Lanczos steps (0 for dense).
    """

    nodes: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    m: int
    outputs: int
    method: str
    init: str
    steps: int = 0
    exact_below: float = math.inf
    t_max: float = math.inf
    converged: bool = True
    seconds: float = 0.0

    @property
    def total_weight(self) -> float:
        """sum_j weights_j = 2 L_pred(0) (= ||Y - U0||_F^2, or its expectation)."""
        return float(np.sum(self.weights))

    def loss(self, eta: float, ts: object) -> np.ndarray:
        """L_pred(t) (sum loss) at every t of `ts` (iterations of GD on the sum loss at step eta)."""
        return symbolic.spectral_dense_loss(self.nodes, self.weights, eta, ts)

    def loss_mean(self, eta: float, ts: object) -> np.ndarray:
        """L_pred(t)/m: the per-example predicted dense loss."""
        return self.loss(eta, ts) / self.m

    def time_to_level(self, eta: float, level: float, t_limit: float) -> float | None:
        """The continuous t >= 0 at which L_pred(t) (sum loss) first equals `level`, or None when it is
        still above it at t_limit. L_pred is non-increasing in t (every |1 - eta lambda| <= 1), so the
        root is bracketed and found by bisection in log t to a relative 1e-10."""
        level = require_positive("level", level)
        t_limit = require_positive("t_limit", t_limit)
        if float(self.loss(eta, [0.0])[0]) <= level:
            return 0.0
        if float(self.loss(eta, [t_limit])[0]) > level:
            return None
        low, high = 0.0, t_limit
        step = min(1.0, t_limit)
        while float(self.loss(eta, [step])[0]) > level:  # a positive lower end for bisection in log t
            low, step = step, step * 2.0
        high = step
        for _ in range(200):
            middle = math.sqrt(low * high) if low > 0 else high / 2.0
            if float(self.loss(eta, [middle])[0]) > level:
                low = middle
            else:
                high = middle
            if high - low <= 1e-10 * high:
                break
        return high


def arccos_kernel_matrix(X: object, *, normalize: bool = False, chunk_size: int = 2048) -> np.ndarray:
    """K1[i, j] = (sin theta + (pi - theta) cos theta) / (2 pi), theta = arccos(x_i . x_j), float64 (m x m).

    The covariance E[relu(w.x_i) relu(w.x_j)], w ~ N(0, I), of one output column of TwoLayerNTK at
    kappa = 1 (ebtheory.symbolic.arccos_kernel_expr). K1 is flat at theta = 0 (dK1/dtheta = 0), so the
    arccos round-off near parallel inputs does not matter; the diagonal is exactly 1/2."""
    unit = unit_rows(X, normalize=normalize)
    chunk_size = require_positive_int("chunk_size", chunk_size)
    m = unit.shape[0]
    kernel = np.empty((m, m), dtype=np.float64)
    for start in range(0, m, chunk_size):
        angles = np.arccos(np.clip(unit[start : start + chunk_size] @ unit.T, -1.0, 1.0))
        kernel[start : start + chunk_size] = symbolic.arccos_kernel(angles)
    np.fill_diagonal(kernel, 0.5)
    return kernel


def _residual_block(Y: np.ndarray, init: object) -> tuple[np.ndarray, str]:
    """R = Y - U0 (or Y for "expected" and "zero") and the init's name."""
    if isinstance(init, str):
        return Y, require_choice("init", init, INIT_NAMES)
    initial = as_float64_matrix("init (initial output U0)", init)
    if initial.shape != Y.shape:
        raise ValueError(f"init (initial output U0) must have the shape of Y {Y.shape}; got {initial.shape}")
    return Y - initial, "given"


def _dense_measure(unit: np.ndarray, R: np.ndarray, init: str, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    eigenvalues, vectors = scipy.linalg.eigh(h_inf(unit), driver="evr", check_finite=False)
    label_part = np.square(vectors.T @ R).sum(axis=1)
    if init != "expected":
        return eigenvalues, label_part
    kernel_part = np.einsum("ij,ij->j", vectors, arccos_kernel_matrix(unit) @ vectors)
    weights = symbolic.spectral_mode_weights(label_part, np.clip(kernel_part, 0.0, None), R.shape[1], kappa)
    return eigenvalues, weights


def _quadrature(alphas: list[np.ndarray], betas: list[np.ndarray], sizes: np.ndarray, norms: np.ndarray):
    """Gauss nodes and weights of every column's tridiagonal (first sizes[c] steps of column c)."""
    nodes, weights = [], []
    for column, size in enumerate(sizes):
        diagonal = np.array([a[column] for a in alphas[:size]])
        off = np.array([b[column] for b in betas[: size - 1]])
        if size == 1:
            theta, vectors = diagonal, np.ones((1, 1))
        else:
            theta, vectors = scipy.linalg.eigh_tridiagonal(diagonal, off, lapack_driver="stemr")
        nodes.append(theta)
        weights.append(norms[column] ** 2 * np.square(vectors[0]))
    return np.concatenate(nodes), np.concatenate(weights)


def _lanczos_measure(
    H: np.ndarray, R: np.ndarray, eta: float, ts: np.ndarray, rtol: float, max_steps: int, check_every: int
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Batched Lanczos Gauss quadrature of sum_c R_c^T f(H) R_c (see the module docstring)."""
    norms = np.linalg.norm(R, axis=0)
    keep = norms > 0
    if not keep.any():
        return np.zeros(1), np.zeros(1), 0, True
    R, norms = R[:, keep], norms[keep]
    m, b = R.shape
    steps_cap = min(max_steps, m)
    basis = np.empty((steps_cap, m, b), dtype=np.float64)
    basis[0] = R / norms
    alphas: list[np.ndarray] = []
    betas: list[np.ndarray] = []
    sizes = np.zeros(b, dtype=int)
    alive = np.ones(b, dtype=bool)
    previous_curve = None
    scale = float(np.abs(H).sum(axis=1).max())  # ||H||_inf >= lambda_max, the breakdown scale
    for j in range(steps_cap):
        q = basis[j]
        w = H @ q
        if j > 0:
            w -= basis[j - 1] * betas[j - 1]
        alpha = np.einsum("ic,ic->c", q, w)
        w -= q * alpha
        for _ in range(2):  # full reorthogonalisation, twice is enough (Kahan-Parlett)
            coefficients = np.einsum("kic,ic->kc", basis[: j + 1], w)
            w -= np.einsum("kic,kc->ic", basis[: j + 1], coefficients)
        beta = np.linalg.norm(w, axis=0)
        alphas.append(np.where(alive, alpha, 0.0))
        sizes[alive] += 1
        alive &= beta > _BREAKDOWN_RTOL * scale  # an invariant subspace: this column's rule is exact
        betas.append(np.where(alive, beta, 0.0))
        last = j + 1 == steps_cap or not alive.any()
        if not last:
            basis[j + 1] = np.where(alive, w / np.where(alive, beta, 1.0), 0.0)
        if last or (j + 1) % check_every == 0:
            nodes, weights = _quadrature(alphas, betas, sizes, norms)
            curve = symbolic.spectral_dense_loss(nodes, weights, eta, ts)
            if not alive.any():
                return nodes, weights, j + 1, True
            if previous_curve is not None:
                change = np.abs(curve - previous_curve)
                if np.all(change <= rtol * np.maximum(np.abs(curve), np.finfo(np.float64).tiny)):
                    return nodes, weights, j + 1, True
            previous_curve = curve
    return nodes, weights, steps_cap, False


def spectral_measure(
    X: object,
    Y: object,
    *,
    kappa: float = 1.0,
    init: object = "expected",
    method: str = "auto",
    eta: float | None = None,
    ts: object = None,
    rtol: float = 1e-9,
    max_steps: int = 2000,
    check_every: int = 10,
    normalize: bool = False,
) -> SpectralMeasure:
    """The spectral measure (nodes, weights) of L_pred for inputs X (m x d, unit rows) and targets Y (m x C).

    kappa: init scale (> 0; used by init="expected"); init: "expected", "zero" or U0 (m x C);
    method: "auto" (dense for m <= DENSE_MAX_M, else lanczos), "dense" or "lanczos". The lanczos method
    needs eta (the sum-loss step) and ts (the t grid its convergence is checked on; t >= 0) and stops
    when the curve on ts moves by less than rtol between checks (every check_every steps), or at
    max_steps (converged=False then). Raises ValueError on bad input, naming the argument."""
    start = time.perf_counter()
    unit = unit_rows(X, normalize=normalize)
    targets = as_float64_matrix("Y", Y)
    m = unit.shape[0]
    if targets.shape[0] != m:
        raise ValueError(f"Y must have one row per input (m = {m}); got {targets.shape[0]} rows")
    kappa = require_positive("kappa", kappa)
    method = require_choice("method", method, METHODS)
    R, init_name = _residual_block(targets, init)
    if method == "auto":
        method = "dense" if m <= DENSE_MAX_M else "lanczos"
    if method == "dense":
        nodes, weights = _dense_measure(unit, R, init_name, kappa)
        return SpectralMeasure(
            nodes, weights, m, targets.shape[1], "dense", init_name, seconds=time.perf_counter() - start
        )
    if init_name == "expected":
        raise ValueError(
            "init='expected' needs method='dense' (the term C kappa^2 tr(f(H) K1) has no few-vector Krylov "
            f"form); with method='lanczos' pass init='zero' or the network's initial output U0 (m = {m})"
        )
    if eta is None or ts is None:
        raise ValueError("method='lanczos' needs eta (the sum-loss step) and ts (the t grid to converge on)")
    eta = require_positive("eta", eta)
    grid = np.asarray(ts, dtype=np.float64).reshape(-1)
    if grid.size == 0 or not np.all(np.isfinite(grid)) or float(grid.min()) < 0:
        raise ValueError(f"ts must be a non-empty grid of finite t >= 0; got {grid.size} values")
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must lie in (0, 1); got rtol={rtol!r}")
    max_steps = require_positive_int("max_steps", max_steps)
    check_every = require_positive_int("check_every", check_every)
    nodes, weights, steps, converged = _lanczos_measure(h_inf(unit), R, eta, grid, rtol, max_steps, check_every)
    return SpectralMeasure(
        nodes,
        weights,
        m,
        targets.shape[1],
        "lanczos",
        init_name,
        steps=steps,
        exact_below=float(steps),
        t_max=float(grid.max()),
        converged=converged,
        seconds=time.perf_counter() - start,
    )


def spectral_dense_curve(X: object, Y: object, eta: float, ts: object, **options: object) -> np.ndarray:
    """L_pred(t), the predicted dense sum loss, at every t of `ts` (spectral_measure's options apply)."""
    measure = spectral_measure(X, Y, eta=eta, ts=ts, **options)  # type: ignore[arg-type]
    return measure.loss(eta, ts)
