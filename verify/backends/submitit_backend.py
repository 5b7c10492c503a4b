"""The `submitit` backend: the pending units of a sweep as one Slurm job array (or submitit's local and
debug executors on one machine, for tests and laptops).

``ebtheory run PRESET --backend submitit --partition P --time-min 120 --gpus-per-unit 1 --mem-gb 16``
submits every pending (m, seed) unit as one task of a job array (submitit.AutoExecutor.map_array),
then the runner follows the rows on disk with its usual progress bar (ebtheory.verify.runner). Each
task calls the same picklable unit function as the local backend, ``unit_fn(spec, m, seed, run_dir,
device)``, which writes its own rows atomically into RUN_DIR (a shared file system on a cluster), so
resume, the spec hash and atomic rows work unchanged.

Job ledger. Every submitted task is recorded in RUN_DIR/submitit/jobs.json ((m, seed) -> job id and
executor); the submitit logs and pickles live in RUN_DIR/submitit/. A later submission of the same
run (``ebtheory run`` again, after ``--detach`` or a lost connection) follows a unit whose job is
still queued or running instead of submitting it twice, and submits only the rest.

Outcomes. A task succeeds when its job ended and the unit summary RUN_DIR/units/m{m}_s{seed}.json
exists; a job that failed reports submitit's error (with the unit's traceback) and the runner adds
the unit's (m, seed); a job that ended without a summary (killed, timed out, preempted) reports that,
with the path of its log.

Executors: ``slurm`` (the default when sbatch is on the PATH), ``local`` (one subprocess per unit, all
at once: submitit's LocalExecutor has no queue, so keep sweeps small), ``debug`` (in this process, one
unit per poll).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ebtheory.verify import records
from ebtheory.verify.backends import UnitFunction, UnitOutcome, UnitTask
from ebtheory.verify.spec import ExperimentSpec

__all__ = ["CLUSTERS", "LEDGER_FILE", "SubmititBackend", "SubmititSubmission", "read_ledger", "submit_detached"]

CLUSTERS = ("slurm", "local", "debug")
SUBMITIT_DIR = "submitit"
LEDGER_FILE = "jobs.json"
_ALIVE_SLURM = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING"}


def _run_task(unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, task: UnitTask) -> None:
    """One array task: the unit (m, seed) on this node."""
    unit_fn(spec, task.m, task.seed, run_dir, task.device)


def _key(m: int, seed: int) -> str:
    return f"m{m}_s{seed}"


def read_ledger(run_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """RUN_DIR/submitit/jobs.json: unit key 'm{m}_s{seed}' -> {'job_id', 'cluster', 'folder'} ({} when absent)."""
    path = Path(run_dir) / SUBMITIT_DIR / LEDGER_FILE
    if not path.is_file():
        return {}
    data = records.read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the job ledger must be a JSON object; got {type(data).__name__}")
    return data


def _write_ledger(run_dir: str, ledger: dict[str, dict[str, Any]]) -> None:
    records.write_json_atomic(Path(run_dir) / SUBMITIT_DIR / LEDGER_FILE, ledger)


def _pid_alive(pid: str) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, counts as ended)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal check above is all there is
    return state not in ("Z", "X")


def _finished(job: Any) -> bool:
    """Whether a job has ended. A local job re-attached from the ledger has no process handle (submitit's
    LocalJob would then call it done at once): it has ended when its result file exists or its pid is gone."""
    if type(job).__name__ == "LocalJob" and getattr(job, "_process", None) is None:
        return job.paths.result_pickle.exists() or not _pid_alive(str(job.job_id))
    return bool(job.done())


def _reattach(entry: dict[str, Any]) -> Any | None:
    """The submitit job of a ledger entry when it is still queued or running, else None."""
    import submitit

    cluster, job_id, folder = entry.get("cluster"), str(entry.get("job_id")), Path(str(entry.get("folder")))
    if cluster == "slurm":
        slurm_job: Any = submitit.SlurmJob(folder=folder, job_id=job_id)
        return slurm_job if slurm_job.state.split(" ")[0] in _ALIVE_SLURM else None
    if cluster == "local":
        # the local executor's job id is the controller's pid; without the process handle the state is
        # read from the pid and the result file
        local_job: Any = submitit.LocalJob(folder=folder, job_id=job_id)
        return local_job if _pid_alive(job_id) and not local_job.paths.result_pickle.exists() else None
    return None  # debug jobs live and die with the process that submitted them


class SubmititSubmission:
    """The runner's handle on submitted (or re-attached) jobs: poll, done, cancel (verify/backends)."""

    def __init__(self, run_dir: str, jobs: dict[tuple[int, int], Any], poll_floor_s: float = 0.2) -> None:
        self._run_dir = run_dir
        self._jobs = dict(jobs)
        self._poll_floor_s = poll_floor_s

    @property
    def job_ids(self) -> dict[tuple[int, int], str]:
        """(m, seed) -> job id of every unit still followed."""
        return {unit: str(job.job_id) for unit, job in self._jobs.items()}

    def _outcome(self, m: int, seed: int, job: Any) -> UnitOutcome:
        if records.unit_finished(self._run_dir, m, seed):
            return UnitOutcome(m, seed)
        try:
            error = job.exception()
        except Exception as failure:  # the job's result file is missing or unreadable
            error = failure
        if error is None:
            error = RuntimeError(
                f"job {job.job_id} ended without writing the unit summary of (m={m}, seed={seed}); "
                f"see its log {job.paths.stderr}"
            )
        return UnitOutcome(m, seed, error if isinstance(error, Exception) else RuntimeError(str(error)))

    def poll(self, timeout_s: float) -> list[UnitOutcome]:
        deadline = time.monotonic() + timeout_s
        outcomes: list[UnitOutcome] = []
        for (m, seed), job in list(self._jobs.items()):
            if type(job).__name__ == "DebugJob":
                # A DebugJob runs in this process when asked for its outcome; exception() runs it without
                # the post-mortem debugger that DebugJob.done() / results() open on an error. One unit per
                # poll, so the progress bar moves.
                error = job.exception()
                del self._jobs[(m, seed)]
                outcomes.append(UnitOutcome(m, seed, error) if error is not None else self._outcome(m, seed, job))
                break
            if _finished(job):
                outcomes.append(self._outcome(m, seed, job))
                del self._jobs[(m, seed)]
            if time.monotonic() > deadline:
                break
        if not outcomes and self._jobs:
            time.sleep(max(self._poll_floor_s, deadline - time.monotonic()))
        return outcomes

    def done(self) -> bool:
        return not self._jobs

    def cancel(self) -> None:
        for job in self._jobs.values():
            try:
                job.cancel(check=False)
            except Exception:  # scancel may fail for a job that just ended; nothing else to do
                pass
        self._jobs.clear()


