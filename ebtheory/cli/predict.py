"""`ebtheory predict RUN_DIR [--calibrate-at M] [--mode calibrated|theory] [--no-dilation] [--json]`.

The spectral threshold predictor (docs/theory.md, section 9; ebtheory.verify.analysis.prediction):
calibrate at one size m of a recorded two-layer NTK run (default: the smallest), predict the dense and
pruned curves and thresholds (a), (b), (c) at every other m from the inputs alone, and print
predicted / empirical per m with the worst held-out ratio and the reached / not-reached failures.
`--mode theory` uses no recorded number (gamma = 1/(1-eps), v = E[V(0)]/m, no dilation).
"""

from __future__ import annotations

import argparse
import json

from ebtheory.validation import require_positive_int

LABELS = {"relative": "(a) rel", "absolute": "(b) abs", "accuracy": "(c) acc"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `ebtheory run` (two-layer NTK, full-batch GD)")
    parser.add_argument(
        "--calibrate-at",
        type=int,
        default=None,
        metavar="M",
        help="the size m whose rows calibrate gamma, v(tau), P0 and the dilation (default: the smallest m)",
    )
    parser.add_argument(
        "--mode",
        default="calibrated",
        choices=("calibrated", "theory"),
        help="calibrated (default) or theory: zero calibration, constants from the theory alone",
    )
    parser.add_argument("--no-dilation", action="store_true", help="do not calibrate the level dilation rho")
    parser.add_argument("--json", action="store_true", help="print the prediction as JSON")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_prediction(prediction: object, run_dir: str) -> str:
    """The table: per definition and m, predicted and empirical (iterations and tau), ratio, reached."""
    from ebtheory.verify.analysis.prediction import PREDICTED_DEFINITIONS, RunPrediction

    assert isinstance(prediction, RunPrediction)
    c = prediction.constants
    where = f"calibrated at m = {c.calibrate_at}" if prediction.mode == "calibrated" else "zero calibration"
    lines = [
        f"spectral threshold prediction: {run_dir} ({prediction.mode}, {where}; thresholds on the "
        f"{prediction.threshold_loss} pruned loss, abs_tol {prediction.abs_tol:g}, rel_tol {prediction.rel_tol:g})",
        f"  gamma {c.gamma:.4g}   c1 {c.c1:.4g}   P0 {c.P0:.4g}   v(tau) {c.spread_v[0]:.4g} .. {c.spread_v[-1]:.4g} "
        f"(then +{c.spread_slope:.3g} per sqrt(tau) beyond tau = {c.spread_tau[-1]:.4g})",
    ]
    if c.dilation:
        lines.append(
            f"  dilation rho {min(c.dilation):.3g} .. {max(c.dilation):.3g} over per-example dense levels "
            f"{min(c.dilation_levels):.3g} .. {max(c.dilation_levels):.3g}"
        )
    lines.append(
        f"  {'threshold':9s} {'m':>6s} {'predicted t':>12s} {'empirical t':>12s} {'ratio':>7s} "
        f"{'predicted tau':>14s} {'empirical tau':>14s} {'reached p/e':>12s} {'t* (worst case)':>16s}"
    )
    for definition in PREDICTED_DEFINITIONS:
        for row in (r for r in prediction.comparisons if r.definition == definition):
            mark = " (calibration)" if row.m == prediction.calibrate_at else ""
            tau_p = None if row.predicted is None else row.predicted * row.tau_scale
            tau_e = None if row.empirical is None else row.empirical * row.tau_scale
            reached = f"{row.reached_predicted}/{row.reached_empirical} of {row.cells}"
            lines.append(
                f"  {LABELS[definition]:9s} {row.m:6d} {_number(row.predicted):>12s} {_number(row.empirical):>12s} "
                f"{_number(row.ratio):>7s} {_number(tau_p):>14s} {_number(tau_e):>14s} {reached:>12s} "
                f"{_number(row.t_star):>16s}{mark}"
            )
    worst = ", ".join(f"{LABELS[d]} {_number(prediction.worst_ratio[d])}" for d in PREDICTED_DEFINITIONS)
    failed = ", ".join(f"{LABELS[d]} {prediction.failures[d]}" for d in PREDICTED_DEFINITIONS)
    lines.append(f"  worst held-out ratio max(r, 1/r): {worst}")
    lines.append(f"  reached / not-reached failures (held out): {failed}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ebtheory.verify.analysis.prediction import predict_run
    from ebtheory.verify.records import load_run

    if args.calibrate_at is not None:
        require_positive_int("--calibrate-at", args.calibrate_at)
    record = load_run(args.run_dir)
    prediction = predict_run(record, mode=args.mode, calibrate_at=args.calibrate_at, dilation=not args.no_dilation)
    if args.json:
        print(json.dumps(prediction.to_dict(), indent=2, sort_keys=True, allow_nan=False))
    else:
        print(format_prediction(prediction, args.run_dir))
    return 0
