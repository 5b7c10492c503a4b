"""The three clocks of a training run: iterations, per-example time tau, epochs (docs/theory.md, section 7.2).

A checkpoint t is on the spec's clock: pre-training iterations (gradient steps), or with
spec.ticks_per_epoch = q >= 1 ticks of 1/q epoch (the practitioner regime, ebtheory.verify.spec). Every
time the analysis reports is t times a scale that depends on the unit, the spec and the size m:

- ``iterations``: scale 1; on an epoch clock S/q with S = ceil(m/b) iterations per epoch (exact at whole
  epochs; a fraction of an epoch rounds up to whole mini-batches, ebtheory.epochs.epochs_to_steps).
- ``tau``, per-example time, full-batch GD only: a step eta_eff on the SUM loss 1/2||u - Y||_F^2 moves
  each example as a step eta_eff m on the per-example loss would, so tau = eta_eff m t for the sum
  loss and tau = eta_eff t for a per-example (mean) loss (mean_squares, cross_entropy). eta_eff is
  the step the unit ran with at this m (ebtheory.verify.spec.step_size: eta, or eta max(ms)/m under
  eta_scaling 'inverse_m'); ebtheory.symbolic.per_example_time_expr is the same formula.
  Not defined for SGD (None).
- ``epochs``: t b / m for mini-batch size b (b = m for full batch: one GD iteration is one epoch); on
  an epoch clock 1/q.

Sizes m are compared in tau (GD) or epochs (SGD, Adam) by default (`comparison_unit`): in iterations at a
fixed eta a larger m trains faster per step, which mixes two effects.
"""

from __future__ import annotations

from ebtheory.epochs import steps_per_epoch
from ebtheory.verify.records import Prediction
from ebtheory.verify.spec import MINIBATCH_OPTIMIZERS, ExperimentSpec, step_size

TIME_UNITS: tuple[str, ...] = ("iterations", "tau", "epochs")
MEAN_LOSSES = ("mean_squares", "cross_entropy")


def _check_unit(unit: str) -> None:
    if unit not in TIME_UNITS:
        raise ValueError(f"time unit must be one of {TIME_UNITS}; got unit={unit!r}")


def comparison_unit(spec: ExperimentSpec) -> str:
    """The unit in which sizes m are compared by default: 'epochs' for SGD and Adam, 'tau' for full-batch GD."""
    return "epochs" if spec.optimizer in MINIBATCH_OPTIMIZERS else "tau"


def available_units(spec: ExperimentSpec) -> tuple[str, ...]:
    """The units defined for this spec: iterations and tau (GD) or iterations and epochs (SGD, Adam)."""
    return ("iterations", "epochs") if spec.optimizer in MINIBATCH_OPTIMIZERS else ("iterations", "tau")


def time_scale(spec: ExperimentSpec, m: int, unit: str) -> float | None:
    """Multiplier s with time = s * t (t on the spec's clock) for a unit of size m; None where undefined.

    tau: eta_eff * m (sum loss) or eta_eff (mean loss), GD only; epochs: batch / m (batch = m when
    spec.batch_size is 0 or >= m); iterations: 1. On an epoch clock (spec.ticks_per_epoch = q >= 1):
    epochs 1/q, iterations ceil(m / batch) / q (module docstring).
    """
    _check_unit(unit)
    if m < 1:
        raise ValueError(f"m must be >= 1; got m={m}")
    batch = m if spec.batch_size <= 0 else min(spec.batch_size, m)
    if spec.ticks_per_epoch > 0:
        if unit == "tau":
            return None
        per_tick = 1.0 / spec.ticks_per_epoch
        return per_tick * steps_per_epoch(m, batch) if unit == "iterations" else per_tick
    if unit == "iterations":
        return 1.0
    if unit == "epochs":
        return batch / m
    if spec.optimizer in MINIBATCH_OPTIMIZERS:
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
    minibatch = spec.optimizer in MINIBATCH_OPTIMIZERS
    q = spec.ticks_per_epoch
    if unit == "iterations":
        if q > 0:
            return f"pre-training iterations ({spec.optimizer} steps, about ceil(m/b)/{q} per tick)"
        return "pre-training iterations t" + (f" ({spec.optimizer} steps)" if minibatch else " (full-batch GD steps)")
    if unit == "epochs":
        if q > 0:
            return f"epochs (checkpoints every 1/{q} epoch; {spec.optimizer}, batch {spec.batch_size or 'm'})"
        return "epochs t*b/m" if minibatch else "epochs (= iterations: full-batch GD)"
    if minibatch:
        return f"tau (undefined for {spec.optimizer})"
    scaling = " with eta_eff = eta*max(m)/m" if spec.eta_scaling == "inverse_m" else " with eta_eff = eta"
    if spec.train_loss in MEAN_LOSSES:
        return f"per-example time tau = eta_eff*t (GD on the mean loss{scaling})"
    return f"per-example time tau = eta_eff*m*t (GD on the sum loss{scaling})"


def clock_name(spec: ExperimentSpec) -> str:
    """What the spec's checkpoints count: 'iterations', or 'ticks of 1/q epoch' (spec.ticks_per_epoch)."""
    return "iterations" if spec.ticks_per_epoch == 0 else f"ticks of 1/{spec.ticks_per_epoch} epoch"


def axis_label(unit: str) -> str:
    """Short axis label of a unit."""
    _check_unit(unit)
    return {"iterations": "iterations t", "tau": "per-example time tau", "epochs": "epochs"}[unit]
