"""Hypothesis profiles: `ci` (default, seconds per test) and `thorough` (HYPOTHESIS_PROFILE=thorough)."""

import os

# One BLAS/OpenMP thread per test process: the suite's matrices are small, and on a loaded 2-core machine
# multi-threaded kernels spin-wait (a tiny sweep took 129 s of CPU with two threads, 6 s with one).
# Set before torch is imported so subprocesses inherit it; tests that compare thread counts set them explicitly.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op torch thread for the whole session (see OMP_NUM_THREADS above); results do not depend
    on it, and tests that compare thread counts set them themselves."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------- shared run fixtures
# Fixtures come from the real thing: the `tiny` preset run once per test session by the real unit,
# never rows typed by hand (a hand-typed row agrees with whatever the reader expects).


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished `tiny` sweep (two-layer NTK on digits), written once per session. Do not modify it:
    copy it with `tiny_run_copy` first."""
    from ebtheory.verify.presets import TINY
    from ebtheory.verify.runner import run_sweep

    result = run_sweep(TINY, tmp_path_factory.mktemp("tiny"), jobs=1, device="cpu", progress=False)
    return Path(result.run_dir)


@pytest.fixture(scope="session")
def tiny_run(tiny_run_dir: Path):
    """The RunRecord of the session's `tiny` sweep (ebtheory.verify.records.load_run)."""
    from ebtheory.verify.records import load_run

    return load_run(tiny_run_dir)


@pytest.fixture()
def tiny_run_copy(tiny_run_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's `tiny` run directory, free to corrupt or extend."""
    target = tmp_path / tiny_run_dir.name
    shutil.copytree(tiny_run_dir, target)
    return target
