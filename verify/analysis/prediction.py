"""The spectral threshold predictor: calibrate at one m, predict the curves and thresholds at every other
m of a recorded run (docs/theory.md, section 9; issue 11).

Per (m, seed) cell of a two-layer NTK run trained by full-batch GD on the squared loss:

1. Dense curve. The cell's training inputs and one-hot targets are reloaded with the harness's data
   selection (ebtheory.verify.unit.load_unit_data) and its initial network rebuilt
   (ebtheory.verify.unit.build_model: seeded, so U0 is the run's own initial output). The spectral
   curve L_pred(t) = 1/2 sum_i |1 - eta lambda_i|^(2t) p_i (ebtheory.constants.spectral; Lanczos
   Gauss quadrature) is evaluated at the cell's sum-loss step eta = tau-scale / m.
2. Level dilation (calibrated mode). At the calibration size m_c, for per-example levels l between
   the recorded dense curve's range, rho(l) = t_recorded(l) / t_pred(l) (geometric mean over seeds; the
   recorded curve has every iteration). At other m the dense curve is dilated level by level: it
   reaches l at rho(l) t_pred(l). rho is interpolated in ln l and held constant outside the
   calibrated levels.
3. Pruned curve (per example): p(t) = min(P0, c1 L(t)/m + gamma v(tau)/(2k))
   (ebtheory.symbolic.pruned_curve_model_expr), tau = eta_eff m t per-example time.
   calibrated: gamma = median over m_c's points of (GFS approximation error) / (V/(2k)), the
   approximation error being the recorded target loss of the gfs_dense subnetwork (GFS fitted to the
   dense output u: its loss against u is exactly 1/2 ||u_S - u||^2); v(tau) = V/m from m_c's points
   (mean over seeds), interpolated in ln(1 + tau) and extrapolated linearly in ln(1 + tau) from its
   last third (the floor: v grows as the net trains, so the pruned curve can rise again and a level
   below the floor is predicted "not reached"); P0 = m_c's pruned per-example loss at t = 0.
   theory ("zero calibration"): gamma = 1/(1 - eps) (Lemma A), v = E[V(0)]/m = C kappa^2 (N - 1)/2
   held constant, P0 = the empty selection's loss ||Y||^2/(2m), no dilation.
   c1: 1 in the calibrated mode (the exact decomposition L(u_S) = L(u) + 1/2 ||u_S - u||^2 +
   <u_S - u, u - Y> with the cross term taken as 0, its expectation for randomly sampled atoms;
   fitting c1 at the calibration size was tried and transferred worse: with k > m the selection also
   fits the labels' residual and the fitted c1 (0.73-0.75) made (b) 1.8-2.2x too early at 8x the
   size); Lemma A's c1(k) at the spec's eps in the theory mode.
4. Thresholds. The predicted pruned curve is put on the run's checkpoint grid and read by the same
   threshold functions as the recorded one (ebtheory.verify.analysis.thresholds.curve_threshold):
   (a) relative, (b) absolute. (c) (test accuracy) has no curve to predict; calibrated mode predicts
   it as the first t where the predicted dense curve reaches the per-example level l_c it had at the
   empirical (c) of m_c (geometric mean over seeds); theory mode does not predict it.
   Per cell the predicted and empirical censoring are compared: a predicted "reached" where the run
   never got there (or the reverse) is a failure. Per m: means over the reached cells, ratio
   predicted / empirical (the same in iterations and in tau).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from ebtheory import symbolic
from ebtheory.verify.analysis.per_run import per_run
from ebtheory.verify.analysis.thresholds import curve_threshold, first_crossing
from ebtheory.verify.analysis.timeunits import time_scale
from ebtheory.verify.records import PointRow, RunRecord

MODES = ("calibrated", "theory")
PREDICTED_DEFINITIONS = ("relative", "absolute", "accuracy")
TARGET = "gfs_labels"
DILATION_LEVELS = 24
FINE_POINTS = 400
CALIBRATED_C1 = 1.0

__all__ = [
    "MODES",
    "CellPrediction",
    "PredictorConstants",
    "RunPrediction",
    "SizePrediction",
    "ThresholdComparison",
    "default_prediction",
    "predict_run",
    "require_predictable",
]


@dataclass(frozen=True)
class PredictorConstants:
    """The constants of the pruned-curve model and how they were obtained.

    mode: "calibrated" or "theory"; calibrate_at: m_c (None in theory mode); gamma: greedy efficiency;
    c1: 1 (calibrated) or Lemma A's c1(k) at eps (theory); P0: per-example pruned loss cap; spread_tau, spread_v: knots of v(tau)
    (one knot, tau = 0, in theory mode); dilation_levels, dilation: knots of rho(l) (per-example levels,
    empty without dilation); accuracy_level: l_c, the dense per-example level for threshold (c) (None when
    not predicted).
    """

    mode: str
    calibrate_at: int | None
    gamma: float
    c1: float
    eps: float
    k: int
    P0: float
    spread_tau: tuple[float, ...]
    spread_v: tuple[float, ...]
    spread_slope: float
    dilation_levels: tuple[float, ...]
    dilation: tuple[float, ...]
    accuracy_level: float | None

    def spread_at(self, tau: np.ndarray) -> np.ndarray:
        """v(tau): interpolation in ln(1 + tau) between the knots; beyond the last knot tau_K,
        v(tau_K) + spread_slope (sqrt(tau) - sqrt(tau_K)) (see _spread_knots)."""
        tau = np.asarray(tau, dtype=float)
        knots = np.log1p(np.asarray(self.spread_tau))
        values = np.interp(np.log1p(tau), knots, np.asarray(self.spread_v))
        beyond = tau > self.spread_tau[-1]
        growth = np.sqrt(tau[beyond]) - math.sqrt(self.spread_tau[-1])
        values[beyond] = self.spread_v[-1] + self.spread_slope * growth
        return np.maximum(values, 0.0)

    def dilation_at(self, level: np.ndarray) -> np.ndarray:
        """rho(l), interpolated in ln l, constant outside the calibrated levels; 1 without dilation."""
        level = np.asarray(level, dtype=float)
        if not self.dilation_levels:
            return np.ones_like(level)
        order = np.argsort(self.dilation_levels)
        knots = np.log(np.asarray(self.dilation_levels)[order])
        return np.interp(np.log(np.maximum(level, 1e-300)), knots, np.asarray(self.dilation)[order])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CellPrediction:
    """One (m, seed) cell: the predicted and recorded curves on the checkpoint grid (per example)."""

    m: int
    seed: int
    eta: float
    tau_scale: float
    dense_predicted: np.ndarray = field(repr=False)
    dense_recorded: np.ndarray = field(repr=False)
    pruned_predicted: np.ndarray = field(repr=False)
    pruned_recorded: np.ndarray = field(repr=False)
    accuracy_recorded: np.ndarray = field(repr=False)
    lanczos_steps: int = 0


@dataclass(frozen=True)
class ThresholdComparison:
    """One m and one definition: means over reached cells (iterations), ratio, reached counts, failures.

    predicted / empirical: None when no cell reached it; ratio = predicted / empirical (None when
    either is None); reached_predicted / reached_empirical: cells that reach the level on the grid;
    mismatches: cells where exactly one of the two reaches it (each is a failure); t_star: the mean
    worst-case t* (fixed eta) of the units at this m, for comparison (iterations).
    """

    m: int
    definition: str
    predicted: float | None
    empirical: float | None
    ratio: float | None
    reached_predicted: int
    reached_empirical: int
    cells: int
    mismatches: int
    tau_scale: float
    t_star: float | None


@dataclass(frozen=True)
class SizePrediction:
    """Per m: the checkpoint grid and the seed-mean curves (per example), predicted and recorded."""

    m: int
    t: tuple[float, ...]
    dense_predicted: tuple[float, ...]
    dense_recorded: tuple[float, ...]
    pruned_predicted: tuple[float, ...]
    pruned_recorded: tuple[float, ...]


@dataclass(frozen=True)
class RunPrediction:
    """The whole prediction of a run: constants, per-m curves and per-(m, definition) comparisons.

    worst_ratio[definition]: max over m != m_c of max(ratio, 1/ratio) (None when no ratio);
    failures[definition]: reached/not-reached mismatches over m != m_c.
    """

    mode: str
    calibrate_at: int | None
    threshold_loss: str
    abs_tol: float
    rel_tol: float
    constants: PredictorConstants
    sizes: tuple[SizePrediction, ...]
    comparisons: tuple[ThresholdComparison, ...]
    worst_ratio: dict[str, float | None]
    failures: dict[str, int]

    def comparison(self, m: int, definition: str) -> ThresholdComparison | None:
        return next((c for c in self.comparisons if c.m == m and c.definition == definition), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: mode, calibrate_at, constants, per-m comparisons, worst ratio and failures."""
        return {
            "mode": self.mode,
            "calibrate_at": self.calibrate_at,
            "threshold_loss": self.threshold_loss,
            "abs_tol": self.abs_tol,
            "rel_tol": self.rel_tol,
            "constants": self.constants.to_dict(),
            "thresholds": [asdict(c) for c in self.comparisons],
            "worst_ratio": self.worst_ratio,
            "failures": self.failures,
        }


