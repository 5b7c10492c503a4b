"""Which hypotheses of the threshold theorem held on each unit of a run (docs/theory.md, section 8).

One check per row of the table of section 8, numbered as there (8.1 ... 8.7), each a measured value,
a relation, a reference and held / failed / not recorded (held None). Unknown O() constants of Du et
al. (c_N, c_eta, the lazy-radius constant) are taken as 1. Sources, all recorded rows:

- 8.1 lazy training: UnitRow.hypotheses.drift_max <= lazy_radius (the radius the proof needs); the
  drift alone (PointDiagnostics.drift) has nothing to compare with, so without the record it is
  "not recorded".
- 8.2 Gram: PointDiagnostics.lambda_min_H at every checkpoint >= 3 lambda0/4 (Du et al. Lemma 3.1);
  the number of checkpoints where it held is given; falls back to UnitRow.hypotheses.lambda_min_H0.
- 8.3 spread (H3, proofs/threshold.md): max_t V(t) <= V_bar, the V the prediction used; V(t)/V(0)
  shows how much V grew (growth means V(0) would not do). V_bar is the largest V on the grid, so this
  holds on the recorded checkpoints by construction and says nothing between or after them.
- 8.4 step size: eta <= lambda0/m^2 (Du et al. Thm 4.1), and 8.4s stability: eta lambda_max < 2.
- 8.5 width: N >= m^6/(lambda0^4 delta^3) (Du et al. Thm 4.1).
- 8.6 dense rate: L(t) <= (1 - eta lambda0/2)^t L(0) at every recorded iteration (sum loss).
- 8.7 initial loss: L(0) <= L0_bound, the Markov bound (proofs/initial_loss.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ebtheory.constants.diagnostics import step_size_requirement, width_requirement
from ebtheory.symbolic import dense_rate_factor
from ebtheory.verify.records import PointRow, RunRecord, UnitRow

SLACK = 1e-9  # relative slack on measured-vs-bound comparisons (float rounding)


@dataclass(frozen=True)
class HypothesisCheck:
    """One hypothesis on one unit: `value relation reference`, held (None: not recorded); for a check
    made at every checkpoint, the checkpoints where it held and how many were measured."""

    number: str
    name: str
    value: float | None
    relation: str
    reference: float | None
    held: bool | None
    detail: str = ""
    checkpoints_held: int | None = None  # per-checkpoint checks: where it held, out of `checkpoints`
    checkpoints: int | None = None


@dataclass(frozen=True)
class UnitHypotheses:
    """The checks of unit (m, seed), in the order of docs/theory.md, section 8."""

    m: int
    seed: int
    checks: tuple[HypothesisCheck, ...]


def _not_recorded(number: str, name: str, relation: str, why: str) -> HypothesisCheck:
    return HypothesisCheck(number, name, None, relation, None, None, f"not recorded: {why}")


def _lazy(unit: UnitRow) -> HypothesisCheck:
    name = "lazy training: max drift <= lazy radius R"
    record = getattr(unit, "hypotheses", None)  # UnitRow.hypotheses: rows of schema 2 may lack it
    if record is None or record.drift_max is None:
        return _not_recorded("8.1", name, "<=", "the unit has no lazy radius (UnitRow.hypotheses)")
    held = record.drift_max <= record.lazy_radius * (1 + SLACK)
    return HypothesisCheck("8.1", name, record.drift_max, "<=", record.lazy_radius, held, "constant taken as 1")


# UnitConstants.lambda0 is None above ebtheory.verify.spec.H_INF_SPECTRUM_MAX_M examples
NO_LAMBDA0 = "lambda0 not measured: m above H_INF_SPECTRUM_MAX_M (the m x m H_inf spectrum does not fit)"


def _gram(unit: UnitRow, points: list[PointRow], lambda0: float | None) -> HypothesisCheck:
    name = "Gram: lambda_min(H(t)) >= 3 lambda0/4 at every checkpoint"
    if lambda0 is None:
        return _not_recorded("8.2", name, ">=", NO_LAMBDA0)
    reference = 0.75 * lambda0
    measured = [
        (p.t, p.diagnostics.lambda_min_H) for p in points if p.diagnostics and p.diagnostics.lambda_min_H is not None
    ]
    if measured:
        held_at = sum(value >= reference * (1 - SLACK) for _, value in measured)
        lowest = min(value for _, value in measured)
        return HypothesisCheck(
            "8.2",
            name,
            lowest,
            ">=",
            reference,
            held_at == len(measured),
            f"held at {held_at}/{len(measured)} checkpoints (value: the smallest)",
            checkpoints_held=held_at,
            checkpoints=len(measured),
        )
    record = getattr(unit, "hypotheses", None)  # UnitRow.hypotheses: rows of schema 2 may lack it
    if record is not None and record.lambda_min_H0 is not None:
        held = record.lambda_min_H0 >= reference * (1 - SLACK)
        return HypothesisCheck("8.2", name, record.lambda_min_H0, ">=", reference, held, "at t = 0 only")
    return _not_recorded("8.2", name, ">=", "no lambda_min(H(t)) in the point diagnostics")


def _spread(unit: UnitRow, points: list[PointRow], V0: float, V_bar: float) -> HypothesisCheck:
    name = "(H3) spread: V(t) <= V_bar at every checkpoint"
    spreads = [p.V for p in points if p.V is not None]
    if not spreads:
        return _not_recorded("8.3", name, "<=", "no V in the point rows")
    largest = max(spreads)
    growth = f"V(t)/V(0) up to {largest / V0:.3g}" if V0 > 0 else "V(0) = 0"
    return HypothesisCheck(
        "8.3", name, largest, "<=", V_bar, largest <= V_bar * (1 + SLACK), f"{growth}; on the grid only"
    )


def _dense_rate(unit: UnitRow, eta: float, lambda0: float) -> HypothesisCheck:
    name = "dense rate: L(t) <= (1 - eta lambda0/2)^t L(0) at every iteration"
    curve = unit.dense_loss_curve
    if curve is None or len(curve) < 2 or curve[0] is None:
        return _not_recorded("8.6", name, "<=", "no dense loss curve (SGD, or not finite)")
    try:
        rho = dense_rate_factor(eta, lambda0)
    except ValueError as error:
        return HypothesisCheck("8.6", name, None, "<=", None, False, f"no rate: {error}")
    start = curve[0]
    ratios = [
        value / (start * rho**t) for t, value in enumerate(curve) if t > 0 and value is not None and start * rho**t > 0
    ]
    worst = max(ratios) if ratios else None
    held = None if worst is None else (worst <= 1 + SLACK and None not in curve)
    return HypothesisCheck("8.6", name, worst, "<=", 1.0, held, "value: max over t >= 1 of L(t) / (rho^t L(0))")


def unit_hypotheses(run: RunRecord, unit: UnitRow) -> UnitHypotheses | None:
    """The checks of one two-layer unit, or None when it recorded no constants (CNN)."""
    constants = unit.constants
    if constants is None:
        return None
    spec = run.spec
    points = run.points_for(m=unit.m, seed=unit.seed)
    m, lambda0, eta = unit.m, constants.lambda0, constants.eta
    checks = [_lazy(unit), _gram(unit, points, lambda0), _spread(unit, points, constants.V0, constants.V_bar)]
    record = getattr(unit, "hypotheses", None)  # UnitRow.hypotheses: rows of schema 2 may lack it
    if lambda0 is not None and lambda0 > 0:
        eta_bound = record.eta_bound if record is not None else step_size_requirement(m, lambda0)
        width_bound = record.width_bound if record is not None else width_requirement(m, lambda0, spec.delta)
    else:
        eta_bound, width_bound = None, None
    checks.append(
        HypothesisCheck(
            "8.4",
            "step size: eta <= lambda0/m^2",
            eta,
            "<=",
            eta_bound,
            None if eta_bound is None else eta <= eta_bound * (1 + SLACK),
            "c_eta taken as 1",
        )
    )
    eta_lambda_max = constants.eta_times_lambda_max
    checks.append(
        HypothesisCheck("8.4s", "stability: eta lambda_max < 2", eta_lambda_max, "<", 2.0, eta_lambda_max < 2)
        if eta_lambda_max is not None
        else _not_recorded("8.4s", "stability: eta lambda_max < 2", "<", NO_LAMBDA0)
    )
    finite_width = width_bound is not None and math.isfinite(width_bound)
    checks.append(
        HypothesisCheck(
            "8.5",
            "width: N >= m^6/(lambda0^4 delta^3)",
            float(constants.width),
            ">=",
            width_bound if finite_width else None,
            None if width_bound is None else (finite_width and constants.width >= width_bound),
            "c_N taken as 1" + ("" if finite_width or width_bound is None else "; the bound exceeds the float range"),
        )
    )
    checks.append(
        _dense_rate(unit, eta, lambda0)
        if lambda0 is not None and lambda0 > 0
        else _not_recorded("8.6", "dense rate", "<=", "lambda0 <= 0" if lambda0 is not None else NO_LAMBDA0)
    )
    prediction = (unit.predicted or {}).get("fixed_eta")
    if prediction is None:
        checks.append(_not_recorded("8.7", "initial loss: L(0) <= L0_bound", "<=", "no prediction"))
    else:
        checks.append(
            HypothesisCheck(
                "8.7",
                "initial loss: L(0) <= L0_bound",
                constants.L0_sum,
                "<=",
                prediction.L0_bound,
                constants.L0_sum <= prediction.L0_bound * (1 + SLACK),
                "Markov bound, proofs/initial_loss.md",
            )
        )
    return UnitHypotheses(m=m, seed=unit.seed, checks=tuple(checks))


def run_hypotheses(run: RunRecord) -> tuple[UnitHypotheses, ...]:
    """unit_hypotheses of every finished two-layer unit, in (m, seed) order."""
    return tuple(h for unit in run.units if (h := unit_hypotheses(run, unit)) is not None)
