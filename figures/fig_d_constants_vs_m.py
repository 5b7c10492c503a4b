"""Figure (d): the bound's measured constants against m: lambda0, the dense contraction rate, and V.

Presents ebtheory.verify.analysis (RunAnalysis.constants, one row per two-layer unit), mean over seeds
with a +-1 sd band, log-log axes:
- lambda0 = lambda_min(H_inf) of the m training inputs (docs/theory.md, section 1).
- Contraction per iteration. Predicted: eta lambda0 / 2 = 1 - (1 - eta lambda0/2) (Du et al. 2019,
  Thm 4.1). Measured: the effective rate 1 - (L(T)/L(0))^(1/T) of the recorded dense loss curve
  (UnitRow.dense_loss_curve) over the whole run (T = last iteration), the smallest per-iteration
  factor with L(T) <= factor^T L(0), so Du et al.'s bound holds at T exactly when measured >= predicted.
- V = (1/N) sum_r ||g_r - u||_F^2: at initialisation and at the last checkpoint. Under NTK scaling V
  grows like kappa^2 N m C / 2 (docs/theory.md, section 5.3), which this panel shows as measured.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ebtheory.figures.common import (
    FigureSkipped,
    analysis_of,
    curve_over,
    is_cnn_run,
    m_axis,
    plot_band,
    save_figure,
    script_main,
)
from ebtheory.verify.records import RunRecord

NAME = "fig_d_constants_vs_m"
PANELS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("lambda0 = lambda_min(H_inf)", (("lambda0", "lambda0", "-"),)),
    (
        "contraction per iteration",
        (
            ("rate_predicted", "predicted eta lambda0 / 2", "--"),
            ("rate_measured", "measured 1 - (L(T)/L(0))^(1/T)", "-"),
        ),
    ),
    ("atom spread V", (("V0", "V at t = 0", "-"), ("V_last", "V at the last t", "-."))),
)


def render(run: RunRecord, out_dir: str | Path) -> list[Path]:
    """Draw figure (d) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    table = [dataclasses.asdict(row) for row in analysis_of(run).constants]
    if is_cnn_run(run) or not table:
        raise FigureSkipped(
            f"figure (d) needs the two-layer constants in the unit summaries; run {run.run_dir} has none"
        )
    ms = sorted({row["m"] for row in table})
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.6 * len(PANELS), 4.0), squeeze=False)
    for ax, (title, series) in zip(axes[0], PANELS):
        for field, label, style in series:
            x, mean, low, high = curve_over(table, "m", field)
            if len(x) and np.all(mean > 0):
                plot_band(ax, x, mean, low, high, label=label, linestyle=style)
        m_axis(ax, ms)
        ax.set_yscale("log")
        ax.set_ylabel(title)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7)
    scaling = " x max(m)/m" if run.spec.eta_scaling == "inverse_m" else ""
    fig.suptitle(
        f"Measured constants against m ({run.spec.dataset}, eta = {run.spec.eta}{scaling}, "
        f"N = {run.spec.width}; mean over seeds, band = +-1 sd)"
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
