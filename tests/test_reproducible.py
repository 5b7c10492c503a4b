"""Thresholds and verdicts do not depend on the machine (issue 10.5): the `tiny` sweep (float64, as the
two-layer GD presets; docs/theory.md, section 7.3) rerun with 1 and 2 torch threads, and with its inputs
perturbed by 1e-12 relative (spec.input_jitter, applied in float64 where it moves every input), gives
the same verdicts and every threshold within 1%.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ebtheory.verify.analysis import analyze
from ebtheory.verify.analysis.compare import analysis_differences

REL = 0.01


def test_compare_finds_nothing_between_an_analysis_and_itself_and_names_a_planted_change(tiny_run):
    analysis = analyze(tiny_run)
    assert analysis_differences(analysis, analysis) == []
    series = analysis.thresholds["gfs_labels/relative"]
    cell = series.cells[0]
    moved = dataclasses.replace(
        cell,
        t=None if cell.t is None else cell.t * 1.02,
        bound=None if cell.bound is None else cell.bound * 1.02,
    )
    planted = dataclasses.replace(
        analysis,
        thresholds={**analysis.thresholds, series.key: dataclasses.replace(series, cells=(moved, *series.cells[1:]))},
    )
    differences = analysis_differences(analysis, planted)
    assert len(differences) == 1 and f"m={cell.m} seed={cell.seed}" in differences[0]
    assert analysis_differences(analysis, planted, rel=0.05) == []
    with pytest.raises(ValueError, match="rel"):
        analysis_differences(analysis, analysis, rel=1.5)


def _sweep(out_dir, threads: int, input_jitter: float = 0.0):
    from ebtheory.verify.presets import TINY
    from ebtheory.verify.records import load_run
    from ebtheory.verify.runner import run_sweep

    spec = dataclasses.replace(TINY, input_jitter=input_jitter)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = run_sweep(spec, out_dir, jobs=1, device="cpu", progress=False)  # jobs=1: in this process
    finally:
        torch.set_num_threads(previous)
    return analyze(load_run(result.run_dir))


def test_input_jitter_moves_every_nonzero_input_by_exactly_its_relative_size():
    from ebtheory.verify.context import jittered

    X = torch.randn(40, 7, dtype=torch.float64)
    X[0, 0] = 0.0
    moved = jittered(X, 1e-12, seed=3)
    ratio = (moved / X)[X != 0]
    assert torch.allclose((ratio - 1).abs(), torch.full_like(ratio, 1e-12), rtol=1e-3, atol=0)
    assert moved[0, 0] == 0 and torch.equal(moved, jittered(X, 1e-12, seed=3))
    assert not torch.equal(moved, jittered(X, 1e-12, seed=4))


@pytest.mark.slow
def test_thresholds_survive_thread_count_and_perturbed_inputs(tmp_path):
    one = _sweep(tmp_path / "threads1", threads=1)
    two = _sweep(tmp_path / "threads2", threads=2)
    assert analysis_differences(one, two, REL) == []
    perturbed = _sweep(tmp_path / "perturbed", threads=1, input_jitter=1e-12)
    assert perturbed.spec.hash != one.spec.hash and perturbed.spec.dtype == "float64"
    assert analysis_differences(one, perturbed, REL) == []


def test_compare_cli_exit_code_and_the_spec_check_ignores_only_input_jitter(
    tiny_run, tiny_run_dir, capsys, monkeypatch
):
    from ebtheory.cli import main
    from ebtheory.verify.analysis.compare import threshold_agreement

    assert main(["compare", str(tiny_run_dir), str(tiny_run_dir)]) == 0
    out = capsys.readouterr().out
    assert "largest relative difference 0 (iterations)" in out and "agree at rel 0.01" in out
    analysis = analyze(tiny_run)
    agreement = threshold_agreement(analysis, analysis)
    assert agreement.cells == sum(len(s.cells) for s in analysis.thresholds.values()) > 0
    assert agreement.max_relative == 0.0 and agreement.both_reached > 0
    jittered_spec = dataclasses.replace(analysis, spec=dataclasses.replace(analysis.spec, input_jitter=1e-12))
    assert analysis_differences(analysis, jittered_spec) == []
    other_spec = dataclasses.replace(analysis, spec=dataclasses.replace(analysis.spec, k=analysis.spec.k + 1))
    assert any("spec hash" in line for line in analysis_differences(analysis, other_spec))
    import ebtheory.verify.analysis.compare as compare

    monkeypatch.setattr(compare, "analysis_differences", lambda a, b, rel: ["planted difference"])
    assert main(["compare", str(tiny_run_dir), str(tiny_run_dir)]) == 1
    out = capsys.readouterr().out
    assert "planted difference" in out and "disagree (1 differences)" in out
