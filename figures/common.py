"""Shared plumbing for the figure scripts: Agg backend, saving PNG + PDF, grouping rows, mean bands.

Every figure reads recorded rows only (ebtheory.verify.records.load_run); nothing here trains or prunes.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ebtheory.verify.analysis import RunAnalysis, analyze  # noqa: E402
from ebtheory.verify.analysis.timeunits import axis_label, time_scale  # noqa: E402
from ebtheory.verify.records import PointRow, RunRecord, SubnetEntry  # noqa: E402

FORMATS: tuple[str, ...] = ("png", "pdf")


class FigureSkipped(Exception):
    """Raised by render() when the run holds no rows this figure needs; the message says which."""


def save_figure(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write `fig` as <out_dir>/<name>.png and .pdf, close it, and return the two paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out / f"{name}.{fmt}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def group_rows(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]) -> dict:
    """Group rows by key(row), keys sorted (None keys dropped), order inside a group kept."""
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        k = key(row)
        if k is not None:
            groups[k].append(row)
    return {k: groups[k] for k in sorted(groups, key=_sort_key)}


def _sort_key(value: Any) -> tuple:
    return (str(type(value)), value) if not isinstance(value, (int, float)) else ("", value)


def mean_band(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) over seeds: mean +- one standard deviation (the band is 0 for one seed).

    Non-finite values are dropped; with none left the result is NaN, which the caller must not plot.
    """
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return mean, mean - std, mean + std


