"""Lottery-ticket baselines: iterative and one-shot magnitude pruning with rewinding.

Frankle and Carbin, "The Lottery Ticket Hypothesis", ICLR 2019 (IMP, rewinding to the
initialisation, j = 0); Frankle, Dziugaite, Roy and Carbin, "Linear Mode Connectivity and the
Lottery Ticket Hypothesis", ICML 2020 (rewinding to iteration j). docs/theory.md, section 6.

One IMP run: train the dense net (saving the weights at iteration j), then for each round prune
globally, over the chosen layers' weights, the smallest-magnitude surviving weights down to that
round's count, rewind the survivors (and every other parameter and buffer) to their iteration-j
values, and retrain. Masks are torch.nn.utils.prune buffers (`weight_mask`, with the raw values in
`weight_orig`), so a pruned weight stays exactly zero through any later training. Counts are exact:
ties in magnitude are broken in favour of the lowest index in the concatenation of the layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from ebtheory.train import CheckpointCallback, TrainConfig, train_with_checkpoints

PrunedParameter = tuple[nn.Module, str]
TrainFunction = Callable[[nn.Module, Sequence[int], CheckpointCallback], None]
"""train_fn(model, checkpoints, on_checkpoint): train `model` in place, calling
on_checkpoint(t, model) at every iteration t in `checkpoints` (t = 0 is before the first update)."""

PRUNABLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class IMPResult:
    """masks[l]: the final 0/1 mask of parameters[l] (True = kept); remaining[r]: surviving weights
    after round r (remaining[0] = total, before pruning); rewind_state: CPU state_dict of the dense
    net at iteration `rewind_iteration`."""

    masks: list[torch.Tensor]
    remaining: list[int]
    total: int
    rewind_iteration: int
    rewind_state: dict[str, torch.Tensor]

    @property
    def sparsity(self) -> float:
        """Fraction of the chosen weights that were pruned."""
        return 1.0 - self.remaining[-1] / self.total


def prunable_parameters(
    model: nn.Module, layer_types: tuple[type[nn.Module], ...] = PRUNABLE_LAYERS
) -> list[PrunedParameter]:
    """(module, "weight") for every Linear / Conv layer of `model` in module order (biases and
    BatchNorm are not pruned, as in Frankle and Carbin)."""
    chosen = [(module, "weight") for module in model.modules() if isinstance(module, layer_types)]
    if not chosen:
        raise ValueError(f"model has no layers of types {[t.__name__ for t in layer_types]} to prune")
    return chosen


def _is_pruned(module: nn.Module, name: str) -> bool:
    return hasattr(module, name + "_mask") and hasattr(module, name + "_orig")


def current_masks(parameters: Sequence[PrunedParameter]) -> list[torch.Tensor]:
    """Boolean masks of the chosen parameters (all True for a parameter not yet pruned)."""
    masks = []
    for module, name in parameters:
        if _is_pruned(module, name):
            masks.append(getattr(module, name + "_mask").bool())
        else:
            masks.append(torch.ones_like(getattr(module, name), dtype=torch.bool))
    return masks


def effective_weights(parameters: Sequence[PrunedParameter]) -> list[torch.Tensor]:
    """The weights the forward pass uses: orig * mask for a pruned parameter."""
    weights = []
    for module, name in parameters:
        if _is_pruned(module, name):
            weights.append((getattr(module, name + "_orig") * getattr(module, name + "_mask")).detach())
        else:
            weights.append(getattr(module, name).detach())
    return weights


def remaining_weights(parameters: Sequence[PrunedParameter]) -> int:
    """Number of surviving (unmasked) weights over the chosen parameters."""
    return int(sum(int(mask.sum()) for mask in current_masks(parameters)))


def remaining_schedule(total: int, target_remaining: int, rounds: int) -> list[int]:
    """Surviving-weight counts after rounds 1..R: n_r = round(total * (target/total)^(r/R)), the
    same fraction pruned per round (Frankle and Carbin prune p^(1/R) per round), n_R = target."""
    if not (1 <= target_remaining <= total):
        raise ValueError(f"target_remaining must lie in [1, {total}]; got target_remaining={target_remaining}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1; got rounds={rounds!r}")
    fraction = target_remaining / total
    counts = [math.floor(total * fraction ** (r / rounds) + 0.5) for r in range(1, rounds)]
    counts.append(target_remaining)
    # Rounding can never make the schedule grow, but clamp so the invariant holds by construction.
    return [max(target_remaining, min(count, total)) for count in counts]


def global_magnitude_keep(
    weights: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], keep: int
) -> list[torch.Tensor]:
    """New masks keeping exactly `keep` surviving weights of largest |w|, over all tensors at once.

    Only entries with mask True compete; ties go to the lowest index of the concatenation.
    """
    if len(weights) != len(masks) or not weights:
        raise ValueError(f"weights and masks must be equally many (>= 1); got {len(weights)} and {len(masks)}")
    flat = torch.cat([w.detach().reshape(-1) for w in weights])
    alive = torch.cat([m.reshape(-1).bool() for m in masks])
    if not torch.isfinite(flat[alive]).all():
        raise ValueError("weights must be finite to rank by magnitude; got NaN or inf (did training diverge?)")
    if not (0 <= keep <= int(alive.sum())):
        raise ValueError(f"keep must lie in [0, {int(alive.sum())}] (the surviving weights); got keep={keep}")
    # Pruned entries score -1, below every |w| >= 0, so they can never be revived.
    scores = torch.where(alive, flat.abs(), torch.full_like(flat, -1.0))
    order = torch.sort(scores, descending=True, stable=True).indices
    kept = torch.zeros_like(alive)
    kept[order[:keep]] = True
    return [part.reshape(w.shape) for part, w in zip(kept.split([w.numel() for w in weights]), weights)]


def apply_masks(parameters: Sequence[PrunedParameter], masks: Sequence[torch.Tensor]) -> None:
    """Install `masks` as torch.nn.utils.prune masks (replacing any earlier mask)."""
    for (module, name), mask in zip(parameters, masks):
        if _is_pruned(module, name):
            buffer = getattr(module, name + "_mask")
            buffer.copy_(mask.to(buffer.dtype))
        else:
            prune.custom_from_mask(module, name, mask.to(getattr(module, name).dtype))
    _refresh(parameters)


def _refresh(parameters: Sequence[PrunedParameter]) -> None:
    """Recompute weight = weight_orig * weight_mask now (the prune hook does it at every forward)."""
    for module, name in parameters:
        if _is_pruned(module, name):
            setattr(module, name, getattr(module, name + "_orig") * getattr(module, name + "_mask"))


def rewind(model: nn.Module, saved_state: dict[str, torch.Tensor], parameters: Sequence[PrunedParameter]) -> None:
    """Reset every parameter and buffer to `saved_state` (a dense state_dict), keeping the masks:
    a pruned weight's `<name>_orig` takes the saved `<name>`, its `<name>_mask` is untouched."""
    state = model.state_dict()
    for key in state:
        if key.endswith("_mask") and key[: -len("_mask")] + "_orig" in state:
            continue
        source = key[: -len("_orig")] if key.endswith("_orig") and key not in saved_state else key
        if source not in saved_state:
            raise ValueError(f"saved_state has no entry for {source!r}; was it taken from this model?")
        state[key] = saved_state[source]
    model.load_state_dict(state)
    _refresh(parameters)


