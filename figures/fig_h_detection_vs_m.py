"""Figure (h): Early-Bird detection times against m, next to the predicted t* and the empirical t_hat*.

Per dataset size m, mean over seeds with a +-1 sd band: the Early-Bird detection time
(`earlybird_detection_t`, seeds that never detected are counted under the figure, not averaged in),
the predicted t* with the step size the run used (unit summaries, THEORY.md 4) and the empirical
t_hat* of definition (a) (ebtheory.verify.threshold) for each GFS target recorded. All in pre-training
iterations; log-log axes when every plotted value is positive. When the units record the detector's
window (unit field `earlybird`), a grey line marks the earliest checkpoint at which the rule can fire
(the window's first full checkpoint): detections on it say the masks did not move across the first
checkpoints, which on a log-spaced grid are only a few iterations apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    FigureSkipped,
    curve_over,
    earlybird_records,
    m_axis,
    plot_band,
    predicted_thresholds,
    save_figure,
    script_main,
    subnets_present,
)
from ebtheory.verify.threshold import empirical_thresholds

NAME = "fig_h_detection_vs_m"


def _as_rows(values: Mapping[int, Sequence[float | None]], field: str) -> list[dict]:
    return [{"m": m, field: v} for m, vals in values.items() for v in vals]


def _earliest_detection(run: Any) -> float | None:
    """checkpoints[window - 1] from the first unit recording the detector settings, else None."""
    for unit in run.units:
        if unit.earlybird is None:
            continue
        window = unit.earlybird.window
        ts = unit.earlybird_checkpoints or unit.checkpoints
        return float(ts[window - 1]) if window <= len(ts) else None
    return None


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (h) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    records = earlybird_records(run)
    if not records:
        raise FigureSkipped(f"figure (h) needs Early-Bird rows (earlybird_detection_t); run {run.run_dir} has none")
    detected = [r for r in records if r["detection_t"] is not None]
    missed = sorted({(r["m"], r["seed"]) for r in records if r["detection_t"] is None})
    series = [("Early-Bird detection", [{"m": r["m"], "t": r["detection_t"]} for r in detected], "o", "-")]
    series.append(("predicted t* (run's eta)", _as_rows(predicted_thresholds(run, "fixed_eta"), "t"), "^", "--"))
    for subnet in subnets_present(run.points, GFS_SUBNETS):
        series.append(
            (
                f"t_hat* (a), {SUBNET_LABELS[subnet]}",
                _as_rows(empirical_thresholds(run, subnet, "relative"), "t"),
                "s",
                ":",
            )
        )
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    plotted = []
    for label, rows, marker, style in series:
        x, mean, low, high = curve_over(rows, "m", "t")
        if len(x):
            plot_band(ax, x, mean, low, high, label=label, marker=marker, linestyle=style)
            plotted.extend(list(low) + list(mean))
    earliest = _earliest_detection(run)
    if earliest is not None:
        ax.axhline(
            earliest,
            color="grey",
            linewidth=0.8,
            linestyle=(0, (1, 2)),
            label=f"earliest possible detection (t = {earliest:g})",
        )
        plotted.append(earliest)
    m_axis(ax, sorted({r["m"] for r in records} | set(run.ms)))
    if plotted and min(plotted) > 0:
        ax.set_yscale("log")
    ax.set_ylabel("pre-training iterations t")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"Early-Bird detection against the pre-training threshold ({run.spec.dataset})", fontsize=10)
    if missed:
        listed = ", ".join(f"m={m} s{seed}" for m, seed in missed)
        fig.text(0.5, -0.02, f"no Early-Bird ticket detected (left out of the mean): {listed}", ha="center", fontsize=8)
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
