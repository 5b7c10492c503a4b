"""Figure (c): pruned loss against the subnetwork size k, with the Lemma A bound.

Presents ebtheory.verify.analysis (RunAnalysis.loss_vs_k): for the largest dataset size m of the run
and three pre-training times (first, middle and last checkpoint, in iterations), one column per GFS
target: the recorded greedy per-step loss L(u_{S_j}) against the selection's own target (sum loss
1/2 ||u_S - target||_F^2), mean over seeds with a +-1 sd band; the Lemma A bound
L/(eps(2-eps)) + (L + V/2)/((1-eps) j) at each step j at the recorded dense loss L and atom spread V
(proofs/lemma_a.md), mean over seeds (dashed); and the loss of the zero output (k = 0) against the
target (dotted), above which the bound says nothing (vacuous; never hidden).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ebtheory.figures.common import SUBNET_LABELS, FigureSkipped, analysis_of, save_figure, script_main
from ebtheory.verify.records import RunRecord

NAME = "fig_c_loss_vs_k"


def render(run: RunRecord, out_dir: str | Path) -> list[Path]:
    """Draw figure (c) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    data = analysis_of(run).loss_vs_k
    if data is None or not data.curves:
        raise FigureSkipped(
            f"figure (c) needs GFS per-step losses (subnets.gfs_*.loss_curve_sum); run {run.run_dir} has none"
        )
    targets = list(dict.fromkeys(c.target for c in data.curves))
    ts = sorted({c.t for c in data.curves})
    colors = plt.get_cmap("plasma")
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 4.4), squeeze=False)
    for col, target in enumerate(targets):
        ax = axes[0, col]
        for curve in (c for c in data.curves if c.target == target):
            color = colors(0.8 * ts.index(curve.t) / max(len(ts) - 1, 1))
            steps = np.arange(1, len(curve.measured_mean) + 1)
            ax.plot(steps, curve.measured_mean, color=color, marker="o", markersize=3, label=f"GFS, t = {curve.t}")
            ax.fill_between(steps, curve.measured_low, curve.measured_high, color=color, alpha=0.2, linewidth=0)
            if curve.bound is not None:
                ax.plot(steps, curve.bound, color=color, linestyle="--")
            if curve.null_loss is not None:
                ax.axhline(curve.null_loss, color=color, linestyle=":", linewidth=1.0)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yscale("log")
        ax.set_xlabel("subnetwork size k (GFS steps)")
        ax.set_ylabel("pruned sum loss 1/2 ||u_S - target||^2")
        ax.set_title(SUBNET_LABELS[target])
        ax.grid(True, alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color="k", linestyle="--", label=f"Lemma A bound (eps = {data.eps:g})"),
            Line2D([], [], color="k", linestyle=":", label="zero output (k = 0): vacuous above"),
        ]
        ax.legend(handles=handles, fontsize=7)
    fig.suptitle(f"Pruned loss against k, m = {data.m} (t in iterations; mean over seeds, band = +-1 sd)")
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
