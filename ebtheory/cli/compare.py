"""`ebtheory compare RUN_A RUN_B [--rel 0.01]`: do two runs of one spec agree (another machine, thread
count, or inputs perturbed with --set input_jitter=...)? Same censoring, growth, Lemma A and hypothesis
verdicts, and every threshold within --rel (ebtheory.verify.analysis.compare; docs/theory.md, section 7.3).

Prints the thresholds compared, their largest relative difference and one line per disagreement; exits 0
when they agree and 1 when they do not.
"""

from __future__ import annotations

import argparse


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"--rel must lie in [0, 1); got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", help="a run directory written by `ebtheory run` (the reference)")
    parser.add_argument("run_b", help="a run of the same spec (input_jitter may differ)")
    parser.add_argument("--rel", type=_fraction, default=0.01, help="relative tolerance on thresholds (default 0.01)")


def run(args: argparse.Namespace) -> int:
    from ebtheory.verify.analysis import analyze
    from ebtheory.verify.analysis.compare import analysis_differences, threshold_agreement
    from ebtheory.verify.records import load_run

    a, b = analyze(load_run(args.run_a)), analyze(load_run(args.run_b))
    agreement = threshold_agreement(a, b)
    worst = "none reached" if agreement.max_relative is None else f"{agreement.max_relative:.3g}"
    print(
        f"thresholds: {agreement.cells} cells compared, {agreement.both_reached} reached in both; "
        f"largest relative difference {worst} (iterations)"
    )
    differences = analysis_differences(a, b, args.rel)
    for line in differences:
        print(f"  {line}")
    verdict = "agree" if not differences else f"disagree ({len(differences)} differences)"
    print(f"{args.run_a} and {args.run_b} {verdict} at rel {args.rel:g}")
    return 0 if not differences else 1
