"""`ebtheory figures RUN_DIR --out DIR [--only a,b,...]`: render the paper figures from a recorded run.

Each figure is one module figures.fig_<letter>_* with render(run, out_dir) -> list[Path]; a figure
whose rows the run lacks (CNN, Early-Bird) is skipped with its reason, never a crash.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from figures.common import FigureSkipped

FIGURES: dict[str, str] = {
    "a": "figures.fig_a_pruned_vs_pretraining",
    "b": "figures.fig_b_threshold_vs_m",
    "c": "figures.fig_c_loss_vs_k",
    "d": "figures.fig_d_constants_vs_m",
    "e": "figures.fig_e_baselines",
    "f": "figures.fig_f_cnn",
    "g": "figures.fig_g_earlybird_distance",
    "h": "figures.fig_h_detection_vs_m",
}


def parse_only(text: str | None) -> list[str] | None:
    """'a,c' -> ['a', 'c']; None or '' -> None (all figures). Unknown letters raise ValueError."""
    if not text:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in FIGURES]
    if unknown or not names:
        raise ValueError(f"--only must be a comma-separated subset of {','.join(FIGURES)}; got --only={text!r}")
    return names


def render_all(run_dir: str | Path, out_dir: str | Path, only: list[str] | None = None) -> dict[str, list[Path] | str]:
    """Render the figures `only` (default all) of the run in run_dir into out_dir.

    Returns {letter: written paths} for rendered figures and {letter: reason} for skipped ones.
    """
    from verify.rows import load_run

    names = list(FIGURES) if only is None else only
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise ValueError(f"only must be a subset of {list(FIGURES)}; got only={only!r}")
    run = load_run(run_dir)
    results: dict[str, list[Path] | str] = {}
    for name in names:
        module = importlib.import_module(FIGURES[name])
        try:
            results[name] = module.render(run, Path(out_dir))
        except FigureSkipped as skipped:
            results[name] = str(skipped)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="directory of a recorded run (spec.json, points/, units/)")
    parser.add_argument("--out", default="figures_out", help="directory for the PNG and PDF files")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(FIGURES)}")


def run(args: argparse.Namespace) -> int:
    results = render_all(args.run_dir, args.out, parse_only(args.only))
    for name, result in results.items():
        if isinstance(result, str):
            print(f"({name}) skipped: {result}")
        else:
            print(f"({name}) " + " ".join(str(path) for path in result))
    return 0
