"""The analysis layer: everything the report and the figures present, computed once from a run's rows.

``analyze(run) -> RunAnalysis`` (frozen dataclasses). Nothing downstream recomputes a threshold, a fit,
a prediction or a bound: `ebtheory report` (text and JSON) and every figure only present this.

- thresholds: per GFS target and definition ((a) relative to the monotone plateau, (b) absolute, (c)
  test accuracy; docs/theory.md, section 7.1) every (m, seed) cell interpolated in ln t with its
  censoring, t_min and rise; per m the means over uncensored cells in every time unit (iterations,
  tau or epochs; section 7.2) beside the predicted t*; the fits across m (analysis.fits).
- predictions: t* per m from the units' `predicted` (proofs/threshold.md; computed by the unit from
  the measured constants with ebtheory.symbolic.evaluate_bound), converted by `predicted_time`, the one
  reader of a predicted t*.
- tables: Lemma A, baselines at equal k, accuracy, measured constants, Early-Bird (analysis.tables).
- hypotheses: per unit, each hypothesis of the theorem with its number (analysis.hypotheses).

Sizes m are compared in the run's comparison unit (tau for GD, epochs for SGD) by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ebtheory.verify.analysis.fits import FitSet, Observation, fit_thresholds
from ebtheory.verify.analysis.hypotheses import UnitHypotheses, run_hypotheses
from ebtheory.verify.analysis.per_run import per_run
from ebtheory.verify.analysis.tables import (
    GFS_SUBNETS,
    AccuracyRow,
    BaselineTable,
    ConstantsRow,
    EarlyBirdTable,
    LemmaASummary,
    LossVsK,
    accuracy_table,
    baseline_table,
    constants_table,
    earlybird_table,
    lemma_a_table,
    loss_vs_k,
    mean_or_none,
    subnets_recorded,
)
from ebtheory.verify.analysis.thresholds import DEFINITION_LABELS, DEFINITIONS, Censoring, curve_threshold
from ebtheory.verify.analysis.timeunits import (
    available_units,
    comparison_unit,
    prediction_scale,
    time_scale,
    unit_description,
)
from ebtheory.verify.records import RunRecord, UnitRow
from ebtheory.verify.spec import MINIBATCH_OPTIMIZERS, TWO_LAYER_MODELS, ExperimentSpec

REGIMES: tuple[str, ...] = ("fixed_eta", "du_eta")
REGIME_LABELS = {"fixed_eta": "t* at the run's eta", "du_eta": "t* at eta = lambda0/m^2 (not run)"}
LAYERWISE_NOTE = (
    "{model}: only the empirical part applies (docs/theory.md, section 5.6); Lemma A and t* are two-layer results."
)

__all__ = [
    "CellThreshold",
    "PredictionRow",
    "RunAnalysis",
    "SizeThresholds",
    "ThresholdSeries",
    "analyze",
    "predicted_time",
]


@dataclass(frozen=True)
class CellThreshold:
    """One (m, seed) threshold. t: the interpolated threshold in iterations (None when censored);
    bound: the censoring bound in iterations (None when not censored); t_min: argmin of the loss
    (argmax of the accuracy for (c)), iterations; rise: see analysis.thresholds; scales: unit -> s
    with time = s * iterations (None where the unit is undefined)."""

    m: int
    seed: int
    t: float | None
    censoring: Censoring
    bound: float | None
    t_min: float
    rise: float
    scales: dict[str, float | None]

    def time(self, unit: str) -> float | None:
        """The threshold in `unit` (None when censored or the unit is undefined)."""
        scale = self.scales.get(unit)
        return None if self.t is None or scale is None else self.t * scale

    def bound_in(self, unit: str) -> float | None:
        """The censoring bound in `unit` (None when not censored or the unit is undefined)."""
        scale = self.scales.get(unit)
        return None if self.bound is None or scale is None else self.bound * scale

    def value_or_bound(self, unit: str) -> float | None:
        """The threshold, or its bound when censored, in `unit`."""
        return self.time(unit) if self.censoring == "none" else self.bound_in(unit)


@dataclass(frozen=True)
class SizeThresholds:
    """Per m: counts and means over the uncensored cells (per unit), and the predicted t* beside them.

    predicted[regime][unit]: mean over seeds of the units' predicted t*; ratio[regime][unit]: predicted /
    empirical (None when either is missing or the empirical mean is 0).
    """

    m: int
    seeds: int
    reached: int
    left: int
    right: int
    t_hat: dict[str, float | None]
    t_min: dict[str, float | None]
    rise_max: float | None
    predicted: dict[str, dict[str, float | None]]
    ratio: dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class ThresholdSeries:
    """One target and definition: the cells, the per-m summary and the fits in every time unit."""

    target: str
    definition: str
    label: str
    curve: str
    cells: tuple[CellThreshold, ...]
    per_m: tuple[SizeThresholds, ...]
    fits: dict[str, FitSet]

    @property
    def key(self) -> str:
        """'<target>/<definition>', e.g. 'gfs_labels/relative'."""
        return f"{self.target}/{self.definition}"


@dataclass(frozen=True)
class PredictionRow:
    """Per m: mean over seeds of the predicted t* and its upper form, per regime and time unit."""

    m: int
    seeds: int
    t_star: dict[str, dict[str, float | None]]
    t_star_upper: dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class RunAnalysis:
    """Everything the report and the figures show about one run (see the module docstring)."""

    run_dir: Path
    spec: ExperimentSpec
    units_finished: int
    units_expected: int
    points: int
    points_expected: int
    complete: bool
    time_unit: str
    time_units: tuple[str, ...]
    time_unit_descriptions: dict[str, str]
    note: str | None
    lemma_a: dict[str, LemmaASummary]
    thresholds: dict[str, ThresholdSeries]
    predictions: tuple[PredictionRow, ...]
    baselines: BaselineTable | None
    accuracy: tuple[AccuracyRow, ...]
    constants: tuple[ConstantsRow, ...]
    loss_vs_k: LossVsK | None
    earlybird: EarlyBirdTable | None
    hypotheses: tuple[UnitHypotheses, ...]

    def series(self, target: str, definition: str) -> ThresholdSeries | None:
        """The threshold series of one target and definition, or None when not recorded."""
        return self.thresholds.get(f"{target}/{definition}")


def predicted_time(unit: UnitRow, regime: str, time_unit: str, upper: bool = False) -> float | None:
    """The unit's predicted t* (or its upper form) in `time_unit`; None when not predicted.

    The one reader of a predicted t*: UnitRow.predicted[regime] (iterations of GD on the sum loss at
    step Prediction.eta), converted by analysis.timeunits.prediction_scale.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}; got regime={regime!r}")
    prediction = (unit.predicted or {}).get(regime)
    if prediction is None:
        return None
    value = prediction.t_star_upper if upper else prediction.t_star
    return value * prediction_scale(prediction, unit.m, time_unit)


