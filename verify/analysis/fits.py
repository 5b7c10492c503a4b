"""Fits of the empirical threshold across sizes m (docs/theory.md, section 5.5; issue 10.4).

Two models on the uncensored cells, each a least-squares line in x = ln m:
- ``log``:   t_hat* = alpha + beta ln m      (y = t_hat*, slope beta),
- ``power``: t_hat* = c m^p, i.e. ln t_hat* = ln c + p ln m   (y = ln t_hat*, slope p).
Each slope gets two confidence intervals: the t-based one of ordinary least squares
(scipy.stats.linregress standard error times the Student t quantile with n - 2 degrees of freedom)
and a percentile bootstrap that resamples seeds within each m (every resample keeps every m; seeded).
A bootstrap interval narrower than the slope's resolution (every resample equal, e.g. seeds that
share grid values) is flagged ``degenerate``: it is not a confidence interval. Endpoints are rounded
to the resolution, 10^(floor(log10 scale) - 3) for the slope's scale, so a zero prints as 0, not
-1.78e-12. Which model fits better is decided by the leave-one-m-out error: refit without one size,
predict that size's mean threshold (original units), root mean square over the sizes (>= 3 sizes).

Censoring (issue 10.2): left- and right-censored cells are excluded from the two least-squares fits
and counted. They are censored data, not missing data, so when any exist the log model is also fitted
by maximum likelihood with normal errors and censoring (a Tobit model: an uncensored cell contributes
the density at its value, a right-censored one P(t* > bound), a left-censored one P(t* <= bound)),
with a Wald interval on beta from the numerical Hessian; the growth verdict then rests on that fit, or
is refused with the reason when it cannot be fitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import optimize, stats

from ebtheory.verify.analysis.thresholds import Censoring

FIT_SEED = 0
N_BOOT = 2000
LEVEL = 0.95
Model = Literal["log", "power"]


@dataclass(frozen=True)
class Observation:
    """One (m, seed) threshold in some time unit: the value, or the bound when censored."""

    m: int
    value: float
    censoring: Censoring


@dataclass(frozen=True)
class Interval:
    """A confidence interval [low, high] rounded to `resolution`; degenerate when it has no width."""

    low: float
    high: float
    level: float
    degenerate: bool = False


@dataclass(frozen=True)
class LineFit:
    """Least-squares line y = intercept + slope ln m on the uncensored cells (see the module docstring)."""

    model: Model
    intercept: float
    slope: float
    slope_ci_t: Interval | None
    slope_ci_bootstrap: Interval
    resolution: float
    n_used: int
    n_sizes: int
    loo_rmse: float | None
    n_boot: int

    def predict(self, m: float) -> float:
        """The fitted threshold at size m (original units)."""
        y = self.intercept + self.slope * math.log(m)
        return math.exp(y) if self.model == "power" else y


@dataclass(frozen=True)
class CensoredFit:
    """Tobit fit of t_hat* = alpha + beta ln m + N(0, sigma^2) with left/right censoring."""

    alpha: float
    beta: float
    sigma: float
    beta_ci: Interval
    n_used: int
    n_left: int
    n_right: int


@dataclass(frozen=True)
class FitSet:
    """Every fit of one threshold series (one target, definition and time unit), and the verdict.

    grows: 'yes' (every interval the verdict rests on lies above 0), 'falls' (below 0), 'no' (an
    interval contains 0) or 'undetermined' (no interval to rest on; `grows_reason` says why).
    """

    unit: str
    n_uncensored: int
    n_left: int
    n_right: int
    log: LineFit | None
    power: LineFit | None
    censored: CensoredFit | None
    better: Model | None
    grows: Literal["yes", "falls", "no", "undetermined"]
    reasons: dict[str, str] = field(default_factory=dict)


def resolution_of(*values: float | None) -> float:
    """10^(floor(log10 scale) - 3) for the largest |value|: the last digit worth printing."""
    scale = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    if scale == 0:
        return 1e-12
    return 10.0 ** (math.floor(math.log10(scale)) - 3)


def round_to(value: float, resolution: float) -> float:
    """`value` rounded to a multiple of `resolution` (plus 0.0 for -0.0)."""
    return float(round(value / resolution) * resolution) + 0.0


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    xbar = x.mean()
    sxx = float(np.sum((x - xbar) ** 2))
    slope = float(np.sum((x - xbar) * (y - y.mean())) / sxx)
    return float(y.mean() - slope * xbar), slope


def resample_indices(ms: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) indices into the cells: each row redraws, with replacement, the seeds of every m
    from that m's own cells, and keeps the cells' order of m (so x = ln m is the same in every row)."""
    rng = np.random.default_rng(seed)
    columns = []
    for m in np.unique(ms):
        where = np.flatnonzero(ms == m)
        columns.append(where[rng.integers(0, where.size, size=(n_boot, where.size))])
    return np.concatenate(columns, axis=1)


