"""The `ebtheory` front end: every command's bad-input path is one line and exit code 2, and the main
job's path (`ebtheory run` -> report -> figures) works end to end on a shrunken tiny preset."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli

from ebtheory.cli import COMMANDS


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["estimate", "--data", "mnist", "--data-dir", "/nonexistent-ebtheory"], "no mnist IDX files"),
        (["estimate", "--m", "0"], "m must be"),
        (["report", "/nonexistent-ebtheory"], "not a run directory"),
        (["figures", "/nonexistent-ebtheory", "--out", "/tmp/ebtheory-never"], "not a run directory"),
        (["run", "quick", "--set", "no_such_field=1"], "--set key must be a spec field"),
        (["run", "quick", "--set", "k=-1"], "k must be >= 1"),
        (["run", "quick", "--jobs", "0"], "--jobs must be >= 1"),
        (["run", "quick", "--device", "tpu"], "device"),
        (["run", "no-such-preset"], "invalid choice"),
        (["no-such-command"], "invalid choice"),
        (["bench", "--which", "everything"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv: list[str], fragment: str, capsys) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and fragment in err and "Traceback" not in err


def test_every_command_module_imports_and_has_its_interface() -> None:
    import importlib

    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run) and help_text, name


@pytest.mark.slow
def test_run_prints_the_verdict_and_writes_the_figures(tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "figs"
    argv = [
        "run",
        "tiny",
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
        "--figures",
        str(out_dir),
        "--set",
        "ms=16,20,24,28",
        "--set",
        "checkpoints=0,4,12,30",
        "--set",
        "earlybird_masks=5",
        "--set",
        "finetune_steps=2",
    ]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "Lemma A" in out and "threshold gfs_labels/relative" in out and "run dir:" in out
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert "fig_a_pruned_vs_pretraining.png" in pngs and "fig_b_threshold_vs_m.png" in pngs
    assert all((out_dir / name).stat().st_size > 1000 for name in pngs)
    run_dir = out.strip().splitlines()[-1].split("run dir:")[1].strip()
    code, again, _ = run_cli(["report", run_dir], capsys)
    assert code == 0 and again.strip() in out


RECORDED = sorted(Path(__file__).resolve().parents[1].joinpath("verify", "results").glob("*/spec.json"))


@pytest.mark.parametrize("spec_file", RECORDED, ids=[p.parent.name for p in RECORDED])
@pytest.mark.slow
def test_recorded_runs_regenerate_their_report_and_figures(spec_file: Path, tmp_path: Path, capsys) -> None:
    """The README's tables and figures come from these recorded rows, by one command each: the report
    regenerated from the rows equals the committed report.txt, every unit of the spec is there."""
    from ebtheory.verify.records import load_run

    run_dir = str(spec_file.parent)
    run = load_run(run_dir)
    expected_units = len(run.spec.ms) * len(run.spec.seeds)
    code, out, err = run_cli(["report", run_dir], capsys)
    assert code == 0, err
    assert f"units {expected_units}/{expected_units}" in out and "threshold gfs_labels/relative" in out
    recorded = spec_file.parent / "report.txt"
    if recorded.is_file():
        assert out == recorded.read_text()
    code, _, err = run_cli(["figures", run_dir, "--out", str(tmp_path), "--only", "a,b"], capsys)
    assert code == 0, err
    assert (tmp_path / "fig_a_pruned_vs_pretraining.png").stat().st_size > 1000
    assert (tmp_path / "fig_b_threshold_vs_m.pdf").stat().st_size > 1000


def test_there_are_recorded_runs() -> None:
    assert len(RECORDED) >= 2
