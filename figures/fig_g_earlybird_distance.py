"""Figure (g): Early-Bird mask-distance heat map with the detection point marked.

One panel per dataset size m (the first seed that recorded a matrix): entry (i, j) is the normalised
Hamming distance between the pruning masks at pre-training times t_i and t_j (You et al., ICLR 2020;
ebtheory.prune.earlybird), read from the rows' `earlybird_distance_matrix`. The detection time
`earlybird_detection_t` (the first t whose mask is within the threshold of the previous window of
masks) is marked by crossing lines; "not detected" is written when the run never declared a ticket.
The checkpoints of the pre-training grid play the role of You et al.'s epochs (ebtheory.verify.unit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ebtheory.figures.common import FigureSkipped, earlybird_records, save_figure, script_main

NAME = "fig_g_earlybird_distance"


def render(run: Any, out_dir: str | Path) -> list[Path]:
    """Draw figure (g) from a RunRecord (ebtheory.verify.records.load_run) into out_dir; return the PNG and PDF paths."""
    first_per_m: dict[int, dict] = {}
    for record in earlybird_records(run):
        if record["matrix"] is not None and record["matrix"].size:
            first_per_m.setdefault(record["m"], record)
    if not first_per_m:
        raise FigureSkipped(f"figure (g) needs Early-Bird rows (earlybird_distance_matrix); run {run.run_dir} has none")
    fig, axes = plt.subplots(1, len(first_per_m), figsize=(3.8 * len(first_per_m), 3.8), squeeze=False)
    image = None
    for col, (m, record) in enumerate(sorted(first_per_m.items())):
        ax = axes[0, col]
        matrix, ts = record["matrix"], record["ts"]
        # Normalised Hamming distances lie in [0, 1]: one fixed scale keeps panels comparable.
        image = ax.imshow(matrix, origin="upper", cmap="magma_r", vmin=0.0, vmax=1.0)
        step = max(len(ts) // 8, 1)
        ticks = list(range(0, len(ts), step))
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{ts[i]:g}" for i in ticks], rotation=60, fontsize=7)
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"{ts[i]:g}" for i in ticks], fontsize=7)
        ax.set_xlabel("pre-training t (mask j)")
        if col == 0:
            ax.set_ylabel("pre-training t (mask i)")
        detection = record["detection_t"]
        if detection is not None and detection in ts:
            index = ts.index(detection)
            ax.axvline(index, color="tab:cyan", linewidth=1.2)
            ax.axhline(index, color="tab:cyan", linewidth=1.2)
            status = f"detected at t = {detection:g}"
        else:
            status = "not detected" if detection is None else f"detected at t = {detection:g} (off grid)"
        ax.set_title(f"m = {m}, seed {record['seed']}\n{status}", fontsize=9)
    assert image is not None
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="normalised mask distance")
    fig.suptitle("Early-Bird mask distances between pre-training checkpoints")
    return save_figure(fig, out_dir, NAME)


def main() -> int:
    return script_main(render, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
