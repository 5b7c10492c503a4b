"""`python -m ebtheory.proofs` (or `ebtheory proofs`): run every sympy check of proofs/*.md, one PASS/FAIL line each; exit 1 if any fails.

`--plant STEP` (repeatable) swaps in that step's deliberately wrong version, which must then FAIL;
`--only PREFIX` keeps the steps whose name starts with PREFIX; `--list` prints the step names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ebtheory.proofs.checks import all_steps, plant, run_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of the proof checker (shared with `ebtheory proofs`)."""
    parser.add_argument(
        "--plant", action="append", default=[], metavar="STEP", help="check STEP's planted wrong version"
    )
    parser.add_argument("--only", default="", metavar="PREFIX", help="only steps whose name starts with PREFIX")
    parser.add_argument("--list", action="store_true", help="print the step names and claims, check nothing")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ebtheory.proofs", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv), prog="python -m ebtheory.proofs")


def run_from_args(args: argparse.Namespace, prog: str) -> int:
    """Run the checks the parsed flags select; print one PASS/FAIL line per step."""
    steps = all_steps()
    try:
        for name in args.plant:
            steps = plant(steps, name)
    except ValueError as error:
        sys.stderr.write(f"{prog}: error: {error}\n")
        return 2
    steps = [s for s in steps if s.name.startswith(args.only) or s.name in args.plant]
    if not steps:
        sys.stderr.write(f"{prog}: error: no step name starts with {args.only!r}\n")
        return 2
    if args.list:
        for step in steps:
            print(f"{step.name}: {step.claim}")
        return 0
    results = run_checks(steps)
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name}: {result.detail}", flush=True)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
