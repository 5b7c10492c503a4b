"""examples/walkthrough.py runs as a script in a fresh folder, and opens as a notebook (jupytext)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WALKTHROUGH = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.py"


def test_walkthrough_is_a_jupytext_percent_notebook() -> None:
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(WALKTHROUGH)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 6 and kinds.count("code") >= 6


@pytest.mark.slow
def test_walkthrough_runs_as_a_script(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(WALKTHROUGH)], cwd=tmp_path, capture_output=True, text=True, timeout=1800
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = tmp_path / "walkthrough-out"
    assert (out / "my_ticket.safetensors").is_file()
    assert sorted(p.suffix for p in (out / "figures").iterdir() if p.name.startswith("fig_a")) == [".pdf", ".png"]
    assert "reloaded two_layer ticket" in completed.stdout or "reloaded sequential ticket" in completed.stdout
