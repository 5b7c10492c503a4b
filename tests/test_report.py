"""The verdict report on planted rows, the `ebtheory report` command, and the unit's Lemma A check."""

from __future__ import annotations

import json
import math

import pytest

from ebtheory.cli import main
from ebtheory.verify import rows
from ebtheory.verify.report import build_report, format_report, report_is_finite
from ebtheory.verify.spec import ExperimentSpec
from ebtheory.verify.threshold import threshold_relative
from ebtheory.verify.unit import lemma_a_check

MS = (100, 200, 400, 800)
SPEC = ExperimentSpec(name="planted", ms=MS, checkpoints=tuple(range(0, 1001, 50)), rel_tol=0.05)


def _curve(m: int, seed: int, t: int) -> float:
    # Pruned loss plateau + A exp(-t / tau) with tau growing like ln m: t_hat* grows with ln m.
    tau = 20.0 * math.log(m) + seed
    return 0.1 + 0.5 * math.exp(-t / tau)


def _subnet(loss: float, ratio: float | None, held: bool = True) -> dict:
    lemma = (
        None
        if ratio is None
        else {
            "bound": 1.0,
            "measured": ratio,
            "held": held,
            "ratio": ratio,
            "dense_loss_sum": 0.1,
            "null_loss_sum": 0.5,
            "vacuous": ratio < 0.5,
        }
    )
    return {
        "target": "labels",
        "train_loss_sum": loss * 10,
        "train_loss_mean": loss,
        "train_acc": 1 - loss,
        "test_acc": 0.9 - loss,
        "target_loss_sum": loss * 10,
        "distinct": 3,
        "loss_curve_sum": None,
        "lemma_a": lemma,
        "finetuned": {"train_loss_sum": 1.0, "train_loss_mean": 0.05, "train_acc": 1.0, "test_acc": 0.95},
    }


def _planted_run(tmp_path, held_everywhere: bool = True, spec: ExperimentSpec = SPEC):
    rows.write_json_atomic(tmp_path / rows.SPEC_FILE, spec.to_dict())
    for m in spec.ms:
        for seed in spec.seeds:
            for i, t in enumerate(spec.checkpoints):
                loss = _curve(m, seed, t)
                ratio = 0.2 + 0.01 * i
                subnets = {
                    "gfs_labels": _subnet(loss, ratio, held_everywhere or (m, seed, t) != (200, 1, 50)),
                    "random": _subnet(loss + 0.3, None),
                }
                rows.write_point(
                    tmp_path,
                    {
                        "m": m,
                        "seed": seed,
                        "t": t,
                        "k": 4,
                        "V": 1.0,
                        "dense": {"train_loss_sum": 1.0, "train_loss_mean": 0.01, "train_acc": 0.99, "test_acc": 0.9},
                        "subnets": subnets,
                    },
                )
            rows.write_unit(
                tmp_path,
                {"m": m, "seed": seed, "predicted": {"fixed_eta": {"t_star": 50.0 * math.log(m)}, "du_eta": None}},
            )
    return rows.load_run(tmp_path)


def test_report_recovers_planted_thresholds_and_lemma_a_verdict(tmp_path):
    report = build_report(_planted_run(tmp_path))
    assert report["complete"] and report["points"] == 4 * 3 * 21
    lemma = report["lemma_a"]["gfs_labels"]
    assert lemma["held_everywhere"] and lemma["violations"] == 0
    assert lemma["worst_ratio"] == pytest.approx(0.2 + 0.01 * 20)
    assert lemma["vacuous_points"] == 4 * 3 * 21  # every planted ratio < 0.5 is marked vacuous
    relative = report["thresholds"]["gfs_labels/relative"]
    for row in relative["per_m"]:
        expected = [
            threshold_relative(SPEC.checkpoints, [_curve(row["m"], s, t) for t in SPEC.checkpoints], 0.05)
            for s in SPEC.seeds
        ]
        assert row["t_hat"] == pytest.approx(sum(expected) / 3)
        assert row["t_star_fixed_eta"] == pytest.approx(50.0 * math.log(row["m"]))
        assert row["ratio_fixed_eta"] == pytest.approx(row["t_star_fixed_eta"] / row["t_hat"])
        assert row["t_star_du_eta"] is None
    assert relative["fit"]["beta"] > 0 and relative["fit"]["beta_positive"]
    assert report["baselines"]["gfs_lower_loss_fraction"]["gfs_labels<random"] == 1.0
    assert report_is_finite(report)
    text = format_report(report)
    assert "held everywhere" in text and "beta > 0: yes" in text and "INCOMPLETE" not in text


