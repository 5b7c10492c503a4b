"""`ebtheory report RUN_DIR [--json]`: the verdict table of a recorded run (rows only)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `ebtheory run`")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from ebtheory.verify.records import load_run
    from ebtheory.verify.report import build_report, format_report

    report = build_report(load_run(args.run_dir))
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_report(report))
    return 0
