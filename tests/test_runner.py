"""The sweep runner: resume without losing or repeating points, parallel units via spawn, the
backend seam, the run-dir lock, the data identity, plain names, progress lines, GPU round-robin,
and (end to end, real signals on a real `tiny` sweep) Ctrl-C and kill."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ebtheory.data.formats import write_idx
from ebtheory.verify import records
from ebtheory.verify.backends import UnitOutcome, UnitTask
from ebtheory.verify.backends.local import LocalBackend
from ebtheory.verify.progress import SweepProgress
from ebtheory.verify.rundir import (
    LOCK_FILE,
    RunDirBusy,
    RunDirLock,
    data_identity,
    remove_temporary_files,
    run_dir_inside,
)
from ebtheory.verify.runner import (
    SweepInterrupted,
    pending_units,
    prepare_run_dir,
    run_sweep,
    unit_devices,
)
from ebtheory.verify.spec import ExperimentSpec

SPEC = ExperimentSpec(name="fake", ms=(4, 5, 6, 7), seeds=(0, 1, 2), checkpoints=(0, 1, 2, 5))
FAIL_AT = {"m": None}
INTERRUPT_AT = {"m": None}


def fake_unit(spec, m, seed, run_dir, device):
    """A deterministic unit: writes each missing point file, then the summary file; fails where told.

    Its files only need the names the runner counts (the runner never reads a row's content)."""
    done = records.finished_points(run_dir, m, seed)
    for t in spec.checkpoints:
        if t in done:
            continue
        if FAIL_AT["m"] == m and t == 2:
            raise RuntimeError(f"planted failure at m={m}")
        if INTERRUPT_AT["m"] == m and t == 2:
            raise KeyboardInterrupt
        value = {"m": m, "seed": seed, "t": t, "value": m * 100 + seed * 10 + t / 7}
        records.write_json_atomic(Path(run_dir) / records.POINTS_DIR / records.point_filename(m, seed, t), value)
    unit = {"m": m, "seed": seed, "device": device}
    records.write_json_atomic(Path(run_dir) / records.UNITS_DIR / records.unit_filename(m, seed), unit)


def _all_rows(run_dir: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((run_dir / records.POINTS_DIR).glob("*.json"))}


def _unit_row(run_dir: Path, m: int, seed: int) -> dict:
    return json.loads((run_dir / records.UNITS_DIR / records.unit_filename(m, seed)).read_text())


def test_sweep_writes_every_point_once_skips_finished_units_and_writes_the_summary(tmp_path):
    result = run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    assert result.run_dir == tmp_path / f"fake-{SPEC.hash}" and result.units_run == 12
    assert len(_all_rows(result.run_dir)) == 4 * 3 * 4
    assert records.read_spec(result.run_dir) == SPEC
    summary = records.read_record(result.run_dir / records.RUN_FILE, records.RunSummary)
    assert (summary.units, summary.points, summary.run_hash) == (12, 48, SPEC.hash)
    assert summary.machine["backend"] == "local" and summary.machine["jobs"] == "1"
    again = run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    assert again.units_run == 0 and again.units_skipped == 12
    assert not (result.run_dir / LOCK_FILE).exists()


def test_failed_unit_keeps_its_rows_names_its_unit_and_a_rerun_completes_it(tmp_path):
    FAIL_AT["m"] = 6
    try:
        with pytest.raises(RuntimeError, match="planted failure") as raised:
            run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    finally:
        FAIL_AT["m"] = None
    assert any("m=6" in note for note in raised.value.__notes__)
    run_dir = tmp_path / f"fake-{SPEC.hash}"
    assert records.finished_points(run_dir, 6, 0) == {0, 1}
    assert (6, 0) in pending_units(SPEC, run_dir)
    assert not (run_dir / records.RUN_FILE).exists(), "an unfinished sweep must not write its summary"
    run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    reference = run_sweep(SPEC, tmp_path / "ref", unit_fn=fake_unit, progress=False)
    assert _all_rows(run_dir) == _all_rows(reference.run_dir)


@pytest.mark.slow
def test_parallel_jobs_with_spawn_match_serial(tmp_path):
    serial = run_sweep(SPEC, tmp_path / "a", unit_fn=fake_unit, progress=False)
    parallel = run_sweep(SPEC, tmp_path / "b", unit_fn=fake_unit, jobs=2, progress=False, device="cpu")
    assert _all_rows(serial.run_dir) == _all_rows(parallel.run_dir)
    assert _unit_row(parallel.run_dir, 7, 2)["device"] == "cpu"


def test_interrupt_in_process_cleans_up_and_says_what_finished(tmp_path):
    INTERRUPT_AT["m"] = 5
    try:
        with pytest.raises(SweepInterrupted) as raised:
            run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    finally:
        INTERRUPT_AT["m"] = None
    run_dir = tmp_path / f"fake-{SPEC.hash}"
    # largest m first: the three units of m=7 and of m=6 finished, m=5 was interrupted at t=2
    assert (raised.value.units_done, raised.value.n_units) == (6, 12)
    assert "6 of 12 units finished" in str(raised.value) and "resume" in str(raised.value)
    assert not (run_dir / LOCK_FILE).exists() and not list(run_dir.rglob("*.tmp"))
    assert run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False).units_run == 6


