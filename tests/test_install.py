"""The package as a user installs it: a wheel built from the checkout holds one import name, `ebtheory`,
and every command works from that install, run outside the checkout (issue: one package, one front door)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, target): the wheel built from the checkout and a folder it is installed into (no dependencies:
    those of the test environment are used)."""
    base = tmp_path_factory.mktemp("install")
    wheels = base / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("ebtheory-*.whl")
    target = base / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return wheel, target


def _top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}


def test_the_wheel_installs_only_the_ebtheory_import_name(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    assert _top_level_names(wheel) == {"ebtheory"}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for module in ("verify/records.py", "verify/runner.py", "figures/registry.py", "proofs/checks.py", "cli/run.py"):
        assert f"ebtheory/{module}" in names, module


def _run(target: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(target), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "ebtheory", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_every_command_works_from_the_install(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, target = installed
    where = subprocess.run(
        [sys.executable, "-c", "import ebtheory, ebtheory.verify.records as r; print(ebtheory.__file__, r.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr
    assert all(path.startswith(str(target)) for path in where.stdout.split()), where.stdout

    version = _run(target, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("ebtheory "), version.stderr
    bound = _run(target, tmp_path, "bound", "--m", "100", "--k", "10", "--eta", "0.5", "--lambda0", "0.01",
                 "--delta", "0.1", "--V", "10", "--json")  # fmt: skip
    assert bound.returncode == 0, bound.stderr
    proofs = _run(target, tmp_path, "proofs", "--list")
    assert proofs.returncode == 0 and proofs.stdout.strip(), proofs.stderr
    run = _run(target, tmp_path, "run", "tiny", "--out", str(tmp_path / "runs"), "--no-progress", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = _run(target, tmp_path, "report", str(run_dir), "--json")
    assert report.returncode == 0, report.stderr
    figures = _run(target, tmp_path, "figures", str(run_dir), "--out", str(tmp_path / "figs"), "--only", "a,b")
    assert figures.returncode == 0, figures.stderr
    assert list((tmp_path / "figs").glob("*.png"))