@dataclass(frozen=True)
class SubmititBackend:
    """Units as one submitit job array.

    cluster: 'slurm', 'local' or 'debug' (None: submitit's choice, slurm when sbatch exists, else local);
    partition: Slurm partition (None: the cluster default); time_min: wall-clock limit per unit in
    minutes; gpus_per_unit, cpus_per_unit, mem_gb (None: the cluster default): resources per unit;
    array_parallelism: at most this many units at once; folder: submitit's log folder (default
    RUN_DIR/submitit); slurm_extra: more slurm_* parameters of submitit (e.g. {'slurm_account': 'x'}).
    """

    cluster: str | None = None
    partition: str | None = None
    time_min: int = 60
    gpus_per_unit: int = 0
    cpus_per_unit: int = 1
    mem_gb: float | None = None
    array_parallelism: int = 256
    folder: str | None = None
    slurm_extra: tuple[tuple[str, Any], ...] = ()
    name: str = "submitit"

    def __post_init__(self) -> None:
        if self.cluster is not None and self.cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {CLUSTERS}; got cluster={self.cluster!r}")
        for field, value, low in (
            ("time_min", self.time_min, 1),
            ("gpus_per_unit", self.gpus_per_unit, 0),
            ("cpus_per_unit", self.cpus_per_unit, 1),
            ("array_parallelism", self.array_parallelism, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{field} must be an integer >= {low}; got {field}={value!r}")
        if self.mem_gb is not None and not self.mem_gb > 0:
            raise ValueError(f"mem_gb must be > 0 (or None for the cluster default); got mem_gb={self.mem_gb!r}")

    def resolved_cluster(self) -> str:
        """The executor in use: the given cluster, else slurm when sbatch is on the PATH, else local."""
        if self.cluster is not None:
            return self.cluster
        return "slurm" if shutil.which("sbatch") else "local"

    def executor(self, run_dir: str, spec: ExperimentSpec) -> Any:
        """The configured submitit.AutoExecutor (logs in `folder`, default RUN_DIR/submitit/%j)."""
        import submitit

        folder = self.folder or str(Path(run_dir) / SUBMITIT_DIR / "%j")
        executor = submitit.AutoExecutor(folder=folder, cluster=self.resolved_cluster())
        parameters: dict[str, Any] = {
            "name": f"ebtheory-{spec.name}",
            "timeout_min": self.time_min,
            "gpus_per_node": self.gpus_per_unit,
            "cpus_per_task": self.cpus_per_unit,
            "tasks_per_node": 1,
            "nodes": 1,
            "slurm_array_parallelism": self.array_parallelism,
        }
        if self.mem_gb is not None:
            parameters["mem_gb"] = self.mem_gb
        if self.partition is not None:
            parameters["slurm_partition"] = self.partition
        parameters.update(dict(self.slurm_extra))
        executor.update_parameters(**parameters)
        return executor

    def submit(
        self, unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, tasks: Sequence[UnitTask]
    ) -> SubmititSubmission:
        """Follow the tasks whose ledger job is still alive; submit the rest as one job array."""
        ledger = read_ledger(run_dir)
        followed: dict[tuple[int, int], Any] = {}
        fresh: list[UnitTask] = []
        for task in tasks:
            entry = ledger.get(_key(task.m, task.seed))
            job = _reattach(entry) if entry is not None else None
            if job is not None:
                followed[(task.m, task.seed)] = job
            else:
                fresh.append(task)
        if fresh:
            executor = self.executor(run_dir, spec)
            n = len(fresh)
            jobs = executor.map_array(_run_task, [unit_fn] * n, [spec] * n, [run_dir] * n, fresh)
            cluster = self.resolved_cluster()
            for task, job in zip(fresh, jobs):
                followed[(task.m, task.seed)] = job
                ledger[_key(task.m, task.seed)] = {
                    "job_id": str(job.job_id),
                    "cluster": cluster,
                    "folder": str(job.paths.folder),
                }
            _write_ledger(run_dir, ledger)
        return SubmititSubmission(run_dir, followed)


def submit_detached(
    spec: ExperimentSpec,
    out: str | os.PathLike[str],
    backend: SubmititBackend,
    *,
    unit_fn: UnitFunction | None = None,
    device: str = "auto",
) -> tuple[Path, dict[tuple[int, int], str]]:
    """Submit the pending units of `spec` and return at once: (run dir, (m, seed) -> job id).

    A later ``ebtheory run`` (which follows the jobs still alive and submits what failed) or
    ``ebtheory report`` on the run directory picks up what has finished."""
    from ebtheory.verify.rundir import RunDirLock, remove_temporary_files, run_dir_inside
    from ebtheory.verify.runner import pending_units, prepare_run_dir
    from ebtheory.verify.spec import run_dir_name

    if backend.resolved_cluster() == "debug":
        raise ValueError("--detach needs a cluster that runs jobs on its own (slurm or local); got cluster='debug'")
    if unit_fn is None:
        from ebtheory.verify.unit import run_unit

        unit_fn = run_unit
    run_dir = run_dir_inside(out, run_dir_name(spec))
    with RunDirLock(run_dir):
        run_dir = prepare_run_dir(spec, out)
        alive = {key for key, entry in read_ledger(run_dir).items() if _reattach(entry) is not None}
        if not alive:
            remove_temporary_files(run_dir)  # no job of ours can be writing now
        tasks = [UnitTask(m, seed, device) for m, seed in pending_units(spec, run_dir)]
        submission = backend.submit(unit_fn, spec, str(run_dir.resolve()), tasks)
    return run_dir, submission.job_ids
