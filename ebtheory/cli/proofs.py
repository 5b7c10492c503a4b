"""`ebtheory proofs [--plant STEP] [--only PREFIX] [--list]`: every sympy check of proofs/*.md.

The same as `python -m ebtheory.proofs`; exit 0 when every step passes, 1 when one fails.
"""

from __future__ import annotations

import argparse

from ebtheory.proofs.__main__ import add_arguments as _add_proof_arguments
from ebtheory.proofs.__main__ import run_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_proof_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_from_args(args, prog="ebtheory proofs")
