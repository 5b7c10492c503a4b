"""One unit of work: the (m, seed) cell of a sweep, written as rows (ebtheory.verify.records documents them).

The orchestrator only; what it orchestrates lives in one module per concern:

- ebtheory.verify.context: the unit's data (the training subset ebtheory.data.selection draws for
  (m, seed), the same one `ebtheory estimate` uses), train configs and how a network is scored;
- ebtheory.verify.families: the model family of the spec (two-layer ntk / mean_field, deep_mlp, cnn):
  builds the net, measures and prunes it at a checkpoint, summarises the unit, draws Early-Bird masks
  and builds tickets;
- ebtheory.verify.earlybird_tickets: Early-Bird detection over the mask times and the three tickets.

Pipeline of `run_unit`: one pre-training run (ebtheory.train.train_with_checkpoints) visits every
checkpoint t of the spec's grid and every Early-Bird mask time; at each unfinished checkpoint the
family measures the point (dense net, GFS to k, baselines, Lemma A, the hypotheses' numbers) and one
PointRow is written; a finished checkpoint is read back instead (a resumed unit needs its V and
diagnostics for the summary). Last, the UnitRow: the dense loss curve, the family's constants,
predictions and hypotheses, and the Early-Bird fields.

Times t are on the spec's clock (ebtheory.verify.spec: iterations, or ticks of 1/q epoch in the
practitioner regime); the unit maps them to its iterations (spec.tick_iterations) for pre-training.
The dense loss curve is indexed by iteration.

Every point depends only on (spec, m, seed, t): the random choices at t are seeded from (seed, t), so
a resumed unit writes exactly the rows an uninterrupted one would.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ebtheory.tickets import TicketWriter
from ebtheory.train import select_device
from ebtheory.verify import records
from ebtheory.verify.context import UnitContext, UnitData, network_numbers
from ebtheory.verify.context import load_unit_data as _load_unit_data
from ebtheory.verify.earlybird_tickets import (
    finish_earlybird,
    imp_ticket,
    observe_earlybird,
    split_budget,
    start_earlybird,
)
from ebtheory.verify.families import family_of, lemma_a_check
from ebtheory.verify.records import PointRow, UnitRow
from ebtheory.verify.spec import ExperimentSpec, earlybird_times, tick_iterations

__all__ = [
    "UnitData",
    "build_model",
    "lemma_a_check",
    "imp_ticket",
    "load_unit_data",
    "network_numbers",
    "run_unit",
    "split_budget",
    "unit_context",
]


TICKETS_DIR = "tickets"  # RUN_DIR/tickets/m{m}_s{seed}_t{t}/{subnet}.safetensors (ebtheory run --save-tickets)


def load_unit_data(spec: ExperimentSpec, m: int, seed: int) -> UnitData:
    """Data of unit (m, seed), prepared for the spec's model family (unit sphere or images)."""
    return _load_unit_data(spec, m, seed, unit_sphere=family_of(spec).unit_sphere)


def build_model(spec: ExperimentSpec, data: UnitData, seed: int) -> nn.Module:
    """The dense network of the spec, seeded by the unit's seed."""
    return family_of(spec).build(spec, data, seed)


def unit_context(spec: ExperimentSpec, m: int, seed: int, device: str | torch.device = "cpu") -> UnitContext:
    """The context of unit (m, seed): its data, on `device` ('auto' picks a GPU when there is one)."""
    target = select_device(device) if isinstance(device, str) else torch.device(device)
    return UnitContext(spec=spec, m=m, seed=seed, data=load_unit_data(spec, m, seed), device=target)


def _initial_loss_sum(spec: ExperimentSpec, value: float, m: int) -> float:
    """The initial loss in sum units (the training curve is in the units of spec.train_loss)."""
    return value * m if spec.train_loss == "mean_squares" else value