def _target_count(total: int, target_sparsity: float | None, target_remaining: int | None) -> int:
    if (target_sparsity is None) == (target_remaining is None):
        raise ValueError(
            "give exactly one of target_sparsity and target_remaining; "
            f"got target_sparsity={target_sparsity}, target_remaining={target_remaining}"
        )
    if target_remaining is not None:
        if isinstance(target_remaining, bool) or not isinstance(target_remaining, int):
            raise ValueError(f"target_remaining must be an integer; got target_remaining={target_remaining!r}")
        if not (1 <= target_remaining <= total):
            raise ValueError(f"target_remaining must lie in [1, {total}]; got target_remaining={target_remaining}")
        return target_remaining
    if not (isinstance(target_sparsity, (int, float)) and 0.0 <= target_sparsity < 1.0):
        raise ValueError(f"target_sparsity must lie in [0, 1); got target_sparsity={target_sparsity!r}")
    return max(1, math.floor((1.0 - target_sparsity) * total + 0.5))


def iterative_magnitude_pruning(
    model: nn.Module,
    train_fn: TrainFunction,
    *,
    target_sparsity: float | None = None,
    target_remaining: int | None = None,
    rounds: int = 1,
    rewind_iteration: int = 0,
    parameters: Sequence[PrunedParameter] | None = None,
    train_final: bool = True,
) -> IMPResult:
    """IMP with rewinding to iteration j = `rewind_iteration` (Frankle and Carbin; Frankle et al. 2020).

    Give the target as a sparsity s (remaining = round((1 - s) * total)) or as a count of
    remaining weights, e.g. a GFS subnetwork's parameter count for a matched comparison. `model`
    is modified in place: it ends pruned (masks installed) and, with `train_final`, retrained.
    Each retraining call runs `train_fn` from the rewound state with the same schedule as the dense
    run (optimizer state such as momentum starts afresh).
    """
    chosen = list(parameters) if parameters is not None else prunable_parameters(model)
    for module, name in chosen:
        if not isinstance(getattr(module, name, None), torch.Tensor):
            raise ValueError(f"parameters: {type(module).__name__} has no tensor named {name!r}")
    if isinstance(rewind_iteration, bool) or not isinstance(rewind_iteration, int) or rewind_iteration < 0:
        raise ValueError(f"rewind_iteration must be an integer >= 0; got rewind_iteration={rewind_iteration!r}")
    total = sum(getattr(module, name).numel() for module, name in chosen)
    target = _target_count(total, target_sparsity, target_remaining)
    start = remaining_weights(chosen)
    if target > start:
        raise ValueError(f"target_remaining={target} exceeds the {start} weights that survive already")
    schedule = remaining_schedule(start, target, rounds)

    saved: dict[str, dict[str, torch.Tensor]] = {}

    def keep_rewind_state(t: int, trained: nn.Module) -> None:
        if t == rewind_iteration:
            saved["state"] = {k: v.detach().to("cpu", copy=True) for k, v in trained.state_dict().items()}

    train_fn(model, [rewind_iteration], keep_rewind_state)
    if "state" not in saved:
        raise ValueError(
            f"train_fn never called on_checkpoint at rewind_iteration={rewind_iteration}; "
            "is it beyond the training length?"
        )
    remaining = [start]
    for round_index, keep in enumerate(schedule):
        masks = global_magnitude_keep(effective_weights(chosen), current_masks(chosen), keep)
        with torch.no_grad():
            apply_masks(chosen, masks)
        rewind(model, saved["state"], chosen)
        remaining.append(remaining_weights(chosen))
        if train_final or round_index < len(schedule) - 1:
            train_fn(model, [], lambda t, trained: None)
    return IMPResult(
        masks=current_masks(chosen),
        remaining=remaining,
        total=total,
        rewind_iteration=rewind_iteration,
        rewind_state=saved["state"],
    )


