"""Tidy results: a recorded run as one table, one row per (m, seed, t, subnet, target).

Built from the typed records of ebtheory.verify.records (never from raw JSON keys), by flattening
nested records into columns joined with "_":

- key columns: ``m``, ``seed``, ``t``, ``subnet``, ``target``;
- the point (PointRow): ``k``, ``width``, ``V``, ``dense_*`` (NetworkNumbers of the dense net at t),
  ``diagnostics_*``;
- the subnetwork (SubnetEntry): ``train_loss_sum``, ``train_loss_mean``, ``train_acc``, ``test_acc``
  (the pruned net before fine-tuning), ``target_loss_sum``, ``distinct``, ``loss_curve_sum``,
  ``finetuned_*`` (after fine-tuning), ``lemma_a_*``, ``params_*``, ``macs_*``;
- the unit (UnitRow) of (m, seed), repeated on each of its rows: ``unit_train_loss``,
  ``unit_device``, ``unit_elapsed_s``, ``constants_*`` (UnitConstants), ``predicted_<regime>_*``
  (Prediction per step-size regime), ``hypotheses_*`` (when recorded), ``earlybird_detection_t``,
  ``earlybird_*`` (EarlyBirdSettings): every UnitRow field but the curves and the tickets;
- Early-Bird tickets (UnitRow.tickets) are rows too: subnet ``ticket_earlybird``, ``ticket_gfs``,
  ``ticket_imp`` at t = t_EB with target ``labels``; their ``train_*`` / ``test_acc`` are the ticket
  before its fine-tuning (Ticket.pruned: None for IMP) and ``finetuned_*`` the numbers after its
  training (Ticket's own numbers: F fine-tuning steps, or IMP's last retraining), as for every other
  subnet; ``ticket_*`` holds the rest (neurons, params, iterations, rounds, remaining, and the
  Tickets fields t, finetune_steps, budget_iterations, overlap_neurons, kept_per_block).

Units are those of the records: ``*_sum`` sum losses, ``*_mean`` per example, t in iterations.
Sequences (``loss_curve_sum``, ``ticket_iterations``, ...) are JSON text in one cell. Not exported: the
per-iteration curves of a unit (``dense_loss_curve``, the Early-Bird checkpoints and distance
matrix); they stay in RUN_DIR/units/*.json. Every column the schema defines is present even where
every row is None; missing values are None (NaN once pandas reads them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ebtheory.verify import records

__all__ = ["FORMATS", "KEY_COLUMNS", "tidy_rows", "write_table"]

FORMATS = ("csv", "parquet")
KEY_COLUMNS = ("m", "seed", "t", "subnet", "target")
_SKIP = {"kind", "schema"}


def _dataclass_in(annotation: Any) -> type | None:
    """The record class inside an annotation such as `NetworkNumbers | None`, else None."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            found = _dataclass_in(arg)
            if found is not None:
                return found
    return None


