"""Figure (a), the paper's central figure: pruned training accuracy and loss against pre-training.

One column per GFS target (the one-hot labels; the dense network's own output at t), so the two are
never mixed up. Top row: pruned training accuracy; bottom row: pruned per-example training loss
L/m against the labels. One curve per dataset size m (mean over seeds, band +-1 sd) on a log t axis
(symlog, so t = 0, the initialisation, shows). Vertical marks in the colour of each m: dashed =
predicted t* (THEORY.md 4, with the step size the run used, mean over seeds), dotted = empirical
t_hat* (definition (a) of verify.threshold, mean over seeds). A predicted t* beyond the grid is
listed under the figure rather than stretching the axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    FigureSkipped,
    curve_over,
    flatten_subnet,
    m_colors,
    mean_per_m,
    plot_band,
    predicted_thresholds,
    save_figure,
    script_main,
    subnets_present,
    symlog_iterations,
)
from ebtheory.verify.threshold import empirical_thresholds

NAME = "fig_a_pruned_vs_pretraining"
METRICS: tuple[tuple[str, str], ...] = (
    ("train_acc", "pruned train accuracy"),
    ("train_loss_mean", "pruned train loss L/m (labels)"),
)


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (a) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    subnets = subnets_present(run.points, GFS_SUBNETS)
    if not subnets:
        raise FigureSkipped(f"figure (a) needs GFS rows (gfs_labels / gfs_dense); run {run.run_dir} has none")
    ms = run.ms
    colors = m_colors(ms)
    ts = sorted({p.t for p in run.points})
    predicted = mean_per_m(predicted_thresholds(run, "fixed_eta"))
    beyond = {m: t for m, t in predicted.items() if t > max(ts)}
    fig, axes = plt.subplots(
        len(METRICS),
        len(subnets),
        figsize=(5.6 * len(subnets), 7.0),
        gridspec_kw={"wspace": 0.32},
        squeeze=False,
        sharex=True,
    )
    for col, subnet in enumerate(subnets):
        empirical = mean_per_m(empirical_thresholds(run, subnet, "relative"))
        for row_index, (metric, ylabel) in enumerate(METRICS):
            ax = axes[row_index, col]
            for m in ms:
                x, mean, low, high = curve_over(flatten_subnet(run.points_for(m=m), subnet), "t", metric)
                plot_band(ax, x, mean, low, high, label=f"m = {m}", color=colors[m])
            for m, t_star in predicted.items():
                ax.axvline(t_star, color=colors.get(m, "k"), linestyle="--", linewidth=1.0)
            for m, t_hat in empirical.items():
                ax.axvline(t_hat, color=colors.get(m, "k"), linestyle=":", linewidth=1.5)
            symlog_iterations(ax, ts)
            ax.set_xlim(min(ts), max(ts))
            if metric == "train_loss_mean":
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            if row_index == len(METRICS) - 1:
                ax.set_xlabel("pre-training iterations t")
            if row_index == 0:
                ax.set_title(SUBNET_LABELS[subnet])
            ax.grid(True, alpha=0.3)
    handles, _ = axes[0, 0].get_legend_handles_labels()
    handles += [
        Line2D([], [], color="k", linestyle="--", label="predicted t* (fixed eta)"),
        Line2D([], [], color="k", linestyle=":", label="empirical t_hat* (a)"),
    ]
    axes[0, -1].legend(handles=handles, fontsize=7, loc="lower right")
    fig.suptitle(
        f"Pruned subnetwork (k = {run.spec.k}) against pre-training, "
        f"{run.spec.dataset}, {run.spec.model} (mean over seeds, band = +-1 sd)"
    )
    if beyond:
        listed = ", ".join(f"m={m}: {t:.3g}" for m, t in beyond.items())
        fig.text(0.5, -0.01, f"predicted t* beyond the grid (t_max = {max(ts)}): {listed}", ha="center", fontsize=8)
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
