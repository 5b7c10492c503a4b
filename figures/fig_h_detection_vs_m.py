"""Figure (h): Early-Bird detection times against m, next to the predicted t* and the empirical t_hat*.

Per dataset size m, in the run's comparison unit (tau for GD, epochs for SGD; docs/theory.md, section
7.2): the Early-Bird detection time of each seed (UnitRow.earlybird_detection_t converted to that
unit; seeds that never detected are listed under the figure, not averaged in) with its mean and
+-1 sd band; and, from ebtheory.verify.analysis, the predicted t* with the step size the run used
(mean over seeds) and the empirical t_hat* of definition (a) for each GFS target recorded (mean over
the uncensored seeds). Log-log axes when every plotted value is positive. A grey line marks the
earliest time at which the rule can fire at the smallest m (the window's first full mask time);
detections on it say the masks did not move across the first mask times.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    FigureSkipped,
    analysis_of,
    curve_over,
    earlybird_records,
    m_axis,
    plot_band,
    save_figure,
    script_main,
    subnets_present,
    time_header,
    time_of,
)
from ebtheory.verify.analysis.timeunits import axis_label
from ebtheory.verify.records import RunRecord

NAME = "fig_h_detection_vs_m"


def render(run: RunRecord, out_dir: str | Path) -> list[Path]:
    """Draw figure (h) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    records = earlybird_records(run)
    if not records:
        raise FigureSkipped(f"figure (h) needs Early-Bird rows (earlybird_detection_t); run {run.run_dir} has none")
    analysis = analysis_of(run)
    unit = analysis.time_unit
    detected = [r for r in records if r["detection_t"] is not None]
    missed = sorted({(r["m"], r["seed"]) for r in records if r["detection_t"] is None})
    series = [
        (
            "Early-Bird detection",
            [{"m": r["m"], "t": time_of(analysis, r["m"], r["detection_t"])} for r in detected],
            "o",
            "-",
        ),
        (
            "predicted t* (run's eta)",
            [{"m": p.m, "t": p.t_star["fixed_eta"][unit]} for p in analysis.predictions],
            "^",
            "--",
        ),
    ]
    for subnet in subnets_present(run.points, GFS_SUBNETS):
        relative = analysis.series(subnet, "relative")
        if relative is not None:
            rows = [{"m": r.m, "t": r.t_hat[unit]} for r in relative.per_m]
            series.append((f"t_hat* (a), {SUBNET_LABELS[subnet]}", rows, "s", ":"))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    plotted = []
    for label, rows, marker, style in series:
        x, mean, low, high = curve_over(rows, "m", "t")
        if len(x):
            plot_band(ax, x, mean, low, high, label=label, marker=marker, linestyle=style)
            plotted.extend(list(low) + list(mean))
    eb = analysis.earlybird
    if eb is not None and eb.earliest_t is not None:
        earliest = time_of(analysis, min(run.ms), eb.earliest_t)
        if earliest is not None:
            ax.axhline(
                earliest,
                color="grey",
                linewidth=0.8,
                linestyle=(0, (1, 2)),
                label=f"earliest possible detection, m = {min(run.ms)} ({earliest:.3g})",
            )
            plotted.append(earliest)
    m_axis(ax, sorted({r["m"] for r in records} | set(run.ms)))
    if plotted and min(plotted) > 0:
        ax.set_yscale("log")
    ax.set_ylabel(f"pre-training, {axis_label(unit)}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(
        f"Early-Bird detection against the pre-training threshold ({run.spec.dataset})\n{time_header(analysis)}",
        fontsize=9,
    )
    if missed:
        listed = ", ".join(f"m={m} s{seed}" for m, seed in missed)
        fig.text(0.5, -0.02, f"no Early-Bird ticket detected (left out of the mean): {listed}", ha="center", fontsize=8)
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