def bootstrap_slopes(x: np.ndarray, y: np.ndarray, ms: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Least-squares slopes of y on x over the resamples of resample_indices (vectorised)."""
    indices = resample_indices(ms, n_boot, seed)
    xs = x[indices[0]]  # every row has the same m at each position
    centred = xs - xs.mean()
    samples = y[indices]
    return np.asarray((samples - samples.mean(axis=1, keepdims=True)) @ centred / float(centred @ centred))


def _leave_one_m_out(model: Model, x: np.ndarray, y: np.ndarray, ms: np.ndarray) -> float | None:
    sizes = np.unique(ms)
    if sizes.size < 3:
        return None
    errors = []
    for m in sizes:
        keep = ms != m
        if np.unique(ms[keep]).size < 2:
            return None
        intercept, slope = _slope(x[keep], y[keep])
        predicted = intercept + slope * math.log(m)
        observed = y[~keep]
        if model == "power":
            predicted, observed = math.exp(predicted), np.exp(observed)
        errors.append(predicted - float(np.mean(observed)))
    return float(np.sqrt(np.mean(np.square(errors))))


def fit_line(
    model: Model,
    observations: Sequence[Observation],
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = FIT_SEED,
) -> LineFit | str:
    """Least-squares fit of `model` on the uncensored observations, or the reason there is none."""
    if model not in ("log", "power"):
        raise ValueError(f"model must be 'log' or 'power'; got model={model!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got level={level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1; got n_boot={n_boot}")
    used = [o for o in observations if o.censoring == "none"]
    if any(o.m < 1 for o in observations):
        raise ValueError(f"sizes m must be >= 1; got {sorted({o.m for o in observations})}")
    if model == "power":
        if any(o.value <= 0 for o in used):
            return "a power law needs every uncensored threshold > 0"
    ms = np.array([o.m for o in used], dtype=int)
    if np.unique(ms).size < 2:
        return f"fewer than two sizes m have an uncensored threshold ({np.unique(ms).size})"
    x = np.log(ms.astype(float))
    values = np.array([o.value for o in used], dtype=float)
    y = np.log(values) if model == "power" else values
    intercept, slope = _slope(x, y)
    boot = bootstrap_slopes(x, y, ms, n_boot, seed)
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    ci_t = None
    stderr = None
    if y.size >= 3:
        stderr = float(stats.linregress(x, y).stderr)
        half = stderr * float(stats.t.ppf((1 + level) / 2, y.size - 2))
        ci_t = (slope - half, slope + half)
    resolution = resolution_of(slope, stderr, float(low), float(high), float(np.std(y)) / max(float(np.ptp(x)), 1e-12))
    bootstrap = Interval(
        round_to(float(low), resolution),
        round_to(float(high), resolution),
        level,
        degenerate=float(high - low) < resolution,
    )
    interval_t = None
    if ci_t is not None:
        interval_t = Interval(
            round_to(ci_t[0], resolution),
            round_to(ci_t[1], resolution),
            level,
            degenerate=ci_t[1] - ci_t[0] < resolution,
        )
    return LineFit(
        model=model,
        intercept=intercept,
        slope=slope,
        slope_ci_t=interval_t,
        slope_ci_bootstrap=bootstrap,
        resolution=resolution,
        n_used=int(y.size),
        n_sizes=int(np.unique(ms).size),
        loo_rmse=_leave_one_m_out(model, x, y, ms),
        n_boot=n_boot,
    )


def _numerical_hessian(fun, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    n = theta.size
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * step, np.eye(n)[j] * step
            hessian[i, j] = (
                fun(theta + e_i + e_j) - fun(theta + e_i - e_j) - fun(theta - e_i + e_j) + fun(theta - e_i - e_j)
            ) / (4 * step * step)
    return hessian


def censored_log_fit(observations: Sequence[Observation], *, level: float = LEVEL) -> CensoredFit | str:
    """Tobit fit of t = alpha + beta ln m + N(0, sigma^2) with censoring, or the reason there is none."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got level={level}")
    uncensored = [o for o in observations if o.censoring == "none"]
    sizes = {o.m for o in uncensored}
    if len(uncensored) < 3 or len(sizes) < 2:
        return (
            f"the censored fit needs >= 3 uncensored cells over >= 2 sizes m; got {len(uncensored)} over {len(sizes)}"
        )
    x = np.log(np.array([o.m for o in observations], dtype=float))
    raw = np.array([o.value for o in observations], dtype=float)
    scale = float(np.std(raw)) or float(np.mean(np.abs(raw))) or 1.0
    y = raw / scale
    kind = np.array([o.censoring for o in observations])
    exact, right, left = kind == "none", kind == "right", kind == "left"

    def negative_log_likelihood(theta: np.ndarray) -> float:
        alpha, beta, log_sigma = theta
        sigma = math.exp(log_sigma)
        mu = alpha + beta * x
        total = -np.sum(stats.norm.logpdf(y[exact], mu[exact], sigma))
        total -= np.sum(stats.norm.logsf(y[right], mu[right], sigma))
        total -= np.sum(stats.norm.logcdf(y[left], mu[left], sigma))
        return float(total)

    alpha0, beta0 = _slope(x[exact], y[exact])
    spread = float(np.std(y[exact] - (alpha0 + beta0 * x[exact]))) or 0.1
    start = np.array([alpha0, beta0, math.log(spread)])
    result = optimize.minimize(
        negative_log_likelihood, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000}
    )
    if not result.success or not np.all(np.isfinite(result.x)):
        return f"the censored (Tobit) fit did not converge: {result.message}"
    hessian = _numerical_hessian(negative_log_likelihood, result.x)
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return "the censored (Tobit) fit has a singular information matrix"
    if not np.all(np.isfinite(covariance)) or covariance[1, 1] <= 0:
        return "the censored (Tobit) fit has no finite standard error on beta"
    alpha, beta, log_sigma = (float(v) for v in result.x)
    half = float(stats.norm.ppf((1 + level) / 2)) * math.sqrt(float(covariance[1, 1]))
    beta, half, alpha = beta * scale, half * scale, alpha * scale
    resolution = resolution_of(beta, half)
    return CensoredFit(
        alpha=alpha,
        beta=beta,
        sigma=math.exp(log_sigma) * scale,
        beta_ci=Interval(
            round_to(beta - half, resolution), round_to(beta + half, resolution), level, half * 2 < resolution
        ),
        n_used=len(observations),
        n_left=int(left.sum()),
        n_right=int(right.sum()),
    )


