"""Early-Bird detection and the three lottery tickets of a unit (issue 6; You et al., ICLR 2020).

The checkpoints of the pre-training grid (or spec.earlybird_masks evenly spaced iterations) play the
role of You et al.'s epochs: at each mask time t the family's Early-Bird mask is drawn at the global
ratio p (ebtheory.verify.spec.earlybird_ratio) and fed to an EarlyBirdDetector (window, eps, compare
of the spec). At the first mask time t_EB where it fires, three tickets of equal size and equal total
iteration budget t_EB + F (F = spec.finetune_steps) are built and scored on the labels:

- earlybird: the kept units of the mask at t_EB, fine-tuned F steps (the family builds it);
- gfs: GFS without replacement to as many units from the same checkpoint, fine-tuned F steps;
- imp: iterative magnitude pruning with rewinding to t = 0 (spec.imp_rounds rounds) of a fresh copy
  of the initial net, down to the weights the EB ticket keeps (the family counts them); its total
  training, the dense run plus one retraining per round, is t_EB + F iterations split as evenly as
  possible (budgets count iterations, not FLOPs).

Times (t_EB, F, the budgets, Ticket.iterations) are on the spec's clock: iterations, or ticks of 1/q
epoch when spec.ticks_per_epoch = q >= 1 (each IMP training part then runs ctx.iterations(part) steps).

ebtheory.verify.records documents the recorded fields (EarlyBirdSettings, Ticket, Tickets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ebtheory.prune.earlybird import EarlyBirdDetector, distance_matrix
from ebtheory.prune.imp import iterative_magnitude_pruning
from ebtheory.verify.context import UnitContext
from ebtheory.verify.families import ModelFamily, TicketPair
from ebtheory.verify.fast_gd import imp_trainer
from ebtheory.verify.records import EarlyBirdSettings, Ticket, Tickets
from ebtheory.verify.spec import ExperimentSpec, earlybird_ratio


@dataclass
class EarlyBirdTrace:
    """What a unit collects for Early-Bird while it pre-trains: one mask per mask time, the online
    detector, and the EB and GFS tickets built at the first mask time where the detector fires."""

    ratio: float
    detector: EarlyBirdDetector
    checkpoints: list[int] = field(default_factory=list)
    masks: list[torch.Tensor] = field(default_factory=list)
    pair: TicketPair | None = None
    t: int | None = None


@dataclass(frozen=True)
class EarlyBirdOutcome:
    """The Early-Bird fields of a unit row."""

    checkpoints: tuple[int, ...]
    distance_matrix: tuple[tuple[float, ...], ...]
    detection_t: int | None
    settings: EarlyBirdSettings
    tickets: Tickets | None


def start_earlybird(spec: ExperimentSpec) -> EarlyBirdTrace | None:
    """A fresh trace for a unit, or None when spec.earlybird is off."""
    if not spec.earlybird:
        return None
    detector = EarlyBirdDetector(window=spec.earlybird_window, eps=spec.earlybird_eps, compare=spec.earlybird_compare)
    return EarlyBirdTrace(ratio=earlybird_ratio(spec), detector=detector)


def observe_earlybird(family: ModelFamily, ctx: UnitContext, trace: EarlyBirdTrace, t: int, model: nn.Module) -> None:
    """Add the mask at t; at the first detection build the EB and GFS tickets from this model."""
    mask = family.earlybird_mask(model, trace.ratio)
    trace.checkpoints.append(int(t))
    trace.masks.append(mask)
    trace.detector.update(mask)
    if trace.detector.detected_at == len(trace.masks) - 1:
        trace.pair = family.tickets_at(ctx, model, mask, int(t))
        trace.t = int(t)


def split_budget(budget: int, parts: int) -> list[int]:
    """`budget` iterations split over `parts` trainings as evenly as possible, earlier parts first."""
    return [budget // parts + (1 if i < budget % parts else 0) for i in range(parts)]


def imp_ticket(family: ModelFamily, ctx: UnitContext, weights: int, budget: int, t: int | None = None) -> Ticket:
    """IMP with rewinding to t = 0 on a fresh initial net, down to `weights` surviving prunable weights
    (family.imp_parameters), with `budget` training iterations in all (dense run + one retraining per
    round). neurons: hidden units (inner channels) that keep a weight (family.imp_neurons)."""
    spec = ctx.spec
    model = family.build(spec, ctx.data, ctx.seed)
    chosen = family.imp_parameters(model)
    parts = split_budget(budget, spec.imp_rounds + 1)
    config = ctx.train_config()
    trainers = iter([imp_trainer(ctx.data.X, ctx.targets, config, ctx.iterations(s), ctx.device) for s in parts])
    result = iterative_magnitude_pruning(
        model,
        lambda net, checkpoints, callback: next(trainers)(net, checkpoints, callback),
        target_remaining=weights,
        rounds=spec.imp_rounds,
        rewind_iteration=0,
        parameters=chosen,
    )
    scored = family.scored_net(ctx, model)  # BatchNorm statistics re-estimated (on a copy) for the CNN
    numbers = ctx.numbers(scored)
    if t is not None:  # --save-tickets: the IMP ticket beside the EB and GFS tickets of t_EB, as scored
        ctx.keep("ticket_imp", t, scored, numbers, always=True)
    return Ticket(
        neurons=family.imp_neurons(model, chosen, result.masks),
        params=result.remaining[-1],
        iterations=tuple(parts),
        total_iterations=budget,
        pruned=None,
        train_loss_sum=numbers.train_loss_sum,
        train_loss_mean=numbers.train_loss_mean,
        train_acc=numbers.train_acc,
        test_acc=numbers.test_acc,
        rounds=spec.imp_rounds,
        remaining=tuple(result.remaining),
    )


def finish_earlybird(family: ModelFamily, ctx: UnitContext, trace: EarlyBirdTrace) -> EarlyBirdOutcome:
    """The unit-row fields of Early-Bird: matrix, detection time, settings, and the three tickets."""
    spec = ctx.spec
    index = trace.detector.detected_at
    tickets = None
    if trace.pair is not None and trace.t is not None:
        pair = trace.pair
        budget = trace.t + spec.finetune_steps
        weights = family.ticket_weights(family.build(spec, ctx.data, ctx.seed), pair, int(ctx.data.X[0].numel()))
        tickets = Tickets(
            t=trace.t,
            finetune_steps=spec.finetune_steps,
            budget_iterations=budget,
            overlap_neurons=pair.overlap,
            earlybird=pair.earlybird,
            gfs=pair.gfs,
            imp=imp_ticket(family, ctx, weights, budget, trace.t),
            kept_per_block=pair.kept_per_block,
        )
    settings = EarlyBirdSettings(
        score=family.earlybird_score,
        ratio=trace.ratio,
        kept=int(trace.masks[0].sum()),
        total=int(trace.masks[0].numel()),
        window=spec.earlybird_window,
        eps=spec.earlybird_eps,
        compare=spec.earlybird_compare,
        bn_l1=spec.earlybird_bn_l1,
        detection_index=index,
        tickets_skipped=None if index is not None else "no Early-Bird detection on the mask times",
    )
    return EarlyBirdOutcome(
        checkpoints=tuple(trace.checkpoints),
        distance_matrix=_as_rows(distance_matrix(trace.masks).tolist()),
        detection_t=None if index is None else trace.checkpoints[index],
        settings=settings,
        tickets=tickets,
    )


def _as_rows(matrix: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)
