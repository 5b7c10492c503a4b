"""The `ebtheory` command: a thin front end that dispatches to one module per subcommand.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are imported
only when their command runs, so `ebtheory bound` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ebtheory import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "bound": ("ebtheory.cli.bound", "pre-training threshold t* and pruned-loss bound from constants"),
    "estimate": ("ebtheory.cli.estimate", "estimate the bound's constants from data and a trained net"),
    "run": ("ebtheory.cli.run", "run a verification sweep (pre-train, prune, fine-tune) from a preset"),
    "report": ("ebtheory.cli.report", "print the verdict table of a recorded run"),
    "figures": ("ebtheory.cli.figures", "render the paper figures from a recorded run"),
    "compare": ("ebtheory.cli.compare", "do two runs of one spec agree (other machine, perturbed inputs)?"),
    "export": ("ebtheory.cli.export", "write a recorded run as one tidy table (csv or parquet)"),
    "predict": ("ebtheory.cli.predict", "predict thresholds at every m of a run from one calibration size (spectral)"),
    "bench": ("ebtheory.cli.bench", "benchmark greedy forward selection and lambda0"),
    "proofs": ("ebtheory.cli.proofs", "run every sympy check of the proofs (proofs/*.md)"),
}


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2, never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only `command`'s module is imported (all of them when None)."""
    parser = _ArgumentParser(prog="ebtheory", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ebtheory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args))
    except (ValueError, OSError) as error:
        # Bad input (ValueError) or a missing / unreadable file (OSError): one line, exit 2.
        message = " ".join(str(error).split()) or type(error).__name__
        sys.stderr.write(f"ebtheory {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        # Ctrl-C outside a sweep (a sweep reports its own line): one line, the shell's 128 + SIGINT.
        sys.stderr.write(f"ebtheory {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