# ------------------------------------------------------------------------------------------- checks


def require_predictable(run: RunRecord) -> None:
    """The predictor's model is the two-layer NTK net with output signs, full-batch GD, squared loss."""
    spec = run.spec
    problems = []
    if spec.model != "ntk":
        problems.append(f"model={spec.model!r} (needs 'ntk')")
    if spec.output_mode != "signs":
        problems.append(f"output_mode={spec.output_mode!r} (needs 'signs': each output then has Gram H_inf)")
    if spec.optimizer != "gd" or spec.batch_size not in (0,) or spec.momentum != 0:
        problems.append("optimizer must be plain full-batch GD (optimizer='gd', batch_size=0, momentum=0)")
    if spec.train_loss not in ("sum_squares", "mean_squares"):
        problems.append(f"train_loss={spec.train_loss!r} (needs a squared loss)")
    if problems:
        raise ValueError(f"run_dir={str(run.run_dir)!r} cannot be predicted: " + "; ".join(problems))


def _complete_cells(run: RunRecord) -> dict[int, list[int]]:
    """m -> seeds whose unit finished with every checkpoint and a dense curve recorded."""
    grid = list(run.spec.checkpoints)
    cells: dict[int, list[int]] = {}
    for unit in run.units:
        points = run.points_for(unit.m, unit.seed)
        if [p.t for p in points] != grid or unit.dense_loss_curve is None or unit.constants is None:
            continue
        if any(TARGET not in p.subnets or p.V is None for p in points):
            continue
        cells.setdefault(unit.m, []).append(unit.seed)
    return cells


