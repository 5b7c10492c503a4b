"""The verdict of a recorded run: presents ebtheory.verify.analysis.analyze, computes nothing itself.

- ``build_report(run, time_unit=None) -> dict``: the analysis as JSON-able data (always valid JSON: no
  NaN or inf, None for what is missing). Per GFS target and threshold definition
  (``thresholds["<target>/<definition>"]``): every cell's threshold in every time unit with its
  censoring flag, bound, t_min and rise; the per-m summary beside the predicted t*; and the fits
  (``fits[unit]["log" | "power"]`` with ``slope_ci_t`` and ``slope_ci_bootstrap``, ``censored``,
  ``better``, ``grows``).
- ``format_report(analysis, time_unit=None) -> str``: the printed table. Sizes m are compared in the
  run's comparison unit (tau for GD, epochs for SGD; docs/theory.md, section 7.2) unless
  ``time_unit`` says otherwise, and every header names its unit.
Sections: Lemma A, thresholds (a), (b), (c) with fits, predictions, hypotheses per unit (docs/theory.md,
section 8), baselines at equal k, accuracy, Early-Bird; with `ebtheory report --predict`, the spectral
predictor's section (``spectral_prediction``, ``format_prediction``; docs/theory.md, section 9).
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ebtheory.verify.analysis import CellThreshold, RunAnalysis, ThresholdSeries, analyze
from ebtheory.verify.analysis.fits import FitSet, Interval, LineFit
from ebtheory.verify.analysis.tables import TICKETS
from ebtheory.verify.analysis.timeunits import TIME_UNITS, clock_name
from ebtheory.verify.records import RunRecord
from ebtheory.verify.spec import MINIBATCH_OPTIMIZERS, subnetwork_size

__all__ = [
    "TICKETS",
    "build_report",
    "format_prediction",
    "format_report",
    "report_is_finite",
    "spectral_prediction",
    "to_jsonable",
]


# --------------------------------------------------------------------------------------------- JSON


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dicts, tuples and paths as JSON data; non-finite floats become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _cell_json(cell: CellThreshold, units: Sequence[str]) -> dict[str, Any]:
    return {
        "m": cell.m,
        "seed": cell.seed,
        "censoring": cell.censoring,
        "left_censored": cell.censoring == "left",
        "right_censored": cell.censoring == "right",
        "t": {unit: cell.time(unit) for unit in units},
        "bound": {unit: cell.bound_in(unit) for unit in units},
        "t_min": {unit: None if cell.scales[unit] is None else cell.t_min * cell.scales[unit] for unit in units},  # type: ignore[operator]
        "rise": cell.rise,
    }


def _series_json(series: ThresholdSeries, units: Sequence[str]) -> dict[str, Any]:
    return {
        "target": series.target,
        "definition": series.definition,
        "label": series.label,
        "curve": series.curve,
        "cells": [_cell_json(c, units) for c in series.cells],
        "per_m": to_jsonable(series.per_m),
        "fits": to_jsonable(series.fits),
    }


def build_report(run: RunRecord | RunAnalysis, time_unit: str | None = None) -> dict[str, Any]:
    """The analysis of `run` as JSON-able data (see the module docstring); finite numbers or None."""
    analysis = run if isinstance(run, RunAnalysis) else analyze(run)
    compare = _unit(analysis, time_unit)
    spec = analysis.spec
    units = analysis.time_units
    return to_jsonable(
        {
            "run_dir": str(analysis.run_dir),
            "name": spec.name,
            "hash": spec.hash,
            "model": spec.model,
            "dataset": spec.dataset,
            "k": spec.k,
            "dtype": spec.dtype,
            "units_finished": analysis.units_finished,
            "units_expected": analysis.units_expected,
            "points": analysis.points,
            "points_expected": analysis.points_expected,
            "complete": analysis.complete,
            "time_unit": compare,
            "time_units": list(units),
            "time_unit_descriptions": analysis.time_unit_descriptions,
            "note": analysis.note,
            "lemma_a": analysis.lemma_a,
            "thresholds": {key: _series_json(s, units) for key, s in analysis.thresholds.items()},
            "predictions": analysis.predictions,
            "hypotheses": analysis.hypotheses,
            "baselines": analysis.baselines,
            "accuracy": [{"m": row.m, **row.values} for row in analysis.accuracy],
            "constants": analysis.constants,
            "earlybird": analysis.earlybird,
        }
    )


def report_is_finite(report: Any) -> bool:
    """True when no float in the report is NaN or inf (the report never prints silent NaN)."""
    if isinstance(report, float):
        return math.isfinite(report)
    if isinstance(report, dict):
        return all(report_is_finite(v) for v in report.values())
    if isinstance(report, list | tuple):
        return all(report_is_finite(v) for v in report)
    return True


# --------------------------------------------------------------------------------------------- text


def _unit(analysis: RunAnalysis, time_unit: str | None) -> str:
    if time_unit is None:
        return analysis.time_unit
    if time_unit not in analysis.time_units:
        raise ValueError(
            f"time_unit must be one of {analysis.time_units} for this run (of {TIME_UNITS}); got time_unit={time_unit!r}"
        )
    return time_unit


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}" if abs(value) >= 1 else f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], body: list[list[Any]]) -> list[str]:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in body]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]


def _signed(value: float) -> str:
    """'+ 3.2' or '- 3.2': a coefficient after another term."""
    return f"{'-' if value < 0 else '+'} {_fmt(abs(value), 4)}"


def _interval(interval: Interval | None, what: str) -> str:
    if interval is None:
        return f"{what}: none (fewer than 3 cells)"
    text = f"{what} {int(round(interval.level * 100))}% CI [{_fmt(interval.low, 4)}, {_fmt(interval.high, 4)}]"
    return text + (" DEGENERATE (zero width: every resample equal; not a CI)" if interval.degenerate else "")


def _line_fit(fit: LineFit | None, reason: str | None, unit: str) -> str:
    if fit is None:
        return f"none ({reason})"
    if fit.model == "log":
        head = f"t_hat* = {_fmt(fit.intercept, 4)} {_signed(fit.slope)} ln m"
    else:
        head = f"t_hat* = {_fmt(math.exp(fit.intercept), 4)} m^{_fmt(fit.slope, 4)}"
    slope = "beta" if fit.model == "log" else "p"
    return (
        f"{head} ({unit}; {fit.n_used} cells, {fit.n_sizes} sizes); {slope}: "
        f"{_interval(fit.slope_ci_t, 't-based')}, {_interval(fit.slope_ci_bootstrap, 'bootstrap')}; "
        f"leave-one-m-out RMSE {_fmt(fit.loo_rmse)}"
    )


def _fit_lines(fits: FitSet) -> list[str]:
    unit = fits.unit
    lines = [
        f"  cells: {fits.n_uncensored} uncensored, {fits.n_left} left-censored (reached at the first checkpoint), "
        f"{fits.n_right} right-censored (not reached, or only at the last checkpoint); censored cells are "
        "excluded from the least-squares fits",
        f"  fit ln m:  {_line_fit(fits.log, fits.reasons.get('log'), unit)}",
        f"  fit power: {_line_fit(fits.power, fits.reasons.get('power'), unit)}",
        "  better fit (leave-one-m-out): "
        + ({"log": "ln m", "power": "power law"}[fits.better] if fits.better else f"- ({fits.reasons.get('better')})"),
    ]
    if fits.censored is not None:
        c = fits.censored
        lines.append(
            f"  censored fit (Tobit, all {c.n_used} cells): t_hat* = {_fmt(c.alpha, 4)} {_signed(c.beta)} ln m, "
            f"sigma {_fmt(c.sigma)}, beta {_interval(c.beta_ci, 'Wald')}"
        )
    elif "censored" in fits.reasons:
        lines.append(f"  censored fit: refused ({fits.reasons['censored']})")
    lines.append(f"  grows with ln m: {fits.grows} ({fits.reasons.get('grows', '')})")
    return lines


def _threshold_lines(series: ThresholdSeries, unit: str) -> list[str]:
    fits = series.fits[unit]
    lines = ["", f"threshold {series.key}: {series.label}, on the {series.curve}; times in {unit}"]
    lines += _fit_lines(fits)
    iterations = unit == "iterations"
    headers = ["m", "seeds", "reached", "left", "right", f"t_hat* ({unit})"]
    headers += [] if iterations else ["t_hat* (iters)"]
    headers += [f"t_min ({unit})", "max rise"]
    headers += [f"t* fixed eta ({unit})", "pred/emp", f"t* eta=lambda0/m^2 ({unit})", "pred/emp"]
    body = []
    for row in series.per_m:
        cells = [row.m, row.seeds, row.reached, row.left, row.right, row.t_hat.get(unit)]
        cells += [] if iterations else [row.t_hat.get("iterations")]
        cells += [row.t_min.get(unit), row.rise_max]
        cells += [
            row.predicted["fixed_eta"].get(unit),
            row.ratio["fixed_eta"][unit],
            row.predicted["du_eta"].get(unit),
            row.ratio["du_eta"][unit],
        ]
        body.append(cells)
    return lines + _table(headers, body)


def _hypotheses_lines(analysis: RunAnalysis) -> list[str]:
    if not analysis.hypotheses:
        return []
    numbers = [c.number for c in analysis.hypotheses[0].checks]
    names = {c.number: c.name for c in analysis.hypotheses[0].checks}
    lines = [
        "",
        "Hypotheses of the theorem per unit (docs/theory.md, section 8; unknown constants taken as 1; "
        "n/r = not recorded):",
    ]
    if analysis.spec.optimizer in MINIBATCH_OPTIMIZERS:
        lines.append(
            f"  (the theorem assumes full-batch GD on the sum loss; this run used {analysis.spec.optimizer} on "
            f"{analysis.spec.train_loss}: the step-size and rate checks measure the GD hypotheses at this eta, for reference)"
        )
    word = {True: "held", False: "FAILED", None: "n/r"}
    lines += _table(
        ["m", "seed", *numbers],
        [[h.m, h.seed, *[word[c.held] for c in h.checks]] for h in analysis.hypotheses],
    )
    for number in numbers:
        checks = [c for h in analysis.hypotheses for c in h.checks if c.number == number]
        held = sum(c.held is True for c in checks)
        failed = sum(c.held is False for c in checks)
        values = [c.value for c in checks if c.value is not None]
        references = [c.reference for c in checks if c.reference is not None]
        span = (
            f"value {_fmt(min(values))}..{_fmt(max(values))} vs {_fmt(min(references))}..{_fmt(max(references))}"
            if values and references
            else (checks[0].detail if checks else "")
        )
        detail = next((c.detail for c in checks if c.detail and not c.detail.startswith("not recorded")), "")
        counted = [c for c in checks if c.checkpoints]
        if counted:
            detail = (
                f"held at {sum(c.checkpoints_held or 0 for c in counted)}/{sum(c.checkpoints or 0 for c in counted)} "
                "checkpoints over all units (value: the smallest)"
            )
        lines.append(
            f"  {number} {names[number]}: held {held}, failed {failed}, not recorded {len(checks) - held - failed}; "
            f"{span}" + (f"; {detail}" if detail and values else "")
        )
    return lines


def _prediction_lines(analysis: RunAnalysis, unit: str) -> list[str]:
    if not analysis.predictions or all(r.t_star["fixed_eta"][unit] is None for r in analysis.predictions):
        return []
    lines = ["", f"predicted t* (proofs/threshold.md; mean over seeds; {unit}):"]
    lines += _table(
        ["m", "seeds", "t* fixed eta", "upper form", "t* eta=lambda0/m^2", "upper form"],
        [
            [
                r.m,
                r.seeds,
                r.t_star["fixed_eta"][unit],
                r.t_star_upper["fixed_eta"][unit],
                r.t_star["du_eta"][unit],
                r.t_star_upper["du_eta"][unit],
            ]
            for r in analysis.predictions
        ],
    )
    return lines


def format_report(analysis: RunAnalysis | RunRecord, time_unit: str | None = None) -> str:
    """The verdict table printed by `ebtheory report` and after `ebtheory run`."""
    if isinstance(analysis, RunRecord):
        analysis = analyze(analysis)
    unit = _unit(analysis, time_unit)
    spec = analysis.spec
    lines = [
        f"run {spec.name} ({spec.hash}): {spec.model} on {spec.dataset}, " + subnetwork_size(spec) + f", {spec.dtype}",
        f"units {analysis.units_finished}/{analysis.units_expected}, points {analysis.points}/"
        f"{analysis.points_expected}" + ("" if analysis.complete else "  (INCOMPLETE: rerun to resume)"),
        f"times: sizes m are compared in {analysis.time_unit_descriptions[unit]}"
        + ("" if unit == "iterations" else "; iterations beside"),
    ]
    if spec.optimizer in MINIBATCH_OPTIMIZERS:
        lines.append(
            f"the theory's t* counts full-batch GD iterations on the sum loss: not compared with this {spec.optimizer} run"
        )
    if analysis.note:
        lines.append(analysis.note)
    if analysis.lemma_a:
        lines += ["", "Lemma A (sum loss, bound at the measured L(u) and V at each t):"]
        lines += _table(
            ["target", "points", "held everywhere", "violations", "worst measured/bound", "vacuous points"],
            [
                [name, v.points, v.held_everywhere, v.violations, v.worst_ratio, f"{v.vacuous_points}/{v.points}"]
                for name, v in analysis.lemma_a.items()
            ],
        )
    for series in analysis.thresholds.values():
        lines += _threshold_lines(series, unit)
    lines += _prediction_lines(analysis, unit)
    lines += _hypotheses_lines(analysis)
    if analysis.baselines:
        base = analysis.baselines
        lines += [
            "",
            f"subnetworks at equal k, longest pre-training t = {base.t} {clock_name(spec)} (means over m and seeds):",
        ]
        lines += _table(
            ["subnet", "train L/m", "test acc", "tuned L/m", "tuned test acc"],
            [
                [n, v.train_loss_mean, v.test_acc, v.finetuned_train_loss_mean, v.finetuned_test_acc]
                for n, v in base.at_t_max.items()
            ],
        )
        for pair, fraction in base.gfs_lower_loss_fraction.items():
            lines.append(f"  {pair.replace('<', ' has lower training loss than ')}: {fraction:.0%} of points")
    if analysis.accuracy:
        keys = list(analysis.accuracy[0].values)
        lines += ["", "accuracy at the longest t (means over seeds):"]
        lines += _table(["m", *keys], [[r.m, *[r.values.get(k) for k in keys]] for r in analysis.accuracy])
    if analysis.earlybird:
        lines += ["", *_earlybird_lines(analysis)]
    return "\n".join(lines)


def _earlybird_lines(analysis: RunAnalysis) -> list[str]:
    eb = analysis.earlybird
    assert eb is not None
    settings = eb.settings
    lines = [
        f"Early-Bird vs the pre-training threshold ({clock_name(analysis.spec)}; the mask times play the role of epochs: "
        f"{eb.mask_times}; {settings.score} masks at p = {_fmt(settings.ratio)}, window {eb.window}, "
        f"eps {_fmt(settings.eps)}, {settings.compare}; earliest possible detection t = {_fmt(eb.earliest_t)}):"
    ]
    lines += _table(
        [
            "m",
            "detected",
            "at earliest",
            "EB t",
            "t* fixed eta",
            "t_hat* (a)",
            "EB-final dist",
            "budget t_EB+F",
            "neurons n",
            "EB train",
            "GFS train",
            "IMP train",
            "EB test",
            "GFS test",
            "IMP test",
        ],
        [
            [
                r.m,
                f"{r.detected}/{r.seeds}",
                r.at_earliest,
                r.earlybird_t,
                r.t_star_fixed_eta,
                r.t_hat_relative,
                r.distance_to_final,
                r.budget_iterations,
                r.neurons,
                *[r.ticket_train_acc[name] for name in TICKETS],
                *[r.ticket_test_acc[name] for name in TICKETS],
            ]
            for r in eb.per_m
        ],
    )
    if settings.tickets_skipped and all(r.budget_iterations is None for r in eb.per_m):
        lines.append(f"  tickets: none ({settings.tickets_skipped})")
    lines += textwrap.wrap(eb.reading, width=110)
    return lines


# ------------------------------------------------------------------------------------ prediction


def spectral_prediction(run: RunRecord) -> Any:
    """The spectral threshold predictor of the run (ebtheory.verify.analysis.prediction.predict_run,
    calibrated at the smallest complete m; docs/theory.md, section 9). ValueError when the run is not
    one it can predict (it says why)."""
    from ebtheory.verify.analysis.prediction import default_prediction

    return default_prediction(run)


def format_prediction(prediction: Any) -> str:
    """The short "prediction" section: per definition and m, predicted against empirical t_hat*
    (means over the cells that reach it, iterations and tau), reached counts and mismatches."""
    lines = [
        f"spectral prediction (docs/theory.md, section 9): mode {prediction.mode}, calibrated at m = "
        f"{prediction.calibrate_at}; thresholds in iterations and in tau; a mismatch is a cell where exactly one "
        "of prediction and run reaches the threshold (a failure)"
    ]
    body = []
    for c in prediction.comparisons:
        tau = None if c.predicted is None else c.predicted * c.tau_scale
        empirical_tau = None if c.empirical is None else c.empirical * c.tau_scale
        body.append(
            [
                c.definition,
                c.m,
                c.predicted,
                c.empirical,
                tau,
                empirical_tau,
                c.ratio,
                f"{c.reached_predicted}/{c.reached_empirical}/{c.cells}",
                c.mismatches,
                c.t_star,
            ]
        )
    lines += _table(
        [
            "definition",
            "m",
            "predicted (iters)",
            "empirical (iters)",
            "predicted (tau)",
            "empirical (tau)",
            "pred/emp",
            "reached pred/emp/cells",
            "mismatches",
            "t* fixed eta (iters)",
        ],
        body,
    )
    worst = ", ".join(f"{d} {_fmt(r)}" for d, r in prediction.worst_ratio.items())
    failures = ", ".join(f"{d} {n}" for d, n in prediction.failures.items())
    lines.append(f"  worst max(ratio, 1/ratio) over m != m_c: {worst}; mismatches over m != m_c: {failures}")
    return "\n".join(lines)
