"""Row files: atomic writes, no NaN, resume bookkeeping, load_run."""

from __future__ import annotations

import json
import os

import pytest

from ebtheory.verify import rows


def _point(m: int, seed: int, t: int) -> dict:
    return {"m": m, "seed": seed, "t": t, "dense": {"train_loss_sum": 1.0 / (t + 1)}}


def test_write_point_and_load_run_round_trip(tmp_path):
    rows.write_json_atomic(tmp_path / rows.SPEC_FILE, {"name": "x", "hash": "abc"})
    for m in (20, 10):
        for t in (5, 0):
            rows.write_point(tmp_path, _point(m, 1, t))
    rows.write_unit(tmp_path, {"m": 10, "seed": 1})
    record = rows.load_run(tmp_path)
    assert [(p["m"], p["t"]) for p in record.points] == [(10, 0), (10, 5), (20, 0), (20, 5)]
    assert record.points[1]["dense"]["train_loss_sum"] == pytest.approx(1 / 6)
    assert all(p["kind"] == "point" and p["schema"] == rows.SCHEMA_VERSION for p in record.points)
    assert record.ms == [10, 20] and record.seeds == [1]
    assert record.unit(10, 1)["kind"] == "unit" and record.unit(20, 1) is None
    assert len(record.points_for(m=20)) == 2
    assert rows.finished_points(tmp_path, 10, 1) == {0, 5}
    assert rows.finished_points(tmp_path, 10, 2) == set()
    assert rows.unit_finished(tmp_path, 10, 1) and not rows.unit_finished(tmp_path, 20, 1)


def test_rows_reject_nan_and_leave_no_file(tmp_path):
    with pytest.raises(ValueError, match="finite"):
        rows.write_point(tmp_path, {"m": 1, "seed": 0, "t": 0, "dense": {"x": [1.0, float("nan")]}})
    assert not (tmp_path / rows.POINTS_DIR / rows.point_filename(1, 0, 0)).exists()
    points_dir = tmp_path / rows.POINTS_DIR
    assert not points_dir.exists() or os.listdir(points_dir) == []


def test_atomic_write_keeps_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "a.json"
    rows.write_json_atomic(path, {"v": 1})
    with pytest.raises(TypeError):
        rows.write_json_atomic(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["a.json"]


def test_load_run_rejects_non_run_dir(tmp_path):
    with pytest.raises(ValueError, match="run_dir="):
        rows.load_run(tmp_path)