def _predictions(run: RunRecord, units: tuple[str, ...]) -> tuple[PredictionRow, ...]:
    """Mean predicted t* per m. The theory's t* counts full-batch GD iterations on the sum loss
    (proofs/threshold.md): a mini-batch run (spec.optimizer sgd or adam) is not compared with it (None)."""
    rows = []
    comparable = run.spec.optimizer not in MINIBATCH_OPTIMIZERS
    for m in sorted({u.m for u in run.units}):
        group = [u for u in run.units if u.m == m] if comparable else []
        rows.append(
            PredictionRow(
                m=m,
                seeds=len([u for u in run.units if u.m == m]),
                t_star={
                    r: {tu: mean_or_none([predicted_time(u, r, tu) for u in group]) for tu in units} for r in REGIMES
                },
                t_star_upper={
                    r: {tu: mean_or_none([predicted_time(u, r, tu, upper=True) for u in group]) for tu in units}
                    for r in REGIMES
                },
            )
        )
    return tuple(rows)


def _cells(run: RunRecord, target: str, definition: str, units: tuple[str, ...]) -> tuple[CellThreshold, ...]:
    """Thresholds of every (m, seed) cell holding every checkpoint (a partial cell has no plateau yet)."""
    spec = run.spec
    field = "train_loss_sum" if spec.threshold_loss == "sum" else "train_loss_mean"
    grid = list(spec.checkpoints)
    cells = []
    for m in run.ms:
        scales = {unit: time_scale(spec, m, unit) for unit in units}
        for seed in run.seeds:
            points = run.points_for(m=m, seed=seed)
            entries = [p.subnets.get(target) for p in points]
            if [p.t for p in points] != grid or any(e is None for e in entries):
                continue
            losses = [getattr(e, field) for e in entries]
            accuracies = [e.test_acc for e in entries]  # type: ignore[union-attr]
            result = curve_threshold(definition, grid, losses, accuracies, rel_tol=spec.rel_tol, abs_tol=spec.abs_tol)
            crossing = result.crossing
            cells.append(
                CellThreshold(
                    m=m,
                    seed=seed,
                    t=crossing.t if crossing.censoring == "none" else None,
                    censoring=crossing.censoring,
                    bound=None if crossing.censoring == "none" else crossing.t,
                    t_min=result.t_min,
                    rise=result.rise,
                    scales=scales,
                )
            )
    return tuple(cells)


