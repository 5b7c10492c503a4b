"""The sweep runner: one unit of work per (m, seed), run by a backend, resumable, interruptible.

A unit function is a picklable top-level callable `unit_fn(spec, m, seed, run_dir, device)` that
writes only its own rows (ebtheory.verify.records.write_point for each finished point,
records.write_unit last) and skips the points already on disk. `run_sweep`

- names the run directory OUT/<name>-<hash> (a plain name: it cannot leave OUT) and takes its lock
  (ebtheory.verify.rundir.RunDirLock: a second process on the same run directory is refused),
- writes spec.json with the data identity (dataset, absolute folder, file sizes), or checks that an
  existing one has the same hash and the same data (a resume on other data is refused),
- removes the temporary files a killed writer left and skips units whose summary exists,
- hands the rest to a backend (ebtheory.verify.backends; default the local one: this process when
  jobs = 1, a spawn process pool when jobs > 1), with a device per unit: round-robin over the GPUs
  when the device is 'auto' or 'cuda', jobs > 1 and the machine has several,
- follows progress from the rows on disk (ebtheory.verify.progress: a bar on a terminal, a line at
  most every 30 s in a log),
- on Ctrl-C cancels queued units, kills running ones, removes temporary files, releases the lock
  and raises SweepInterrupted (a KeyboardInterrupt) within a few seconds; a second Ctrl-C during
  that clean-up exits the process at once (its workers follow within a second),
- raises the first unit's error after the others finish (its (m, seed) added as a note; the rows
  of every unit are kept, so a rerun resumes),
- writes the RunSummary (records.write_run_summary) when every unit has finished.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
import platform
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from ebtheory.verify import records
from ebtheory.verify.backends import Backend, UnitFunction, UnitOutcome, UnitTask
from ebtheory.verify.backends.local import LocalBackend
from ebtheory.verify.progress import LOG_INTERVAL_S, SweepProgress
from ebtheory.verify.rundir import (
    DATA_IDENTITY_KEY,
    RunDirLock,
    check_data_identity,
    data_identity,
    remove_temporary_files,
    run_dir_inside,
)
from ebtheory.verify.spec import ExperimentSpec, run_dir_name

INTERRUPT_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C


@dataclass(frozen=True)
class SweepResult:
    """run_dir: where the rows are; units_run: units executed now; units_skipped: already finished."""

    run_dir: Path
    units_run: int
    units_skipped: int


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C after its clean-up; str() is the one line to show the user."""

    def __init__(self, run_dir: Path, units_done: int, n_units: int, points: int, total_points: int) -> None:
        self.run_dir, self.units_done, self.n_units = run_dir, units_done, n_units
        self.points, self.total_points = points, total_points
        super().__init__(
            f"interrupted: {units_done} of {n_units} units finished ({points} of {total_points} points "
            f"on disk in {run_dir}); run the same command again to resume"
        )


def prepare_run_dir(spec: ExperimentSpec, out: str | os.PathLike[str]) -> Path:
    """OUT/<name>-<hash>/ with spec.json and the data identity; an existing spec.json must carry the
    same hash and have been computed on the same data (ValueError otherwise)."""
    run_dir = run_dir_inside(out, run_dir_name(spec))
    spec_path = run_dir / records.SPEC_FILE
    current = data_identity(spec)
    if spec_path.is_file():
        recorded = records.read_json(spec_path)
        if not isinstance(recorded, dict) or recorded.get("hash") != spec.hash:
            found = recorded.get("hash") if isinstance(recorded, dict) else type(recorded).__name__
            raise ValueError(f"{spec_path} records hash={found!r} but the spec hashes to {spec.hash!r}")
        check_data_identity(recorded.get(DATA_IDENTITY_KEY), current, run_dir)
    else:
        records.write_spec(run_dir, spec, data_identity=current)
    return run_dir


def pending_units(spec: ExperimentSpec, run_dir: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """(m, seed) pairs whose unit summary is not on disk yet, largest m first (longest work first)."""
    return [
        (m, seed)
        for m in sorted(spec.ms, reverse=True)
        for seed in spec.seeds
        if not records.unit_finished(run_dir, m, seed)
    ]


def unit_devices(device: str, count: int, jobs: int, gpus: int) -> list[str]:
    """The device string of each of `count` units: 'cuda:0', 'cuda:1', ... round-robin when `device`
    is 'auto' or 'cuda', jobs > 1 and the machine has gpus > 1; else `device` for every unit."""
    if device in ("auto", "cuda") and jobs > 1 and gpus > 1:
        cycle = itertools.cycle(f"cuda:{index}" for index in range(gpus))
        return [next(cycle) for _ in range(count)]
    return [device] * count


def _gpu_count(device: str) -> int:
    if device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _machine(backend: Backend, jobs: int, devices: Sequence[str]) -> dict[str, str]:
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "absent"
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch_version,
        "cpus": str(os.cpu_count() or 0),
        "backend": backend.name,
        "jobs": str(jobs),
        "devices": ",".join(sorted(set(devices))) or "none",
    }


