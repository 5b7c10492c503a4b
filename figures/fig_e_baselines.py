"""Figure (e): GFS against magnitude and random selection at equal k, along pre-training.

One column per dataset size m; top row pruned training accuracy, bottom row pruned per-example
training loss L/m against the labels (verify/records.py: subnets.*.train_acc, train_loss_mean), each
a mean over seeds with a +-1 sd band, against pre-training time in the run's comparison unit (tau for
GD, epochs for SGD; docs/theory.md, section 7.2). Only the two-layer rows carry all four selections; the
figure draws whichever of them the run recorded.
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
    plot_band,
    save_figure,
    script_main,
    subnets_present,
    symlog_iterations,
    time_header,
    time_label,
    time_of,
    with_time,
)
from ebtheory.verify.spec import subnetwork_size

NAME = "fig_e_baselines"
METRICS: tuple[tuple[str, str], ...] = (
    ("train_acc", "pruned train accuracy"),
    ("train_loss_mean", "pruned train loss L/m (labels)"),
)

STYLES = {"gfs_labels": "-", "gfs_dense": "--", "magnitude": ":", "random": "-."}


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (e) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    subnets = subnets_present(run.points, tuple(SUBNET_LABELS))
    baselines = [s for s in subnets if s in ("magnitude", "random")]
    if not baselines or len(subnets) < 2:
        raise FigureSkipped(
            f"figure (e) needs GFS and at least one baseline (magnitude, random) in the rows; "
            f"run {run.run_dir} records {subnets or 'no subnetworks'}"
        )
    analysis = analysis_of(run)
    ms = run.ms
    fig, axes = plt.subplots(len(METRICS), len(ms), figsize=(3.2 * len(ms), 5.6), squeeze=False, sharex=True)
    times = sorted({t for p in run.points if (t := time_of(analysis, p.m, p.t)) is not None})
    for col, m in enumerate(ms):
        rows = run.points_for(m=m)
        for row_index, (metric, ylabel) in enumerate(METRICS):
            ax = axes[row_index, col]
            for subnet in subnets:
                x, mean, low, high = curve_over(with_time(flatten_subnet(rows, subnet), analysis), "time", metric)
                plot_band(ax, x, mean, low, high, label=SUBNET_LABELS[subnet], linestyle=STYLES[subnet], marker=None)
            symlog_iterations(ax, times)
            if metric == "train_loss_mean":
                ax.set_yscale("log")
            if col == 0:
                ax.set_ylabel(ylabel)
            if row_index == len(METRICS) - 1:
                ax.set_xlabel(time_label(analysis))
            if row_index == 0:
                ax.set_title(f"m = {m}")
            ax.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"GFS against baselines at equal size, {subnetwork_size(run.spec)} (mean over seeds, band = +-1 sd); "
        f"{time_header(analysis)}"
    )
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
