"""The verdict report of the session's real `tiny` run (tests/conftest.py) and the `ebtheory report` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_cli

from ebtheory.verify.report import build_report, format_report, report_is_finite


def test_report_of_the_real_run_is_complete_finite_and_json(tiny_run):
    report = build_report(tiny_run)
    assert report["complete"] and report["points"] == report["points_expected"] == len(tiny_run.points)
    assert report_is_finite(report)
    json.dumps(report, allow_nan=False)
    lemma = report["lemma_a"]["gfs_labels"]
    checks = [p.subnets["gfs_labels"].lemma_a for p in tiny_run.points]
    assert lemma["points"] == len(checks) and lemma["violations"] == sum(not c.held for c in checks)
    assert lemma["worst_ratio"] == pytest.approx(max(c.ratio for c in checks if c.ratio is not None))
    relative = report["thresholds"]["gfs_labels/relative"]
    for row in relative["per_m"]:
        stars = [u.predicted["fixed_eta"].t_star for u in tiny_run.units if u.m == row["m"]]
        assert row["t_star_fixed_eta"] == pytest.approx(np.mean(stars))
    text = format_report(report)
    assert "Lemma A" in text and "threshold gfs_labels/relative" in text and "INCOMPLETE" not in text


def test_report_command_prints_table_and_json(tiny_run_dir, tmp_path, capsys):
    code, out, _ = run_cli(["report", str(tiny_run_dir)], capsys)
    assert code == 0 and "Lemma A" in out
    code, out, _ = run_cli(["report", str(tiny_run_dir), "--json"], capsys)
    parsed = json.loads(out)
    assert code == 0 and parsed["hash"] == parsed["run_dir"].rsplit("-", 1)[1]
    code, _, err = run_cli(["report", str(tmp_path / "missing")], capsys)
    assert code == 2 and "not a run directory" in err
