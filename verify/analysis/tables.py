"""Tables computed once from the rows of a run: Lemma A, baselines, accuracy, measured constants, Early-Bird.

Everything here is a mean over seeds (None when nothing was recorded, never NaN). Losses named
``*_mean`` are per example, ``*_sum`` are sum losses (docs/theory.md, section 1); times are
pre-training iterations unless a field says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ebtheory.symbolic import dense_rate_factor, lemma_a_bound
from ebtheory.verify.records import EarlyBirdSettings, PointRow, RunRecord, SubnetEntry, UnitRow

GFS_SUBNETS: tuple[str, ...] = ("gfs_labels", "gfs_dense")
BASELINE_SUBNETS: tuple[str, ...] = ("magnitude", "random")
TICKETS: tuple[str, ...] = ("earlybird", "gfs", "imp")


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """Mean of the finite, non-None values; None when there are none."""
    present = [float(v) for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(present)) if present else None


def _entry(point: PointRow, subnet: str) -> SubnetEntry | None:
    return point.subnets.get(subnet)


def subnets_recorded(run: RunRecord, names: Sequence[str]) -> tuple[str, ...]:
    """The names among `names` (in that order) that some point row records."""
    seen = {name for point in run.points for name in point.subnets}
    return tuple(name for name in names if name in seen)


# ------------------------------------------------------------------------------------------ Lemma A


@dataclass(frozen=True)
class LemmaASummary:
    """Lemma A over every point of one GFS target (proofs/lemma_a.md; sum loss)."""

    points: int
    held_everywhere: bool
    violations: int
    worst_ratio: float | None
    vacuous_points: int


def lemma_a_table(run: RunRecord) -> dict[str, LemmaASummary]:
    """Per GFS target: points checked, all held, worst measured/bound, points where the bound is vacuous."""
    out = {}
    for subnet in GFS_SUBNETS:
        checks = [e.lemma_a for p in run.points if (e := _entry(p, subnet)) and e.lemma_a]
        if not checks:
            continue
        ratios = [c.ratio for c in checks if c.ratio is not None]
        out[subnet] = LemmaASummary(
            points=len(checks),
            held_everywhere=all(c.held for c in checks),
            violations=sum(not c.held for c in checks),
            worst_ratio=max(ratios) if ratios else None,
            vacuous_points=sum(c.vacuous for c in checks),
        )
    return out


# ---------------------------------------------------------------------------------------- baselines


@dataclass(frozen=True)
class SubnetAtTMax:
    """One subnetwork at the longest pre-training: means over m and seeds, before and after fine-tuning."""

    train_loss_mean: float | None
    test_acc: float | None
    finetuned_train_loss_mean: float | None
    finetuned_test_acc: float | None


@dataclass(frozen=True)
class BaselineTable:
    """Subnetworks at equal k: means at t = t_max and how often GFS has the lower training loss."""

    t: int
    at_t_max: dict[str, SubnetAtTMax]
    gfs_lower_loss_fraction: dict[str, float]


def baseline_table(run: RunRecord) -> BaselineTable | None:
    """Means at the longest t; the fraction of (m, seed, t) points where each GFS beats each baseline."""
    if not run.points:
        return None
    t_max = max(run.spec.checkpoints)
    last = [p for p in run.points if p.t == t_max]
    names = subnets_recorded(run, (*GFS_SUBNETS, *BASELINE_SUBNETS))
    at_t_max = {}
    for name in names:
        entries = [e for p in last if (e := _entry(p, name))]
        tuned = [e.finetuned for e in entries if e.finetuned]
        at_t_max[name] = SubnetAtTMax(
            train_loss_mean=mean_or_none([e.train_loss_mean for e in entries]),
            test_acc=mean_or_none([e.test_acc for e in entries]),
            finetuned_train_loss_mean=mean_or_none([e.train_loss_mean for e in tuned]),
            finetuned_test_acc=mean_or_none([e.test_acc for e in tuned]),
        )
    wins = {}
    for gfs in (n for n in names if n in GFS_SUBNETS):
        for base in (n for n in names if n in BASELINE_SUBNETS):
            pairs = [(a, b) for p in run.points if (a := _entry(p, gfs)) and (b := _entry(p, base))]
            if pairs:
                wins[f"{gfs}<{base}"] = sum(a.train_loss_mean < b.train_loss_mean for a, b in pairs) / len(pairs)
    return BaselineTable(t=t_max, at_t_max=at_t_max, gfs_lower_loss_fraction=wins)


# ----------------------------------------------------------------------------------------- accuracy


@dataclass(frozen=True)
class AccuracyRow:
    """Per m at the longest t: dense and pruned accuracies (seed means); `values` keyed by column name."""

    m: int
    values: dict[str, float | None]


def accuracy_table(run: RunRecord) -> tuple[AccuracyRow, ...]:
    """Dense train/test accuracy and each GFS target's test accuracy (and after fine-tuning) per m."""
    t_max = max(run.spec.checkpoints)
    rows = []
    for m in run.ms:
        last = [p for p in run.points_for(m=m) if p.t == t_max]
        if not last:
            continue
        values: dict[str, float | None] = {
            "dense_train_acc": mean_or_none([p.dense.train_acc for p in last]),
            "dense_test_acc": mean_or_none([p.dense.test_acc for p in last]),
        }
        for subnet in GFS_SUBNETS:
            entries = [e for p in last if (e := _entry(p, subnet))]
            if entries:
                values[f"{subnet}_test_acc"] = mean_or_none([e.test_acc for e in entries])
                values[f"{subnet}_finetuned_test_acc"] = mean_or_none(
                    [e.finetuned.test_acc for e in entries if e.finetuned]
                )
        rows.append(AccuracyRow(m=m, values=values))
    return tuple(rows)


