"""The `local` backend: units in this process (jobs = 1) or in a pool of spawned processes (jobs > 1).

Pool workers ignore SIGINT: a Ctrl-C at a terminal reaches the whole process group, and only the
sweep process decides what happens (it calls Submission.cancel, which kills the workers). Each
worker pins torch to cpu_count // jobs threads and exits when the sweep process that started it
dies, so a killed `ebtheory run` leaves no unit computing in the background.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ebtheory.verify.backends import UnitFunction, UnitOutcome, UnitTask
from ebtheory.verify.spec import ExperimentSpec

KILL_GRACE_S = 2.0  # SIGTERM first; what is still alive after this gets SIGKILL


def _exit_when_orphaned(parent: int, poll_s: float = 0.5) -> None:
    """Exit this worker process as soon as its parent `parent` is gone (it is re-parented)."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(1)


def _init_worker(threads: int) -> None:
    """Pool initializer: ignore SIGINT (the sweep process handles it), pin threads, watch the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


def _run_task(unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, task: UnitTask) -> None:
    unit_fn(spec, task.m, task.seed, run_dir, task.device)


class InProcessSubmission:
    """jobs = 1: each poll runs the next unit here (KeyboardInterrupt propagates to the runner)."""

    def __init__(self, unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, tasks: Sequence[UnitTask]):
        self._unit_fn, self._spec, self._run_dir = unit_fn, spec, run_dir
        self._queue = list(tasks)

    def poll(self, timeout_s: float) -> list[UnitOutcome]:
        if not self._queue:
            return []
        task = self._queue.pop(0)
        try:
            _run_task(self._unit_fn, self._spec, self._run_dir, task)
        except Exception as error:
            return [UnitOutcome(task.m, task.seed, error)]
        return [UnitOutcome(task.m, task.seed)]

    def done(self) -> bool:
        return not self._queue

    def cancel(self) -> None:
        self._queue.clear()


class PoolSubmission:
    """jobs > 1: a ProcessPoolExecutor on the spawn context, one future per unit."""

    def __init__(self, unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, tasks: Sequence[UnitTask], jobs: int):
        threads = max(1, (os.cpu_count() or 1) // jobs)
        self._pool = cf.ProcessPoolExecutor(
            max_workers=min(jobs, max(1, len(tasks))),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(threads,),
        )
        self._futures: dict[cf.Future[None], UnitTask] = {
            self._pool.submit(_run_task, unit_fn, spec, run_dir, task): task for task in tasks
        }
        self._cancelled = False

    def poll(self, timeout_s: float) -> list[UnitOutcome]:
        if not self._futures:
            return []
        finished, _ = cf.wait(self._futures, timeout=timeout_s, return_when=cf.FIRST_COMPLETED)
        outcomes = []
        for future in finished:
            task = self._futures.pop(future)
            error = None if future.cancelled() else future.exception()
            outcomes.append(UnitOutcome(task.m, task.seed, error))
        if not self._futures:
            self._pool.shutdown(wait=True)
        return outcomes

    def done(self) -> bool:
        return not self._futures

    def cancel(self) -> None:
        """Cancel queued units, SIGTERM the workers, SIGKILL what is alive after KILL_GRACE_S."""
        if self._cancelled:
            return
        self._cancelled = True
        # ProcessPoolExecutor has no public way to stop running work; its worker processes are
        # in _processes (CPython 3.8-3.13). The futures are not cancelled: when the workers die the
        # pool's manager thread fails every pending future with BrokenProcessPool, and on 3.11 it
        # raises InvalidStateError (a traceback on stderr) for a future that was cancelled.
        processes = list(getattr(self._pool, "_processes", {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + KILL_GRACE_S
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(timeout=1.0)
        self._pool.shutdown(wait=False)
        self._futures.clear()


@dataclass(frozen=True)
class LocalBackend:
    """Today's process pool: `jobs` units at a time on this machine (jobs = 1: in this process)."""

    jobs: int = 1
    name: str = "local"

    def __post_init__(self) -> None:
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"jobs must be an integer >= 1; got jobs={self.jobs!r}")

    def submit(
        self, unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, tasks: Sequence[UnitTask]
    ) -> InProcessSubmission | PoolSubmission:
        if self.jobs == 1:
            return InProcessSubmission(unit_fn, spec, run_dir, tasks)
        return PoolSubmission(unit_fn, spec, run_dir, tasks, self.jobs)