# ------------------------------------------------------------------------------------------ the cell


@dataclass(frozen=True)
class _CellInputs:
    m: int
    seed: int
    eta: float
    tau_scale: float
    grid: np.ndarray
    measure: Any
    recorded_curve: np.ndarray  # per-example dense loss at every iteration 0..t_max (NaN where missing)
    points: list[PointRow]
    classes: int


def _cell_inputs(run: RunRecord, m: int, seed: int) -> _CellInputs:
    from ebtheory.constants.spectral import spectral_measure
    from ebtheory.verify.unit import build_model, load_unit_data

    spec = run.spec
    data = load_unit_data(spec, m, seed)
    model = build_model(spec, data, seed)
    with_grad = model.training
    model.eval()
    import torch

    with torch.no_grad():
        U0 = model(data.X).double().numpy()
    model.train(with_grad)
    tau_scale = time_scale(spec, m, "tau")
    if tau_scale is None:
        raise ValueError(f"the run's per-example time is undefined (optimizer={spec.optimizer!r})")
    eta = tau_scale / m  # the step of GD on the sum loss that the unit's training amounts to
    grid = np.asarray(spec.checkpoints, dtype=float)
    fine = _fine_grid(grid[-1])
    measure = spectral_measure(
        data.X.double().numpy(), data.Y.double().numpy(), init=U0, method="lanczos", eta=eta, ts=fine
    )
    unit = run.unit(m, seed)
    assert unit is not None and unit.dense_loss_curve is not None
    scale = 1.0 if spec.train_loss == "mean_squares" else 1.0 / m
    curve = np.array([math.nan if v is None else v * scale for v in unit.dense_loss_curve], dtype=float)
    return _CellInputs(m, seed, eta, tau_scale, grid, measure, curve, run.points_for(m, seed), data.num_classes)