# ---------------------------------------------------------------------------------------- constants


def effective_contraction(losses: Sequence[float | None]) -> float | None:
    """1 - (L(T)/L(0))^(1/T) over a dense loss curve losses[t], t = 0..T: the smallest per-iteration
    factor with L(T) <= factor^T L(0); None when undefined (fewer than 2 values, L(0) <= 0, a gap)."""
    if len(losses) < 2 or any(v is None for v in losses):
        return None
    first, last = float(losses[0]), float(losses[-1])  # type: ignore[arg-type]
    if not first > 0 or last < 0:
        return None
    return 1.0 - (last / first) ** (1.0 / (len(losses) - 1))


def predicted_contraction(eta: float, lambda0: float) -> float | None:
    """eta lambda0 / 2 = 1 - dense_rate_factor (Du et al. 2019, Thm 4.1; ebtheory.symbolic), or None
    where the rate is undefined (eta lambda0 outside (0, 2))."""
    try:
        return 1.0 - dense_rate_factor(eta, lambda0)
    except ValueError:
        return None


@dataclass(frozen=True)
class ConstantsRow:
    """The bound's measured constants of one two-layer unit (UnitConstants) and the contraction rates."""

    m: int
    seed: int
    lambda0: float | None  # None: not measured (m above the H_inf spectrum cap)
    rate_predicted: float | None
    rate_measured: float | None
    V0: float
    V_last: float | None


def constants_table(run: RunRecord) -> tuple[ConstantsRow, ...]:
    """One row per unit that recorded constants (two-layer)."""
    last_point = {(p.m, p.seed): p for p in run.points}  # points are sorted by t
    rows = []
    for unit in run.units:
        constants = unit.constants
        if constants is None:
            continue
        point = last_point.get((unit.m, unit.seed))
        rows.append(
            ConstantsRow(
                m=unit.m,
                seed=unit.seed,
                lambda0=constants.lambda0,
                rate_predicted=None
                if constants.lambda0 is None
                else predicted_contraction(constants.eta, constants.lambda0),
                rate_measured=effective_contraction(list(unit.dense_loss_curve or [])),
                V0=constants.V0,
                V_last=None if point is None else point.V,
            )
        )
    return tuple(rows)


# --------------------------------------------------------------------------------------- Early-Bird

EARLYBIRD_READING = (
    "How to read it: EB t is when the pruning mask stopped moving (You et al.'s rule on the mask times: "
    "spec.earlybird_masks evenly spaced iterations, or the checkpoint grid); t* is the theory's sufficient "
    "pre-training for GFS (fixed eta) and t_hat* where the GFS pruned loss reached its plateau; EB t well "
    "below t_hat* says the mask settles before the subnetwork is good. The ticket columns compare "
    "subnetworks with the same neurons n (IMP: the same n*d input weights) and the same total iterations "
    "t_EB + F: the EB mask and GFS from the checkpoint t_EB, each fine-tuned F steps, and IMP rewound to "
    "t = 0 and retrained within that budget. Detection at the earliest possible t (the window's first full "
    "mask time) means the masks hardly moved across the window; read 'EB-final dist' (normalised Hamming "
    "distance between the detected mask and the mask at the longest t; 2p(1-p) for unrelated random "
    "masks): a large value says the detected mask is not the one the training ends with."
)


@dataclass(frozen=True)
class EarlyBirdRow:
    """Per m (iterations): detection, predicted t* (fixed eta), t_hat* (a) of gfs_labels, tickets."""

    m: int
    seeds: int
    detected: int
    at_earliest: int
    earlybird_t: float | None
    t_star_fixed_eta: float | None
    t_hat_relative: float | None
    budget_iterations: float | None
    neurons: float | None
    distance_to_final: float | None
    ticket_train_acc: dict[str, float | None]
    ticket_test_acc: dict[str, float | None]


@dataclass(frozen=True)
class EarlyBirdTable:
    """The Early-Bird section: detector settings, per-m rows, and how to read them."""

    window: int
    earliest_t: int | None
    mask_times: str
    settings: EarlyBirdSettings
    per_m: tuple[EarlyBirdRow, ...]
    reading: str = EARLYBIRD_READING


def _distance_to_final(unit: UnitRow) -> float | None:
    """Mask distance between the detected mask and the mask at the longest t (None if not detected)."""
    index = None if unit.earlybird is None else unit.earlybird.detection_index
    matrix = unit.earlybird_distance_matrix
    return None if index is None or matrix is None else float(matrix[index][-1])