def _per_m(
    cells: tuple[CellThreshold, ...], predictions: tuple[PredictionRow, ...], units: tuple[str, ...]
) -> tuple[SizeThresholds, ...]:
    by_m = {p.m: p for p in predictions}
    rows = []
    for m in sorted({c.m for c in cells}):
        group = [c for c in cells if c.m == m]
        t_hat = {unit: mean_or_none([c.time(unit) for c in group]) for unit in units}
        predicted = by_m[m].t_star if m in by_m else {r: dict.fromkeys(units) for r in REGIMES}
        ratio: dict[str, dict[str, float | None]] = {regime: {} for regime in REGIMES}
        for regime in REGIMES:
            for unit in units:
                star, empirical = predicted[regime].get(unit), t_hat.get(unit)
                ratio[regime][unit] = star / empirical if star is not None and empirical else None
        rows.append(
            SizeThresholds(
                m=m,
                seeds=len(group),
                reached=sum(c.censoring == "none" for c in group),
                left=sum(c.censoring == "left" for c in group),
                right=sum(c.censoring == "right" for c in group),
                t_hat=t_hat,
                t_min={
                    unit: mean_or_none([None if c.scales[unit] is None else c.t_min * c.scales[unit] for c in group])  # type: ignore[operator]
                    for unit in units
                },
                rise_max=max(c.rise for c in group),
                predicted=predicted,
                ratio=ratio,
            )
        )
    return tuple(rows)


def _series(
    run: RunRecord,
    target: str,
    definition: str,
    units: tuple[str, ...],
    compare: str,
    predictions: tuple[PredictionRow, ...],
) -> ThresholdSeries:
    cells = _cells(run, target, definition, units)
    fits = {}
    for unit in units:
        observations = [
            Observation(m=c.m, value=value, censoring=c.censoring)
            for c in cells
            if (value := c.value_or_bound(unit)) is not None
        ]
        fits[unit] = fit_thresholds(unit, observations)
    loss = "L" if run.spec.threshold_loss == "sum" else "L/m"
    curve = "pruned test accuracy" if definition == "accuracy" else f"pruned training loss {loss}"
    return ThresholdSeries(
        target=target,
        definition=definition,
        label=DEFINITION_LABELS[definition],
        curve=curve,
        cells=cells,
        per_m=_per_m(cells, predictions, units),
        fits=fits,
    )


@per_run
def analyze(run: RunRecord) -> RunAnalysis:
    """The analysis of a loaded run (ebtheory.verify.records.load_run). Computed once per RunRecord
    object (analysis.per_run), so the report and every figure of one command share one computation."""
    return _analyze(run)


def _analyze(run: RunRecord) -> RunAnalysis:
    spec = run.spec
    units = available_units(spec)
    compare = comparison_unit(spec)
    predictions = _predictions(run, units)
    thresholds = {}
    for target in subnets_recorded(run, GFS_SUBNETS):
        for definition in DEFINITIONS:
            series = _series(run, target, definition, units, compare, predictions)
            thresholds[series.key] = series
    relative = thresholds.get("gfs_labels/relative")
    t_hat_iterations = {} if relative is None else {row.m: row.t_hat["iterations"] for row in relative.per_m}
    t_star_iterations = {row.m: row.t_star["fixed_eta"]["iterations"] for row in predictions}
    expected_units = len(spec.ms) * len(spec.seeds)
    layerwise = spec.model not in TWO_LAYER_MODELS
    return RunAnalysis(
        run_dir=Path(run.run_dir),
        spec=spec,
        units_finished=len(run.units),
        units_expected=expected_units,
        points=len(run.points),
        points_expected=expected_units * len(spec.checkpoints),
        complete=len(run.units) == expected_units,
        time_unit=compare,
        time_units=units,
        time_unit_descriptions={unit: unit_description(spec, unit) for unit in units},
        note=LAYERWISE_NOTE.format(model=spec.model) if layerwise else None,
        lemma_a={} if layerwise else lemma_a_table(run),
        thresholds=thresholds,
        predictions=predictions,
        baselines=baseline_table(run),
        accuracy=accuracy_table(run),
        constants=constants_table(run),
        loss_vs_k=None if layerwise else loss_vs_k(run),
        earlybird=earlybird_table(run, t_star_iterations, t_hat_iterations),
        hypotheses=run_hypotheses(run),
    )
