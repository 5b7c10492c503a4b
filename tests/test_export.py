"""`ebtheory export`: the tidy table of a real tiny run reads back with pandas and its numbers equal the
typed records, in csv and in parquet."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run_cli

from ebtheory.verify import records
from ebtheory.verify.export import KEY_COLUMNS, tidy_rows


def _same(cell: object, expected: object) -> bool:
    """pandas cell vs record value: None reads back as NaN (or None), numbers exactly."""
    if expected is None:
        return cell is None or (isinstance(cell, float) and math.isnan(cell))
    if isinstance(expected, bool):
        return bool(cell) == expected
    if isinstance(expected, int | float):
        return float(cell) == float(expected)  # type: ignore[arg-type]
    return cell == expected


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_reads_back_with_pandas_and_equals_the_records(tiny_run_dir: Path, tiny_run, tmp_path, capsys, fmt):
    out = tmp_path / f"table.{fmt}"
    code, stdout, err = run_cli(["export", str(tiny_run_dir), "--format", fmt, "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == str(out)
    frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    run: records.RunRecord = tiny_run
    n_subnets = sum(len(p.subnets) for p in run.points)
    n_tickets = 3 * sum(u.tickets is not None for u in run.units)
    assert len(frame) == n_subnets + n_tickets
    assert list(frame.columns[: len(KEY_COLUMNS)]) == list(KEY_COLUMNS)
    assert not frame.duplicated(subset=list(KEY_COLUMNS)).any()
    indexed = frame.set_index(["m", "seed", "t", "subnet"])
    checked = 0
    for point in run.points:
        unit = run.unit(point.m, point.seed)
        assert unit is not None and unit.constants is not None and unit.predicted is not None
        for name, entry in point.subnets.items():
            row = indexed.loc[(point.m, point.seed, point.t, name)]
            expected = {
                "target": entry.target,
                "k": point.k,
                "V": point.V,
                "dense_train_loss_sum": point.dense.train_loss_sum,
                "dense_test_acc": point.dense.test_acc,
                "train_loss_sum": entry.train_loss_sum,
                "train_loss_mean": entry.train_loss_mean,
                "train_acc": entry.train_acc,
                "test_acc": entry.test_acc,
                "target_loss_sum": entry.target_loss_sum,
                "distinct": entry.distinct,
                "finetuned_train_loss_sum": None if entry.finetuned is None else entry.finetuned.train_loss_sum,
                "finetuned_test_acc": None if entry.finetuned is None else entry.finetuned.test_acc,
                "lemma_a_bound": None if entry.lemma_a is None else entry.lemma_a.bound,
                "lemma_a_held": None if entry.lemma_a is None else entry.lemma_a.held,
                "params_after": entry.params_after,
                "constants_lambda0": unit.constants.lambda0,
                "constants_V_bar": unit.constants.V_bar,
                "earlybird_detection_t": unit.earlybird_detection_t,
                "hypotheses_eta_held": None if unit.hypotheses is None else unit.hypotheses.eta_held,
                "hypotheses_drift_max": None if unit.hypotheses is None else unit.hypotheses.drift_max,
                "diagnostics_drift": None if point.diagnostics is None else point.diagnostics.drift,
            }
            fixed = unit.predicted.get("fixed_eta")
            expected["predicted_fixed_eta_t_star"] = None if fixed is None else fixed.t_star
            for column, value in expected.items():
                assert _same(row[column], value), (point.m, point.seed, point.t, name, column, row[column], value)
            curve = row["loss_curve_sum"]
            if entry.loss_curve_sum is None:
                assert _same(curve, None)
            else:
                assert json.loads(curve) == list(entry.loss_curve_sum)
            checked += 1
    assert checked == n_subnets
    for unit in run.units:
        if unit.tickets is None:
            continue
        for name in ("earlybird", "gfs", "imp"):
            ticket = getattr(unit.tickets, name)
            row = indexed.loc[(unit.m, unit.seed, unit.tickets.t, f"ticket_{name}")]
            assert _same(row["finetuned_test_acc"], ticket.test_acc)
            assert _same(row["finetuned_train_loss_sum"], ticket.train_loss_sum)
            assert _same(row["train_acc"], None if ticket.pruned is None else ticket.pruned.train_acc)
            assert _same(row["ticket_neurons"], ticket.neurons)
            assert json.loads(row["ticket_iterations"]) == list(ticket.iterations)
            assert _same(row["ticket_budget_iterations"], unit.tickets.budget_iterations)


def test_every_row_has_every_column(tiny_run) -> None:
    rows = tidy_rows(tiny_run)
    assert rows and all(list(row) == list(rows[0]) for row in rows)
    # a column the schema defines is present even when no row has a value (tiny has no CNN MACs)
    assert "macs_after" in rows[0] and all(row["macs_after"] is None for row in rows)


def test_export_default_path_and_bad_input(tiny_run_copy: Path, capsys) -> None:
    code, stdout, _ = run_cli(["export", str(tiny_run_copy)], capsys)
    assert code == 0 and Path(stdout.strip()) == tiny_run_copy / "results.csv"
    assert len(pd.read_csv(tiny_run_copy / "results.csv")) > 0
    code, _, err = run_cli(["export", str(tiny_run_copy / "missing")], capsys)
    assert code == 2 and "not a run directory" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["export", str(tiny_run_copy), "--format", "xlsx"], capsys)
    assert code == 2 and "invalid choice" in err