class RecordingBackend:
    """A backend that runs its tasks in reverse order, in this process, one per poll."""

    name = "recording"

    def __init__(self) -> None:
        self.submitted: list[UnitTask] = []

    def submit(self, unit_fn, spec, run_dir, tasks: Sequence[UnitTask]):
        self.submitted = list(tasks)
        backend = self

        class Reverse:
            queue = list(reversed(tasks))

            def poll(self, timeout_s: float) -> list[UnitOutcome]:
                task = self.queue.pop(0)
                unit_fn(spec, task.m, task.seed, run_dir, task.device)
                return [UnitOutcome(task.m, task.seed)]

            def done(self) -> bool:
                return not self.queue

            def cancel(self) -> None:
                self.queue.clear()

        assert Path(run_dir).is_absolute() and backend is self
        return Reverse()


def test_a_backend_gets_every_pending_unit_and_the_runner_follows_the_rows(tmp_path):
    run_dir = tmp_path / f"fake-{SPEC.hash}"
    fake_unit(SPEC, 7, 0, str(prepare_run_dir(SPEC, tmp_path)), "cpu")
    backend = RecordingBackend()
    result = run_sweep(SPEC, tmp_path, unit_fn=fake_unit, backend=backend, progress=False, device="cpu")
    assert [(t.m, t.seed) for t in backend.submitted] == pending_units(SPEC, tmp_path / "ref-empty-dir")[1:]
    assert {t.device for t in backend.submitted} == {"cpu"}
    assert (result.units_run, result.units_skipped) == (11, 1)
    summary = records.read_record(run_dir / records.RUN_FILE, records.RunSummary)
    assert summary.machine["backend"] == "recording" and summary.points == 48


def test_units_go_round_robin_over_gpus():
    assert unit_devices("auto", 5, jobs=2, gpus=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert unit_devices("cuda", 4, jobs=4, gpus=3) == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert unit_devices("auto", 3, jobs=1, gpus=4) == ["auto"] * 3  # one job: one device
    assert unit_devices("cuda:1", 2, jobs=2, gpus=2) == ["cuda:1"] * 2  # an explicit device is kept
    assert unit_devices("cpu", 2, jobs=2, gpus=8) == ["cpu", "cpu"]
    assert unit_devices("auto", 2, jobs=2, gpus=0) == ["auto", "auto"]


def test_prepare_run_dir_refuses_a_foreign_spec_and_the_runner_cleans_temp_files(tmp_path):
    run_dir = prepare_run_dir(SPEC, tmp_path)
    (run_dir / records.POINTS_DIR).mkdir()
    stale = run_dir / records.POINTS_DIR / ".m4_s0_t0.json.abc.tmp"
    stale.write_text("{")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    in_flight = run_dir / records.POINTS_DIR / ".m4_s1_t0.json.def.tmp"  # a detached unit writing now
    in_flight.write_text("{")
    remove_temporary_files(run_dir)  # start-up rule: a young temporary file may be a detached unit writing now
    assert not stale.exists() and in_flight.exists()
    run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
    assert not in_flight.exists(), "once every unit has finished, no temporary file of the run is in flight"
    records.write_json_atomic(run_dir / records.SPEC_FILE, {"hash": "other"})
    with pytest.raises(ValueError, match="hash"):
        prepare_run_dir(SPEC, tmp_path)
    (run_dir / records.SPEC_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="hash"):
        prepare_run_dir(SPEC, tmp_path)
    with pytest.raises(ValueError, match="jobs"):
        run_sweep(SPEC, tmp_path / "x", unit_fn=fake_unit, jobs=0, progress=False)


def test_a_second_process_on_a_run_dir_is_refused_and_a_dead_holder_is_taken_over(tmp_path):
    run_dir = prepare_run_dir(SPEC, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirBusy, match=rf"in use by pid {holder.pid}"):
            run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False)
        assert not (run_dir / records.POINTS_DIR).exists(), "the refused process must not compute"
    finally:
        holder.kill()
        holder.wait()
    # the dead holder's lock file is still there, with its pid: it is stale and taken over
    assert (run_dir / LOCK_FILE).read_text().startswith(f"pid {holder.pid}")
    assert run_sweep(SPEC, tmp_path, unit_fn=fake_unit, progress=False).units_run == 12
    assert not (run_dir / LOCK_FILE).exists()


