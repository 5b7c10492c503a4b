"""Compare two analyses of the same spec (other machine, thread count, perturbed inputs): the same
verdicts, every threshold within a relative tolerance (issue 10.5; docs/theory.md, section 7).

``analysis_differences(a, b, rel=0.01) -> list[str]``: one line per difference, empty when they agree.
The specs must be the same but for spec.input_jitter (the perturbation a reproducibility check applies).
``threshold_agreement(a, b) -> ThresholdAgreement``: how many thresholds both reached and their largest
relative difference. Compared: per threshold series, each cell's censoring flag, its threshold (or censoring bound) in
iterations within `rel`, and the fits' growth verdict in every time unit; Lemma A's held-everywhere
verdict per target; each unit's hypothesis verdicts (held / failed / not recorded).
"""

from __future__ import annotations

import dataclasses
import math

from ebtheory.verify.analysis import RunAnalysis
from ebtheory.verify.spec import ExperimentSpec


@dataclasses.dataclass(frozen=True)
class ThresholdAgreement:
    """Over every (series, m, seed) cell of two analyses: cells compared, cells both reached (uncensored
    in both), and the largest relative difference of their thresholds in iterations (None: none reached)."""

    cells: int
    both_reached: int
    max_relative: float | None


def _unperturbed_hash(spec: ExperimentSpec) -> str:
    return dataclasses.replace(spec, input_jitter=0.0).hash


def threshold_agreement(a: RunAnalysis, b: RunAnalysis) -> ThresholdAgreement:
    """The agreement of the thresholds of `a` and `b`, cell by cell (cells present in both)."""
    cells = both = 0
    worst: float | None = None
    for key, sa in a.thresholds.items():
        sb = b.thresholds.get(key)
        if sb is None:
            continue
        cells_b = {(c.m, c.seed): c for c in sb.cells}
        for ca in sa.cells:
            cb = cells_b.get((ca.m, ca.seed))
            if cb is None:
                continue
            cells += 1
            if ca.t is not None and cb.t is not None and ca.censoring == cb.censoring == "none":
                both += 1
                relative = abs(ca.t - cb.t) / max(abs(cb.t), 1e-300)
                worst = relative if worst is None else max(worst, relative)
    return ThresholdAgreement(cells=cells, both_reached=both, max_relative=worst)


def _close(x: float | None, y: float | None, rel: float) -> bool:
    if x is None or y is None:
        return x is y
    return math.isclose(x, y, rel_tol=rel, abs_tol=0.0) or x == y


def analysis_differences(a: RunAnalysis, b: RunAnalysis, rel: float = 0.01) -> list[str]:
    """Every way in which `b` disagrees with `a` beyond the relative tolerance `rel` (see the module)."""
    if not 0 <= rel < 1:
        raise ValueError(f"rel must lie in [0, 1); got rel={rel}")
    out: list[str] = []
    if _unperturbed_hash(a.spec) != _unperturbed_hash(b.spec):
        out.append(f"spec hash {a.spec.hash} != {b.spec.hash} (beyond input_jitter)")
    for key in sorted(set(a.thresholds) | set(b.thresholds)):
        sa, sb = a.thresholds.get(key), b.thresholds.get(key)
        if sa is None or sb is None:
            out.append(f"{key}: present in only one analysis")
            continue
        cells_b = {(c.m, c.seed): c for c in sb.cells}
        for ca in sa.cells:
            cb = cells_b.get((ca.m, ca.seed))
            where = f"{key} m={ca.m} seed={ca.seed}"
            if cb is None:
                out.append(f"{where}: missing")
            elif ca.censoring != cb.censoring:
                out.append(f"{where}: censoring {ca.censoring} != {cb.censoring}")
            elif not _close(ca.t, cb.t, rel) or not _close(ca.bound, cb.bound, rel):
                out.append(f"{where}: threshold {ca.t or ca.bound} != {cb.t or cb.bound} (iterations, rel {rel})")
        for unit, fa in sa.fits.items():
            fb = sb.fits.get(unit)
            if fb is None or fa.grows != fb.grows:
                out.append(f"{key} ({unit}): grows {fa.grows} != {None if fb is None else fb.grows}")
    for target, la in a.lemma_a.items():
        lb = b.lemma_a.get(target)
        if lb is None or la.held_everywhere != lb.held_everywhere:
            out.append(
                f"Lemma A {target}: held everywhere {la.held_everywhere} != {None if lb is None else lb.held_everywhere}"
            )
    verdicts_b = {(h.m, h.seed): {c.number: c.held for c in h.checks} for h in b.hypotheses}
    for h in a.hypotheses:
        other = verdicts_b.get((h.m, h.seed), {})
        for check in h.checks:
            if other.get(check.number, "missing") != check.held:
                out.append(
                    f"hypothesis {check.number} m={h.m} seed={h.seed}: {check.held} != {other.get(check.number)}"
                )
    return out