def earlybird_table(
    run: RunRecord, t_star_fixed_eta: dict[int, float | None], t_hat_relative: dict[int, float | None]
) -> EarlyBirdTable | None:
    """Per m: EB detection t (seeds that detected), the given t* and t_hat* (iterations), ticket accuracies.

    None when no unit recorded Early-Bird settings.
    """
    units = [u for u in run.units if u.earlybird is not None]
    if not units:
        return None
    settings = units[0].earlybird
    assert settings is not None
    window = settings.window
    mask_times = list(units[0].earlybird_checkpoints or run.spec.checkpoints)
    earliest = mask_times[window - 1] if window <= len(mask_times) else None
    rows = []
    for m in sorted({u.m for u in units}):
        group = [u for u in units if u.m == m]
        detections = [u.earlybird_detection_t for u in group if u.earlybird_detection_t is not None]
        tickets = [u.tickets for u in group if u.tickets]
        rows.append(
            EarlyBirdRow(
                m=m,
                seeds=len(group),
                detected=len(detections),
                at_earliest=sum(d == earliest for d in detections),
                earlybird_t=mean_or_none(detections),
                t_star_fixed_eta=t_star_fixed_eta.get(m),
                t_hat_relative=t_hat_relative.get(m),
                budget_iterations=mean_or_none([t.budget_iterations for t in tickets]),
                neurons=mean_or_none([t.earlybird.neurons for t in tickets]),
                distance_to_final=mean_or_none([_distance_to_final(u) for u in group]),
                ticket_train_acc={n: mean_or_none([getattr(t, n).train_acc for t in tickets]) for n in TICKETS},
                ticket_test_acc={n: mean_or_none([getattr(t, n).test_acc for t in tickets]) for n in TICKETS},
            )
        )
    spacing = "checkpoint grid" if mask_times == list(run.spec.checkpoints) else f"{len(mask_times)} evenly spaced"
    return EarlyBirdTable(window=window, earliest_t=earliest, mask_times=spacing, settings=settings, per_m=tuple(rows))


# ------------------------------------------------------------------------------- loss against k


@dataclass(frozen=True)
class LossVsKCurve:
    """GFS target loss after j = 1..k steps at one (target, m, t): mean over seeds and +-1 sd, with
    the Lemma A bound c1(j) L(u) + V/(2(1-eps)j) at the recorded dense loss and V (mean over seeds;
    ebtheory.symbolic.lemma_a_bound; proofs/lemma_a.md) and the loss of the empty selection."""

    target: str
    m: int
    t: int
    measured_mean: tuple[float, ...]
    measured_low: tuple[float, ...]
    measured_high: tuple[float, ...]
    bound: tuple[float, ...] | None
    null_loss: float | None


@dataclass(frozen=True)
class LossVsK:
    """Figure (c)'s data: the largest m with per-step GFS losses, at the first, middle and last checkpoint."""

    m: int
    eps: float
    curves: tuple[LossVsKCurve, ...]


def _band(curves: list[np.ndarray]) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    length = min(len(c) for c in curves)
    stack = np.stack([c[:length] for c in curves])
    mean = stack.mean(axis=0)
    sd = stack.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(length)
    return tuple(mean.tolist()), tuple((mean - sd).tolist()), tuple((mean + sd).tolist())


def loss_vs_k(run: RunRecord) -> LossVsK | None:
    """Per GFS target with per-step losses, at the largest such m and three checkpoints; None if none."""
    targets = [s for s in GFS_SUBNETS if any((e := _entry(p, s)) and e.loss_curve_sum for p in run.points)]
    if not targets:
        return None
    m = max(p.m for p in run.points if any((e := _entry(p, s)) and e.loss_curve_sum for s in targets))
    ts = sorted({p.t for p in run.points_for(m=m)})
    chosen = sorted({ts[0], ts[len(ts) // 2], ts[-1]})
    eps = run.spec.eps
    curves = []
    for target in targets:
        for t in chosen:
            rows = [p for p in run.points_for(m=m) if p.t == t and (e := _entry(p, target)) and e.loss_curve_sum]
            if not rows:
                continue
            entries = [p.subnets[target] for p in rows]
            measured = [np.asarray(e.loss_curve_sum, dtype=float) for e in entries]
            mean, low, high = _band(measured)
            bounds = [
                np.array([lemma_a_bound(e.lemma_a.dense_loss_sum, p.V, j, eps) for j in range(1, len(mean) + 1)])
                for p, e in zip(rows, entries)
                if e.lemma_a is not None and p.V is not None
            ]
            nulls = [e.lemma_a.null_loss_sum for e in entries if e.lemma_a is not None]
            curves.append(
                LossVsKCurve(
                    target=target,
                    m=m,
                    t=t,
                    measured_mean=mean,
                    measured_low=low,
                    measured_high=high,
                    bound=_band(bounds)[0] if bounds else None,
                    null_loss=mean_or_none(nulls),
                )
            )
    return LossVsK(m=m, eps=eps, curves=tuple(curves))
