"""Figure (i): the spectral threshold predictor against the recorded run (docs/theory.md, section 9).

Everything drawn comes from ebtheory.verify.analysis.prediction.predict_run (calibrated at the
smallest m). Left: the dense per-example training loss per m against per-example time tau = eta m t,
recorded (solid) and predicted from the spectrum of H_inf with the calibrated level dilation (dashed).
Middle: the pruned (GFS to the labels) per-example loss, recorded (solid) and the model
min(P0, c1 L/m + gamma v(tau)/(2k)) (dashed), with abs_tol. Right: thresholds (a), (b), (c) against m,
empirical (filled, mean over the seeds that reached it) and predicted (hollow), in tau; the
calibration size is marked. Two-layer NTK runs trained by full-batch GD only (else skipped).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ebtheory.figures.common import FigureSkipped, m_axis, m_colors, save_figure, script_main
from ebtheory.verify.analysis.prediction import PREDICTED_DEFINITIONS, default_prediction
from ebtheory.verify.analysis.timeunits import time_scale
from ebtheory.verify.records import RunRecord

NAME = "fig_i_prediction"
DEFINITION_MARKERS = {"relative": "o", "absolute": "s", "accuracy": "D"}
DEFINITION_NAMES = {"relative": "(a) relative", "absolute": "(b) below abs_tol", "accuracy": "(c) test accuracy"}


def render(run: RunRecord, out_dir: str | Path) -> list[Path]:
    """Draw figure (i) from a RunRecord into out_dir; return the PNG and PDF paths."""
    try:
        prediction = default_prediction(run)
    except ValueError as error:
        raise FigureSkipped(f"figure (i) needs a predictable two-layer NTK GD run: {error}") from None
    spec = run.spec
    colors = m_colors([row.m for row in prediction.sizes])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for row in prediction.sizes:
        scale = time_scale(spec, row.m, "tau") or 1.0
        t = np.asarray(row.t)
        keep = t > 0
        tau = t[keep] * scale
        color = colors[row.m]
        axes[0].plot(tau, np.asarray(row.dense_recorded)[keep], color=color, label=f"m = {row.m}")
        axes[0].plot(tau, np.asarray(row.dense_predicted)[keep], color=color, linestyle="--")
        axes[1].plot(tau, np.asarray(row.pruned_recorded)[keep], color=color, label=f"m = {row.m}")
        axes[1].plot(tau, np.asarray(row.pruned_predicted)[keep], color=color, linestyle="--")
    for ax, title in zip(axes[:2], ("dense net", "pruned (GFS, labels)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("per-example time tau = eta m t")
        ax.set_ylabel("training loss per example")
        ax.set_title(f"{title}: recorded (solid), predicted (dashed)", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[1].axhline(spec.abs_tol, color="k", linewidth=0.8, linestyle=":", label=f"abs_tol = {spec.abs_tol:g}")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    ax = axes[2]
    for index, definition in enumerate(PREDICTED_DEFINITIONS):
        rows = [c for c in prediction.comparisons if c.definition == definition]
        color = plt.get_cmap("tab10")(index)
        marker = DEFINITION_MARKERS[definition]
        empirical = [(c.m, c.empirical * c.tau_scale) for c in rows if c.empirical]
        predicted = [(c.m, c.predicted * c.tau_scale) for c in rows if c.predicted]
        if empirical:
            ax.plot(*zip(*empirical), marker=marker, color=color, label=f"{DEFINITION_NAMES[definition]}, empirical")
        if predicted:
            ax.plot(
                *zip(*predicted),
                marker=marker,
                markerfacecolor="none",
                linestyle="--",
                color=color,
                label=f"{DEFINITION_NAMES[definition]}, predicted",
            )
    if prediction.calibrate_at is not None:
        ax.axvline(prediction.calibrate_at, color="grey", linewidth=0.8, linestyle=":", label="calibration m")
    m_axis(ax, [row.m for row in prediction.sizes])
    ax.set_yscale("log")
    ax.set_ylabel("threshold, per-example time tau (log)")
    worst = ", ".join(
        f"{name[:3]} {prediction.worst_ratio[d]:.2f}"
        for d, name in DEFINITION_NAMES.items()
        if prediction.worst_ratio[d] is not None
    )
    ax.set_title(f"thresholds; worst held-out max(r, 1/r): {worst}", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    c = prediction.constants
    fig.suptitle(
        f"Spectral prediction ({spec.dataset}, k = {spec.k}, eta scaling {spec.eta_scaling}), calibrated at "
        f"m = {prediction.calibrate_at}: gamma = {c.gamma:.3g}, c1 = {c.c1:.3g}, P0 = {c.P0:.3g}",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
