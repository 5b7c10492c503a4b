"""`ebtheory figures RUN_DIR --out DIR [--only a,b,...]`: render the paper figures from a recorded run."""

from __future__ import annotations

import argparse

from ebtheory.figures.registry import FIGURES, parse_only, render_all


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
