"""The verdict of a recorded run, read from its rows only (ebtheory.verify.rows.load_run).

build_report(run) -> a JSON-able dict; format_report(report) -> the printed table. Sections:
- lemma_a: per GFS target, whether Lemma A's bound held at every point, the worst ratio
  measured / bound, and how many points had a vacuous bound (bound >= the loss at k = 0).
- thresholds: per GFS target and definition ((a) relative, (b) absolute; THEORY.md 5.5) the fit
  t_hat* = alpha + beta ln m with its bootstrap CI and whether beta > 0, and per m the mean
  empirical t_hat*, the mean predicted t* in both step-size regimes (THEORY.md 5.2: "fixed_eta" as
  run, "du_eta" = lambda0/m^2, prediction only) and the ratio predicted / empirical.
- baselines: at the longest pre-training t, per subnetwork the mean (over m and seeds) of the
  pruned training loss (per example) and test accuracy, before and after fine-tuning, and the
  fraction of (m, seed, t) points where GFS has lower training loss than each baseline at equal k.
- accuracy: per m at the longest t, dense and pruned train/test accuracies (means over seeds).
- earlybird: per m, three rules side by side, all in pre-training iterations (the checkpoints play
  the role of epochs): the Early-Bird detection t (mean over the seeds that detected), the predicted
  t* (fixed eta) and the empirical t_hat* (definition (a), GFS on the labels); then the train and
  test accuracy of the three tickets of equal size and budget t_EB + F (ebtheory.verify.rows: "tickets").
For the CNN only the empirical part applies (THEORY.md 5.6) and the report says so.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from ebtheory.verify.records import PointRow, RunRecord, SubnetEntry, UnitRow
from ebtheory.verify.threshold import DEFINITIONS, empirical_thresholds, fit_log_m

GFS_SUBNETS = ("gfs_labels", "gfs_dense")
BASELINE_SUBNETS = ("magnitude", "random")
FIT_SEED = 0
CNN_NOTE = "CNN: only the empirical part applies (THEORY.md 5.6); Lemma A and t* are two-layer results."


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _entry(point: PointRow, subnet: str) -> SubnetEntry | None:
    return point.subnets.get(subnet)


def lemma_a_verdict(run: RunRecord) -> dict[str, dict]:
    """Per GFS subnet: points checked, all held, worst measured/bound ratio, vacuous count."""
    out = {}
    for subnet in GFS_SUBNETS:
        checks = [e.lemma_a for p in run.points if (e := _entry(p, subnet)) and e.lemma_a]
        if not checks:
            continue
        ratios = [c.ratio for c in checks if c.ratio is not None]
        out[subnet] = {
            "points": len(checks),
            "held_everywhere": all(c.held for c in checks),
            "violations": sum(not c.held for c in checks),
            "worst_ratio": max(ratios) if ratios else None,
            "vacuous_points": sum(c.vacuous for c in checks),
        }
    return out


def _predicted_per_m(run: RunRecord, regime: str) -> dict[int, float | None]:
    per_m: dict[int, list[float | None]] = {}
    for unit in run.units:
        regime_values = (unit.predicted or {}).get(regime)
        per_m.setdefault(unit.m, []).append(None if regime_values is None else regime_values.t_star)
    return {m: _mean(values) for m, values in per_m.items()}


def threshold_verdict(run: RunRecord) -> dict[str, dict]:
    """Per GFS subnet and definition: the log-m fit and the per-m empirical vs predicted t*."""
    predicted = {regime: _predicted_per_m(run, regime) for regime in ("fixed_eta", "du_eta")}
    t_max = max(run.spec.checkpoints)
    out: dict[str, dict] = {}
    for subnet in GFS_SUBNETS:
        if not any(_entry(p, subnet) for p in run.points):
            continue
        for definition in DEFINITIONS:
            thresholds = empirical_thresholds(run, subnet, definition)
            fit = fit_log_m(thresholds, seed=FIT_SEED)
            per_m = []
            for m, values in sorted(thresholds.items()):
                empirical = _mean(values)
                row: dict[str, Any] = {
                    "m": m,
                    "t_hat": empirical,
                    "reached": sum(v is not None for v in values),
                    "seeds": len(values),
                    # t_hat* at the longest pre-training: censored, the loss was still
                    # falling (a) or first got there (b) at the grid's end
                    "at_t_max": sum(v == t_max for v in values if v is not None),
                }
                for regime, values_by_m in predicted.items():
                    t_star = values_by_m.get(m)
                    row[f"t_star_{regime}"] = t_star
                    row[f"ratio_{regime}"] = t_star / empirical if t_star is not None and empirical else None
                per_m.append(row)
            censored = sum(row["at_t_max"] for row in per_m)
            out[f"{subnet}/{definition}"] = {
                "fit": None if fit is None else fit.to_dict(),
                "per_m": per_m,
                "censored": censored,
                "t_max": t_max,
            }
    return out


def baseline_verdict(run: RunRecord) -> dict[str, Any]:
    """Subnetworks at equal k: means at the longest t, and GFS-beats-baseline fractions over all points."""
    t_max = max(run.spec.checkpoints)
    last = [p for p in run.points if p.t == t_max]
    names = [n for n in (*GFS_SUBNETS, *BASELINE_SUBNETS) if any(_entry(p, n) for p in run.points)]
    at_t_max = {}
    for name in names:
        entries = [e for p in last if (e := _entry(p, name))]
        tuned = [e.finetuned for e in entries if e.finetuned]
        at_t_max[name] = {
            "train_loss_mean": _mean([e.train_loss_mean for e in entries]),
            "test_acc": _mean([e.test_acc for e in entries]),
            "finetuned_train_loss_mean": _mean([e.train_loss_mean for e in tuned]),
            "finetuned_test_acc": _mean([e.test_acc for e in tuned]),
        }
    wins = {}
    for gfs in (n for n in names if n in GFS_SUBNETS):
        for base in (n for n in names if n in BASELINE_SUBNETS):
            pairs = [(a, b) for p in run.points if (a := _entry(p, gfs)) and (b := _entry(p, base))]
            if pairs:
                wins[f"{gfs}<{base}"] = sum(a.train_loss_mean < b.train_loss_mean for a, b in pairs) / len(pairs)
    return {"t": t_max, "at_t_max": at_t_max, "gfs_lower_loss_fraction": wins}


def accuracy_table(run: RunRecord) -> list[dict]:
    """Per m at the longest t: dense and pruned (GFS, both targets) train/test accuracy, seed means."""
    t_max = max(run.spec.checkpoints)
    table = []
    for m in run.ms:
        last = [p for p in run.points_for(m=m) if p.t == t_max]
        if not last:
            continue
        row: dict[str, Any] = {
            "m": m,
            "dense_train_acc": _mean([p.dense.train_acc for p in last]),
            "dense_test_acc": _mean([p.dense.test_acc for p in last]),
        }
        for subnet in GFS_SUBNETS:
            entries = [e for p in last if (e := _entry(p, subnet))]
            if entries:
                row[f"{subnet}_test_acc"] = _mean([e.test_acc for e in entries])
                tuned = [e.finetuned.test_acc for e in entries if e.finetuned]
                row[f"{subnet}_finetuned_test_acc"] = _mean(tuned)
        table.append(row)
    return table


TICKETS = ("earlybird", "gfs", "imp")
EARLYBIRD_READING = (
    "How to read it: EB t is when the pruning mask stopped moving (You et al.'s rule on the mask times: "
    "spec.earlybird_masks evenly spaced iterations, or the checkpoint grid); t* is the theory's sufficient pre-training for GFS (fixed eta) and t_hat* where the GFS "
    "pruned loss reached its plateau; EB t well below t_hat* says the mask settles before the "
    "subnetwork is good. The ticket columns compare subnetworks with the same neurons n (IMP: the "
    "same n*d input weights) and the same total iterations t_EB + F: the EB mask and GFS from the "
    "checkpoint t_EB, each fine-tuned F steps, and IMP rewound to t = 0 and retrained within that "
    "budget. Detection at the earliest possible t (the window's first full mask time) means the "
    "masks hardly moved across the window; on a log-spaced grid those first times are only a "
    "few iterations apart, so read 'EB-final dist' (normalised Hamming distance between the detected "
    "mask and the mask at the longest t; 2p(1-p) for unrelated random masks): a large value says the "
    "detected mask is not the one the training ends with."
)


def _distance_to_final(unit: UnitRow) -> float | None:
    """Mask distance between the detected mask and the mask at the longest t (None if not detected)."""
    index = None if unit.earlybird is None else unit.earlybird.detection_index
    matrix = unit.earlybird_distance_matrix
    return None if index is None or matrix is None else float(matrix[index][-1])


def earlybird_verdict(run: RunRecord) -> dict[str, Any] | None:
    """Per m: EB detection t, predicted t* (fixed eta), t_hat* (a) of gfs_labels, ticket accuracies.

    None when no unit recorded Early-Bird fields. Means over seeds; EB t over the seeds that detected.
    """
    units = [u for u in run.units if u.earlybird is not None]
    if not units:
        return None
    settings = units[0].earlybird
    assert settings is not None
    window = settings.window
    mask_times = list(units[0].earlybird_checkpoints or run.spec.checkpoints)
    earliest = mask_times[window - 1] if window <= len(mask_times) else None
    predicted = _predicted_per_m(run, "fixed_eta")
    has_gfs = any(_entry(p, "gfs_labels") for p in run.points)
    t_hat = empirical_thresholds(run, "gfs_labels", "relative") if has_gfs else {}
    per_m = []
    for m in sorted({u.m for u in units}):
        group = [u for u in units if u.m == m]
        detections = [u.earlybird_detection_t for u in group if u.earlybird_detection_t is not None]
        tickets = [u.tickets for u in group if u.tickets]
        row: dict[str, Any] = {
            "m": m,
            "seeds": len(group),
            "detected": len(detections),
            "at_earliest": sum(d == earliest for d in detections),
            "earlybird_t": _mean(detections),
            "t_star_fixed_eta": predicted.get(m),
            "t_hat_relative": _mean(t_hat.get(m, [])),
            "budget_iterations": _mean([t.budget_iterations for t in tickets]),
            "neurons": _mean([t.earlybird.neurons for t in tickets]),
            "distance_to_final": _mean([_distance_to_final(u) for u in group]),
        }
        for name in TICKETS:
            for metric in ("train_acc", "test_acc"):
                row[f"{name}_{metric}"] = _mean([getattr(getattr(t, name), metric) for t in tickets])
        per_m.append(row)
    spacing = "checkpoint grid" if mask_times == list(run.spec.checkpoints) else (f"{len(mask_times)} evenly spaced")
    return {
        "window": window,
        "earliest_t": earliest,
        "mask_times": spacing,
        "settings": dataclasses.asdict(settings),
        "per_m": per_m,
        "reading": EARLYBIRD_READING,
    }


def build_report(run: RunRecord) -> dict[str, Any]:
    """The whole verdict as a JSON-able dict (see the module docstring)."""
    spec = run.spec
    expected_units = len(spec.ms) * len(spec.seeds)
    is_cnn = spec.model == "cnn"
    return {
        "run_dir": str(run.run_dir),
        "name": spec.name,
        "hash": spec.hash,
        "model": spec.model,
        "dataset": spec.dataset,
        "k": spec.k,
        "units_finished": len(run.units),
        "units_expected": expected_units,
        "points": len(run.points),
        "points_expected": expected_units * len(spec.checkpoints),
        "complete": len(run.units) == expected_units,
        "note": CNN_NOTE if is_cnn else None,
        "lemma_a": {} if is_cnn else lemma_a_verdict(run),
        "thresholds": threshold_verdict(run),
        "baselines": baseline_verdict(run) if run.points else None,
        "accuracy": accuracy_table(run),
        "earlybird": earlybird_verdict(run),
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}" if abs(value) >= 1 else f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], body: list[list[Any]]) -> list[str]:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in body]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]


def format_report(report: dict[str, Any]) -> str:
    """The verdict table printed by `ebtheory report` and after `ebtheory run`."""
    lines = [
        f"run {report['name']} ({report['hash']}): {report['model']} on {report['dataset']}, k = {report['k']}",
        f"units {report['units_finished']}/{report['units_expected']}, points {report['points']}/"
        f"{report['points_expected']}" + ("" if report["complete"] else "  (INCOMPLETE: rerun to resume)"),
    ]
    if report["note"]:
        lines.append(report["note"])
    if report["lemma_a"]:
        lines += ["", "Lemma A (sum loss, bound at the measured L(u) and V at each t):"]
        lines += _table(
            ["target", "points", "held everywhere", "violations", "worst measured/bound", "vacuous points"],
            [
                [
                    name,
                    v["points"],
                    v["held_everywhere"],
                    v["violations"],
                    v["worst_ratio"],
                    f"{v['vacuous_points']}/{v['points']}",
                ]
                for name, v in report["lemma_a"].items()
            ],
        )
    for key, value in report["thresholds"].items():
        fit = value["fit"]
        lines += [
            "",
            f"threshold {key}: "
            + (
                "no fit (fewer than two m reached it)"
                if fit is None
                else f"t_hat* = {_fmt(fit['alpha'])} + {_fmt(fit['beta'])} ln m, "
                f"{int(fit['level'] * 100)}% CI on beta [{_fmt(fit['beta_low'])}, {_fmt(fit['beta_high'])}], "
                f"beta > 0: {_fmt(fit['beta_positive'])}"
            ),
        ]
        if value.get("censored"):
            lines.append(
                f"  caution: {value['censored']} (m, seed) thresholds sit at the last checkpoint "
                f"t = {value['t_max']}: censored (no plateau within the grid), the fit is not reliable"
            )
        lines += _table(
            [
                "m",
                "reached",
                "at t_max",
                "t_hat* (iters)",
                "t* fixed eta",
                "pred/emp",
                "t* eta=lambda0/m^2",
                "pred/emp",
            ],
            [
                [
                    r["m"],
                    f"{r['reached']}/{r['seeds']}",
                    r.get("at_t_max", 0),
                    r["t_hat"],
                    r["t_star_fixed_eta"],
                    r["ratio_fixed_eta"],
                    r["t_star_du_eta"],
                    r["ratio_du_eta"],
                ]
                for r in value["per_m"]
            ],
        )
    if report["baselines"]:
        base = report["baselines"]
        lines += ["", f"subnetworks at equal k, longest pre-training t = {base['t']} (means over m and seeds):"]
        lines += _table(
            ["subnet", "train L/m", "test acc", "tuned L/m", "tuned test acc"],
            [
                [n, v["train_loss_mean"], v["test_acc"], v["finetuned_train_loss_mean"], v["finetuned_test_acc"]]
                for n, v in base["at_t_max"].items()
            ],
        )
        for pair, fraction in base["gfs_lower_loss_fraction"].items():
            lines.append(f"  {pair.replace('<', ' has lower training loss than ')}: {fraction:.0%} of points")
    if report["accuracy"]:
        keys = [k for k in report["accuracy"][0] if k != "m"]
        lines += ["", "accuracy at the longest t (means over seeds):"]
        lines += _table(["m", *keys], [[r["m"], *[r.get(k) for k in keys]] for r in report["accuracy"]])
    if report.get("earlybird"):
        lines += ["", *_earlybird_lines(report["earlybird"])]
    return "\n".join(lines)


def _earlybird_lines(eb: dict[str, Any]) -> list[str]:
    settings = eb["settings"]
    lines = [
        f"Early-Bird vs the pre-training threshold (iterations; the mask times play the role of epochs: "
        f"{eb['mask_times']}; {settings['score']} masks at p = {_fmt(settings['ratio'])}, window {eb['window']}, "
        f"eps {_fmt(settings['eps'])}, {settings['compare']}; earliest possible detection t = {_fmt(eb['earliest_t'])}):"
    ]
    lines += _table(
        [
            "m",
            "detected",
            "at earliest",
            "EB t",
            "t* fixed eta",
            "t_hat* (a)",
            "EB-final dist",
            "budget t_EB+F",
            "neurons n",
            "EB train",
            "GFS train",
            "IMP train",
            "EB test",
            "GFS test",
            "IMP test",
        ],
        [
            [
                r["m"],
                f"{r['detected']}/{r['seeds']}",
                r["at_earliest"],
                r["earlybird_t"],
                r["t_star_fixed_eta"],
                r["t_hat_relative"],
                r["distance_to_final"],
                r["budget_iterations"],
                r["neurons"],
                *[r[f"{name}_train_acc"] for name in TICKETS],
                *[r[f"{name}_test_acc"] for name in TICKETS],
            ]
            for r in eb["per_m"]
        ],
    )
    if settings.get("tickets_skipped") and all(r["budget_iterations"] is None for r in eb["per_m"]):
        lines.append(f"  tickets: none ({settings['tickets_skipped']})")
    lines += textwrap.wrap(eb["reading"], width=110)
    return lines


def report_is_finite(report: Any) -> bool:
    """True when no float in the report is NaN or inf (the report never prints silent NaN)."""
    if isinstance(report, float):
        return math.isfinite(report)
    if isinstance(report, dict):
        return all(report_is_finite(v) for v in report.values())
    if isinstance(report, list):
        return all(report_is_finite(v) for v in report)
    return True
