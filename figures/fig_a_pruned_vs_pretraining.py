"""Figure (a), the paper's central figure: pruned training accuracy and loss against pre-training.

One column per GFS target (the one-hot labels; the dense network's own output at t), so the two are
never mixed up. Top row: pruned training accuracy; bottom row: pruned per-example training loss
L/m against the labels. One curve per dataset size m (mean over seeds, band +-1 sd) against
pre-training time in the run's comparison unit (per-example time tau for GD, epochs for SGD;
docs/theory.md, section 7.2), on a symlog axis so t = 0 shows. Vertical marks in the colour of each
m, both from ebtheory.verify.analysis: dashed = predicted t* (step size the run used, mean over seeds),
dotted = empirical t_hat* (definition (a), mean over the uncensored seeds). A predicted t* beyond
the grid is listed under the figure rather than stretching the axis.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    FigureSkipped,
    analysis_of,
    curve_over,
    flatten_subnet,
    m_colors,
    plot_band,
    save_figure,
    script_main,
    subnets_present,
    symlog_iterations,
    time_header,
    time_label,
    with_time,
)
from ebtheory.verify.records import RunRecord
from ebtheory.verify.spec import subnetwork_size

NAME = "fig_a_pruned_vs_pretraining"
METRICS: tuple[tuple[str, str], ...] = (
    ("train_acc", "pruned train accuracy"),
    ("train_loss_mean", "pruned train loss L/m (labels)"),
)


def render(run: RunRecord, out_dir: str | Path) -> list[Path]:
    """Draw figure (a) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    subnets = subnets_present(run.points, GFS_SUBNETS)
    if not subnets:
        raise FigureSkipped(f"figure (a) needs GFS rows (gfs_labels / gfs_dense); run {run.run_dir} has none")
    analysis = analysis_of(run)
    unit = analysis.time_unit
    ms = run.ms
    colors = m_colors(ms)
    times = [row["time"] for s in subnets for row in with_time(flatten_subnet(run.points, s), analysis)]
    times = sorted({t for t in times if t is not None})
    predicted = {
        r.m: r.t_star["fixed_eta"][unit] for r in analysis.predictions if r.t_star["fixed_eta"][unit] is not None
    }
    in_grid = {m: t for m, t in predicted.items() if t <= max(times)}
    beyond = {m: t for m, t in predicted.items() if t > max(times)}
    fig, axes = plt.subplots(
        len(METRICS),
        len(subnets),
        figsize=(5.6 * len(subnets), 7.0),
        gridspec_kw={"wspace": 0.32},
        squeeze=False,
        sharex=True,
    )
    for col, subnet in enumerate(subnets):
        series = analysis.series(subnet, "relative")
        empirical = {} if series is None else {r.m: r.t_hat[unit] for r in series.per_m if r.t_hat[unit] is not None}
        for row_index, (metric, ylabel) in enumerate(METRICS):
            ax = axes[row_index, col]
            for m in ms:
                rows = with_time(flatten_subnet(run.points_for(m=m), subnet), analysis)
                x, mean, low, high = curve_over(rows, "time", metric)
                plot_band(ax, x, mean, low, high, label=f"m = {m}", color=colors[m])
            for m, t_star in in_grid.items():
                ax.axvline(t_star, color=colors.get(m, "k"), linestyle="--", linewidth=1.0)
            for m, t_hat in empirical.items():
                ax.axvline(t_hat, color=colors.get(m, "k"), linestyle=":", linewidth=1.5)
            symlog_iterations(ax, times)
            ax.set_xlim(min(times), max(times))
            if metric == "train_loss_mean":
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            if row_index == len(METRICS) - 1:
                ax.set_xlabel(time_label(analysis))
            if row_index == 0:
                ax.set_title(SUBNET_LABELS[subnet])
            ax.grid(True, alpha=0.3)
    handles, _ = axes[0, 0].get_legend_handles_labels()
    handles += [
        Line2D([], [], color="k", linestyle="--", label="predicted t* (run's eta)"),
        Line2D([], [], color="k", linestyle=":", label="empirical t_hat* (a), uncensored seeds"),
    ]
    axes[0, -1].legend(handles=handles, fontsize=7, loc="lower right")
    fig.suptitle(
        f"Pruned subnetwork ({subnetwork_size(run.spec)}) against pre-training, {run.spec.dataset}, {run.spec.model} "
        f"(mean over seeds, band = +-1 sd)\n{time_header(analysis)}",
        fontsize=10,
    )
    if beyond:
        listed = ", ".join(f"m={m}: {t:.3g}" for m, t in beyond.items())
        fig.text(
            0.5, -0.01, f"predicted t* beyond the grid ({unit} max {max(times):.3g}): {listed}", ha="center", fontsize=8
        )
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
