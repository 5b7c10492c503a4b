"""Figure (b): the empirical threshold t_hat*(m) against m (log axis), its fits and the predictions.

Everything drawn comes from ebtheory.verify.analysis, in the run's comparison unit (per-example time
tau for GD, epochs for SGD; docs/theory.md, section 7.2). Left block, one column per GFS target and
one row per threshold definition ((a) relative to the monotone plateau, (b) absolute, (c) test
accuracy; section 7.1): t_hat* per seed, filled when uncensored and HOLLOW at the censoring bound when
censored (left-censored: down triangle, reached at the first checkpoint; right-censored: up triangle,
not reached); the mean of the uncensored seeds per m; the least-squares line alpha + beta ln m with a
band for the bootstrap CI on beta (the slope varied over the CI about the centroid of the fitted
cells; drawn only when the CI is not degenerate); the power law c m^p (dashed); the censored (Tobit)
line (dotted) when there is one. A straight line on this axis is logarithmic growth in m.
Right panel (log-log): the predicted t* (the run's eta, its upper form, and Du et al.'s eta =
lambda0/m^2, never run) and the empirical means of (a), in the same unit.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    FigureSkipped,
    analysis_of,
    m_axis,
    save_figure,
    script_main,
    subnets_present,
    time_header,
)
from ebtheory.verify.analysis import ThresholdSeries
from ebtheory.verify.analysis.thresholds import DEFINITIONS
from ebtheory.verify.analysis.timeunits import axis_label
from ebtheory.verify.records import RunRecord
from ebtheory.verify.spec import subnetwork_size

NAME = "fig_b_threshold_vs_m"
PREDICTIONS: tuple[tuple[str, bool, str, str], ...] = (
    ("fixed_eta", False, "predicted t* (run's eta)", "-"),
    ("fixed_eta", True, "predicted t* upper form (run's eta)", "--"),
    ("du_eta", False, "predicted t* (eta = lambda0/m^2, not run)", ":"),
)

CENSOR_MARKERS = {"left": "v", "right": "^"}


def _draw_series(ax, series: ThresholdSeries, unit: str, color) -> str:
    """Cells, means, fit lines and slope-CI band on one panel; returns a one-line fit summary."""
    fits = series.fits[unit]
    exact = [(c.m, c.time(unit)) for c in series.cells if c.censoring == "none" and c.time(unit) is not None]
    if exact:
        ax.plot(*zip(*exact), linestyle="none", marker="o", alpha=0.5, color=color, label="t_hat* per seed")
    for kind, marker in CENSOR_MARKERS.items():
        bounds = [(c.m, c.bound_in(unit)) for c in series.cells if c.censoring == kind and c.bound_in(unit) is not None]
        if bounds:
            ax.plot(
                *zip(*bounds),
                linestyle="none",
                marker=marker,
                markerfacecolor="none",
                color=color,
                label=f"{kind}-censored (bound)",
            )
    means = [(r.m, r.t_hat[unit]) for r in series.per_m if r.t_hat[unit] is not None]
    if means:
        ax.plot(*zip(*means), linestyle="none", marker="s", color=color, label="mean of uncensored")
    counts = f"{fits.n_uncensored} uncensored, {fits.n_left} left-, {fits.n_right} right-censored"
    if not exact and not any(c.bound_in(unit) is not None for c in series.cells):
        ax.text(0.5, 0.5, "no cell recorded", transform=ax.transAxes, ha="center", va="center", fontsize=8)
        return counts
    ms = sorted({c.m for c in series.cells})
    grid = np.geomspace(min(ms), max(ms), 50)
    log_fit, summary = fits.log, counts
    if log_fit is not None:
        ax.plot(grid, [log_fit.predict(m) for m in grid], color="k", label="fit alpha + beta ln m")
        band = log_fit.slope_ci_bootstrap
        if not band.degenerate:
            used = [math.log(c.m) for c in series.cells if c.censoring == "none"]
            centre = float(np.mean(used))
            pivot = log_fit.predict(math.exp(centre))
            edges = np.stack([pivot + b * (np.log(grid) - centre) for b in (band.low, band.high)])
            ax.fill_between(grid, edges.min(axis=0), edges.max(axis=0), color="k", alpha=0.12, linewidth=0)
        ci = "degenerate" if band.degenerate else f"[{band.low:.3g}, {band.high:.3g}]"
        summary += f"\nbeta = {log_fit.slope:.3g}, bootstrap CI {ci}"
    if fits.power is not None:
        ax.plot(grid, [fits.power.predict(m) for m in grid], color="k", linestyle="--", label="fit c m^p")
        summary += f"; p = {fits.power.slope:.3g}"
    if fits.censored is not None:
        c = fits.censored
        ax.plot(grid, c.alpha + c.beta * np.log(grid), color="tab:red", linestyle=":", label="censored (Tobit) fit")
    summary += f"\ngrows with ln m: {fits.grows}"
    return summary


def render(run: RunRecord, out_dir: str | Path) -> list[Path]:
    """Draw figure (b) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    subnets = subnets_present(run.points, GFS_SUBNETS)
    if not subnets:
        raise FigureSkipped(f"figure (b) needs GFS rows (gfs_labels / gfs_dense); run {run.run_dir} has none")
    if len(run.ms) < 2:
        raise FigureSkipped(f"figure (b) needs at least two dataset sizes m; run {run.run_dir} has {run.ms}")
    analysis = analysis_of(run)
    unit = analysis.time_unit
    n_cols = len(subnets) + 1
    fig = plt.figure(figsize=(4.5 * n_cols, 3.7 * len(DEFINITIONS)))
    grid = fig.add_gridspec(len(DEFINITIONS), n_cols)
    colors = plt.get_cmap("tab10")
    for col, subnet in enumerate(subnets):
        for row_index, definition in enumerate(DEFINITIONS):
            series = analysis.series(subnet, definition)
            ax = fig.add_subplot(grid[row_index, col])
            summary = "not recorded" if series is None else _draw_series(ax, series, unit, colors(col))
            m_axis(ax, run.ms)
            ax.set_ylabel(f"t_hat* ({axis_label(unit)})")
            label = "" if series is None else f"{series.label}\n"
            ax.set_title(f"{SUBNET_LABELS[subnet]}\n{label}{summary}", fontsize=7)
            ax.grid(True, alpha=0.3)
            if row_index == 0 and col == 0:
                ax.legend(fontsize=6)
    ax = fig.add_subplot(grid[:, -1])
    for regime, upper, label, style in PREDICTIONS:
        table = [(r.m, (r.t_star_upper if upper else r.t_star)[regime][unit]) for r in analysis.predictions]
        points = [(m, t) for m, t in table if t is not None and t > 0]
        if points:
            ax.plot(*zip(*points), linestyle=style, marker="^", color="tab:red", label=label)
    for col, subnet in enumerate(subnets):
        series = analysis.series(subnet, "relative")
        means = [] if series is None else [(r.m, r.t_hat[unit]) for r in series.per_m]
        positive = [(m, t) for m, t in means if t is not None and t > 0]
        if positive:
            ax.plot(*zip(*positive), marker="s", color=colors(col), label=f"t_hat* (a), {SUBNET_LABELS[subnet]}")
    m_axis(ax, run.ms)
    ax.set_yscale("log")
    ax.set_ylabel(f"threshold ({axis_label(unit)}, log)")
    ax.set_title("predictions (mean over seeds) against t_hat*", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    fig.suptitle(
        f"Pre-training threshold against m ({run.spec.dataset}, {subnetwork_size(run.spec)}); {time_header(analysis)}",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
