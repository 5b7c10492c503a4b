"""Empirical pre-training thresholds t_hat* of one (m, seed) cell (docs/theory.md, sections 5.5 and 7.1).

On a checkpoint grid t_0 < t_1 < ... < t_T (iterations) with the pruned per-example (or sum, per
spec.threshold_loss) training loss l(t_j) and pruned test accuracy a(t_j):

(a) ``relative``: l_mono is the antitonic (non-increasing) least-squares fit of l (pool adjacent
    violators), l_min = min l_mono = l_mono(t_T); (a) is the first t with l(t) <= (1 + rel_tol) l_min.
    Measured against the plateau of the monotone fit, not the last value, so a late rise (U-shaped
    curves) or GFS jitter at the end of the grid does not move it.
(b) ``absolute``: the first t with l(t) <= abs_tol.
(c) ``accuracy``: the first t with a(t) >= max_j a(t_j) - 0.01 (within 1 point of its best).

Interpolation: between the bracketing checkpoints t_{j-1} < t* <= t_j, linearly in the value and in
ln t (linearly in t when t_{j-1} = 0, where ln t has no value).

Censoring: reached at the first checkpoint -> ``left`` (only t* <= t_0 is known; bound t_0);
never reached -> ``right`` (t* > t_T; bound t_T). For (a) and (c) the level is set by the curve
itself, so it is always reached; reaching it only at the last checkpoint means the curve was still
improving when the grid ended, and the cell is ``right``-censored with the interpolated crossing as
its bound. t_min is the first argmin of l (argmax of a for (c)) and ``rise`` = l(t_T)/min l - 1 >= 0
(for (c): max a - a(t_T), in accuracy points as a fraction), so U-shaped curves show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import isotonic_regression

DEFINITIONS: tuple[str, ...] = ("relative", "absolute", "accuracy")
DEFINITION_LABELS: dict[str, str] = {
    "relative": "(a) within rel_tol of the monotone plateau",
    "absolute": "(b) below abs_tol",
    "accuracy": "(c) test accuracy within 1 point of its best",
}
ACCURACY_POINT = 0.01
Censoring = Literal["none", "left", "right"]
Curve = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Crossing:
    """Where a curve first reaches its level: t (iterations; the value, or the bound when censored)."""

    t: float
    censoring: Censoring
    index: int | None  # checkpoint index of the first point at or past the level (None: never)


@dataclass(frozen=True)
class CurveThreshold:
    """One threshold of one curve: the crossing, the level, t_min and the rise after it."""

    crossing: Crossing
    level: float
    t_min: float
    rise: float


def _checked(ts: Curve, values: Curve, name: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(ts, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.shape != v.shape or t.size == 0:
        raise ValueError(f"ts and {name} must be 1-d of equal non-zero length; got {t.shape} and {v.shape}")
    if not np.all(np.isfinite(t)) or t[0] < 0 or np.any(np.diff(t) <= 0):
        raise ValueError(f"ts must be finite, >= 0 and strictly ascending; got ts={t.tolist()}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite; got {name}={v.tolist()}")
    return t, v


def antitonic_fit(values: Curve) -> np.ndarray:
    """The non-increasing least-squares fit of `values` (pool adjacent violators; scipy)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"values must be a non-empty finite 1-d sequence; got values={v.tolist()}")
    return np.asarray(isotonic_regression(v, increasing=False).x, dtype=float)


def interpolate_log_t(t_lo: float, t_hi: float, v_lo: float, v_hi: float, level: float) -> float:
    """The t in [t_lo, t_hi] where the straight line through (ln t_lo, v_lo), (ln t_hi, v_hi) meets
    `level` (v_lo on one side of the level, v_hi on the other or on it); linear in t when t_lo = 0."""
    if not 0 <= t_lo < t_hi:
        raise ValueError(f"need 0 <= t_lo < t_hi; got t_lo={t_lo}, t_hi={t_hi}")
    fraction = 1.0 if v_hi == v_lo else min(max((v_lo - level) / (v_lo - v_hi), 0.0), 1.0)
    if t_lo == 0:
        return fraction * t_hi
    value = math.exp(math.log(t_lo) + fraction * (math.log(t_hi) - math.log(t_lo)))
    return min(max(value, t_lo), t_hi)  # exp(log) may round past an endpoint


