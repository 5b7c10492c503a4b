"""Figure (b): the empirical threshold t_hat*(m) against m (log axis), its log-m fit and the predictions.

Left block, one column per GFS target and one row per threshold definition (ebtheory.verify.threshold:
(a) relative to the plateau, (b) below an absolute tolerance): t_hat* per seed (dots), its mean per
m, the least-squares line t_hat* = alpha + beta ln m (ebtheory.verify.threshold.fit_log_m) and a band for the
bootstrap CI on beta (the slope varied over [beta_low, beta_high] about the fit's centroid; the fit
itself carries no CI on alpha). A straight line on this axis is logarithmic growth in m.
Right panel (log-log): the predicted t* from the unit summaries for the step size the run used
(t* and its upper form 2/(eta lambda0) ln(...)), Du et al.'s eta = lambda0/m^2 (a prediction only,
never run), and the empirical means for scale. Thresholds are in pre-training iterations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    THRESHOLD_DEFINITIONS,
    FigureSkipped,
    m_axis,
    mean_per_m,
    predicted_thresholds,
    save_figure,
    script_main,
    subnets_present,
)
from ebtheory.verify.threshold import empirical_thresholds

NAME = "fig_b_threshold_vs_m"
FIT_SEED = 0
PREDICTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("fixed_eta", "t_star", "predicted t* (run's eta)", "-"),
    ("fixed_eta", "t_star_upper", "predicted t* upper form (run's eta)", "--"),
    ("du_eta", "t_star", "predicted t* (eta = lambda0/m^2, not run)", ":"),
)


def _draw_empirical(ax, thresholds: Mapping[int, Sequence[float | None]], color) -> str:
    """Seeds, means, fit line and slope-CI band on one panel; returns a one-line fit summary."""
    from ebtheory.verify.threshold import fit_log_m

    points = [(m, t) for m, values in thresholds.items() for t in values if t is not None]
    if not points:
        ax.text(
            0.5,
            0.5,
            "no seed reached this threshold on the grid",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=8,
        )
        return "no threshold"
    ms_seed, t_seed = zip(*points)
    ax.plot(ms_seed, t_seed, linestyle="none", marker="o", alpha=0.4, color=color, label="t_hat* per seed")
    means = mean_per_m(thresholds)
    ax.plot(list(means), list(means.values()), linestyle="none", marker="s", color=color, label="mean over seeds")
    fit = fit_log_m(thresholds, seed=FIT_SEED)
    if fit is None:
        return "fewer than two m with a threshold: no fit"
    grid = np.geomspace(min(means), max(means), 50)
    log_grid = np.log(grid)
    centre = float(np.mean([math.log(m) for m in ms_seed]))
    pivot = fit.alpha + fit.beta * centre
    ax.plot(grid, fit.alpha + fit.beta * log_grid, color="k", label="fit alpha + beta ln m")
    edges = np.stack([pivot + b * (log_grid - centre) for b in (fit.beta_low, fit.beta_high)])
    ax.fill_between(
        grid,
        edges.min(axis=0),
        edges.max(axis=0),
        color="k",
        alpha=0.12,
        linewidth=0,
        label=f"{fit.level:.0%} bootstrap CI on beta",
    )
    return f"beta = {fit.beta:.3g} [{fit.beta_low:.3g}, {fit.beta_high:.3g}], n = {fit.n_points}"


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (b) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    subnets = subnets_present(run.points, GFS_SUBNETS)
    if not subnets:
        raise FigureSkipped(f"figure (b) needs GFS rows (gfs_labels / gfs_dense); run {run.run_dir} has none")
    if len(run.ms) < 2:
        raise FigureSkipped(f"figure (b) needs at least two dataset sizes m; run {run.run_dir} has {run.ms}")
    definitions = tuple(THRESHOLD_DEFINITIONS)
    n_cols = len(subnets) + 1
    fig = plt.figure(figsize=(4.3 * n_cols, 3.6 * len(definitions)))
    grid = fig.add_gridspec(len(definitions), n_cols)
    loss_name = "L/m" if run.spec.threshold_loss == "mean" else "L"
    colors = plt.get_cmap("tab10")
    for col, subnet in enumerate(subnets):
        for row_index, definition in enumerate(definitions):
            ax = fig.add_subplot(grid[row_index, col])
            summary = _draw_empirical(ax, empirical_thresholds(run, subnet, definition), colors(col))
            m_axis(ax, run.ms)
            ax.set_ylabel("t_hat* (iterations)")
            ax.set_title(
                f"{SUBNET_LABELS[subnet]}\n{THRESHOLD_DEFINITIONS[definition]} ({loss_name})\n{summary}", fontsize=8
            )
            ax.grid(True, alpha=0.3)
            if row_index == 0 and col == 0:
                ax.legend(fontsize=6)
    ax = fig.add_subplot(grid[:, -1])
    for regime, field, label, style in PREDICTIONS:
        means = mean_per_m(predicted_thresholds(run, regime, field))
        if means:
            ax.plot(list(means), list(means.values()), linestyle=style, marker="^", color="tab:red", label=label)
    for col, subnet in enumerate(subnets):
        empirical = mean_per_m(empirical_thresholds(run, subnet, "relative"))
        positive = {m: t for m, t in empirical.items() if t > 0}
        if positive:
            ax.plot(
                list(positive),
                list(positive.values()),
                marker="s",
                color=colors(col),
                label=f"t_hat* (a), {SUBNET_LABELS[subnet]}",
            )
    m_axis(ax, run.ms)
    ax.set_yscale("log")
    ax.set_ylabel("threshold (iterations, log)")
    ax.set_title("predictions (mean over seeds) against t_hat*", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    fig.suptitle(f"Pre-training threshold against m ({run.spec.dataset}, k = {run.spec.k})")
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