def _sign(intervals: Sequence[Interval]) -> Literal["yes", "falls", "no"]:
    if all(i.low > 0 for i in intervals):
        return "yes"
    if all(i.high < 0 for i in intervals):
        return "falls"
    return "no"


def fit_thresholds(
    unit: str, observations: Sequence[Observation], *, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = FIT_SEED
) -> FitSet:
    """Both least-squares fits, the censored fit when any cell is censored, the better model, the verdict."""
    reasons: dict[str, str] = {}
    n_left = sum(o.censoring == "left" for o in observations)
    n_right = sum(o.censoring == "right" for o in observations)
    fits: dict[str, LineFit | None] = {}
    models: tuple[Model, ...] = ("log", "power")
    for model in models:
        outcome = fit_line(model, observations, n_boot=n_boot, level=level, seed=seed)
        fits[model] = None if isinstance(outcome, str) else outcome
        if isinstance(outcome, str):
            reasons[model] = outcome
    log, power = fits["log"], fits["power"]
    better: Model | None = None
    if log is not None and power is not None and log.loo_rmse is not None and power.loo_rmse is not None:
        better = "log" if log.loo_rmse <= power.loo_rmse else "power"
    else:
        reasons["better"] = "leave-one-m-out needs both fits over >= 3 sizes m"
    censored: CensoredFit | None = None
    grows: Literal["yes", "falls", "no", "undetermined"]
    if n_left or n_right:
        outcome_c = censored_log_fit(observations, level=level)
        if isinstance(outcome_c, str):
            reasons["censored"] = outcome_c
            grows = "undetermined"
            reasons["grows"] = f"{n_left} left- and {n_right} right-censored cells, and {outcome_c}"
        else:
            censored = outcome_c
            grows = _sign([outcome_c.beta_ci])
            reasons["grows"] = (
                f"censored (Tobit) fit over all {outcome_c.n_used} cells ({n_left} left-, {n_right} right-censored)"
            )
    elif log is None:
        grows = "undetermined"
        reasons["grows"] = reasons["log"]
    else:
        intervals = [i for i in (log.slope_ci_t, log.slope_ci_bootstrap) if i is not None and not i.degenerate]
        if intervals:
            grows = _sign(intervals)
            reasons["grows"] = "least squares on ln m: " + " and ".join(
                "t-based CI" if i is log.slope_ci_t else "bootstrap CI" for i in intervals
            )
        else:
            grows = "undetermined"
            reasons["grows"] = "no usable CI on beta (two cells per fit, or a degenerate bootstrap)"
    return FitSet(
        unit=unit,
        n_uncensored=len(observations) - n_left - n_right,
        n_left=n_left,
        n_right=n_right,
        log=log,
        power=power,
        censored=censored,
        better=better,
        grows=grows,
        reasons=reasons,
    )