HOLD_LOCK = """
import sys, time
from ebtheory.verify.rundir import RunDirLock
lock = RunDirLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with RunDirLock(tmp_path):
        with pytest.raises(RunDirBusy, match=f"pid {os.getpid()}"):
            RunDirLock(tmp_path).acquire()
    with RunDirLock(tmp_path):  # released: free again
        pass


@pytest.mark.parametrize("name", ["../../escape", "/abs/path", "a/b", "..", ".", "", "-rf", "x" * 101, "a\\b"])
def test_a_name_cannot_leave_out(name, tmp_path):
    with pytest.raises(ValueError, match="name"):
        ExperimentSpec(name=name)
    with pytest.raises(ValueError, match="name"):
        run_dir_inside(tmp_path, name)


def _fake_idx_folder(folder: Path, n_train: int) -> Path:
    rng = np.random.default_rng(n_train)
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", 5)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 4, 4), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return folder


def test_resuming_on_another_data_dir_is_refused(tmp_path):
    a = _fake_idx_folder(tmp_path / "A", 20)
    b = _fake_idx_folder(tmp_path / "B", 30)
    spec_a = ExperimentSpec(name="idx", dataset="mnist", data_dir=str(a))
    spec_b = ExperimentSpec(name="idx", dataset="mnist", data_dir=str(b))
    assert spec_a.hash == spec_b.hash  # data_dir is not hashed: the check on resume guards it
    identity = data_identity(spec_a)
    assert identity["folder"] == str(a.resolve())
    assert identity["files"]["train-images-idx3-ubyte"] == (a / "train-images-idx3-ubyte").stat().st_size
    run_dir = prepare_run_dir(spec_a, tmp_path / "runs")
    assert prepare_run_dir(spec_a, tmp_path / "runs") == run_dir  # same data: resumes
    with pytest.raises(ValueError, match="mix rows of two data sets"):
        prepare_run_dir(spec_b, tmp_path / "runs")
    # the same folder named by a relative path is the same data
    relative = os.path.relpath(a, Path.cwd())
    assert prepare_run_dir(ExperimentSpec(name="idx", dataset="mnist", data_dir=relative), tmp_path / "runs")
    # a changed file in the same folder is other data too
    write_idx(a / "train-labels-idx1-ubyte", np.zeros(21, dtype=np.uint8))
    with pytest.raises(ValueError, match="data_dir"):
        prepare_run_dir(spec_a, tmp_path / "runs")


def test_bundled_data_sets_have_a_fixed_identity():
    assert data_identity(ExperimentSpec()) == {"dataset": "digits", "source": "bundled"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_in_a_log_writes_a_line_at_most_every_30_seconds():
    stream, clock = io.StringIO(), FakeClock()
    bar = SweepProgress("tiny", total=100, initial=10, n_units=4, done_units=0, stream=stream, clock=clock)
    for second in range(1, 95):  # an update every second for 94 s
        clock.now = float(second)
        bar.update(10 + second * 90 // 94, second // 25)
    clock.now = 95.0
    bar.update(100, 4)
    bar.close()
    lines = stream.getvalue().splitlines()
    # start, t = 30, 60, 90, and the final line
    assert len(lines) == 5, lines
    assert "\r" not in stream.getvalue()
    assert lines[0] == "tiny: 10/100 points (10%), units 0/4, 0:00:00 elapsed"
    assert lines[1].startswith("tiny: 38/100 points (38%), units 1/4, 0:00:30 elapsed, about 0:01:06 left")
    assert lines[-1] == "tiny: 100/100 points (100%), units 4/4, 0:01:35 elapsed"


def test_local_backend_checks_jobs():
    with pytest.raises(ValueError, match="jobs"):
        LocalBackend(0)


# ------------------------------------------------------------------- end to end, real processes


def _ebtheory_run(out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "ebtheory.cli", "run", "tiny", "--out", str(out), "--device", "cpu", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)


def _wait_for_points(out: Path, count: int, process: subprocess.Popen, timeout_s: float = 180) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        found = list(out.glob(f"*/{records.POINTS_DIR}/*.json"))
        if len(found) >= count:
            return found[0].parent
        time.sleep(0.05)
    raise AssertionError("the run ended (or never started) before it could be interrupted")


def _group_alive(pgid: int) -> list[int]:
    """Processes of process group `pgid` that are alive (not zombies)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_the_sweep_within_5_s_and_leaves_nothing(tmp_path, jobs):
    """A real SIGINT to the process group (what a terminal's Ctrl-C sends) of `ebtheory run tiny`."""
    sweep = _ebtheory_run(tmp_path, "--jobs", jobs, "--no-figures")
    points_dir = _wait_for_points(tmp_path, 3, sweep)
    sent = time.monotonic()
    os.killpg(sweep.pid, signal.SIGINT)
    _, err = sweep.communicate(timeout=30)
    took = time.monotonic() - sent
    assert sweep.returncode == 130, err[-2000:]
    assert took < 5.0, f"Ctrl-C took {took:.1f} s"
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("tiny:")]
    assert len(lines) == 1 and "interrupted" in lines[0] and "resume" in lines[0], err[-2000:]
    assert "Traceback" not in err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_alive(sweep.pid):
        time.sleep(0.1)
    assert not _group_alive(sweep.pid), "processes outlived the interrupted sweep"
    run_dir = points_dir.parent
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / LOCK_FILE).exists()
    n_points = len(list(points_dir.glob("*.json")))
    spec = json.loads((run_dir / records.SPEC_FILE).read_text())
    assert n_points < len(spec["ms"]) * len(spec["seeds"]) * len(spec["checkpoints"])
    assert f"({n_points} of" in lines[0]


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once(tmp_path):
    sweep = _ebtheory_run(tmp_path, "--jobs", "2", "--no-figures")
    _wait_for_points(tmp_path, 2, sweep)
    os.killpg(sweep.pid, signal.SIGINT)
    time.sleep(0.2)
    if sweep.poll() is None:
        os.killpg(sweep.pid, signal.SIGINT)
    _, err = sweep.communicate(timeout=10)
    # 130 when the second Ctrl-C lands in the clean-up; killed by SIGINT (-2) when it lands after the
    # interpreter began to exit (it restores the default handler): at once either way
    assert sweep.returncode in (130, -signal.SIGINT) and "Traceback" not in err, err[-2000:]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_alive(sweep.pid):
        time.sleep(0.1)
    assert not _group_alive(sweep.pid), "processes outlived the twice-interrupted sweep"


