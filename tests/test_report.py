"""The verdict report of the session's real `tiny` run (tests/conftest.py), checked against the rows by
independent computations, and the `ebtheory report` command (text, --json, --time-unit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_cli

from ebtheory.verify.analysis import analyze
from ebtheory.verify.analysis.thresholds import DEFINITIONS
from ebtheory.verify.report import build_report, format_report, report_is_finite


def _refuse(name: str) -> None:
    raise ValueError(f"non-finite {name} in the JSON")


def test_json_has_every_threshold_in_iterations_and_tau_with_censoring_and_both_cis(tiny_run):
    report = json.loads(json.dumps(build_report(tiny_run), allow_nan=False), parse_constant=_refuse)
    assert report["complete"] and report["points"] == report["points_expected"] == len(tiny_run.points)
    assert report["time_unit"] == "tau" and report_is_finite(report)
    for target in ("gfs_labels", "gfs_dense"):
        for definition in DEFINITIONS:
            series = report["thresholds"][f"{target}/{definition}"]
            assert len(series["cells"]) == len(tiny_run.ms) * len(tiny_run.seeds)
            for cell in series["cells"]:
                assert set(cell["t"]) == {"iterations", "tau"} and isinstance(cell["right_censored"], bool)
                assert cell["t_min"]["iterations"] in tiny_run.spec.checkpoints
                if cell["censoring"] == "none":
                    # tau = eta m t: GD on the sum loss at the spec's fixed eta
                    expected = tiny_run.spec.eta * cell["m"] * cell["t"]["iterations"]
                    assert cell["t"]["tau"] == pytest.approx(expected)
                else:
                    assert cell["t"]["tau"] is None and cell["bound"]["tau"] is not None
            for unit in ("iterations", "tau"):
                fits = series["fits"][unit]
                assert set(fits) >= {"log", "power", "censored", "better", "grows", "n_left", "n_right"}
                for model in ("log", "power"):
                    if fits[model] is not None:
                        assert {"slope_ci_t", "slope_ci_bootstrap", "loo_rmse"} <= set(fits[model])


def test_absolute_threshold_cells_match_a_plain_loop_over_the_rows(tiny_run):
    series = analyze(tiny_run).series("gfs_labels", "absolute")
    for cell in series.cells:
        losses = [p.subnets["gfs_labels"].train_loss_mean for p in tiny_run.points_for(m=cell.m, seed=cell.seed)]
        below = [i for i, loss in enumerate(losses) if loss <= tiny_run.spec.abs_tol]
        expected = "right" if not below else ("left" if below[0] == 0 else "none")
        assert cell.censoring == expected
        if expected == "none":
            grid = tiny_run.spec.checkpoints
            assert grid[below[0] - 1] <= cell.t <= grid[below[0]]


def test_predictions_and_hypotheses_against_the_unit_rows(tiny_run):
    analysis = analyze(tiny_run)
    for row in analysis.predictions:
        units = [u for u in tiny_run.units if u.m == row.m]
        stars = [u.predicted["fixed_eta"].t_star for u in units]
        assert row.t_star["fixed_eta"]["iterations"] == pytest.approx(np.mean(stars))
        taus = [u.predicted["fixed_eta"].t_star * u.predicted["fixed_eta"].eta * row.m for u in units]
        assert row.t_star["fixed_eta"]["tau"] == pytest.approx(np.mean(taus))
    assert len(analysis.hypotheses) == len(tiny_run.units)
    for hypotheses in analysis.hypotheses:
        unit = tiny_run.unit(hypotheses.m, hypotheses.seed)
        checks = {c.number: c for c in hypotheses.checks}
        step = unit.constants.lambda0 / unit.m**2  # Du et al.'s eta bound at c_eta = 1
        assert checks["8.4"].held == (unit.constants.eta <= step) and checks["8.4"].reference == pytest.approx(step)
        assert checks["8.4s"].held == (unit.constants.eta_times_lambda_max < 2)
        points = tiny_run.points_for(m=unit.m, seed=unit.seed)
        assert checks["8.3"].value == pytest.approx(max(p.V for p in points))
        gram = [p.diagnostics.lambda_min_H for p in points if p.diagnostics and p.diagnostics.lambda_min_H is not None]
        if gram:  # Du et al. Lemma 3.1's 3 lambda0/4, at every checkpoint
            assert checks["8.2"].checkpoints_held == sum(v >= 0.75 * unit.constants.lambda0 for v in gram)
            assert checks["8.2"].held == all(v >= 0.75 * unit.constants.lambda0 for v in gram)
        else:
            assert checks["8.2"].held is None or unit.hypotheses is not None
        record = getattr(unit, "hypotheses", None)
        if record is not None and record.drift_max is not None:
            assert checks["8.1"].held == (record.drift_max <= record.lazy_radius)
        else:
            assert checks["8.1"].held is None and "not recorded" in checks["8.1"].detail


def test_text_report_names_its_time_unit_and_every_section(tiny_run):
    text = format_report(tiny_run)
    assert "INCOMPLETE" not in text and "Lemma A" in text
    assert "per-example time tau = eta_eff*m*t" in text
    for definition in ("relative", "absolute", "accuracy"):
        assert f"threshold gfs_labels/{definition}" in text
    assert "fit ln m:" in text and "fit power:" in text and "grows with ln m:" in text
    assert "Hypotheses of the theorem per unit" in text and "8.5 width" in text
    iterations = format_report(tiny_run, "iterations")
    assert "t_hat* (iterations)" in iterations and "t_hat* (tau)" not in iterations
    with pytest.raises(ValueError, match="time_unit"):
        format_report(tiny_run, "epochs")  # GD run: no epochs unit


def test_report_command_prints_table_and_json(tiny_run_dir, tmp_path, capsys):
    code, out, _ = run_cli(["report", str(tiny_run_dir)], capsys)
    assert code == 0 and "Lemma A" in out and "tau" in out.splitlines()[2]
    assert out.splitlines()[0].endswith(", k = 32, float64")  # the header names the float type (theory.md 7.3)
    code, out, _ = run_cli(["report", str(tiny_run_dir), "--json", "--time-unit", "iterations"], capsys)
    parsed = json.loads(out, parse_constant=_refuse)
    assert code == 0 and parsed["hash"] == parsed["run_dir"].rsplit("-", 1)[1] and parsed["time_unit"] == "iterations"
    assert parsed["dtype"] == "float64"
    code, _, err = run_cli(["report", str(tiny_run_dir), "--time-unit", "epochs"], capsys)
    assert code == 2 and "time_unit" in err
    code, _, err = run_cli(["report", str(tmp_path / "missing")], capsys)
    assert code == 2 and "not a run directory" in err


@pytest.mark.slow
def test_report_predict_adds_the_spectral_prediction_section(tiny_run_dir, capsys):
    pytest.importorskip("ebtheory.verify.analysis.prediction")
    code, out, err = run_cli(["report", str(tiny_run_dir), "--predict"], capsys)
    assert code == 0, err
    assert "spectral prediction (docs/theory.md, section 9)" in out and "mismatches" in out
    code, out, err = run_cli(["report", str(tiny_run_dir), "--predict", "--json"], capsys)
    parsed = json.loads(out, parse_constant=_refuse)
    assert code == 0 and parsed["prediction"]["mode"] == "calibrated"
