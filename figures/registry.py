"""The figure registry: letter -> module, and `render_all`, which renders them from a recorded run.

Each figure is one module figures.fig_<letter>_* with render(run, out_dir) -> list[Path]; a figure
whose rows the run lacks (CNN, Early-Bird) is skipped with its reason, never a crash.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ebtheory.figures.common import FigureSkipped
from ebtheory.verify.records import RunRecord

FIGURES: dict[str, str] = {
    "a": "ebtheory.figures.fig_a_pruned_vs_pretraining",
    "b": "ebtheory.figures.fig_b_threshold_vs_m",
    "c": "ebtheory.figures.fig_c_loss_vs_k",
    "d": "ebtheory.figures.fig_d_constants_vs_m",
    "e": "ebtheory.figures.fig_e_baselines",
    "f": "ebtheory.figures.fig_f_cnn",
    "g": "ebtheory.figures.fig_g_earlybird_distance",
    "h": "ebtheory.figures.fig_h_detection_vs_m",
    "i": "ebtheory.figures.fig_i_prediction",
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


def render_all(
    run_dir: str | Path | RunRecord, out_dir: str | Path, only: list[str] | None = None
) -> dict[str, list[Path] | str]:
    """Render the figures `only` (default all) of the run in run_dir (or of a loaded RunRecord, whose
    cached analysis is then reused: ebtheory.verify.analysis.analyze) into out_dir.

    Returns {letter: written paths} for rendered figures and {letter: reason} for skipped ones.
    """
    from ebtheory.verify.records import load_run

    names = list(FIGURES) if only is None else only
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise ValueError(f"only must be a subset of {list(FIGURES)}; got only={only!r}")
    run = run_dir if isinstance(run_dir, RunRecord) else load_run(run_dir)
    results: dict[str, list[Path] | str] = {}
    for name in names:
        module = importlib.import_module(FIGURES[name])
        try:
            results[name] = module.render(run, Path(out_dir))
        except FigureSkipped as skipped:
            results[name] = str(skipped)
    return results
