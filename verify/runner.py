"""The sweep runner: one unit of work per (m, seed), run in parallel local processes, resumable.

A unit function is a picklable top-level callable `unit_fn(spec, m, seed, run_dir, device)` that
writes only its own rows (ebtheory.verify.records.write_point for each finished point, records.write_unit
last) and skips the points already on disk. The runner

- writes RUN_DIR/spec.json (or checks that an existing one has the same hash),
- skips units whose summary exists (finished) and removes temporary files a killed writer left,
- runs the rest with concurrent.futures.ProcessPoolExecutor on the spawn context when jobs > 1
  (each worker gets cpu_count // jobs torch threads), or in this process when jobs == 1,
- shows a tqdm bar over points (read from the run directory, so workers share no state) with the
  units done as a postfix and the time left,
- raises the first unit's error after the others finish (their rows are kept: a rerun resumes).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ebtheory.verify import records
from ebtheory.verify.spec import ExperimentSpec, run_dir_name

UnitFunction = Callable[[ExperimentSpec, int, int, str, str], None]


@dataclass(frozen=True)
class SweepResult:
    """run_dir: where the rows are; units_run: units executed now; units_skipped: already finished."""

    run_dir: Path
    units_run: int
    units_skipped: int


def prepare_run_dir(spec: ExperimentSpec, out: str | os.PathLike) -> Path:
    """Create OUT/<name>-<hash>/ with spec.json; an existing spec.json must carry the same hash."""
    run_dir = Path(out) / run_dir_name(spec)
    spec_path = run_dir / records.SPEC_FILE
    if spec_path.is_file():
        recorded = records.read_json(spec_path).get("hash")
        if recorded != spec.hash:
            raise ValueError(f"{spec_path} records hash={recorded!r} but the spec hashes to {spec.hash!r}")
    else:
        records.write_spec(run_dir, spec)
    for leftover in list(run_dir.glob("*/.*.tmp")):
        leftover.unlink(missing_ok=True)
    return run_dir


def pending_units(spec: ExperimentSpec, run_dir: str | os.PathLike) -> list[tuple[int, int]]:
    """(m, seed) pairs whose unit summary is not on disk yet, largest m first (longest work first)."""
    return [
        (m, seed)
        for m in sorted(spec.ms, reverse=True)
        for seed in spec.seeds
        if not records.unit_finished(run_dir, m, seed)
    ]


def _count_points(run_dir: Path) -> int:
    return records.count_points(run_dir)


def _exit_when_orphaned(parent: int, poll_s: float = 0.5) -> None:
    """Exit this worker process as soon as its parent `parent` is gone (it is re-parented)."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(1)


def _run_in_worker(
    unit_fn: UnitFunction, spec: ExperimentSpec, m: int, seed: int, run_dir: str, device: str, threads: int
) -> tuple[int, int]:
    """Worker entry point: pin the torch thread count, then run the unit.

    A watchdog ends the worker when the sweep process that started it dies (a killed `ebtheory run`
    must not leave units computing in the background); rows are atomic, so nothing finished is lost."""
    import torch

    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    torch.set_num_threads(threads)
    unit_fn(spec, m, seed, run_dir, device)
    return m, seed


def run_sweep(
    spec: ExperimentSpec,
    out: str | os.PathLike,
    *,
    unit_fn: UnitFunction | None = None,
    jobs: int = 1,
    device: str = "auto",
    progress: bool = True,
    poll_s: float = 0.5,
) -> SweepResult:
    """Run every unfinished (m, seed) unit of `spec` into OUT/<name>-<hash>/ and return where."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got jobs={jobs}")
    if unit_fn is None:
        from ebtheory.verify.unit import run_unit

        unit_fn = run_unit
    run_dir = prepare_run_dir(spec, out)
    todo = pending_units(spec, run_dir)
    n_units = len(spec.ms) * len(spec.seeds)
    skipped = n_units - len(todo)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=n_units * len(spec.checkpoints),
            initial=_count_points(run_dir),
            unit="point",
            desc=spec.name,
            dynamic_ncols=True,
        )
        bar.set_postfix_str(f"units {skipped}/{n_units}")

    def refresh(done_units: int) -> None:
        if bar is not None:
            bar.update(_count_points(run_dir) - bar.n)
            bar.set_postfix_str(f"units {done_units}/{n_units}")

    errors: list[BaseException] = []
    done = skipped
    try:
        if jobs == 1:
            for m, seed in todo:
                unit_fn(spec, m, seed, str(run_dir), device)
                done += 1
                refresh(done)
        else:
            threads = max(1, (os.cpu_count() or 1) // jobs)
            context = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {
                    pool.submit(_run_in_worker, unit_fn, spec, m, seed, str(run_dir), device, threads)
                    for m, seed in todo
                }
                while futures:
                    finished, futures = cf.wait(futures, timeout=poll_s, return_when=cf.FIRST_COMPLETED)
                    for future in finished:
                        if future.exception() is not None:
                            errors.append(future.exception())
                        else:
                            done += 1
                    refresh(done)
    finally:
        if bar is not None:
            refresh(done)
            bar.close()
    if errors:
        raise errors[0]
    return SweepResult(run_dir=run_dir, units_run=len(todo), units_skipped=skipped)
