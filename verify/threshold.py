"""Empirical pre-training threshold t_hat*(m) and its fit t_hat* = alpha + beta ln m (THEORY.md 5.5).

Two definitions of t_hat* on a checkpoint grid t_0 < t_1 < ... < t_T (iterations) with pruned
training losses L(t_j) (whatever loss the caller passes: sum or per-example, see spec.threshold_loss):

(a) relative: the first t_j with L(t_j) <= (1 + rel_tol) * L(t_T), the plateau at the longest
    pre-training. One-sided: a loss below the plateau counts as reached. Always defined.
(b) absolute: the first t_j with L(t_j) <= abs_tol; None when the grid never gets there.

The fit is ordinary least squares of t_hat* on ln m over all (m, seed) pairs that have a threshold;
the confidence interval on beta is a percentile bootstrap that resamples seeds within each m
(so every bootstrap sample keeps every m), with an explicit seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def _checked_curve(ts: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(ts, dtype=float)
    loss = np.asarray(losses, dtype=float)
    if t.ndim != 1 or t.shape != loss.shape or t.size == 0:
        raise ValueError(f"ts and losses must be 1-d of equal non-zero length; got {t.shape} and {loss.shape}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"ts must be strictly ascending; got ts={t.tolist()}")
    if not np.all(np.isfinite(loss)):
        raise ValueError(f"losses must be finite; got losses={loss.tolist()}")
    return t, loss


def threshold_relative(ts: Sequence[float], losses: Sequence[float], rel_tol: float) -> float:
    """Definition (a): first t with L(t) <= (1 + rel_tol) * L(t_max)."""
    if not rel_tol > 0:
        raise ValueError(f"rel_tol must be > 0; got rel_tol={rel_tol}")
    t, loss = _checked_curve(ts, losses)
    level = (1.0 + rel_tol) * loss[-1]
    return float(t[np.argmax(loss <= level)])


def threshold_absolute(ts: Sequence[float], losses: Sequence[float], abs_tol: float) -> float | None:
    """Definition (b): first t with L(t) <= abs_tol, or None if no checkpoint reaches it."""
    if not abs_tol > 0:
        raise ValueError(f"abs_tol must be > 0; got abs_tol={abs_tol}")
    t, loss = _checked_curve(ts, losses)
    below = loss <= abs_tol
    return float(t[np.argmax(below)]) if below.any() else None


@dataclass(frozen=True)
class LogFit:
    """t_hat* = alpha + beta ln m by least squares; [beta_low, beta_high] a bootstrap CI on beta.

    n_points: (m, seed) pairs used; n_missing: pairs without a threshold (left out of the fit).
    """

    alpha: float
    beta: float
    beta_low: float
    beta_high: float
    level: float
    n_points: int
    n_missing: int
    n_boot: int

    @property
    def beta_positive(self) -> bool:
        """True when the whole CI on beta lies above 0."""
        return self.beta_low > 0

    def to_dict(self) -> dict:
        return {**self.__dict__, "beta_positive": self.beta_positive}


def _least_squares(log_m: np.ndarray, t_hat: np.ndarray) -> tuple[float, float]:
    design = np.stack([np.ones_like(log_m), log_m], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(design, t_hat, rcond=None)
    return float(alpha), float(beta)


def fit_log_m(
    thresholds: Mapping[int, Sequence[float | None]],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> LogFit | None:
    """Fit t_hat*(m) = alpha + beta ln m from {m: [t_hat per seed]}; None entries are skipped.

    Returns None when fewer than two distinct m have a threshold (no slope to fit).
    Bootstrap: for each of n_boot draws, resample each m's thresholds with replacement, refit.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got level={level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1; got n_boot={n_boot}")
    groups = {}
    missing = 0
    for m, values in thresholds.items():
        if m < 1:
            raise ValueError(f"dataset sizes m must be >= 1; got m={m}")
        present = [float(v) for v in values if v is not None]
        missing += len(values) - len(present)
        if present:
            groups[int(m)] = np.asarray(present)
    if len(groups) < 2:
        return None
    ms = sorted(groups)
    log_m = np.concatenate([np.full(groups[m].size, math.log(m)) for m in ms])
    t_hat = np.concatenate([groups[m] for m in ms])
    alpha, beta = _least_squares(log_m, t_hat)
    rng = np.random.default_rng(seed)
    betas = np.empty(n_boot)
    for b in range(n_boot):
        sample = np.concatenate([rng.choice(groups[m], size=groups[m].size, replace=True) for m in ms])
        betas[b] = _least_squares(log_m, sample)[1]
    low, high = np.quantile(betas, [(1 - level) / 2, (1 + level) / 2])
    return LogFit(
        alpha=alpha,
        beta=beta,
        beta_low=float(low),
        beta_high=float(high),
        level=level,
        n_points=int(t_hat.size),
        n_missing=missing,
        n_boot=n_boot,
    )


DEFINITIONS = ("relative", "absolute")


def empirical_thresholds(run, subnet: str, definition: str) -> dict[int, list[float | None]]:
    """{m: [t_hat* per seed]} of one subnetwork of a recorded run (ebtheory.verify.records.RunRecord).

    The curve is the subnetwork's pruned training loss against the labels (row field
    subnets[subnet]["train_loss_mean"], or "train_loss_sum" when spec["threshold_loss"] == "sum")
    over the spec's checkpoint grid; definition "relative" is (a) with spec["rel_tol"], "absolute"
    is (b) with spec["abs_tol"]. Only (m, seed) cells holding every checkpoint count: the plateau
    of (a) is the loss at the LONGEST pre-training, which a partial run has not reached.
    """
    if definition not in DEFINITIONS:
        raise ValueError(f"definition must be one of {DEFINITIONS}; got definition={definition!r}")
    field = "train_loss_sum" if run.spec.threshold_loss == "sum" else "train_loss_mean"
    grid = [int(t) for t in run.spec.checkpoints]
    out: dict[int, list[float | None]] = {}
    for m in run.ms:
        per_seed: list[float | None] = []
        for seed in run.seeds:
            cell = run.points_for(m=m, seed=seed)
            entries = [(p.t, p.subnets.get(subnet)) for p in cell]
            if [t for t, _ in entries] != grid or any(e is None for _, e in entries):
                continue
            losses = [getattr(e, field) for _, e in entries]
            if definition == "relative":
                per_seed.append(threshold_relative(grid, losses, run.spec.rel_tol))
            else:
                per_seed.append(threshold_absolute(grid, losses, run.spec.abs_tol))
        if per_seed:
            out[m] = per_seed
    return out
