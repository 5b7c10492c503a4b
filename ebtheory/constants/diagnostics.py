"""Checks of the threshold theorem's hypotheses on a trained run, each a number with a holds flag.

Du et al.'s O()/Omega() constants are unknown (symbolic.c_width, symbolic.c_step; Lemma 3.3's lazy radius
carries a 4 in their continuous-time proof): every check here takes its constant as 1 and says so in
`constant`. Nothing is dropped when a check fails. Losses are sum losses 1/2||u - Y||_F^2; t counts GD
iterations.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import sympy as sp
import torch
from scipy import stats

from ebtheory import symbolic
from ebtheory.validation import require_open_interval, require_positive, require_positive_int

residual_norm = sp.Symbol("r", nonnegative=True)


LAZY_RADIUS_CONSTANT = 1.0  # Du et al.'s unknown small constant c of Lemma 3.2, taken as 1

c_lazy = sp.Symbol("c_R", positive=True)


def drift_bound_expr() -> sp.Expr:
    """sqrt(m) ||y - u(0)||_F / (sqrt(N) lambda0): how far GD moves any w_r in the NTK regime (Du et al.
    2019, Lemma 3.3 / Thm 4.1 proof, there with a constant 4; here 1). A bound on the drift, not the
    radius the proof needs (that is lazy_radius_expr): the proof needs drift_bound < lazy_radius."""
    return sp.sqrt(symbolic.m) * residual_norm / (sp.sqrt(symbolic.N) * symbolic.lambda0)


def lazy_radius_expr() -> sp.Expr:
    """R = c kappa delta lambda0 / m^2: the radius within which the proof needs every w_r(t) to stay.

    Du et al. 2019, Lemma 3.2 (w_r(0) ~ N(0, I)): with probability >= 1 - delta, any weights with
    ||w_r - w_r(0)||_2 <= c delta lambda0 / m^2 for all r give lambda_min(H) > lambda0/2 (and
    ||H - H(0)||_2 < lambda0/4), c an unknown small constant (`c_lazy`, taken as LAZY_RADIUS_CONSTANT).
    The lemma bounds the chance that a neuron's activation pattern flips, P(|w_r(0).x| < R) <=
    2R/(sqrt(2 pi) kappa) for w_r(0) ~ N(0, kappa^2 I), so with the init scale kappa the radius scales
    by kappa (kappa = 1 is Du et al.'s statement). Units: the same as w_r (input-weight norm)."""
    return c_lazy * symbolic.kappa * symbolic.delta * symbolic.lambda0 / symbolic.m**2


def width_requirement_expr() -> sp.Expr:
    """m^6 / (lambda0^4 delta^3): Du et al.'s width condition N >= c_N m^6/(lambda0^4 delta^3) at c_N = 1."""
    return symbolic.width_condition_expr().rhs.subs(symbolic.c_width, 1)


def step_size_requirement_expr() -> sp.Expr:
    """lambda0 / m^2: Du et al.'s step-size condition eta <= c_eta lambda0/m^2 at c_eta = 1."""
    return symbolic.step_size_condition_expr().rhs.subs(symbolic.c_step, 1)


@functools.cache
def _numeric(name: str) -> Callable[..., float]:
    expression = {
        "drift_bound": drift_bound_expr(),
        "lazy_radius": lazy_radius_expr(),
        "width": width_requirement_expr(),
        "step": step_size_requirement_expr(),
    }[name]
    order = (symbolic.m, symbolic.N, symbolic.lambda0, symbolic.delta, residual_norm, symbolic.kappa, c_lazy)
    return sp.lambdify(order, expression, modules="math")


def drift_bound(m: int, width: int, residual: float, lambda0_value: float) -> float:
    """sqrt(m) ||y - u(0)||_F / (sqrt(N) lambda0), Du et al.'s bound on the drift, constant taken as 1
    (drift_bound_expr)."""
    require_positive_int("m", m), require_positive_int("width", width)
    if not (math.isfinite(residual) and residual >= 0):
        raise ValueError(f"residual must be a finite number >= 0 (a norm ||y - u(0)||_F); got residual={residual}")
    return float(_numeric("drift_bound")(m, width, require_positive("lambda0", lambda0_value), 1, residual, 1, 1))


def lazy_radius(m: int, lambda0_value: float, delta: float, kappa: float = 1.0) -> float:
    """R = c kappa delta lambda0 / m^2 with c = LAZY_RADIUS_CONSTANT (lazy_radius_expr): the radius the
    proof needs the drift max_r ||w_r(t) - w_r(0)|| to stay within (Du et al. 2019, Lemma 3.2)."""
    require_positive_int("m", m)
    lambda0_value = require_positive("lambda0", lambda0_value)
    delta = require_open_interval("delta", delta, 0.0, 1.0)
    kappa = require_positive("kappa", kappa)
    return float(_numeric("lazy_radius")(m, 1, lambda0_value, delta, 0, kappa, LAZY_RADIUS_CONSTANT))


def lazy_drift_check(drift: float, m: int, lambda0_value: float, delta: float, kappa: float = 1.0) -> Check:
    """The `lazy_drift` hypothesis: drift max_{r,t} ||w_r(t) - w_r(0)|| <= R = lazy_radius (Lemma 3.2)."""
    radius = lazy_radius(m, lambda0_value, delta, kappa)
    return check(
        "lazy_drift",
        drift,
        "<=",
        radius,
        "max_r,t ||w_r(t) - w_r(0)|| against the radius of Du et al. Lemma 3.2, R = c kappa delta lambda0/m^2 "
        "(lambda_min(H) > lambda0/2 inside it); c taken as 1",
        constant=LAZY_RADIUS_CONSTANT,
    )


def width_requirement(m: int, lambda0_value: float, delta: float) -> float:
    """m^6 / (lambda0^4 delta^3), Du et al.'s width condition at c_N = 1 (may exceed any float: then inf)."""
    require_positive_int("m", m)
    lambda0_value = require_positive("lambda0", lambda0_value)
    delta = require_open_interval("delta", delta, 0.0, 1.0)
    try:
        return float(_numeric("width")(m, 1, lambda0_value, delta, 0, 1, 1))
    except OverflowError:
        return math.inf


def step_size_requirement(m: int, lambda0_value: float) -> float:
    """lambda0 / m^2, Du et al.'s step-size condition at c_eta = 1."""
    return float(
        _numeric("step")(require_positive_int("m", m), 1, require_positive("lambda0", lambda0_value), 0.5, 0, 1, 1)
    )


class Record:
    """Base of the frozen result dataclasses: to_dict() for JSON output."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Check(Record):
    """One hypothesis or prediction checked on a run: `value` compared with `reference` by `relation`.

    holds: value <relation> reference. constant: the unknown constant of the statement, taken as given."""

    name: str
    value: float
    relation: str
    reference: float
    holds: bool
    constant: float = 1.0
    note: str = ""


def check(name: str, value: float, relation: str, reference: float, note: str = "", constant: float = 1.0) -> Check:
    """Build a Check; relation is "<=", "<" or ">="."""
    compare = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b}[relation]
    return Check(name, float(value), relation, float(reference), bool(compare(value, reference)), constant, note)


@dataclass(frozen=True)
class RateFit(Record):
    """Least-squares fit ln L(t) = intercept + slope t over the iterations `t_first..t_last` used.

    rate = exp(slope) is the fitted per-iteration contraction of the sum loss; rate_ci = exp of the
    two-sided `confidence` interval of the slope from the t-distribution with n - 2 degrees of freedom."""

    rate: float
    rate_ci: tuple[float, float]
    slope: float
    slope_stderr: float
    intercept: float
    n_points: int
    t_first: int
    t_last: int
    confidence: float


def fit_contraction_rate(
    losses: Sequence[float], ts: Sequence[int] | None = None, *, confidence: float = 0.95, floor_ratio: float = 1e-12
) -> RateFit:
    """Fit ln L(t) = a + t ln(rate) by ordinary least squares, with a t-interval on the slope.

    losses[i] is the sum loss at iteration ts[i] (default ts = 0, 1, ...). Points at or below
    floor_ratio * L(first) are dropped (float round-off flattens ln L there and would bias the slope);
    NaN entries (unrecorded iterations) are dropped too. Needs >= 3 points left."""
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    times = np.arange(values.size, dtype=np.float64) if ts is None else np.asarray(ts, dtype=np.float64).reshape(-1)
    if times.shape != values.shape:
        raise ValueError(f"ts and losses must have the same length; got {times.size} and {values.size}")
    confidence = require_open_interval("confidence", confidence, 0.0, 1.0)
    if np.any(np.isinf(values)) or np.any(values[~np.isnan(values)] < 0):
        raise ValueError("losses must be finite and >= 0 (NaN marks an unrecorded iteration)")
    keep = ~np.isnan(values)
    if keep.any():
        keep &= values > floor_ratio * values[keep][0]
    if keep.sum() < 3:
        raise ValueError(f"the rate fit needs >= 3 recorded losses above the round-off floor; got {int(keep.sum())}")
    x, y = times[keep], np.log(values[keep])
    n = x.size
    x_centered = x - x.mean()
    sxx = float(x_centered @ x_centered)
    if sxx == 0:
        raise ValueError("ts must hold at least two distinct iterations")
    slope = float(x_centered @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    residuals = y - intercept - slope * x
    stderr = math.sqrt(float(residuals @ residuals) / (n - 2) / sxx)
    half_width = float(stats.t.ppf(0.5 + confidence / 2, n - 2)) * stderr
    return RateFit(
        rate=math.exp(slope),
        rate_ci=(math.exp(slope - half_width), math.exp(slope + half_width)),
        slope=slope,
        slope_stderr=stderr,
        intercept=intercept,
        n_points=n,
        t_first=int(x[0]),
        t_last=int(x[-1]),
        confidence=confidence,
    )


def weight_drift(initial: object, current: object) -> float:
    """max_r ||w_r(t) - w_r(0)||_2 over the rows (neurons) of the first-layer weight matrix."""
    w0 = torch.as_tensor(initial).detach().to(torch.float64)
    wt = torch.as_tensor(current).detach().to(torch.float64)
    if w0.shape != wt.shape or w0.ndim != 2:
        raise ValueError(
            f"initial and current must be N x d matrices of one shape; got {tuple(w0.shape)}, {tuple(wt.shape)}"
        )
    return float((wt - w0).norm(dim=1).max())


def dense_rate_pointwise(losses: Sequence[float], rate: float) -> tuple[bool, float]:
    """(all t >= 1: L(t) <= rate^t L(0), max_{t>=1} L(t) / (rate^t L(0))): Du et al. Thm 4.1 read literally.

    losses[t] is the sum loss after t iterations (NaN = not recorded); the ratio is 1 at t = 0 by definition."""
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1 or values.size < 2 or not np.isfinite(values[0]) or values[0] < 0:
        raise ValueError(f"losses must be a 1-D sequence L(0), L(1), ... with L(0) finite >= 0; got {values[:3]}")
    t = np.arange(values.size)
    recorded = ~np.isnan(values)
    recorded[0] = False
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        envelope = values[0] * np.power(rate, t[recorded])
        ratio = np.where(envelope > 0, values[recorded] / np.maximum(envelope, np.finfo(float).tiny), 0.0)
    worst = float(ratio.max())
    return bool(worst <= 1.0 + 1e-9), worst
