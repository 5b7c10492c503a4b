"""The submitit backend (verify/backends/submitit_backend.py) on one machine: submitit's debug executor
(in process) and local executor (subprocesses) resume a real tiny sweep and write the same rows, row
for row, as the local backend did (elapsed_s and device aside); --detach returns at once and a later
run follows the jobs; a failed unit's error names its (m, seed)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cli_helpers import run_cli

from ebtheory.verify import records
from ebtheory.verify.backends.submitit_backend import SubmititBackend, read_ledger
from ebtheory.verify.presets import TINY
from ebtheory.verify.runner import run_sweep

RESUMED = [(24, 0), (16, 2)]  # units removed from a copy of the session's tiny run, for the backend to redo


def _forget_units(run_dir: Path, units: list[tuple[int, int]]) -> None:
    """Delete every row of `units` (and the run summary), as if they had never run."""
    for m, seed in units:
        (run_dir / records.UNITS_DIR / records.unit_filename(m, seed)).unlink()
        for path in (run_dir / records.POINTS_DIR).glob(f"m{m}_s{seed}_t*.json"):
            path.unlink()
    (run_dir / records.RUN_FILE).unlink(missing_ok=True)


def _assert_same_rows(reference: Path, candidate: Path) -> None:
    ref, got = records.load_run(reference), records.load_run(candidate)
    assert len(got.points) == len(ref.points) and len(got.units) == len(ref.units)
    for a, b in zip(ref.points, got.points):
        assert records.to_json_dict(a) == records.to_json_dict(b), (b.m, b.seed, b.t)
    for a, b in zip(ref.units, got.units):
        left, right = records.to_json_dict(a), records.to_json_dict(b)
        for volatile in ("elapsed_s", "device"):
            left.pop(volatile)
            right.pop(volatile)
        assert left == right, (b.m, b.seed)


@pytest.mark.slow
def test_debug_executor_resumes_tiny_with_the_same_rows(tiny_run_dir: Path, tiny_run_copy: Path, capsys) -> None:
    _forget_units(tiny_run_copy, RESUMED)
    argv = ["run", "tiny", "--out", str(tiny_run_copy.parent), "--device", "cpu", "--no-figures", "--no-progress"]
    code, out, err = run_cli([*argv, "--backend", "submitit", "--cluster", "debug", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)  # --json: stdout is the report alone
    assert isinstance(report, dict) and report
    assert "run dir:" in err
    _assert_same_rows(tiny_run_dir, tiny_run_copy)
    ledger = read_ledger(tiny_run_copy)
    assert sorted(ledger) == sorted(f"m{m}_s{seed}" for m, seed in RESUMED)
    assert {entry["cluster"] for entry in ledger.values()} == {"debug"}
    summary = records.load_run(tiny_run_copy).summary
    assert summary is not None and summary.machine["backend"] == "submitit"


def _fails_on_m16_seed2(spec, m: int, seed: int, run_dir: str, device: str) -> None:
    from ebtheory.verify.unit import run_unit

    if (m, seed) == (16, 2):
        raise RuntimeError("planted failure")
    run_unit(spec, m, seed, run_dir, device)


def test_a_failed_unit_is_shown_with_its_m_and_seed(tiny_run_copy: Path) -> None:
    _forget_units(tiny_run_copy, RESUMED)
    with pytest.raises(RuntimeError, match="planted failure") as caught:
        run_sweep(
            TINY,
            tiny_run_copy.parent,
            unit_fn=_fails_on_m16_seed2,
            device="cpu",
            progress=False,
            backend=SubmititBackend(cluster="debug"),
        )
    assert any("m=16, seed=2" in note for note in getattr(caught.value, "__notes__", []))
    # the other unit finished and is kept: a rerun resumes it
    assert records.unit_finished(tiny_run_copy, 24, 0) and not records.unit_finished(tiny_run_copy, 16, 2)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "tiny", "--detach"], "--detach needs --backend submitit"),
        (["run", "tiny", "--backend", "submitit", "--time-min", "0"], "time_min must be an integer >= 1"),
        (["run", "tiny", "--backend", "submitit", "--mem-gb", "-1"], "mem_gb must be > 0"),
        (["run", "tiny", "--backend", "submitit", "--cluster", "debug", "--detach"], "--detach needs a cluster"),
        (["run", "tiny", "--backend", "submitit", "--cluster", "pbs"], "invalid choice"),
    ],
)
def test_bad_cluster_flags_are_one_line_and_exit_2(argv: list[str], fragment: str, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli([*argv, "--out", str(tmp_path), "--no-figures"], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_local_executor_detach_then_follow_gives_the_same_rows(tiny_run_dir: Path, tiny_run_copy: Path, capsys) -> None:
    _forget_units(tiny_run_copy, RESUMED)
    argv = ["run", "tiny", "--out", str(tiny_run_copy.parent), "--device", "cpu", "--no-figures", "--no-progress"]
    cluster = ["--backend", "submitit", "--cluster", "local", "--time-min", "10"]
    started = time.monotonic()
    code, out, err = run_cli([*argv, *cluster, "--detach"], capsys)
    assert code == 0, err
    assert time.monotonic() - started < 60 and "submitted 2 units (local)" in out
    first = read_ledger(tiny_run_copy)
    assert sorted(first) == sorted(f"m{m}_s{seed}" for m, seed in RESUMED)
    # the same command without --detach follows the jobs still running instead of submitting them again
    code, out, err = run_cli([*argv, *cluster], capsys)
    assert code == 0, err
    assert read_ledger(tiny_run_copy) == first  # followed (or found finished), never submitted twice
    _assert_same_rows(tiny_run_dir, tiny_run_copy)


def test_run_spec_file_is_validated_like_a_preset(tmp_path: Path, capsys) -> None:
    from ebtheory.verify.spec import run_dir_name

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({k: v for k, v in TINY.to_dict().items() if k != "hash"}))
    code, out, err = run_cli(["run", "--spec", str(spec_file), "--check", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert run_dir_name(TINY) in out  # the same spec as the preset: the same hash, the same run dir
    spec_file.write_text(json.dumps({"name": "mine", "ms": [16, 24, 32, 48], "widht": 64}))
    code, _, err = run_cli(["run", "--spec", str(spec_file), "--check", "--out", str(tmp_path)], capsys)
    assert code == 2 and "field 'widht' is not a spec field" in err
    spec_file.write_text(json.dumps({"name": "mine", "eta": "0.1"}))
    code, _, err = run_cli(["run", "--spec", str(spec_file), "--check", "--out", str(tmp_path)], capsys)
    assert code == 2 and "field 'eta' must be of type" in err
    spec_file.write_text(json.dumps({"name": "mine", "k": 0}))
    code, _, err = run_cli(["run", "--spec", str(spec_file), "--check", "--out", str(tmp_path)], capsys)
    assert code == 2 and "k must be" in err and "got k=0" in err
    code, _, err = run_cli(["run", "tiny", "--spec", str(spec_file), "--check", "--out", str(tmp_path)], capsys)
    assert code == 2 and "not both" in err
