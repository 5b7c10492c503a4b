"""`ebtheory run PRESET [--out runs/] [--jobs N] [--device auto|cpu|cuda] [--set key=value ...]`.

Runs (or resumes) the sweep of a preset, with spec fields overridden by --set (the run-directory
hash changes accordingly), then prints the verdict table, renders the figures (into RUN_DIR/figures
unless --figures names another folder; --no-figures skips them) and prints the run directory.
"""

from __future__ import annotations

import argparse

from ebtheory.verify.presets import PRESETS
from ebtheory.verify.spec import field_help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", choices=sorted(PRESETS), help="named experiment spec (verify/presets.py)")
    parser.add_argument("--out", default="runs", help="parent directory of run directories (default: runs/)")
    parser.add_argument("--jobs", type=int, default=1, help="units run in parallel processes (default 1)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:<i>")
    fields = ", ".join(sorted(field_help()))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a spec field (tuples comma-separated); fields: {fields}",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--figures", default=None, metavar="DIR", help="folder for the figures (default: RUN_DIR/figures)"
    )
    parser.add_argument("--no-figures", action="store_true", help="do not render the figures")


def run(args: argparse.Namespace) -> int:
    from ebtheory.train import select_device
    from ebtheory.verify.presets import get_preset
    from ebtheory.verify.report import build_report, format_report
    from ebtheory.verify.rows import load_run
    from ebtheory.verify.runner import run_sweep
    from ebtheory.verify.spec import with_overrides

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got --jobs={args.jobs}")
    select_device(args.device)  # reject a bad --device before any work starts
    spec = with_overrides(get_preset(args.preset), args.overrides)
    result = run_sweep(spec, args.out, jobs=args.jobs, device=args.device, progress=not args.no_progress)
    print(format_report(build_report(load_run(result.run_dir))))
    if not args.no_figures:
        from ebtheory.figures.registry import render_all

        out_dir = args.figures if args.figures is not None else f"{result.run_dir}/figures"
        rendered = render_all(result.run_dir, out_dir)
        written = sum(len(paths) for paths in rendered.values() if not isinstance(paths, str))
        print(f"\nfigures: {written} files in {out_dir}")
        for name, outcome in rendered.items():
            if isinstance(outcome, str):
                print(f"  ({name}) skipped: {outcome}")
    print(f"\nrun dir: {result.run_dir}")
    return 0
