"""`ebtheory bench`: run the GFS and/or lambda0 benchmarks and print one JSON object.

Benchmarks measure and print; they assert nothing about time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from ebtheory.validation import require_choice

WHICH = ("gfs", "lambda0", "spectral", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--which",
        default="all",
        choices=WHICH,
        help="gfs: naive vs Gram vs residual GFS and an MNIST-scale run; lambda0: the lambda0 "
        "estimators; spectral: the predicted dense curve, dense vs Lanczos, m up to 20k; all: every one (default)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for tests and smoke runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic inputs (default 0)")


def _lambda0_benchmark(quick: bool) -> dict:
    try:
        module = importlib.import_module("ebtheory.verify.bench.lambda0_bench")
    except ModuleNotFoundError as error:
        if error.name not in ("ebtheory.verify.bench.lambda0_bench", "ebtheory.verify.bench"):
            raise
        raise ValueError(
            "--which lambda0 needs verify/bench/lambda0_bench.py (run_lambda0_benchmark), "
            "which is not installed yet; use --which gfs"
        ) from error
    return module.run_lambda0_benchmark(quick)


def run(args: argparse.Namespace) -> int:
    which = require_choice("--which", args.which, WHICH)
    results: dict[str, object] = {}
    if which in ("gfs", "all"):
        from ebtheory.verify.bench.gfs_bench import run_gfs_benchmark

        results["gfs"] = run_gfs_benchmark(quick=args.quick, seed=args.seed)
    if which in ("lambda0", "all"):
        results["lambda0"] = _lambda0_benchmark(args.quick)
    if which in ("spectral", "all"):
        from ebtheory.verify.bench.spectral_bench import run_spectral_benchmark

        results["spectral"] = run_spectral_benchmark(quick=args.quick, seed=args.seed)
    json.dump(results, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0
