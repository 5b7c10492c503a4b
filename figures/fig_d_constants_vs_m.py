"""Figure (d): the bound's measured constants against m: lambda0, the dense contraction rate, and V.

All from the unit summaries (verify/records.py), mean over seeds with a +-1 sd band, log-log axes:
- lambda0 = lambda_min(H_inf) of the m training inputs (THEORY.md 1).
- Contraction per iteration. Predicted: 1 - dense_rate_factor(eta, lambda0) = eta lambda0 / 2
  (Du et al. 2019, Thm 4.1; ebtheory.symbolic). Measured: the effective rate
  1 - (L(T)/L(0))^(1/T) of the recorded dense sum-loss curve over the whole run (T = last
  iteration): the smallest per-iteration factor with L(T) <= factor^T L(0), so Du et al.'s bound
  holds at T exactly when measured >= predicted.
- V = (1/N) sum_r ||g_r - u||_F^2: at initialisation (constants.V0) and at the last checkpoint
  (point rows). Under NTK scaling V grows like kappa^2 N m C / 2 (THEORY.md 5.3), which this panel
  shows as measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ebtheory.figures.common import (
    FigureSkipped,
    curve_over,
    is_cnn_run,
    m_axis,
    plot_band,
    save_figure,
    script_main,
)
from ebtheory.symbolic import dense_rate_factor

NAME = "fig_d_constants_vs_m"


def effective_contraction(losses: list[float]) -> float | None:
    """1 - (L(T)/L(0))^(1/T) over a dense loss curve losses[t], t = 0..T; None if undefined."""
    if len(losses) < 2 or not losses[0] > 0 or losses[-1] < 0:
        return None
    return 1.0 - (losses[-1] / losses[0]) ** (1.0 / (len(losses) - 1))


def predicted_contraction(eta: float | None, lambda0: float | None) -> float | None:
    """eta lambda0 / 2 from the symbolic dense rate, or None where the rate is undefined (eta lambda0 >= 2)."""
    if eta is None or lambda0 is None:
        return None
    try:
        return 1.0 - dense_rate_factor(eta, lambda0)
    except ValueError:
        return None


def constants_table(run: Any) -> list[dict]:
    """One flat dict per two-layer unit: m, seed, lambda0, the two contraction rates, V0, V at the last t."""
    last_point = {(p.m, p.seed): p for p in run.points}  # points are sorted by t
    table = []
    for unit in run.units:
        constants = unit.constants
        if constants is None:
            continue
        point = last_point.get((unit.m, unit.seed))
        curve = list(unit.dense_loss_curve or [])
        table.append(
            {
                "m": unit.m,
                "seed": unit.seed,
                "lambda0": constants.lambda0,
                "rate_predicted": predicted_contraction(constants.eta, constants.lambda0),
                # a curve with an unrecorded (non-finite) entry has no effective rate
                "rate_measured": None if None in curve else effective_contraction(curve),
                "V0": constants.V0,
                "V_last": None if point is None else point.V,
            }
        )
    return table


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


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (d) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    table = constants_table(run)
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
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