def _flatten(prefix: str, cls: type, value: Any, out: dict[str, Any]) -> None:
    """Columns of record class `cls` (value may be None: every column still appears, as None)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in _SKIP:
            continue
        name = f"{prefix}{field.name}"
        item = None if value is None else getattr(value, field.name)
        nested = _dataclass_in(hints[field.name])
        if nested is not None:
            _flatten(f"{name}_", nested, item, out)
        else:
            out[name] = _cell(item)


def _cell(value: Any) -> Any:
    """A scalar cell: numbers, strings, bools and None as they are; sequences as JSON text."""
    if isinstance(value, tuple | list):
        return json.dumps(value, allow_nan=False)
    return value


_UNIT_SKIP = {
    "kind",
    "schema",
    "run_hash",
    "m",
    "seed",
    "checkpoints",
    "dense_loss_curve",
    "earlybird_checkpoints",
    "earlybird_distance_matrix",
    "tickets",
}


def _unit_columns(unit: records.UnitRow | None) -> dict[str, Any]:
    """Every per-unit number of UnitRow but the per-iteration curves and the tickets (rows of their own):
    nested records as <field>_*, predictions as predicted_<regime>_*, the rest as unit_<field> (the
    earlybird_* scalars keep their names). A field added to UnitRow later becomes columns by itself."""
    hints = typing.get_type_hints(records.UnitRow)
    out: dict[str, Any] = {}
    for field in dataclasses.fields(records.UnitRow):
        if field.name in _UNIT_SKIP:
            continue
        value = None if unit is None else getattr(unit, field.name)
        nested = _dataclass_in(hints[field.name])
        if nested is not None:
            _flatten(f"{field.name}_", nested, value, out)
        elif field.name == "predicted":
            for regime, prediction in sorted((value or {}).items()):
                _flatten(f"predicted_{regime}_", records.Prediction, prediction, out)
        elif field.name.startswith("earlybird_"):
            out[field.name] = _cell(value)
        else:
            out[f"unit_{field.name}"] = _cell(value)
    return out


def _ticket_rows(unit: records.UnitRow, base: dict[str, Any]) -> Iterable[dict[str, Any]]:
    tickets = unit.tickets
    if tickets is None:
        return
    shared = {
        "ticket_t": tickets.t,
        "ticket_finetune_steps": tickets.finetune_steps,
        "ticket_budget_iterations": tickets.budget_iterations,
        "ticket_overlap_neurons": tickets.overlap_neurons,
        "ticket_kept_per_block": _cell(tickets.kept_per_block),
    }
    for name in ("earlybird", "gfs", "imp"):
        ticket: records.Ticket = getattr(tickets, name)
        row = {**base, "t": tickets.t, "subnet": f"ticket_{name}", "target": "labels"}
        _flatten("", records.NetworkNumbers, ticket.pruned, row)
        _flatten("finetuned_", records.NetworkNumbers, ticket, row)
        for field in ("neurons", "params", "iterations", "total_iterations", "rounds", "remaining"):
            row[f"ticket_{field}"] = _cell(getattr(ticket, field))
        row.update(shared)
        yield row


def tidy_rows(run: records.RunRecord) -> list[dict[str, Any]]:
    """One dict per (m, seed, t, subnet, target) of a loaded run, columns as in the module docstring,
    in (m, seed, t, subnet) order; every row has the same keys."""
    rows: list[dict[str, Any]] = []
    units = {(u.m, u.seed): u for u in run.units}
    for point in run.points:
        base: dict[str, Any] = {"run_hash": point.run_hash, "m": point.m, "seed": point.seed, "t": point.t}
        base.update({"k": point.k, "width": point.width, "V": point.V})
        _flatten("dense_", records.NetworkNumbers, point.dense, base)
        _flatten("diagnostics_", records.PointDiagnostics, point.diagnostics, base)
        base.update(_unit_columns(units.get((point.m, point.seed))))
        for subnet, entry in sorted(point.subnets.items()):
            row = {**base, "subnet": subnet, "target": entry.target}
            _flatten("", records.SubnetEntry, entry, row)
            rows.append(row)
    for unit in run.units:
        base = {"run_hash": unit.run_hash, "m": unit.m, "seed": unit.seed, **_unit_columns(unit)}
        rows.extend(_ticket_rows(unit, base))
    columns: dict[str, None] = dict.fromkeys(KEY_COLUMNS)
    for row in rows:
        columns.update(dict.fromkeys(row))
    rows.sort(key=lambda r: (r["m"], r["seed"], r["t"], r["subnet"]))
    return [{column: row.get(column) for column in columns} for row in rows]


def write_table(run_dir: str | os.PathLike[str], fmt: str = "csv", out: str | os.PathLike[str] | None = None) -> Path:
    """Write the tidy table of RUN_DIR as csv or parquet (default RUN_DIR/results.<fmt>); returns the path.

    Needs pandas (csv, parquet) and pyarrow (parquet): ``pip install 'ebtheory[export]'``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got format={fmt!r}")
    try:
        import pandas as pd
    except ImportError:
        raise ValueError("ebtheory export needs pandas: pip install 'ebtheory[export]'") from None
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--format parquet needs pyarrow: pip install 'ebtheory[export]'") from None
    run = records.load_run(run_dir)
    rows = tidy_rows(run)
    if not rows:
        raise ValueError(f"run_dir={str(run_dir)!r} holds no point rows yet; nothing to export")
    path = Path(out) if out is not None else Path(run_dir) / f"results.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=list(rows[0]))
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        frame.to_csv(tmp, index=False, float_format="%.17g")
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path
