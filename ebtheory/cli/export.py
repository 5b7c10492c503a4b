"""`ebtheory export RUN_DIR [--format csv|parquet] [--out FILE]`: the run as one tidy table.

One row per (m, seed, t, subnet, target), every recorded number a column (ebtheory.verify.export
documents the columns); written to RUN_DIR/results.<format> unless --out names a file.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `ebtheory run`")
    parser.add_argument(
        "--format", default="csv", choices=("csv", "parquet"), help="csv (default) or parquet (needs pyarrow)"
    )
    parser.add_argument("--out", default=None, metavar="FILE", help="output file (default: RUN_DIR/results.<format>)")


def run(args: argparse.Namespace) -> int:
    from ebtheory.verify.export import write_table

    path = write_table(args.run_dir, args.format, args.out)
    print(path)
    return 0