def test_report_flags_a_violation_and_an_incomplete_run(tmp_path):
    run = _planted_run(tmp_path, held_everywhere=False)
    (tmp_path / rows.UNITS_DIR / rows.unit_filename(800, 2)).unlink()
    (tmp_path / rows.POINTS_DIR / rows.point_filename(800, 2, 1000)).unlink()
    report = build_report(rows.load_run(tmp_path))
    assert not report["lemma_a"]["gfs_labels"]["held_everywhere"]
    assert report["lemma_a"]["gfs_labels"]["violations"] == 1
    assert not report["complete"] and "INCOMPLETE" in format_report(report)
    per_m = {r["m"]: r for r in report["thresholds"]["gfs_labels/relative"]["per_m"]}
    assert per_m[800]["seeds"] == 2  # the partial cell has no plateau yet: left out, not guessed
    assert run.spec["hash"] == SPEC.hash


def test_cnn_report_says_only_the_empirical_part_applies(tmp_path):
    spec = ExperimentSpec(name="c", model="cnn", ms=MS, checkpoints=(0, 10, 100), targets=("labels",), baselines=())
    report = build_report(_planted_run(tmp_path, spec=spec))
    assert report["lemma_a"] == {} and "THEORY.md 5.6" in format_report(report)


def test_report_command_prints_table_and_json(tmp_path, capsys):
    _planted_run(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    assert "Lemma A" in capsys.readouterr().out
    assert main(["report", str(tmp_path), "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["hash"] == SPEC.hash and parsed["lemma_a"]["gfs_labels"]["held_everywhere"]
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize("dense_loss, spread, k, eps", [(0.0, 3.0, 5, 0.5), (2.0, 10.0, 1, 0.3), (1.5, 0.0, 7, 0.9)])
def test_lemma_a_check_against_the_formula(dense_loss, spread, k, eps):
    bound = dense_loss / (eps * (2 - eps)) + (dense_loss + spread / 2) / ((1 - eps) * k)
    inside = lemma_a_check(dense_loss, spread, k, eps, measured=0.5 * bound, null_loss=10 * bound + 1)
    assert inside["bound"] == pytest.approx(bound) and inside["held"] and not inside["vacuous"]
    assert inside["ratio"] == pytest.approx(0.5) if bound > 0 else inside["ratio"] is None
    outside = lemma_a_check(dense_loss, spread, k, eps, measured=1.01 * bound + 1e-6, null_loss=0.5 * bound)
    assert not outside["held"] and outside["vacuous"]


def test_thresholds_at_the_last_checkpoint_are_flagged_as_censored(tmp_path):
    # Checkpoints stop at 100 while the planted curves decay with tau >= 92: no plateau for the
    # largest m within the grid, so (a) lands on t_max for them and the report must say so.
    short = ExperimentSpec(name="short", ms=MS, checkpoints=tuple(range(0, 101, 10)), rel_tol=0.05)
    report = build_report(_planted_run(tmp_path, spec=short))
    relative = report["thresholds"]["gfs_labels/relative"]
    expected = sum(
        threshold_relative(short.checkpoints, [_curve(m, s, t) for t in short.checkpoints], 0.05) == 100
        for m in MS
        for s in short.seeds
    )
    assert expected > 0 and relative["censored"] == expected and relative["t_max"] == 100
    assert sum(row["at_t_max"] for row in relative["per_m"]) == expected
    assert "censored" in format_report(report)