def curve_over(
    rows: Sequence[Mapping[str, Any]], x_field: str, y_field: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band of y_field at each distinct x_field over `rows` (one row per seed and x).

    Returns x, mean, low, high, sorted by x, with x values whose y is missing everywhere dropped.
    """
    by_x: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        x, y = row.get(x_field), row.get(y_field)
        if x is not None and y is not None:
            by_x[float(x)].append(float(y))
    xs, means, lows, highs = [], [], [], []
    for x in sorted(by_x):
        mean, low, high = mean_band(by_x[x])
        if np.isfinite(mean):
            xs.append(x)
            means.append(mean)
            lows.append(low)
            highs.append(high)
    return np.array(xs), np.array(means), np.array(lows), np.array(highs)


def plot_band(ax, x, mean, low, high, *, label: str, color=None, linestyle="-", marker="o"):
    """One mean line (the only Line2D added) with a shaded +-1 sd band (a PolyCollection)."""
    (line,) = ax.plot(x, mean, linestyle=linestyle, marker=marker, markersize=3, label=label, color=color)
    if len(x) and np.any(high > low):
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def symlog_iterations(ax, ts: list[float]) -> None:
    """Log x axis for pre-training time (any unit); t = 0 (the initialisation) needs symlog."""
    ts = [float(t) for t in ts]
    if len(ts) and min(ts) <= 0:
        positive = [t for t in ts if t > 0]
        linthresh = min(positive) if positive else 1.0
        ax.set_xscale("symlog", linthresh=linthresh)
        # Decades below linthresh would sit on top of the 0 tick.
        decades = range(math.ceil(math.log10(linthresh)), math.floor(math.log10(max(ts + [linthresh]))) + 1)
        ax.set_xticks([0.0] + [10.0**e for e in decades])
    else:
        ax.set_xscale("log")


def analysis_of(run: RunRecord) -> RunAnalysis:
    """The run's analysis (ebtheory.verify.analysis.analyze, cached per RunRecord): what figures present."""
    return analyze(run)


def time_of(analysis: RunAnalysis, m: int, t: float, unit: str | None = None) -> float | None:
    """Iterations t of a unit of size m in `unit` (default: the run's comparison unit)."""
    scale = time_scale(analysis.spec, m, unit or analysis.time_unit)
    return None if scale is None else t * scale


def with_time(rows: list[dict], analysis: RunAnalysis, unit: str | None = None) -> list[dict]:
    """Flattened rows (with m and t) gaining a "time" field: t in `unit` (default: the comparison unit)."""
    return [{**row, "time": time_of(analysis, row["m"], row["t"], unit)} for row in rows]


def time_label(analysis: RunAnalysis, unit: str | None = None) -> str:
    """Axis label naming the time unit (docs/theory.md, section 7.2)."""
    return f"pre-training, {axis_label(unit or analysis.time_unit)}"


def time_header(analysis: RunAnalysis, unit: str | None = None) -> str:
    """Title fragment naming the unit and its formula for this run."""
    return f"times in {analysis.time_unit_descriptions[unit or analysis.time_unit]}"


def script_main(render: Callable[[Any, Path], list[Path]], description: str, argv: Sequence[str] | None = None) -> int:
    """`python -m figures.fig_x RUN_DIR --out DIR`: load the run, render, print the paths."""
    from ebtheory.verify.records import load_run

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_dir", help="directory of a recorded run (rows written by verify)")
    parser.add_argument("--out", default="figures_out", help="directory for the PNG and PDF files")
    args = parser.parse_args(argv)
    try:
        paths = render(load_run(args.run_dir), Path(args.out))
    except FigureSkipped as skipped:
        print(f"skipped: {skipped}")
        return 0
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    for path in paths:
        print(path)
    return 0


# Subnetwork names in the rows (verify/records.py) and how the figures label them.
SUBNET_LABELS: dict[str, str] = {
    "gfs_labels": "GFS, target = labels",
    "gfs_dense": "GFS, target = dense output",
    "magnitude": "magnitude",
    "random": "random",
}
GFS_SUBNETS: tuple[str, ...] = ("gfs_labels", "gfs_dense")


def subnet_field(row: PointRow, subnet: str, name: str) -> Any:
    """The SubnetEntry attribute `name` of row.subnets[subnet], or None when that subnetwork was not recorded."""
    entry = row.subnets.get(subnet)
    return None if entry is None else getattr(entry, name)


def flatten_subnet(rows: Iterable[PointRow], subnet: str) -> list[dict]:
    """Rows reduced to {m, seed, t, <SubnetEntry fields>} for one subnetwork (rows lacking it dropped).

    A shallow view: nested records (finetuned, lemma_a) stay typed objects. (dataclasses.asdict copied
    every nested tuple recursively and took a third of the time of `ebtheory figures` on quick.)"""
    names = [f.name for f in dataclasses.fields(SubnetEntry)]
    out = []
    for row in rows:
        entry = row.subnets.get(subnet)
        if entry is not None:
            out.append({"m": row.m, "seed": row.seed, "t": row.t, **{name: getattr(entry, name) for name in names}})
    return out


def subnets_present(rows: Iterable[PointRow], names: Sequence[str]) -> list[str]:
    """The names among `names` (in that order) that some row records."""
    seen = {name for row in rows for name in row.subnets}
    return [name for name in names if name in seen]


def is_cnn_run(run: RunRecord) -> bool:
    """The run's dense model is the residual CNN (spec field `model`, verify/spec.py)."""
    return run.spec.model == "cnn"


def m_colors(ms: Sequence[int]) -> dict[int, Any]:
    """One colour per dataset size m, light (small m) to dark (large m)."""
    cmap = plt.get_cmap("viridis")
    n = max(len(ms) - 1, 1)
    return {m: cmap(0.85 * i / n) for i, m in enumerate(ms)}


def mean_per_m(values: Mapping[int, Sequence[float | None]]) -> dict[int, float]:
    """{m: mean of the non-None values}, m with none left out."""
    out = {}
    for m, vals in values.items():
        mean = mean_band([v for v in vals if v is not None])[0]
        if np.isfinite(mean):
            out[m] = mean
    return out


def m_axis(ax, ms: Sequence[int]) -> None:
    """Log x axis for dataset sizes with one plain tick per recorded m."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(list(ms))
    ax.set_xticklabels([str(m) for m in ms])
    if len(ms) > 1:
        ax.set_xlim(min(ms) / 1.15, max(ms) * 1.15)
    ax.set_xlabel("dataset size m")


def earlybird_records(run: Any) -> list[dict]:
    """Early-Bird fields per (m, seed): {m, seed, matrix, ts, detection_t}, where any were recorded.

    Read from the unit summaries that recorded Early-Bird settings (UnitRow.earlybird). `ts` (the
    times of the masks, iterations) is `earlybird_checkpoints` when recorded, else the unit's
    checkpoints when the matrix has that many rows, else the mask indices 0, 1, ...
    """
    records = []
    for unit in run.units:
        if unit.earlybird is None:
            continue
        matrix = (
            None if unit.earlybird_distance_matrix is None else np.asarray(unit.earlybird_distance_matrix, dtype=float)
        )
        ts: Sequence[int] | None = unit.earlybird_checkpoints
        if ts is None and matrix is not None:
            ts = unit.checkpoints if len(unit.checkpoints) == len(matrix) else range(len(matrix))
        records.append(
            {
                "m": unit.m,
                "seed": unit.seed,
                "matrix": matrix,
                "ts": None if ts is None else list(ts),
                "detection_t": unit.earlybird_detection_t,
            }
        )
    return records
