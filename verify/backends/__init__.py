"""Backends: where the units of a sweep run. The seam between the sweep runner and an executor.

The runner (ebtheory.verify.runner.run_sweep) decides WHAT runs: the pending (m, seed) units of a
spec, each with its device string. A backend decides WHERE: it takes the whole list at once and
returns a Submission that the runner polls. The runner follows progress from the rows on disk
(ebtheory.verify.records.count_points), never from the backend, so a backend needs no channel
back to the runner except the outcome of each unit.

Contract for a backend (``local`` here, ``submitit`` in verify/backends/submitit_backend.py):

- ``unit_fn`` is a picklable top-level function ``unit_fn(spec, m, seed, run_dir, device) -> None``
  (ebtheory.verify.unit.run_unit). It writes its own rows atomically (ebtheory.verify.records) and
  skips points already on disk, so running a unit twice, or resuming a killed one, is safe.
- ``Backend.submit(unit_fn, spec, run_dir, tasks)`` starts (or queues) every task and returns at
  once with a Submission; ``run_dir`` is an absolute path string.
- ``Submission.poll(timeout_s)`` waits at most ``timeout_s`` seconds (a backend that runs units in
  the calling process may take longer: one unit) and returns the outcomes that arrived since the
  last call, each once. ``Submission.done()`` is True when every task has an outcome.
- ``Submission.cancel()`` stops everything now: queued units never start, running ones are
  killed, no process is left behind. It must return within a few seconds and may be called twice.
  The runner calls it on Ctrl-C and then removes the temporary files a killed writer left.
- A unit that raised reports ``UnitOutcome(m, seed, error=...)``; the runner raises the first
  error after the others finish, with the unit's (m, seed) added as a note. A KeyboardInterrupt
  is not a unit outcome: it propagates out of ``poll``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ebtheory.verify.spec import ExperimentSpec

UnitFunction = Callable[[ExperimentSpec, int, int, str, str], None]


@dataclass(frozen=True)
class UnitTask:
    """One unit of work: dataset size m, seed, and the device string it runs on ('cpu', 'cuda:1', 'auto')."""

    m: int
    seed: int
    device: str


@dataclass(frozen=True)
class UnitOutcome:
    """How unit (m, seed) ended: error is None when it finished, else the exception it raised."""

    m: int
    seed: int
    error: BaseException | None = None


class Submission(Protocol):
    """Handle of submitted tasks (see the module docstring for the contract)."""

    def poll(self, timeout_s: float) -> list[UnitOutcome]:
        """Outcomes that arrived since the last call; waits at most about timeout_s when none did."""
        ...

    def done(self) -> bool:
        """True once every task has reported an outcome."""
        ...

    def cancel(self) -> None:
        """Cancel queued tasks and kill running ones now; leave no process behind."""
        ...


class Backend(Protocol):
    """Where units run: ``name`` (for the run summary) and ``submit``."""

    @property
    def name(self) -> str:
        """Short name of the backend ('local', 'submitit'), recorded in the run summary."""
        ...

    def submit(
        self, unit_fn: UnitFunction, spec: ExperimentSpec, run_dir: str, tasks: Sequence[UnitTask]
    ) -> Submission:
        """Start or queue every task; return at once."""
        ...


__all__ = ["Backend", "Submission", "UnitFunction", "UnitOutcome", "UnitTask"]