def one_shot_magnitude_pruning(
    model: nn.Module,
    train_fn: TrainFunction,
    *,
    target_sparsity: float | None = None,
    target_remaining: int | None = None,
    rewind_iteration: int = 0,
    parameters: Sequence[PrunedParameter] | None = None,
    train_final: bool = True,
) -> IMPResult:
    """Train once, prune straight to the target by global magnitude, rewind, retrain: IMP with R = 1."""
    return iterative_magnitude_pruning(
        model,
        train_fn,
        target_sparsity=target_sparsity,
        target_remaining=target_remaining,
        rounds=1,
        rewind_iteration=rewind_iteration,
        parameters=parameters,
        train_final=train_final,
    )


def trainer_from_config(
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    steps: int,
    device: torch.device | str | None = None,
) -> TrainFunction:
    """A TrainFunction running `steps` iterations of `train_with_checkpoints` (units: iterations). IMP reads
    no losses, so the full-data loss is evaluated at the start and end only (with mini-batches an evaluation
    per step cost far more than the training: minutes an epoch at m = 60,000)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0; got steps={steps!r}")

    def train(model: nn.Module, checkpoints: Sequence[int], on_checkpoint: CheckpointCallback) -> None:
        wanted = set(checkpoints)
        if any(t > steps for t in wanted):
            raise ValueError(f"checkpoints must lie in [0, {steps}] (steps); got {sorted(wanted)}")

        def forward_wanted(t: int, trained: nn.Module) -> None:
            if t in wanted:
                on_checkpoint(t, trained)

        grid = sorted(wanted | {steps})
        train_with_checkpoints(
            model,
            X,
            Y,
            config,
            grid,
            device=device,
            on_checkpoint=forward_wanted,
            keep_states=False,
            loss_every=max(steps, 1),
        )

    return train