@pytest.mark.slow
def test_killed_run_resumes_with_every_point_once_and_identical(tmp_path):
    """Kill `ebtheory run tiny` once some rows exist, rerun, compare with an uninterrupted run."""
    killed = _ebtheory_run(tmp_path / "killed", "--no-figures")
    points_dir = _wait_for_points(tmp_path / "killed", 5, killed)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate()
    before = _all_rows(points_dir.parent)
    inodes = {p.name: p.stat().st_ino for p in points_dir.glob("*.json")}
    spec = json.loads((points_dir.parent / records.SPEC_FILE).read_text())
    n_expected = len(spec["ms"]) * len(spec["seeds"]) * len(spec["checkpoints"])
    assert 0 < len(before) < n_expected
    resumed = _ebtheory_run(tmp_path / "killed", "--no-figures")
    assert resumed.wait(timeout=600) == 0, resumed.communicate()[1][-2000:]
    full = _ebtheory_run(tmp_path / "full", "--no-figures")
    assert full.wait(timeout=600) == 0, full.communicate()[1][-2000:]
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
    sweep = _ebtheory_run(tmp_path, "--jobs", "2", "--no-progress", "--no-figures")
    _wait_for_points(tmp_path, 1, sweep)
    workers = [pid for pid in _group_alive(sweep.pid) if pid != sweep.pid and b"spawn_main" in _cmdline(pid)]
    assert workers, "the sweep started no worker processes"
    sweep.kill()
    sweep.communicate()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid in _group_alive(sweep.pid) for pid in workers):
        time.sleep(0.1)
    assert not any(pid in _group_alive(sweep.pid) for pid in workers), "workers outlived the killed sweep"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