def _fine_grid(t_max: float, stretch: float = 1.0) -> np.ndarray:
    top = max(t_max * stretch, 1.0)
    return np.concatenate([[0.0], np.geomspace(0.1, top, FINE_POINTS)])


def _dense_on_grid(cell: _CellInputs, constants: PredictorConstants) -> np.ndarray:
    """Per-example predicted dense loss at the checkpoints, dilated level by level by rho."""
    base = cell.measure.loss_mean(cell.eta, cell.grid)
    if not constants.dilation_levels:
        return np.asarray(base)
    stretch = 1.0 / min(1.0, float(min(constants.dilation)))
    fine = _fine_grid(cell.grid[-1], stretch * 1.05)
    levels = cell.measure.loss_mean(cell.eta, fine)
    dilated = np.maximum.accumulate(constants.dilation_at(levels) * fine)
    positive = fine > 0
    out = np.empty_like(cell.grid)
    for j, t in enumerate(cell.grid):
        if t == 0:
            out[j] = levels[0]
        else:
            out[j] = np.interp(math.log(t), np.log(dilated[positive]), levels[positive])
    return out


def _pruned_on_grid(cell: _CellInputs, dense_mean: np.ndarray, constants: PredictorConstants) -> np.ndarray:
    tau = cell.tau_scale * cell.grid
    return symbolic.pruned_curve_model(
        dense_mean * cell.m,
        cell.m,
        constants.k,
        constants.c1,
        constants.gamma,
        constants.spread_at(tau),
        constants.P0,
    )


