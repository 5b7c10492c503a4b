"""Figures render from a tiny recorded run: axes labels, number of curves, non-empty PNG and PDF.

The run is written with the harness's own row writers (verify.rows.write_point / write_unit and the
spec's to_dict), from a deterministic fixture: values follow the shapes the theory predicts
(geometric dense decay, pruned loss above the dense loss, Lemma A bound from ebtheory.symbolic) so
the figures have something to show, but nothing here is a claimed result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ebtheory.symbolic import lemma_a_bound
from verify.rows import SPEC_FILE, write_json_atomic, write_point, write_unit
from verify.spec import ExperimentSpec

MS = (20, 40, 80, 160)
SEEDS = (0, 1, 2)
CHECKPOINTS = (0, 1, 3, 10, 30, 100)
K = 6
CLASSES = 3


def _metrics(loss_sum: float, m: int, acc: float) -> dict:
    return {"train_loss_sum": loss_sum, "train_loss_mean": loss_sum / m, "train_acc": acc,
            "test_acc": max(acc - 0.1, 0.0)}


def _gfs_entry(target: str, m: int, dense_loss: float, labels_loss: float, V: float, acc: float,
               eps: float) -> dict:
    """A GFS subnet entry whose per-step curve decreases to target_loss_sum, below Lemma A's bound."""
    null_loss = 0.5 * m if target == "labels" else 0.5 * m * 1.2
    bound = lemma_a_bound(dense_loss, V, K, eps)
    target_loss = min(labels_loss if target == "labels" else 2.0 * dense_loss + 0.01 * m, 0.9 * bound)
    curve = [target_loss + (null_loss - target_loss) / (j + 1) ** 1.5 for j in range(1, K + 1)]
    curve[-1] = target_loss
    return {
        "target": target,
        **_metrics(labels_loss if target == "dense" else target_loss, m, acc),
        "target_loss_sum": target_loss,
        "distinct": K - 1,
        "loss_curve_sum": curve,
        "finetuned": None,
        "lemma_a": {"bound": bound, "measured": target_loss, "held": True, "ratio": target_loss / bound,
                    "dense_loss_sum": dense_loss, "null_loss_sum": null_loss, "vacuous": bound >= null_loss},
    }


def _baseline_entry(m: int, loss: float, acc: float) -> dict:
    return {"target": "labels", **_metrics(loss, m, acc), "target_loss_sum": loss, "distinct": K,
            "loss_curve_sum": None, "finetuned": None, "lemma_a": None}


def write_fixture_run(run_dir: Path, model: str = "ntk", earlybird: bool = False) -> Path:
    """Write spec.json, points/ and units/ of a tiny deterministic run with verify.rows."""
    spec = ExperimentSpec(name="fixture", dataset="synthetic", ms=MS, seeds=SEEDS, checkpoints=CHECKPOINTS,
                          k=K, width=16, eta=0.05, model=model, batch_size=10 if model == "cnn" else 0,
                          optimizer="sgd" if model == "cnn" else "gd")
    write_json_atomic(run_dir / SPEC_FILE, spec.to_dict())
    two_layer = model != "cnn"
    for m in MS:
        for seed in SEEDS:
            rng = np.random.default_rng(1000 * m + seed)
            tau = 0.6 * math.log(m) ** 1.5 * (1 + 0.1 * rng.standard_normal())
            L0 = 0.5 * m * (1 + 0.5 * CLASSES) * (1 + 0.05 * rng.standard_normal())
            V0 = 0.5 * 16 * m * CLASSES * (1 + 0.05 * rng.standard_normal())
            lambda0 = 0.5 / math.sqrt(m) * (1 + 0.05 * rng.standard_normal())
            curve = [L0 * math.exp(-t / tau) + 1e-3 * m for t in range(max(CHECKPOINTS) + 1)]
            for t in CHECKPOINTS:
                dense = curve[t]
                acc = 0.3 + 0.65 * (1 - math.exp(-t / tau))
                V = V0 * (1 + 0.001 * t) if two_layer else None
                labels_loss = 0.6 * dense + 0.05 * m
                subnets = {
                    "magnitude": _baseline_entry(m, 1.5 * labels_loss, 0.8 * acc),
                    "random": _baseline_entry(m, 2.0 * labels_loss, 0.6 * acc),
                }
                if two_layer:
                    subnets["gfs_labels"] = _gfs_entry("labels", m, dense, labels_loss, V, acc, spec.eps)
                    subnets["gfs_dense"] = _gfs_entry("dense", m, 0.05 * dense, labels_loss, V, 0.95 * acc,
                                                      spec.eps)
                else:
                    subnets["gfs_labels"] = {**_baseline_entry(m, labels_loss, acc), "target": "labels"}
                write_point(run_dir, {
                    "m": m, "seed": seed, "t": t, "k": K, "width": 16 if two_layer else None,
                    "dense": _metrics(dense, m, min(acc + 0.05, 1.0)), "V": V, "subnets": subnets,
                })
            unit = {
                "m": m, "seed": seed, "checkpoints": list(CHECKPOINTS), "dense_loss_curve_sum": curve,
                "constants": {"lambda0": lambda0, "lambda_max": 0.3 * m, "V0": V0, "L0_sum": L0,
                              "y_norm2": float(m), "eta": spec.eta, "width": 16, "kappa": 1.0}
                if two_layer else None,
                "predicted": {
                    "fixed_eta": {"eta": spec.eta, "t_star": 40.0 * math.log(m), "t_star_upper": 45.0 * math.log(m),
                                  "tol": V0 / K, "c1": 2.0, "L0_bound": 10 * L0},
                    "du_eta": {"eta": lambda0 / m**2, "t_star": 8e4 * m**2.5, "t_star_upper": 9e4 * m**2.5,
                               "tol": V0 / K, "c1": 2.0, "L0_bound": 10 * L0},
                } if two_layer else None,
                "device": "cpu", "elapsed_s": 0.1,
            }
            if earlybird:
                n = len(CHECKPOINTS)
                dist = np.array([[min(abs(i - j) * 0.2 / (1 + min(i, j)), 1.0) for j in range(n)] for i in range(n)])
                unit["earlybird_distance_matrix"] = dist.tolist()
                unit["earlybird_checkpoints"] = list(CHECKPOINTS)
                unit["earlybird_detection_t"] = CHECKPOINTS[3] if m < 160 else None
            write_unit(run_dir, unit)
    return run_dir