def run_unit(
    spec: ExperimentSpec,
    m: int,
    seed: int,
    run_dir: str,
    device: str = "auto",
    save_tickets: Sequence[int] | None = None,
) -> None:
    """Unit (m, seed): pre-train once, write a PointRow for every unfinished checkpoint, then the UnitRow.

    save_tickets: checkpoints t whose pruned subnetworks are also saved as tickets under RUN_DIR/tickets
    (ebtheory.tickets.TicketWriter; the Early-Bird tickets too, when built); None saves none. Only the
    points computed now are saved (a finished point is read back, not recomputed)."""
    if records.unit_finished(run_dir, m, seed):
        return
    started = time.perf_counter()
    torch.manual_seed(seed)
    family = family_of(spec)
    ctx = unit_context(spec, m, seed, device)
    if save_tickets is not None:
        writer = TicketWriter(Path(run_dir) / TICKETS_DIR, m, seed, frozenset(int(t) for t in save_tickets))
        ctx = dataclasses.replace(ctx, tickets=dataclasses.replace(writer, provenance={"run_hash": spec.hash}))
    model = family.build(spec, ctx.data, seed)
    initial = copy.deepcopy(model).eval()
    done = records.finished_points(run_dir, m, seed)
    points: dict[int, PointRow] = {}
    trace = start_earlybird(spec)
    mask_times = set(earlybird_times(spec)) if trace is not None else set()
    point_times = set(spec.checkpoints)

    def on_checkpoint(t: int, current: nn.Module) -> None:
        # Every mask time, finished or not: the masks are cheap and a resumed unit needs all of them.
        if trace is not None and t in mask_times:
            observe_earlybird(family, ctx, trace, t, current)
        if t not in point_times:
            return
        if t in done:
            points[t] = records.read_point(run_dir, m, seed, t)
            return
        dense = family.dense_numbers(ctx, current)
        measure = family.measure_point(ctx, current, initial, t)
        row = PointRow(
            run_hash=spec.hash,
            m=m,
            seed=seed,
            t=t,
            k=spec.k,
            width=measure.width,
            dense=dense,
            V=measure.V,
            subnets=measure.subnets,
            diagnostics=measure.diagnostics,
        )
        records.write_point(run_dir, row)
        points[t] = row

    # The spec's clock -> iterations of this m (identity unless spec.ticks_per_epoch > 0; the spec's
    # validation guarantees distinct ticks land on distinct iterations).
    ticks_at: dict[int, list[int]] = {}
    for tick in sorted(point_times | mask_times):
        ticks_at.setdefault(tick_iterations(spec, m, tick), []).append(tick)

    def on_iteration(iteration: int, current: nn.Module) -> None:
        for tick in ticks_at[iteration]:
            on_checkpoint(tick, current)

    losses = family.pretrain(ctx, model, sorted(ticks_at), on_iteration)
    curve = tuple(float(v) if math.isfinite(v) else None for v in losses)
    first = curve[0]
    summary = family.summarise(
        ctx, [points[t] for t in sorted(points)], _initial_loss_sum(spec, first if first is not None else 0.0, m)
    )
    earlybird = None if trace is None else finish_earlybird(family, ctx, trace)
    records.write_unit(
        run_dir,
        UnitRow(
            run_hash=spec.hash,
            m=m,
            seed=seed,
            checkpoints=tuple(spec.checkpoints),
            train_loss=spec.train_loss,
            dense_loss_curve=curve,
            constants=summary.constants,
            predicted=summary.predicted,
            hypotheses=summary.hypotheses,
            device=str(ctx.device),
            elapsed_s=time.perf_counter() - started,
            earlybird_checkpoints=None if earlybird is None else earlybird.checkpoints,
            earlybird_distance_matrix=None if earlybird is None else earlybird.distance_matrix,
            earlybird_detection_t=None if earlybird is None else earlybird.detection_t,
            earlybird=None if earlybird is None else earlybird.settings,
            tickets=None if earlybird is None else earlybird.tickets,
        ),
    )
