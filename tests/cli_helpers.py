"""Shared by the CLI tests: run `ebtheory` in-process and capture its exit code and output."""

from __future__ import annotations

import pytest

from ebtheory.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `ebtheory ARGV`, SystemExit included."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
