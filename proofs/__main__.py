"""`python -m proofs`: run every sympy check of proofs/*.md, one PASS/FAIL line each; exit 1 if any fails.

`--plant STEP` (repeatable) swaps in that step's deliberately wrong version, which must then FAIL;
`--only PREFIX` keeps the steps whose name starts with PREFIX; `--list` prints the step names.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from proofs.checks import all_steps, plant, run_checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs", description=__doc__.splitlines()[0])
    parser.add_argument("--plant", action="append", default=[], metavar="STEP", help="check STEP's planted wrong version")
    parser.add_argument("--only", default="", metavar="PREFIX", help="only steps whose name starts with PREFIX")
    parser.add_argument("--list", action="store_true", help="print the step names and claims, check nothing")
    args = parser.parse_args(argv)
    steps = all_steps()
    try:
        for name in args.plant:
            steps = plant(steps, name)
    except ValueError as error:
        sys.stderr.write(f"python -m proofs: error: {error}\n")
        return 2
    steps = [s for s in steps if s.name.startswith(args.only) or s.name in args.plant]
    if not steps:
        sys.stderr.write(f"python -m proofs: error: no step name starts with {args.only!r}\n")
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
