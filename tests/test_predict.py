"""`ebtheory predict` and ebtheory.verify.analysis.prediction on the session's real `tiny` run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from cli_helpers import run_cli

from ebtheory import symbolic
from ebtheory.verify.analysis.prediction import PREDICTED_DEFINITIONS, predict_run, require_predictable


@pytest.fixture(scope="module")
def prediction(tiny_run):
    return predict_run(tiny_run)


def test_every_size_and_definition_is_compared(tiny_run, prediction):
    assert prediction.calibrate_at == min(tiny_run.ms)
    assert {(c.m, c.definition) for c in prediction.comparisons} == {
        (m, d) for m in tiny_run.ms for d in PREDICTED_DEFINITIONS
    }
    for row in prediction.comparisons:
        if row.ratio is not None:
            assert row.ratio == pytest.approx(row.predicted / row.empirical)
        assert 0 <= row.mismatches <= row.cells == len(tiny_run.seeds)


def test_calibrated_constants_match_the_rows(tiny_run, prediction):
    """gamma, P0 and v(tau) recomputed from the calibration size's rows, independently of the module."""
    m_c, k = prediction.calibrate_at, tiny_run.spec.k
    points = tiny_run.points_for(m=m_c)
    ratios = [p.subnets["gfs_dense"].target_loss_sum / (p.V / (2 * k)) for p in points]
    assert prediction.constants.gamma == pytest.approx(float(np.median(ratios)), rel=1e-12)
    starts = [p.subnets["gfs_labels"].train_loss_mean for p in points if p.t == 0]
    assert prediction.constants.P0 == pytest.approx(float(np.mean(starts)), rel=1e-12)
    last = [p.V / m_c for p in points if p.t == tiny_run.spec.checkpoints[-1]]
    assert prediction.constants.spread_v[-1] == pytest.approx(float(np.mean(last)), rel=1e-12)
    assert prediction.constants.c1 > 0 and prediction.constants.dilation


def test_predicted_dense_curve_starts_at_the_run_s_own_initial_loss(tiny_run, prediction):
    """The cell's inputs and initial network are rebuilt as the harness built them, so the spectral
    curve at t = 0 (1/2 ||Y - U0||^2 / m) is the recorded initial loss, at every m (float32 net)."""
    for row in prediction.sizes:
        assert row.dense_predicted[0] == pytest.approx(row.dense_recorded[0], rel=1e-5)
        assert row.t == tuple(float(t) for t in tiny_run.spec.checkpoints)


def test_empirical_thresholds_are_the_analysis_layer_s(tiny_run, prediction):
    from ebtheory.verify.analysis import analyze

    analysis = analyze(tiny_run)
    for definition in PREDICTED_DEFINITIONS:
        series = analysis.series("gfs_labels", definition)
        assert series is not None
        for size in series.per_m:
            row = prediction.comparison(size.m, definition)
            assert row is not None
            expected = size.t_hat["iterations"]
            assert (row.empirical is None) == (expected is None)
            if expected is not None:
                assert row.empirical == pytest.approx(expected, rel=1e-12)


def test_a_level_below_the_floor_is_predicted_not_reached(tiny_run, prediction):
    """The pruned model floors at gamma v(tau)/(2k) > 0: an abs_tol below every predicted value is
    'not reached' at every cell, and a run that does not reach it either has no failure."""
    floor = min(min(row.pruned_predicted) for row in prediction.sizes)
    low = dataclasses.replace(tiny_run, spec=dataclasses.replace(tiny_run.spec, abs_tol=floor / 2))
    lowered = predict_run(low)
    for row in (r for r in lowered.comparisons if r.definition == "absolute"):
        assert row.reached_predicted == 0 and row.predicted is None
        assert row.mismatches == row.reached_empirical


def test_theory_mode_takes_its_constants_from_the_theory(tiny_run):
    spec = tiny_run.spec
    theory = predict_run(tiny_run, mode="theory")
    assert theory.calibrate_at is None and theory.mode == "theory"
    assert theory.constants.gamma == pytest.approx(1 / (1 - spec.eps))
    assert theory.constants.c1 == pytest.approx(symbolic.lemma_a_c1(spec.k, spec.eps))
    assert theory.constants.spread_v == (pytest.approx(10 * spec.kappa**2 * (spec.width - 1) / 2),)
    assert theory.constants.P0 == pytest.approx(0.5)
    assert theory.failures.keys() == set(PREDICTED_DEFINITIONS)


def test_bad_runs_and_arguments_are_refused(tiny_run):
    with pytest.raises(ValueError, match="calibrate_at must be one of"):
        predict_run(tiny_run, calibrate_at=17)
    with pytest.raises(ValueError, match="calibrate_at must be None in mode='theory'"):
        predict_run(tiny_run, mode="theory", calibrate_at=16)
    with pytest.raises(ValueError, match="mode must be one of"):
        predict_run(tiny_run, mode="guess")
    sgd = dataclasses.replace(tiny_run, spec=dataclasses.replace(tiny_run.spec, optimizer="sgd", batch_size=8))
    with pytest.raises(ValueError, match="cannot be predicted: optimizer must be plain full-batch GD"):
        require_predictable(sgd)
    one_size = dataclasses.replace(tiny_run, units=tuple(u for u in tiny_run.units if u.m == 16))
    with pytest.raises(ValueError, match="needs at least 2"):
        predict_run(one_size)


def test_cli_json_and_table(tiny_run_dir, capsys):
    code, out, err = run_cli(["predict", str(tiny_run_dir), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["mode"] == "calibrated" and data["calibrate_at"] == 16
    assert {"gamma", "c1", "P0", "dilation"} <= set(data["constants"])
    row = data["thresholds"][0]
    assert {"m", "definition", "predicted", "empirical", "ratio", "mismatches", "t_star"} <= set(row)
    assert set(data["worst_ratio"]) == set(PREDICTED_DEFINITIONS)
    code, out, err = run_cli(["predict", str(tiny_run_dir), "--mode", "theory", "--no-dilation"], capsys)
    assert code == 0, err
    assert "zero calibration" in out and "worst held-out ratio" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--calibrate-at", "17"], "calibrate_at must be one of"),
        (["--calibrate-at", "0"], "--calibrate-at must be"),
        (["--mode", "theory", "--calibrate-at", "16"], "calibrate_at must be None"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tiny_run_dir, capsys, arguments, message):
    code, out, err = run_cli(["predict", str(tiny_run_dir), *arguments], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_cli_missing_run_dir(tmp_path, capsys):
    code, _, err = run_cli(["predict", str(tmp_path / "nothing")], capsys)
    assert code == 2 and "not a run directory" in err


def test_figure_i_renders_from_the_tiny_run_and_skips_what_it_cannot_predict(tiny_run, tmp_path):
    from ebtheory.figures import registry
    from ebtheory.figures.common import FigureSkipped
    from ebtheory.figures.fig_i_prediction import render

    paths = render(tiny_run, tmp_path)
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"] and all(p.stat().st_size > 0 for p in paths)
    assert registry.FIGURES["i"] == "ebtheory.figures.fig_i_prediction"
    sgd = dataclasses.replace(tiny_run, spec=dataclasses.replace(tiny_run.spec, optimizer="sgd", batch_size=8))
    with pytest.raises(FigureSkipped, match="figure \\(i\\) needs a predictable"):
        render(sgd, tmp_path)
