"""Figure (f): the CNN analogue of (a): pruned accuracy against pre-training epochs, per dataset size.

Only for runs whose dense model is the residual CNN (spec.model == "cnn"); there GFS selects
channels layer by layer and only the empirical part applies (docs/theory.md, section 5.6). One column per
selection recorded (layer-wise GFS, magnitude, random), top row pruned training accuracy, bottom row
pruned test accuracy (dashed: after fine-tuning, when the run fine-tuned). One curve per m, mean over
seeds with a +-1 sd band. x: pre-training time in the run's comparison unit (epochs t * batch / m for
SGD; ebtheory.verify.analysis.timeunits, docs/theory.md, section 7.2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ebtheory.figures.common import (
    SUBNET_LABELS,
    FigureSkipped,
    analysis_of,
    curve_over,
    flatten_subnet,
    is_cnn_run,
    m_colors,
    plot_band,
    save_figure,
    script_main,
    subnets_present,
    symlog_iterations,
    time_label,
    time_of,
    with_time,
)
from ebtheory.verify.records import PointRow
from ebtheory.verify.spec import subnetwork_size

NAME = "fig_f_cnn"
CNN_LABELS = {
    **SUBNET_LABELS,
    "gfs_labels": "layer-wise GFS, target = labels",
    "gfs_dense": "layer-wise GFS, target = dense output",
}
METRICS: tuple[tuple[str, str], ...] = (("train_acc", "pruned train accuracy"), ("test_acc", "pruned test accuracy"))


def _with_finetuned(points: list[PointRow], subnet: str) -> list[dict]:
    """flatten_subnet's rows plus the typed fine-tuned test accuracy (None where no fine-tuning ran)."""
    present = [point for point in points if subnet in point.subnets]
    tuned = [point.subnets[subnet].finetuned for point in present]
    return [
        {**row, "finetuned_test_acc": None if numbers is None else numbers.test_acc}
        for row, numbers in zip(flatten_subnet(present, subnet), tuned)
    ]


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (f) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    if not is_cnn_run(run) or not run.points:
        raise FigureSkipped(
            f"figure (f) needs CNN rows (spec model 'cnn'); run {run.run_dir} has model "
            f"{run.spec.model!r} and {len(run.points)} point rows"
        )
    subnets = subnets_present(run.points, tuple(CNN_LABELS))
    if not subnets:
        raise FigureSkipped(f"figure (f): the CNN rows of run {run.run_dir} record no subnetworks")
    ms = run.ms
    colors = m_colors(ms)
    analysis = analysis_of(run)
    all_times = sorted({t for p in run.points if (t := time_of(analysis, p.m, p.t)) is not None})
    fig, axes = plt.subplots(
        len(METRICS), len(subnets), figsize=(4.6 * len(subnets), 6.4), squeeze=False, sharex=True, sharey="row"
    )
    for col, subnet in enumerate(subnets):
        for row_index, (metric, ylabel) in enumerate(METRICS):
            ax = axes[row_index, col]
            for m in ms:
                rows = with_time(_with_finetuned(run.points_for(m=m), subnet), analysis)
                plot_band(ax, *curve_over(rows, "time", metric), label=f"m = {m}", color=colors[m])
                if metric == "test_acc":
                    x, mean, low, high = curve_over(rows, "time", "finetuned_test_acc")
                    if len(x):
                        plot_band(
                            ax,
                            x,
                            mean,
                            low,
                            high,
                            label=f"m = {m}, fine-tuned",
                            color=colors[m],
                            linestyle="--",
                            marker=None,
                        )
            symlog_iterations(ax, all_times)
            if col == 0:
                ax.set_ylabel(ylabel)
            if row_index == len(METRICS) - 1:
                ax.set_xlabel(time_label(analysis))
            if row_index == 0:
                ax.set_title(CNN_LABELS[subnet])
            ax.grid(True, alpha=0.3)
    axes[-1, -1].legend(fontsize=7)
    fig.suptitle(
        f"CNN: pruned accuracy against pre-training ({run.spec.dataset}, "
        f"{subnetwork_size(run.spec)}; mean over seeds, band = +-1 sd)"
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
