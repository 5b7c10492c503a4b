"""`ebtheory report RUN_DIR [--json] [--time-unit iterations|tau|epochs]`: the verdict of a recorded run.

Presents ebtheory.verify.analysis (rows only). Sizes m are compared in the run's comparison unit by
default: per-example time tau for full-batch GD, epochs for SGD (docs/theory.md, section 7.2).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `ebtheory run`")
    parser.add_argument(
        "--json", action="store_true", help="print the analysis as JSON (every time unit; no NaN, null where missing)"
    )
    parser.add_argument(
        "--time-unit",
        default=None,
        choices=("iterations", "tau", "epochs"),
        help="unit in which the table compares sizes m (default: tau for GD, epochs for SGD)",
    )


def run(args: argparse.Namespace) -> int:
    from ebtheory.verify.records import load_run
    from ebtheory.verify.report import build_report, format_report

    record = load_run(args.run_dir)
    if args.json:
        print(json.dumps(build_report(record, args.time_unit), indent=2, sort_keys=True, allow_nan=False))
    else:
        print(format_report(record, args.time_unit))
    return 0
