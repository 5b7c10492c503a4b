"""The three clocks of a training run: iterations, per-example time tau, epochs (docs/theory.md, section 7.2).

A checkpoint t counts pre-training iterations (gradient steps). Every time the analysis reports is
t times a scale that depends on the unit, the spec and the size m:

- ``iterations``: scale 1.
- ``tau``, per-example time, full-batch GD only: a step eta_eff on the SUM loss 1/2||u - Y||_F^2 moves
  each example as a step eta_eff m on the per-example loss would, so tau = eta_eff m t for the sum
  loss and tau = eta_eff t for a per-example (mean) loss (mean_squares, cross_entropy). eta_eff is
  the step the unit ran with at this m (ebtheory.verify.spec.step_size: eta, or eta max(ms)/m under
  eta_scaling 'inverse_m'); ebtheory.symbolic.per_example_time_expr is the same formula.
  Not defined for SGD (None).
- ``epochs``: t b / m for mini-batch size b (b = m for full batch: one GD iteration is one epoch).

Sizes m are compared in tau (GD) or epochs (SGD) by default (`comparison_unit`): in iterations at a
fixed eta a larger m trains faster per step, which mixes two effects.
"""

from __future__ import annotations

from ebtheory.verify.records import Prediction
from ebtheory.verify.spec import ExperimentSpec, step_size

TIME_UNITS: tuple[str, ...] = ("iterations", "tau", "epochs")
MEAN_LOSSES = ("mean_squares", "cross_entropy")


def _check_unit(unit: str) -> None:
    if unit not in TIME_UNITS:
        raise ValueError(f"time unit must be one of {TIME_UNITS}; got unit={unit!r}")


def comparison_unit(spec: ExperimentSpec) -> str:
    """The unit in which sizes m are compared by default: 'epochs' for SGD, 'tau' for full-batch GD."""
    return "epochs" if spec.optimizer == "sgd" else "tau"


def available_units(spec: ExperimentSpec) -> tuple[str, ...]:
    """The units defined for this spec: iterations and tau (GD) or iterations and epochs (SGD)."""
    return ("iterations", "epochs") if spec.optimizer == "sgd" else ("iterations", "tau")


def time_scale(spec: ExperimentSpec, m: int, unit: str) -> float | None:
    """Multiplier s with time = s * t (t in iterations) for a unit of size m; None where undefined.

    tau: eta_eff * m (sum loss) or eta_eff (mean loss), GD only; epochs: batch / m (batch = m when
    spec.batch_size is 0 or >= m); iterations: 1.
    """
    _check_unit(unit)
    if m < 1:
        raise ValueError(f"m must be >= 1; got m={m}")
    if unit == "iterations":
        return 1.0
    if unit == "epochs":
        batch = m if spec.batch_size <= 0 else min(spec.batch_size, m)
        return batch / m
    if spec.optimizer == "sgd":
        return None
    eta_eff = step_size(spec, m)
    return eta_eff if spec.train_loss in MEAN_LOSSES else eta_eff * m


def prediction_scale(prediction: Prediction, m: int, unit: str) -> float:
    """Multiplier for a predicted t* (proofs/threshold.md: GD iterations on the SUM loss at step
    prediction.eta): tau = prediction.eta * m * t*; an iteration of full-batch GD is one epoch."""
    _check_unit(unit)
    if m < 1:
        raise ValueError(f"m must be >= 1; got m={m}")
    return prediction.eta * m if unit == "tau" else 1.0


def unit_description(spec: ExperimentSpec, unit: str) -> str:
    """One line naming the unit and its formula for this spec, for report and figure headers."""
    _check_unit(unit)
    if unit == "iterations":
        return "pre-training iterations t" + (" (SGD steps)" if spec.optimizer == "sgd" else " (full-batch GD steps)")
    if unit == "epochs":
        return "epochs t*b/m" if spec.optimizer == "sgd" else "epochs (= iterations: full-batch GD)"
    if spec.optimizer == "sgd":
        return "tau (undefined for SGD)"
    scaling = " with eta_eff = eta*max(m)/m" if spec.eta_scaling == "inverse_m" else " with eta_eff = eta"
    if spec.train_loss in MEAN_LOSSES:
        return f"per-example time tau = eta_eff*t (GD on the mean loss{scaling})"
    return f"per-example time tau = eta_eff*m*t (GD on the sum loss{scaling})"


def axis_label(unit: str) -> str:
    """Short axis label of a unit."""
    _check_unit(unit)
    return {"iterations": "iterations t", "tau": "per-example time tau", "epochs": "epochs"}[unit]
