"""Tests of verify/gpu_check.sh (issue 12.4) on the CPU: its argument checks, and the whole script at
toy sizes (--tiny) on Debian's Fashion-MNIST, which must leave rows, reports and figures of both
sweeps under OUT_DIR."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "verify" / "gpu_check.sh"
FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").exists(),
    reason="needs Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist",
)


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_script_is_executable_and_parses():
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


@pytest.mark.parametrize("args", [(), ("only-one",), ("a", "b", "--fast"), ("a", "b", "--tiny", "extra")])
def test_bad_arguments_exit_2_with_usage(args):
    result = _run(*args)
    assert result.returncode == 2
    assert "usage: verify/gpu_check.sh DATA_DIR OUT_DIR [--tiny]" in result.stderr


def test_a_folder_without_idx_files_exits_2_naming_it(tmp_path):
    result = _run(str(tmp_path), str(tmp_path / "out"), "--tiny")
    assert result.returncode == 2
    assert f"DATA_DIR={tmp_path}" in result.stderr and "IDX" in result.stderr


@needs_fashion
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.slow
def test_without_tiny_and_without_cuda_exits_2(tmp_path):
    result = _run(str(FASHION), str(tmp_path / "out"))
    assert result.returncode == 2
    assert "CUDA is not available" in result.stderr and "--tiny" in result.stderr
    assert not (tmp_path / "out" / "summary.tsv").exists()


@needs_fashion
@pytest.mark.slow
def test_tiny_run_writes_rows_reports_and_figures_of_both_sweeps(tmp_path):
    out = tmp_path / "gpu-check"
    result = _run(str(FASHION), str(out), "--tiny", env={"JOBS": "2"}, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (out / "summary.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["name", "status", "exit_code", "wall_s", "run_dir"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert sorted(rows) == ["cnn", "mlp"]
    for name, (_, status, code, wall, run_dir) in rows.items():
        assert status == "ok" and code == "0" and float(wall) > 0
        run = Path(run_dir)
        assert run.parent == out / "runs"
        # 4 sizes x 3 seeds units, each with 3 checkpoints
        assert len(list((run / "units").glob("*.json"))) == 12
        assert len(list((run / "points").glob("*.json"))) == 36
        report = json.loads((out / f"{name}.report.json").read_text())
        assert report["complete"] is True
        assert report["model"] == ("cnn" if name == "cnn" else "ntk")
        assert report["dataset"] == "fashion-mnist"
        assert f"run {run.name.split('-')[0]}" in (out / f"{name}.report.txt").read_text()
        assert list((out / "figures" / name).glob("*.png")), f"no figures for {name}"
    environment = (out / "environment.txt").read_text()
    assert "mode: tiny device=cpu" in environment and "torch" in environment
