"""Figure (c): pruned loss against the subnetwork size k, with the Lemma A bound.

For the largest dataset size m of the run and three pre-training times (first, middle and last
checkpoint), one column per GFS target: the recorded greedy per-step loss L(u_{S_j}) against the
selection's own target (rows: subnets.*.loss_curve_sum, sum loss 1/2 ||u_S - target||_F^2), mean
over seeds with a +-1 sd band; the Lemma A bound L/(eps(2-eps)) + (L + V/2)/((1-eps) j) at each
step j (ebtheory.symbolic.lemma_a_bound, with the recorded dense loss L against that target, the
recorded atom spread V and the spec's eps; THEORY.md 3), mean over seeds; and the loss of the zero
output (k = 0) against the target, above which the bound says nothing (vacuous; never hidden).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ebtheory.figures.common import (
    GFS_SUBNETS,
    SUBNET_LABELS,
    FigureSkipped,
    mean_band,
    save_figure,
    script_main,
    subnet_field,
    subnets_present,
)
from ebtheory.symbolic import lemma_a_bound
from ebtheory.verify.records import PointRow

NAME = "fig_c_loss_vs_k"


def _chosen_ts(ts: list[int]) -> list[int]:
    """First, middle and last checkpoint (fewer when the grid is shorter)."""
    return sorted({ts[0], ts[len(ts) // 2], ts[-1]})


def _seed_rows(run: Any, m: int, t: int, subnet: str) -> list[PointRow]:
    return [r for r in run.points_for(m=m) if r.t == t and subnet_field(r, subnet, "loss_curve_sum")]


def _bound_curve(row: PointRow, subnet: str, steps: int, eps: float) -> np.ndarray | None:
    """Lemma A bound at j = 1..steps for one row, or None when V or the dense loss was not recorded."""
    lemma = subnet_field(row, subnet, "lemma_a")
    if lemma is None or row.V is None:
        return None
    return np.array([lemma_a_bound(lemma.dense_loss_sum, row.V, j, eps) for j in range(1, steps + 1)])


def _band_over_seeds(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    length = min(len(c) for c in curves)
    stats = np.array([mean_band([c[j] for c in curves]) for j in range(length)])
    return stats[:, 0], stats[:, 1], stats[:, 2]


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (c) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    subnets = [
        s
        for s in subnets_present(run.points, GFS_SUBNETS)
        if any(subnet_field(r, s, "loss_curve_sum") for r in run.points)
    ]
    if not subnets:
        raise FigureSkipped(
            f"figure (c) needs GFS per-step losses (subnets.gfs_*.loss_curve_sum); run {run.run_dir} has none"
        )
    m = max(p.m for p in run.points if any(subnet_field(p, s, "loss_curve_sum") for s in subnets))
    ts = _chosen_ts(sorted({p.t for p in run.points_for(m=m)}))
    eps = run.spec.eps
    colors = plt.get_cmap("plasma")
    fig, axes = plt.subplots(1, len(subnets), figsize=(5.2 * len(subnets), 4.4), squeeze=False)
    for col, subnet in enumerate(subnets):
        ax = axes[0, col]
        for index, t in enumerate(ts):
            rows = _seed_rows(run, m, t, subnet)
            if not rows:
                continue
            color = colors(0.8 * index / max(len(ts) - 1, 1))
            measured = [np.asarray(subnet_field(r, subnet, "loss_curve_sum"), dtype=float) for r in rows]
            mean, low, high = _band_over_seeds(measured)
            steps = np.arange(1, len(mean) + 1)
            ax.plot(steps, mean, color=color, marker="o", markersize=3, label=f"GFS, t = {t}")
            ax.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
            bounds = [b for b in (_bound_curve(r, subnet, len(mean), eps) for r in rows) if b is not None]
            if bounds:
                ax.plot(steps, _band_over_seeds(bounds)[0], color=color, linestyle="--")
            nulls = [lemma.null_loss_sum for r in rows if (lemma := subnet_field(r, subnet, "lemma_a"))]
            if nulls:
                ax.axhline(float(np.mean(nulls)), color=color, linestyle=":", linewidth=1.0)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yscale("log")
        ax.set_xlabel("subnetwork size k (GFS steps)")
        ax.set_ylabel("pruned sum loss 1/2 ||u_S - target||^2")
        ax.set_title(SUBNET_LABELS[subnet])
        ax.grid(True, alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color="k", linestyle="--", label=f"Lemma A bound (eps = {eps:g})"),
            Line2D([], [], color="k", linestyle=":", label="zero output (k = 0): vacuous above"),
        ]
        ax.legend(handles=handles, fontsize=7)
    fig.suptitle(f"Pruned loss against k, m = {m} (mean over seeds, band = +-1 sd)")
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
