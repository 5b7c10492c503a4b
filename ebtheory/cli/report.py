"""`ebtheory report RUN_DIR [--json] [--time-unit iterations|tau|epochs] [--predict]`: the verdict of a recorded run.

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
    parser.add_argument(
        "--predict",
        action="store_true",
        help="add the spectral threshold predictor's section (two-layer NTK GD runs; seconds per cell)",
    )


def run(args: argparse.Namespace) -> int:
    from ebtheory.verify.records import load_run
    from ebtheory.verify.report import build_report, format_prediction, format_report, spectral_prediction, to_jsonable

    record = load_run(args.run_dir)
    prediction = spectral_prediction(record) if args.predict else None
    if args.json:
        report = build_report(record, args.time_unit)
        if prediction is not None:
            report["prediction"] = to_jsonable(prediction.to_dict())
        print(json.dumps(report, indent=2, sort_keys=True, allow_nan=False))
    else:
        print(format_report(record, args.time_unit))
        if prediction is not None:
            print("\n" + format_prediction(prediction))
    return 0
