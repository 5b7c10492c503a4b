"""`ebtheory run PRESET [--out runs/] [--jobs N] [--device auto|cpu|cuda] [--set KEY=VALUE ...] [--check]`.

Runs (or resumes) the sweep of a preset, with spec fields overridden by --set (the run-directory
hash changes accordingly), then prints the verdict table, renders the figures (into RUN_DIR/figures
unless --figures names another folder; --no-figures skips them) and prints the run directory.
`--set` takes one or more KEY=VALUE after one flag and may be repeated. `--check` validates the
spec and prints the run directory without running anything. Ctrl-C stops the sweep within seconds
(exit code 130) with one line saying what finished; the same command resumes it.
"""

from __future__ import annotations

import argparse
import sys

from ebtheory.verify.presets import PRESETS
from ebtheory.verify.spec import ExperimentSpec, field_help


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
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"override spec fields, one or more per flag (tuples comma-separated); fields: {fields}",
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the spec, print the run directory and stop (runs nothing)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--figures", default=None, metavar="DIR", help="folder for the figures (default: RUN_DIR/figures)"
    )
    parser.add_argument("--no-figures", action="store_true", help="do not render the figures")


def build_spec(args: argparse.Namespace) -> ExperimentSpec:
    """The spec `ebtheory run` would sweep: the preset with every --set override applied, validated."""
    from ebtheory.verify.presets import get_preset
    from ebtheory.verify.spec import with_overrides

    if isinstance(args.jobs, bool) or args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got --jobs={args.jobs}")
    assignments = [item for group in args.overrides for item in (group if isinstance(group, list) else [group])]
    return with_overrides(get_preset(args.preset), assignments)


def run(args: argparse.Namespace) -> int:
    from ebtheory.train import select_device
    from ebtheory.verify.records import load_run
    from ebtheory.verify.report import build_report, format_report
    from ebtheory.verify.rundir import run_dir_inside
    from ebtheory.verify.runner import INTERRUPT_EXIT_CODE, SweepInterrupted, run_sweep
    from ebtheory.verify.spec import run_dir_name

    spec = build_spec(args)
    select_device(args.device)  # reject a bad --device before any work starts
    if args.check:
        run_dir = run_dir_inside(args.out, run_dir_name(spec))
        state = "exists (a run resumes it)" if run_dir.is_dir() else "new"
        print(f"spec valid; run dir: {run_dir} ({state})")
        return 0
    try:
        result = run_sweep(spec, args.out, jobs=args.jobs, device=args.device, progress=not args.no_progress)
    except SweepInterrupted as interrupted:
        sys.stderr.write(f"ebtheory run: {interrupted}\n")
        return INTERRUPT_EXIT_CODE
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
