"""The sweep runner: run-directory naming, resume without losing or repeating points, parallel
units via spawn, and (end to end) killing `ebtheory run tiny` mid-way and resuming it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ebtheory.verify import rows
from ebtheory.verify.runner import pending_units, prepare_run_dir, run_sweep
from ebtheory.verify.spec import ExperimentSpec

SPEC = ExperimentSpec(name="fake", ms=(4, 5, 6, 7), seeds=(0, 1, 2), checkpoints=(0, 1, 2, 5))
FAIL_AT = {"m": None}


def fake_unit(spec, m, seed, run_dir, device):
    """A deterministic unit: writes each missing point, then the summary; fails where told to."""
    done = rows.finished_points(run_dir, m, seed)
    for t in spec.checkpoints:
        if t in done:
            continue
        if FAIL_AT["m"] == m and t == 2:
            raise RuntimeError(f"planted failure at m={m}")
        rows.write_point(run_dir, {"m": m, "seed": seed, "t": t, "value": m * 100 + seed * 10 + t / 7})
    rows.write_unit(run_dir, {"m": m, "seed": seed, "device": device})


def _all_rows(run_dir: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((run_dir / rows.POINTS_DIR).glob("*.json"))}


def test_sweep_writes_every_point_once_and_skips_finished_units(tmp_path):
    result = run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    assert result.run_dir == tmp_path / f"fake-{SPEC.hash}" and result.units_run == 12
    record = rows.load_run(result.run_dir)
    assert len(record.points) == 4 * 3 * 4 and len(record.units) == 12
    assert record.spec["hash"] == SPEC.hash
    again = run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    assert again.units_run == 0 and again.units_skipped == 12


def test_failed_unit_keeps_its_rows_and_a_rerun_completes_it(tmp_path):
    FAIL_AT["m"] = 6
    try:
        with pytest.raises(RuntimeError, match="planted failure"):
            run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    finally:
        FAIL_AT["m"] = None
    run_dir = tmp_path / f"fake-{SPEC.hash}"
    assert rows.finished_points(run_dir, 6, 0) == {0, 1}
    assert (6, 0) in pending_units(SPEC, run_dir)
    run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    reference = run_sweep(SPEC, tmp_path / "ref", unit_fn=fake_unit, progress=False)
    assert _all_rows(run_dir) == _all_rows(reference.run_dir)


def test_parallel_jobs_with_spawn_match_serial(tmp_path):
    serial = run_sweep(SPEC, tmp_path / "a", unit_fn=fake_unit, progress=False)
    parallel = run_sweep(SPEC, tmp_path / "b", unit_fn=fake_unit, jobs=2, progress=False, device="cpu")
    assert _all_rows(serial.run_dir) == _all_rows(parallel.run_dir)
    assert rows.load_run(parallel.run_dir).unit(7, 2)["device"] == "cpu"


def test_prepare_run_dir_refuses_a_foreign_spec_and_cleans_temp_files(tmp_path):
    run_dir = prepare_run_dir(SPEC, tmp_path)
    (run_dir / rows.POINTS_DIR).mkdir()
    stale = run_dir / rows.POINTS_DIR / ".m4_s0_t0.json.abc.tmp"
    stale.write_text("{")
    prepare_run_dir(SPEC, tmp_path)
    assert not stale.exists()
    rows.write_json_atomic(run_dir / rows.SPEC_FILE, {"hash": "other"})
    with pytest.raises(ValueError, match="hash"):
        prepare_run_dir(SPEC, tmp_path)
    with pytest.raises(ValueError, match="jobs"):
        run_sweep(SPEC, tmp_path / "x", unit_fn=fake_unit, jobs=0, progress=False)


def _ebtheory_run(out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "ebtheory.cli", "run", "tiny", "--out", str(out), "--device", "cpu", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.slow
def test_killed_run_resumes_with_every_point_once_and_identical(tmp_path):
    """Kill `ebtheory run tiny` once some rows exist, rerun, compare with an uninterrupted run."""
    killed = _ebtheory_run(tmp_path / "killed")
    points_dir = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        found = list((tmp_path / "killed").glob(f"*/{rows.POINTS_DIR}/*.json"))
        if len(found) >= 5:
            points_dir = found[0].parent
            break
        time.sleep(0.05)
    assert points_dir is not None and killed.poll() is None, "the run ended before it could be killed"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    before = _all_rows(points_dir.parent)
    inodes = {p.name: p.stat().st_ino for p in points_dir.glob("*.json")}
    spec = json.loads((points_dir.parent / rows.SPEC_FILE).read_text())
    n_expected = len(spec["ms"]) * len(spec["seeds"]) * len(spec["checkpoints"])
    assert 0 < len(before) < n_expected
    resumed = _ebtheory_run(tmp_path / "killed")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    full = _ebtheory_run(tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]
    after = _all_rows(points_dir.parent)
    reference = _all_rows(next((tmp_path / "full").iterdir()))
    assert len(after) == n_expected and sorted(after) == sorted(reference)
    assert all(after[name] == before[name] for name in before)
    assert all((points_dir / name).stat().st_ino == ino for name, ino in inodes.items()), (
        "a finished point was rewritten"
    )
    assert after == reference
    assert not list(points_dir.glob(".*.tmp"))


@pytest.mark.slow
def test_killing_the_sweep_process_ends_its_workers(tmp_path):
    """`kill` of `ebtheory run --jobs 2` (the parent only, not its group) stops the units too."""
    command = [
        sys.executable,
        "-m",
        "ebtheory.cli",
        "run",
        "tiny",
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--jobs",
        "2",
        "--no-progress",
        "--no-figures",
    ]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob(f"*/{rows.POINTS_DIR}/*.json")):
        time.sleep(0.05)
    workers = _children(sweep.pid)
    assert workers, "the sweep started no worker processes"
    sweep.kill()
    sweep.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "workers outlived the killed sweep"


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cmdline = (status.parent / "cmdline").read_bytes() if int(fields[1]) == pid else b""
        if b"spawn_main" in cmdline:  # the pool's workers (not the resource tracker)
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