def _recorded(cell: _CellInputs, loss_field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    entries = [p.subnets[TARGET] for p in cell.points]
    dense = np.array([p.dense.train_loss_mean for p in cell.points])
    losses = np.array([getattr(e, loss_field) for e in entries])
    accuracies = np.array([e.test_acc for e in entries])
    return dense, losses, accuracies


# ---------------------------------------------------------------------------------------- calibration


def _level_time(curve: np.ndarray, level: float) -> float | None:
    """First (interpolated) iteration where the recorded per-example dense curve is <= level."""
    below = np.flatnonzero(np.nan_to_num(curve, nan=np.inf) <= level)
    if below.size == 0:
        return None
    j = int(below[0])
    if j == 0:
        return 0.0
    before, after = curve[j - 1], curve[j]
    fraction = 1.0 if before == after else (before - level) / (before - after)
    return j - 1 + fraction


def _dilation_knots(cells: Sequence[_CellInputs]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """rho(l) = t_recorded(l)/t_pred(l), geometric mean over the calibration cells, at DILATION_LEVELS
    per-example levels log-spaced over the range every cell's recorded curve covers after t = 1."""
    high = min(float(c.recorded_curve[1]) for c in cells)
    low = max(float(np.nanmin(c.recorded_curve)) for c in cells) * 1.01
    if not (0 < low < high):
        return (), ()
    levels, rhos = [], []
    for level in np.geomspace(high, low, DILATION_LEVELS):
        ratios = []
        for cell in cells:
            recorded = _level_time(cell.recorded_curve, float(level))
            predicted = cell.measure.time_to_level(cell.eta, float(level) * cell.m, 100.0 * cell.grid[-1])
            if recorded is not None and predicted is not None and recorded > 0 and predicted > 0:
                ratios.append(math.log(recorded / predicted))
        if len(ratios) == len(cells):
            levels.append(float(level))
            rhos.append(math.exp(sum(ratios) / len(ratios)))
    return tuple(levels), tuple(rhos)


def _spread_knots(cells: Sequence[_CellInputs]) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """v(tau) knots (mean V/m over the calibration seeds at each checkpoint) and the growth rate used
    beyond them: the least-squares slope of v against sqrt(tau) over the knots in the last third of the
    ln(1 + tau) range, clamped at >= 0. The square root is an empirical choice, not a derived law:
    on quick (digits), calibrated at m = 200 (tau <= 1e4), it extrapolates v at m = 800 (tau = 4e4) to
    288 against 285 measured, where a line in ln tau gives 235 (docs/theory.md, section 9)."""
    tau = cells[0].tau_scale * cells[0].grid
    v = np.mean([[p.V / c.m for p in c.points] for c in cells], axis=0)  # type: ignore[operator]
    x = np.log1p(tau)
    tail = x >= x[-1] - (x[-1] - x[0]) / 3.0
    slope = float(np.polyfit(np.sqrt(tau[tail]), v[tail], 1)[0]) if int(tail.sum()) >= 2 else 0.0
    return tuple(float(a) for a in tau), tuple(float(b) for b in v), max(slope, 0.0)


def _calibrate(run: RunRecord, cells: Sequence[_CellInputs], use_dilation: bool) -> PredictorConstants:
    spec = run.spec
    k, eps = spec.k, spec.eps
    ratios = []
    for cell in cells:
        for p in cell.points:
            entry = p.subnets.get("gfs_dense")
            if entry is not None and entry.target_loss_sum is not None and p.V:
                ratios.append(entry.target_loss_sum / (p.V / (2 * k)))
    if not ratios:
        raise ValueError(
            "calibration needs the gfs_dense subnetwork (GFS fitted to the dense output) and V at the "
            f"calibration size; run_dir={str(run.run_dir)!r} records neither (spec.targets={spec.targets})"
        )
    P0 = float(np.mean([c.points[0].subnets[TARGET].train_loss_mean for c in cells]))
    tau, v, slope = _spread_knots(cells)
    levels, rhos = _dilation_knots(cells) if use_dilation else ((), ())
    constants = PredictorConstants(
        mode="calibrated",
        calibrate_at=cells[0].m,
        gamma=float(np.median(ratios)),
        c1=CALIBRATED_C1,
        eps=eps,
        k=k,
        P0=P0,
        spread_tau=tau,
        spread_v=v,
        spread_slope=slope,
        dilation_levels=levels,
        dilation=rhos,
        accuracy_level=None,
    )
    return _with_accuracy_level(run, cells, constants)


def _with_accuracy_level(run: RunRecord, cells: Sequence[_CellInputs], constants: PredictorConstants):
    """l_c: the predicted dense per-example loss at the empirical (c) of each calibration cell
    (geometric mean). The dense curve keeps falling, so unlike the pruned curve (which floors and rises
    again) every m reaches the level; test accuracy settles when the net has fitted the labels to a
    given level, whatever m."""
    logs = []
    for cell in cells:
        _, _, accuracies = _recorded(cell, "train_loss_mean")
        crossing = curve_threshold("accuracy", cell.grid, accuracies, accuracies, rel_tol=1.0, abs_tol=1.0).crossing
        if crossing.censoring != "none":
            continue
        dense = _dense_on_grid(cell, constants)
        value = float(np.interp(math.log1p(crossing.t), np.log1p(cell.grid), dense))
        if value > 0:
            logs.append(math.log(value))
    level = math.exp(sum(logs) / len(logs)) if logs else None
    return PredictorConstants(**{**asdict(constants), "accuracy_level": level})


def _theory_constants(run: RunRecord, m: int, classes: int) -> PredictorConstants:
    spec = run.spec
    outputs = next(u for u in run.units if u.m == m).constants
    assert outputs is not None
    return PredictorConstants(
        mode="theory",
        calibrate_at=None,
        gamma=symbolic.greedy_efficiency_theory(spec.eps),
        c1=symbolic.lemma_a_c1(spec.k, spec.eps),
        eps=spec.eps,
        k=spec.k,
        P0=outputs.y_norm2 / (2 * m),
        spread_tau=(0.0,),
        spread_v=(symbolic.initial_spread_per_example(classes, spec.kappa, spec.width),),
        spread_slope=0.0,
        dilation_levels=(),
        dilation=(),
        accuracy_level=None,
    )


# ------------------------------------------------------------------------------------------- predict


def predict_run(
    run: RunRecord,
    *,
    mode: Literal["calibrated", "theory"] = "calibrated",
    calibrate_at: int | None = None,
    dilation: bool = True,
) -> RunPrediction:
    """Calibrate at m_c (default: the smallest complete m) and predict every m of `run` (see module doc).

    mode "theory" uses no recorded number of the run beyond its inputs (calibrate_at must be None).
    Raises ValueError when the run is not a two-layer NTK GD run, has fewer than two complete sizes,
    or calibrate_at is not one of them."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got mode={mode!r}")
    require_predictable(run)
    cells = _complete_cells(run)
    sizes = sorted(cells)
    if len(sizes) < 2:
        raise ValueError(
            f"run_dir={str(run.run_dir)!r} has {len(sizes)} complete size(s) m; the predictor needs at least 2 "
            "(one to calibrate, one to predict)"
        )
    if mode == "theory" and calibrate_at is not None:
        raise ValueError("calibrate_at must be None in mode='theory' (it uses no recorded number)")
    m_c = sizes[0] if calibrate_at is None else calibrate_at
    if m_c not in sizes:
        raise ValueError(f"calibrate_at must be one of the run's complete sizes {sizes}; got calibrate_at={m_c!r}")
    inputs = {m: [_cell_inputs(run, m, seed) for seed in sorted(cells[m])] for m in sizes}
    constants = (
        _calibrate(run, inputs[m_c], dilation)
        if mode == "calibrated"
        else _theory_constants(run, m_c, inputs[m_c][0].classes)
    )
    spec = run.spec
    loss_field = "train_loss_sum" if spec.threshold_loss == "sum" else "train_loss_mean"
    size_rows, comparisons = [], []
    for m in sizes:
        predicted_cells = [_predict_cell(cell, constants, loss_field) for cell in inputs[m]]
        size_rows.append(_size_row(m, inputs[m][0].grid, predicted_cells))
        comparisons.extend(_compare(run, m, inputs[m], predicted_cells, constants))
    held_out = [c for c in comparisons if c.m != constants.calibrate_at]
    worst: dict[str, float | None] = {}
    failures: dict[str, int] = {}
    for definition in PREDICTED_DEFINITIONS:
        ratios = [c.ratio for c in held_out if c.definition == definition and c.ratio]
        worst[definition] = max((max(r, 1 / r) for r in ratios), default=None)
        failures[definition] = sum(c.mismatches for c in held_out if c.definition == definition)
    return RunPrediction(
        mode=mode,
        calibrate_at=constants.calibrate_at,
        threshold_loss=spec.threshold_loss,
        abs_tol=spec.abs_tol,
        rel_tol=spec.rel_tol,
        constants=constants,
        sizes=tuple(size_rows),
        comparisons=tuple(comparisons),
        worst_ratio=worst,
        failures=failures,
    )


def _predict_cell(cell: _CellInputs, constants: PredictorConstants, loss_field: str) -> CellPrediction:
    dense = _dense_on_grid(cell, constants)
    pruned = _pruned_on_grid(cell, dense, constants)
    dense_recorded, losses, accuracies = _recorded(cell, "train_loss_mean")
    return CellPrediction(
        m=cell.m,
        seed=cell.seed,
        eta=cell.eta,
        tau_scale=cell.tau_scale,
        dense_predicted=dense,
        dense_recorded=dense_recorded,
        pruned_predicted=pruned,
        pruned_recorded=losses,
        accuracy_recorded=accuracies,
        lanczos_steps=cell.measure.steps,
    )


def _size_row(m: int, grid: np.ndarray, cells: Sequence[CellPrediction]) -> SizePrediction:
    def mean(name: str) -> tuple[float, ...]:
        return tuple(float(v) for v in np.mean([getattr(c, name) for c in cells], axis=0))

    return SizePrediction(
        m=m,
        t=tuple(float(t) for t in grid),
        dense_predicted=mean("dense_predicted"),
        dense_recorded=mean("dense_recorded"),
        pruned_predicted=mean("pruned_predicted"),
        pruned_recorded=mean("pruned_recorded"),
    )


def _predicted_crossing(definition: str, grid: np.ndarray, curve: np.ndarray, run: RunRecord, level: float | None):
    spec = run.spec
    if definition == "accuracy":
        return None if level is None else first_crossing(grid, curve, level)
    return curve_threshold(definition, grid, curve, curve, rel_tol=spec.rel_tol, abs_tol=spec.abs_tol).crossing


def _compare(
    run: RunRecord,
    m: int,
    inputs: Sequence[_CellInputs],
    cells: Sequence[CellPrediction],
    constants: PredictorConstants,
) -> list[ThresholdComparison]:
    spec = run.spec
    scale = m if spec.threshold_loss == "sum" else 1.0
    t_stars = [
        u.predicted["fixed_eta"].t_star  # type: ignore[union-attr]
        for u in run.units
        if u.m == m and u.predicted and u.predicted.get("fixed_eta") is not None
    ]
    out = []
    for definition in PREDICTED_DEFINITIONS:
        predicted_t, empirical_t = [], []
        reached_p = reached_e = mismatches = 0
        for cell_in, cell in zip(inputs, cells):
            recorded_losses = cell.pruned_recorded * (m if spec.threshold_loss == "sum" else 1.0)
            empirical = curve_threshold(
                definition,
                cell_in.grid,
                recorded_losses,
                cell.accuracy_recorded,
                rel_tol=spec.rel_tol,
                abs_tol=spec.abs_tol,
            ).crossing
            curve = cell.dense_predicted if definition == "accuracy" else cell.pruned_predicted * scale
            predicted = _predicted_crossing(definition, cell_in.grid, curve, run, constants.accuracy_level)
            emp_reached = empirical.censoring != "right"
            reached_e += emp_reached
            if empirical.censoring == "none":
                empirical_t.append(empirical.t)
            if predicted is None:
                continue
            pred_reached = predicted.censoring != "right"
            reached_p += pred_reached
            mismatches += pred_reached != emp_reached
            if predicted.censoring == "none":
                predicted_t.append(predicted.t)
        mean_p = float(np.mean(predicted_t)) if predicted_t else None
        mean_e = float(np.mean(empirical_t)) if empirical_t else None
        out.append(
            ThresholdComparison(
                m=m,
                definition=definition,
                predicted=mean_p,
                empirical=mean_e,
                ratio=mean_p / mean_e if mean_p is not None and mean_e else None,
                reached_predicted=reached_p,
                reached_empirical=reached_e,
                cells=len(cells),
                mismatches=mismatches,
                tau_scale=inputs[0].tau_scale,
                t_star=float(np.mean(t_stars)) if t_stars else None,
            )
        )
    return out


@per_run
def default_prediction(run: RunRecord) -> RunPrediction:
    """predict_run(run) with its defaults (calibrated at the smallest complete m), computed once per
    loaded run: the report's prediction section and figure (i) of one command share it."""
    return predict_run(run)