def first_crossing(ts: Curve, values: Curve, level: float, *, below: bool = True) -> Crossing:
    """First t where values <= level (below=True) or >= level (below=False), interpolated in ln t.

    Left-censored at t_0 when the first checkpoint is already there; right-censored (bound t_T) when
    no checkpoint gets there.
    """
    t, v = _checked(ts, values, "values")
    if not math.isfinite(level):
        raise ValueError(f"level must be finite; got level={level}")
    reached = v <= level if below else v >= level
    if not reached.any():
        return Crossing(t=float(t[-1]), censoring="right", index=None)
    j = int(np.argmax(reached))
    if j == 0:
        return Crossing(t=float(t[0]), censoring="left", index=0)
    return Crossing(t=interpolate_log_t(t[j - 1], t[j], v[j - 1], v[j], level), censoring="none", index=j)


def _still_improving(crossing: Crossing, size: int) -> Crossing:
    """A self-referenced level first met at the last checkpoint: the curve had not settled (right-censored)."""
    if crossing.index == size - 1 and size > 1:
        return Crossing(t=crossing.t, censoring="right", index=crossing.index)
    return crossing


def threshold_relative(ts: Curve, losses: Curve, rel_tol: float) -> CurveThreshold:
    """Definition (a): first t with l(t) <= (1 + rel_tol) min(antitonic fit of l)."""
    if not (rel_tol > 0 and math.isfinite(rel_tol)):
        raise ValueError(f"rel_tol must be a finite number > 0; got rel_tol={rel_tol}")
    t, loss = _checked(ts, losses, "losses")
    if np.any(loss < 0):
        raise ValueError(f"losses must be >= 0; got losses={loss.tolist()}")
    plateau = float(antitonic_fit(loss)[-1])
    level = (1.0 + rel_tol) * plateau
    crossing = _still_improving(first_crossing(t, loss, level), t.size)
    return CurveThreshold(crossing=crossing, level=level, **_minimum_and_rise(t, loss))


def threshold_absolute(ts: Curve, losses: Curve, abs_tol: float) -> CurveThreshold:
    """Definition (b): first t with l(t) <= abs_tol."""
    if not (abs_tol > 0 and math.isfinite(abs_tol)):
        raise ValueError(f"abs_tol must be a finite number > 0; got abs_tol={abs_tol}")
    t, loss = _checked(ts, losses, "losses")
    return CurveThreshold(crossing=first_crossing(t, loss, abs_tol), level=abs_tol, **_minimum_and_rise(t, loss))


def threshold_accuracy(ts: Curve, accuracies: Curve, points: float = ACCURACY_POINT) -> CurveThreshold:
    """Definition (c): first t with a(t) >= max a - points (accuracy as a fraction; 1 point = 0.01)."""
    if not (0 < points < 1):
        raise ValueError(f"points must lie in (0, 1); got points={points}")
    t, acc = _checked(ts, accuracies, "accuracies")
    best = int(np.argmax(acc))
    level = float(acc[best]) - points
    crossing = _still_improving(first_crossing(t, acc, level, below=False), t.size)
    return CurveThreshold(crossing=crossing, level=level, t_min=float(t[best]), rise=float(acc[best] - acc[-1]))


def _minimum_and_rise(t: np.ndarray, loss: np.ndarray) -> dict[str, float]:
    lowest = int(np.argmin(loss))
    minimum = float(loss[lowest])
    rise = float(loss[-1] / minimum - 1.0) if minimum > 0 else 0.0
    return {"t_min": float(t[lowest]), "rise": rise}


def curve_threshold(
    definition: str,
    ts: Curve,
    losses: Curve,
    accuracies: Curve,
    *,
    rel_tol: float,
    abs_tol: float,
) -> CurveThreshold:
    """Threshold `definition` ('relative', 'absolute', 'accuracy') of one cell's curves."""
    if definition == "relative":
        return threshold_relative(ts, losses, rel_tol)
    if definition == "absolute":
        return threshold_absolute(ts, losses, abs_tol)
    if definition == "accuracy":
        return threshold_accuracy(ts, accuracies)
    raise ValueError(f"definition must be one of {DEFINITIONS}; got definition={definition!r}")