def _exit_now(signum: int, frame: FrameType | None) -> None:
    """Second Ctrl-C during the clean-up: leave at once (workers exit when they see us gone)."""
    os._exit(INTERRUPT_EXIT_CODE)


def run_sweep(
    spec: ExperimentSpec,
    out: str | os.PathLike[str],
    *,
    unit_fn: UnitFunction | None = None,
    jobs: int = 1,
    device: str = "auto",
    progress: bool = True,
    poll_s: float = 0.5,
    backend: Backend | None = None,
    progress_stream: TextIO | None = None,
    log_interval_s: float = LOG_INTERVAL_S,
) -> SweepResult:
    """Run every unfinished (m, seed) unit of `spec` into OUT/<name>-<hash>/ and return where.

    backend: where units run (default LocalBackend(jobs)); progress_stream: where progress goes
    (default stderr); log_interval_s: seconds between progress lines when it is not a terminal."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1; got jobs={jobs!r}")
    if not poll_s > 0:
        raise ValueError(f"poll_s must be > 0; got poll_s={poll_s!r}")
    if unit_fn is None:
        from ebtheory.verify.unit import run_unit

        unit_fn = run_unit
    backend = LocalBackend(jobs) if backend is None else backend
    started = time.monotonic()
    run_dir = run_dir_inside(out, run_dir_name(spec))
    with RunDirLock(run_dir):
        run_dir = prepare_run_dir(spec, out)
        remove_temporary_files(run_dir)
        return _run_locked(
            spec, run_dir, unit_fn, backend, jobs, device, progress, poll_s, progress_stream, log_interval_s, started
        )


def _run_locked(
    spec: ExperimentSpec,
    run_dir: Path,
    unit_fn: UnitFunction,
    backend: Backend,
    jobs: int,
    device: str,
    progress: bool,
    poll_s: float,
    progress_stream: TextIO | None,
    log_interval_s: float,
    started: float,
) -> SweepResult:
    todo = pending_units(spec, run_dir)
    n_units = len(spec.ms) * len(spec.seeds)
    total_points = n_units * len(spec.checkpoints)
    skipped = n_units - len(todo)
    devices = unit_devices(device, len(todo), jobs, _gpu_count(device) if todo else 0)
    tasks = [UnitTask(m, seed, unit_device) for (m, seed), unit_device in zip(todo, devices)]
    bar = (
        SweepProgress(
            spec.name,
            total_points,
            records.count_points(run_dir),
            n_units,
            skipped,
            stream=progress_stream,
            log_interval_s=log_interval_s,
        )
        if progress
        else None
    )
    errors: list[BaseException] = []
    done = skipped
    submission = None
    try:
        if tasks:
            submission = backend.submit(unit_fn, spec, str(run_dir.resolve()), tasks)
            while not submission.done():
                for outcome in submission.poll(poll_s):
                    done += _record(outcome, errors)
                if bar is not None:
                    bar.update(records.count_points(run_dir), done)
    except KeyboardInterrupt:
        _stop(submission, run_dir)
        if bar is not None:
            bar.close()
            bar = None
        raise SweepInterrupted(run_dir, done, n_units, records.count_points(run_dir), total_points) from None
    finally:
        if bar is not None:
            bar.update(records.count_points(run_dir), done)
            bar.close()
    if errors:
        raise errors[0]
    # Every unit has written its summary, its last row, so no writer of this run is in flight: the temporary
    # files a killed writer left (kept at start-up while younger than a minute) can all go.
    remove_temporary_files(run_dir, min_age_s=0.0)
    if tasks or not (run_dir / records.RUN_FILE).is_file():
        summary = records.RunSummary(
            run_hash=spec.hash,
            name=spec.name,
            units=n_units,
            points=records.count_points(run_dir),
            elapsed_s=round(time.monotonic() - started, 3),
            machine=_machine(backend, jobs, devices),
        )
        records.write_run_summary(run_dir, summary)
    return SweepResult(run_dir=run_dir, units_run=len(todo), units_skipped=skipped)


def _record(outcome: UnitOutcome, errors: list[BaseException]) -> int:
    """1 when the unit finished; else keep its error (with its (m, seed) as a note) and return 0."""
    if outcome.error is None:
        return 1
    outcome.error.add_note(f"in unit (m={outcome.m}, seed={outcome.seed})")
    errors.append(outcome.error)
    return 0


def _stop(submission: Any, run_dir: Path) -> None:
    """After a Ctrl-C: a second one exits at once; cancel and kill the units, remove temp files."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _exit_now) if main else None
    try:
        if submission is not None:
            submission.cancel()
        remove_temporary_files(run_dir, min_age_s=0.0)  # our workers are dead: all of them are stale
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
