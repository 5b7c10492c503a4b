"""One unit of work: the (m, seed) cell of a sweep, written as rows (ebtheory.verify.records documents them).

Pipeline (issue 5, item 2), for the two-layer nets:
1. Data: the first m examples of a seeded nested ordering (nested across m for one seed), inputs on
   the unit sphere, one-hot labels Y (m x C).
2. One pre-training run (ebtheory.train.train_with_checkpoints) visits every checkpoint t.
3. At each unfinished checkpoint t: the dense net's numbers; GFS to k against the labels and against
   the dense output u(t); magnitude and random baselines at the same k; every subnetwork
   (ebtheory.prune.gfs.pruned_two_layer: input and output weights trainable) before and after
   fine-tuning on the labels; Lemma A's bound (ebtheory.symbolic.lemma_a_bound) with the measured L(u) and
   V at t, and whether it held. A subnetwork is u_S = (1/k) sum_{r in S} g_r with the atoms
   g_r = N H[:, r] (x) W2[r] (THEORY.md 2): the baselines use the same averaging, so equal k
   compares like with like.
4. Last, the unit summary: lambda0 and lambda_max of H_inf (ebtheory.constants), the predicted t*
   (ebtheory.symbolic.evaluate_bound) with the fixed eta as run and with Du et al.'s
   eta = lambda0 / m^2 (prediction only), and the dense loss curve.

For the CNN, step 3 uses layer-wise GFS (ebtheory.prune.layerwise.layerwise_gfs) and only the
empirical numbers are recorded (THEORY.md 5.6); the theory fields are None.

Early-Bird and lottery-ticket baselines (issue 6; spec.earlybird, on by default). The checkpoints of
the pre-training grid play the role of You et al.'s epochs: at every checkpoint t a mask is drawn at
the global ratio p (ebtheory.verify.spec.earlybird_ratio) -- two-layer: neuron_norm_mask, score ||w_r||_2 of
the hidden neuron's incoming weights (no BatchNorm there); CNN: bn_channel_mask over |gamma| of the
residual blocks' bn1 layers (the inner channels, the only ones that can be removed), optionally with
an L1 penalty on all BN scales during pre-training -- and fed to an EarlyBirdDetector (window, eps,
compare of the spec). At the first checkpoint t_EB where it fires, three tickets of equal size and
equal total iteration budget t_EB + F (F = spec.finetune_steps) are built and scored on the labels
(ebtheory.verify.records documents the fields; the CNN variants are in cnn_tickets):
- earlybird: the n kept neurons of the mask at t_EB as an averaged subnetwork (pruned_two_layer),
  fine-tuned F steps;
- gfs: GFS without replacement to n steps from the same checkpoint t_EB (exactly n distinct neurons,
  like the mask), fine-tuned F steps;
- imp: iterative magnitude pruning of the input weights with rewinding to t = 0, spec.imp_rounds
  rounds, down to n * d surviving input weights (the tickets' input-weight count), from a fresh
  copy of the initial net; its total training, the dense run plus one retraining per round, is
  t_EB + F iterations split as evenly as possible (budgets count iterations, not FLOPs).

Every point depends only on (spec, m, seed, t): seeds of the random baseline are derived from
(seed, t), so a resumed unit reproduces exactly the rows an uninterrupted one would write.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ebtheory.verify import records
from ebtheory.verify.spec import ExperimentSpec, earlybird_times, step_size

if TYPE_CHECKING:
    from ebtheory.prune.earlybird import EarlyBirdDetector

LEMMA_A_SLACK = 1e-9  # relative float64 slack when checking measured <= bound


@dataclass(frozen=True)
class UnitData:
    """Training subset (X, one-hot Y, labels y) and test split, all on CPU."""

    X: torch.Tensor
    Y: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]


def load_unit_data(spec: ExperimentSpec, m: int, seed: int) -> UnitData:
    """Data of unit (m, seed): nested subset of the training split, first n_test test examples."""
    from ebtheory.data import flatten_unit_sphere, load_dataset, nested_subset_indices, one_hot

    data = load_dataset(spec.dataset, spec.data_dir or None, seed=0)
    if m > data.n_train:
        raise ValueError(f"ms must be <= {data.n_train} (training examples of {spec.dataset}); got m={m}")
    index = nested_subset_indices(data.y_train, m, seed=seed, balanced=spec.balanced)
    n_test = data.n_test if spec.n_test == 0 else min(spec.n_test, data.n_test)
    X, X_test = data.X_train[index], data.X_test[:n_test]
    if spec.model != "cnn":
        X, X_test = flatten_unit_sphere(X), flatten_unit_sphere(X_test)
    y = data.y_train[index]
    return UnitData(
        X=X,
        Y=one_hot(y, data.num_classes),
        y=y,
        X_test=X_test,
        y_test=data.y_test[:n_test],
        num_classes=data.num_classes,
        input_shape=tuple(data.input_shape),
    )


def build_model(spec: ExperimentSpec, data: UnitData, seed: int) -> nn.Module:
    """The dense network of the spec, seeded by the unit's seed."""
    from ebtheory.models import MeanFieldTwoLayer, ResidualCNN, TwoLayerNTK

    if spec.model == "ntk":
        return TwoLayerNTK(
            data.X.shape[1], spec.width, data.num_classes, kappa=spec.kappa, output_mode=spec.output_mode, seed=seed
        )
    if spec.model == "mean_field":
        return MeanFieldTwoLayer(data.X.shape[1], spec.width, data.num_classes, seed=seed)
    channels = data.input_shape[0] if len(data.input_shape) == 3 else 1
    return ResidualCNN(channels, data.num_classes, data.input_shape[-1], widths=spec.cnn_widths, seed=seed)


def train_config(spec: ExperimentSpec, m: int, seed: int, finetune: bool = False, lr: float | None = None):
    """TrainConfig of pre-training (or fine-tuning) at dataset size m; the step is `lr` when given, else
    verify.spec.step_size (eta or finetune_eta)."""
    from ebtheory.train import TrainConfig

    return TrainConfig(
        optimizer=spec.optimizer,
        lr=step_size(spec, m, finetune) if lr is None else lr,
        loss=spec.train_loss,
        batch_size=(spec.batch_size or None) if spec.optimizer == "sgd" else None,
        momentum=spec.momentum,
        seed=seed,
    )


def _sum_loss(outputs: torch.Tensor, target: torch.Tensor) -> float:
    return float(0.5 * (outputs.double() - target.double()).square().sum())


def _accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((outputs.argmax(dim=1).cpu() == labels.cpu()).double().mean()) if labels.numel() else 0.0


def network_numbers(spec: ExperimentSpec, model: nn.Module, data: UnitData, device: torch.device) -> dict:
    """Sum and per-example training loss against the labels, train and test accuracy.

    The loss is the squared loss 1/2 ||u - Y||^2 against the one-hot labels (THEORY.md 1), or the
    summed cross-entropy when the spec pre-trains with cross_entropy (the CNN): thresholds are read
    off the loss the network is trained on."""
    model.eval()
    with torch.no_grad():
        train_out = model(data.X.to(device))
        test_out = model(data.X_test.to(device))
    if spec.train_loss == "cross_entropy":
        loss = float(torch.nn.functional.cross_entropy(train_out.double(), data.y.to(device), reduction="sum"))
    else:
        loss = _sum_loss(train_out, data.Y.to(device))
    m = data.X.shape[0]
    return {
        "train_loss_sum": loss,
        "train_loss_mean": loss / m,
        "train_acc": _accuracy(train_out, data.y),
        "test_acc": _accuracy(test_out, data.y_test),
    }


def finetune_step(spec: ExperimentSpec, subnet: nn.Module, data: UnitData) -> float:
    """The fine-tuning step: spec.finetune_eta (ebtheory.verify.spec.step_size), or with finetune_eta = 0 (auto,
    two-layer subnetworks) 1/lambda_max of the subnetwork's sum-loss Gauss-Newton matrix J J^T, half
    its GD stability limit 2/lambda_max, so every subnetwork (GFS, magnitude, random, tickets) gets a
    step that suits its own scale. Both layers train, so lambda_max <= lambda_max(first-layer NTK)
    + ||H_S||_2^2 (the readout's Gram H_S H_S^T); the bound makes the step at most 1/lambda_max."""
    if spec.finetune_eta > 0:
        return step_size(spec, data.X.shape[0], finetune=True)
    from ebtheory.constants.ntk import two_layer_ntk_lambda_max

    with torch.no_grad():
        X = data.X.to(subnet.input_weights.device, subnet.input_weights.dtype)
        hidden = subnet.hidden(X).double()
        readout = float(torch.linalg.matrix_norm(hidden, ord=2)) ** 2
        first_layer = two_layer_ntk_lambda_max(X.cpu(), subnet.input_weights.cpu(), subnet.readout()[0].cpu())
    # A zero Gauss-Newton matrix means every chosen neuron is dead on X: all gradients vanish and any
    # step leaves the subnetwork unchanged.
    return 1.0 / (first_layer + readout) if first_layer + readout > 0 else 1.0


def _finetuned(spec: ExperimentSpec, subnet: nn.Module, data: UnitData, seed: int, device: torch.device) -> dict | None:
    from ebtheory.train import fine_tune

    if spec.finetune_steps == 0:
        return None
    tuned = copy.deepcopy(subnet)
    config = train_config(spec, data.X.shape[0], seed, finetune=True, lr=finetune_step(spec, subnet, data))
    fine_tune(tuned, data.X.to(device), data.Y.to(device), spec.finetune_steps, config, device=device)
    return network_numbers(spec, tuned, data, device)


def lemma_a_check(dense_loss: float, spread: float, k: int, eps: float, measured: float, null_loss: float) -> dict:
    """Lemma A at one point: bound, whether measured <= bound, ratio, vacuity (bound >= L at k = 0)."""
    from ebtheory.symbolic import lemma_a_bound

    bound = lemma_a_bound(dense_loss, spread, k, eps)
    return {
        "bound": bound,
        "measured": measured,
        "held": measured <= bound * (1 + LEMMA_A_SLACK) + 1e-12,
        "ratio": measured / bound if bound > 0 else None,
        "dense_loss_sum": dense_loss,
        "null_loss_sum": null_loss,
        "vacuous": bound >= null_loss,
    }


def _train_targets(spec: ExperimentSpec, data: UnitData) -> torch.Tensor:
    return data.y if spec.train_loss == "cross_entropy" else data.Y


@dataclass
class EarlyBirdTrace:
    """What a unit collects for Early-Bird while it pre-trains: one mask per checkpoint, the online
    detector, and the EB and GFS tickets built at the first checkpoint where the detector fires."""

    ratio: float
    detector: EarlyBirdDetector
    checkpoints: list[int]
    masks: list[torch.Tensor]
    tickets: dict | None = None


def start_earlybird(spec: ExperimentSpec) -> EarlyBirdTrace | None:
    """A fresh trace for a unit, or None when spec.earlybird is off."""
    from ebtheory.prune.earlybird import EarlyBirdDetector
    from ebtheory.verify.spec import earlybird_ratio

    if not spec.earlybird:
        return None
    detector = EarlyBirdDetector(window=spec.earlybird_window, eps=spec.earlybird_eps, compare=spec.earlybird_compare)
    return EarlyBirdTrace(ratio=earlybird_ratio(spec), detector=detector, checkpoints=[], masks=[])


def earlybird_mask(spec: ExperimentSpec, model: nn.Module, ratio: float) -> torch.Tensor:
    """The Early-Bird mask of `model` at ratio p: hidden neurons by ||w_r|| (two-layer), or inner channels
    by |gamma| of each residual block's bn1 (CNN: the block outputs must match the shortcut, so only the
    inner channels can be removed -- the channels layer-wise GFS selects)."""
    from ebtheory.prune.earlybird import bn_channel_mask, neuron_norm_mask

    if spec.model == "cnn":
        return bn_channel_mask([block.bn1.weight for block in model.blocks], ratio).cpu()
    return neuron_norm_mask([model.input_weights], ratio).cpu()


def observe_earlybird(
    spec: ExperimentSpec,
    trace: EarlyBirdTrace,
    t: int,
    model: nn.Module,
    data: UnitData,
    seed: int,
    device: torch.device,
) -> None:
    """Add the mask at checkpoint t; at the first detection build the EB and GFS tickets from this model."""
    mask = earlybird_mask(spec, model, trace.ratio)
    trace.checkpoints.append(int(t))
    trace.masks.append(mask)
    trace.detector.update(mask)
    if trace.detector.detected_at == len(trace.masks) - 1:
        build = cnn_tickets if spec.model == "cnn" else two_layer_tickets
        trace.tickets = build(spec, model, mask, data, seed, int(t), device)


def _ticket_entry(
    spec: ExperimentSpec,
    subnet: nn.Module,
    data: UnitData,
    seed: int,
    device: torch.device,
    neurons: int,
    params: int,
    iterations: list[int],
) -> dict:
    pruned = network_numbers(spec, subnet, data, device)
    tuned = _finetuned(spec, subnet, data, seed, device)
    final = tuned if tuned is not None else pruned
    return {
        "neurons": neurons,
        "params": params,
        "iterations": iterations,
        "total_iterations": sum(iterations),
        "pruned": pruned,
        **final,
    }


def two_layer_tickets(
    spec: ExperimentSpec, model: nn.Module, mask: torch.Tensor, data: UnitData, seed: int, t: int, device: torch.device
) -> dict:
    """EB ticket (the mask's neurons) and GFS ticket (GFS without replacement to as many neurons) at t."""
    from ebtheory.prune.gfs import greedy_forward_selection, pruned_two_layer

    model.eval()
    with torch.no_grad():
        H = model.hidden(data.X.to(device)).double()
        W2 = model.readout()[0].detach().double()
        W1 = model.input_weights.detach()
    n = int(mask.sum())
    d, C = W1.shape[1], W2.shape[1]
    chosen = greedy_forward_selection(H, W2, data.Y.to(device).double(), n, replacement=False, seed=seed)
    gfs_counts = torch.bincount(torch.as_tensor(chosen.indices).cpu(), minlength=W1.shape[0])
    iterations = [t, spec.finetune_steps]
    tickets = {}
    for name, counts in (("earlybird", mask.long()), ("gfs", gfs_counts)):
        subnet = pruned_two_layer(W1, W2.to(W1.dtype), counts).to(device)
        tickets[name] = _ticket_entry(
            spec, subnet, data, seed, device, int((counts > 0).sum()), subnet.width * (d + C), iterations
        )
    return {
        "t": t,
        "finetune_steps": spec.finetune_steps,
        "budget_iterations": t + spec.finetune_steps,
        "overlap_neurons": int(((gfs_counts > 0) & mask).sum()),
        **tickets,
    }


def _inner_channel_sizes(block: nn.Module) -> tuple[int, int]:
    """(conv/linear weights, all parameters) that one inner channel of a residual block carries:
    its conv1 filter, its bn1 scale and shift, its conv2 input slice."""
    weights = block.conv1.weight[0].numel() + block.conv2.weight[:, 0].numel()
    bias = 0 if block.conv1.bias is None else 1
    return weights, weights + bias + 2


def cnn_tickets(
    spec: ExperimentSpec, model: nn.Module, mask: torch.Tensor, data: UnitData, seed: int, t: int, device: torch.device
) -> dict:
    """CNN tickets at t: EB = the dense net with the unkept inner channels zeroed (bn1 scale and shift
    masked, so the channel's output is exactly 0, the same function as removing it); GFS = layer-wise GFS
    without replacement keeping as many inner channels per block (on the labels, cross-entropy)."""
    from torch.nn.utils import prune

    from ebtheory.models import count_parameters
    from ebtheory.prune.layerwise import layerwise_gfs, prunable_layers

    widths = [block.bn1.num_features for block in model.blocks]
    parts = mask.split(widths)
    kept = [int(part.sum()) for part in parts]
    ticket = copy.deepcopy(model)
    for block, part in zip(ticket.blocks, parts):
        for name in ("weight", "bias"):
            prune.custom_from_mask(block.bn1, name, part.to(block.bn1.weight.device, block.bn1.weight.dtype))
    removed = sum((w - n) * _inner_channel_sizes(block)[1] for block, w, n in zip(model.blocks, widths, kept))
    result = layerwise_gfs(
        model,
        data.X.to(device),
        data.y.to(device),
        [max(n, 1) for n in kept],
        loss="cross_entropy",
        replacement=False,
        seed=seed,
    )
    overlap = sum(
        len(set(result.selections[name]) & set(torch.nonzero(part).flatten().tolist()))
        for name, part in zip(prunable_layers(model), parts)
    )
    iterations = [t, spec.finetune_steps]
    return {
        "t": t,
        "finetune_steps": spec.finetune_steps,
        "budget_iterations": t + spec.finetune_steps,
        "overlap_neurons": overlap,
        "kept_per_block": kept,
        "earlybird": _ticket_entry(
            spec, ticket, data, seed, device, sum(kept), count_parameters(model) - removed, iterations
        ),
        "gfs": _ticket_entry(
            spec,
            result.model.to(device),
            data,
            seed,
            device,
            int(sum(result.widths_after.values())),
            result.params_after,
            iterations,
        ),
    }


def ticket_weight_count(spec: ExperimentSpec, model: nn.Module, tickets: dict, d: int) -> int:
    """Conv / linear weights the EB ticket keeps, the count IMP prunes to: n * d input weights for the
    two-layer nets; for the CNN every conv / linear weight but those of the removed inner channels."""
    from ebtheory.prune.imp import prunable_parameters

    if spec.model != "cnn":
        return tickets["earlybird"]["neurons"] * d
    total = sum(getattr(module, name).numel() for module, name in prunable_parameters(model))
    widths = [block.bn1.num_features for block in model.blocks]
    return total - sum(
        (w - n) * _inner_channel_sizes(block)[0] for block, w, n in zip(model.blocks, widths, tickets["kept_per_block"])
    )


def split_budget(budget: int, parts: int) -> list[int]:
    """`budget` iterations split over `parts` trainings as evenly as possible, earlier parts first."""
    return [budget // parts + (1 if i < budget % parts else 0) for i in range(parts)]


def imp_ticket(
    spec: ExperimentSpec, data: UnitData, seed: int, weights: int, budget: int, device: torch.device
) -> dict:
    """IMP with rewinding to t = 0 on a fresh initial net, down to `weights` surviving weights (two-layer:
    input weights W; CNN: every conv / linear weight), with `budget` training iterations in all (dense
    run + one retraining per round). "neurons": hidden units (CNN: inner channels) with a kept weight."""
    from ebtheory.prune.imp import iterative_magnitude_pruning, prunable_parameters, trainer_from_config

    model = build_model(spec, data, seed)
    chosen = prunable_parameters(model) if spec.model == "cnn" else [(model, "input_weights")]
    parts = split_budget(budget, spec.imp_rounds + 1)
    config = train_config(spec, data.X.shape[0], seed)
    trainers = iter([trainer_from_config(data.X, _train_targets(spec, data), config, s, device) for s in parts])
    result = iterative_magnitude_pruning(
        model,
        lambda net, checkpoints, callback: next(trainers)(net, checkpoints, callback),
        target_remaining=weights,
        rounds=spec.imp_rounds,
        rewind_iteration=0,
        parameters=chosen,
    )
    numbers = network_numbers(spec, model, data, device)
    rows_of = [
        mask
        for (module, _), mask in zip(chosen, result.masks)
        if spec.model != "cnn" or any(module is block.conv1 for block in model.blocks)
    ]
    neurons = sum(int(mask.reshape(mask.shape[0], -1).any(dim=1).sum()) for mask in rows_of)
    return {
        "neurons": neurons,
        "params": result.remaining[-1],
        "iterations": parts,
        "total_iterations": budget,
        "rounds": spec.imp_rounds,
        "remaining": result.remaining,
        "pruned": None,
        **numbers,
    }


def finish_earlybird(
    spec: ExperimentSpec, trace: EarlyBirdTrace, data: UnitData, seed: int, device: torch.device
) -> dict:
    """The unit-summary fields of Early-Bird: matrix, detection time, settings, and the three tickets."""
    from ebtheory.prune.earlybird import distance_matrix

    index = trace.detector.detected_at
    tickets = trace.tickets
    if tickets is not None:
        weights = ticket_weight_count(spec, build_model(spec, data, seed), tickets, int(data.X[0].numel()))
        tickets = {**tickets, "imp": imp_ticket(spec, data, seed, weights, tickets["budget_iterations"], device)}
    skipped = None if index is not None else "no Early-Bird detection on the checkpoint grid"
    return {
        "earlybird_checkpoints": trace.checkpoints,
        "earlybird_distance_matrix": distance_matrix(trace.masks).tolist(),
        "earlybird_detection_t": None if index is None else trace.checkpoints[index],
        "earlybird": {
            "score": "bn1_scale" if spec.model == "cnn" else "neuron_norm",
            "ratio": trace.ratio,
            "kept": int(trace.masks[0].sum()),
            "total": int(trace.masks[0].numel()),
            "window": spec.earlybird_window,
            "eps": spec.earlybird_eps,
            "compare": spec.earlybird_compare,
            "bn_l1": spec.earlybird_bn_l1,
            "detection_index": index,
            "tickets_skipped": skipped,
        },
        "tickets": tickets,
    }


def two_layer_point(
    spec: ExperimentSpec, model: nn.Module, data: UnitData, seed: int, t: int, device: torch.device
) -> dict:
    """Every number of point (m, seed, t) for a two-layer net (see ebtheory.verify.records for the fields)."""
    from ebtheory.prune.baselines import magnitude_selection, random_selection
    from ebtheory.prune.gfs import atom_spread, greedy_forward_selection, pruned_two_layer

    model.eval()
    with torch.no_grad():
        X = data.X.to(device)
        H = model.hidden(X).double()
        W2, _ = model.readout()
        W2 = W2.detach().double()
        W1 = model.input_weights.detach()
        dense_out = H @ W2
    Y = data.Y.to(device).double()
    N = W1.shape[0]
    spread = float(atom_spread(H, W2))
    subnets: dict[str, dict] = {}

    def record(
        name: str, target_name: str, counts: torch.Tensor, curve: list[float] | None, lemma_target: torch.Tensor | None
    ) -> None:
        subnet = pruned_two_layer(W1, W2.to(W1.dtype), counts.cpu()).to(device)
        numbers = network_numbers(spec, subnet, data, device)
        target = Y if target_name == "labels" else dense_out
        with torch.no_grad():
            target_loss = _sum_loss(subnet(X), target)
        entry = {
            "target": target_name,
            **numbers,
            "target_loss_sum": target_loss,
            "distinct": int((counts > 0).sum()),
            "loss_curve_sum": curve,
            "lemma_a": None,
            "finetuned": _finetuned(spec, subnet, data, seed, device),
        }
        if lemma_target is not None:
            measured = curve[-1]
            entry["lemma_a"] = lemma_a_check(
                _sum_loss(dense_out, lemma_target),
                spread,
                spec.k,
                spec.eps,
                measured,
                _sum_loss(torch.zeros_like(lemma_target), lemma_target),
            )
        subnets[name] = entry

    for target_name in spec.targets:
        target = Y if target_name == "labels" else dense_out
        result = greedy_forward_selection(H, W2, target, spec.k, replacement=spec.replacement, seed=seed)
        counts = torch.bincount(torch.as_tensor(result.indices).cpu(), minlength=N)
        curve = [float(v) for v in np.asarray(result.losses, dtype=float)]
        record(f"gfs_{target_name}", target_name, counts, curve, target if spec.replacement else None)
    point_seed = _point_seed(seed, t)
    for baseline in spec.baselines:
        if baseline == "magnitude":
            chosen = magnitude_selection(W1.cpu(), W2.cpu(), spec.k)
        else:
            chosen = random_selection(N, spec.k, seed=point_seed)
        counts = torch.bincount(torch.as_tensor(chosen).cpu(), minlength=N)
        record(baseline, "labels", counts, None, None)
    return {"width": N, "V": spread, "subnets": subnets}


def _point_seed(seed: int, t: int) -> int:
    return int(seed) * 1_000_003 + int(t)


def cnn_point(spec: ExperimentSpec, model: nn.Module, data: UnitData, seed: int, t: int, device: torch.device) -> dict:
    """Layer-wise GFS of the CNN at point (m, seed, t); empirical numbers only (THEORY.md 5.6)."""
    from ebtheory.prune.layerwise import layerwise_gfs

    model.eval()
    X = data.X.to(device)
    subnets: dict[str, dict] = {}
    for target_name in spec.targets:
        if target_name == "labels":
            target, loss = data.y.to(device), "cross_entropy"
        else:
            with torch.no_grad():
                target, loss = model(X).detach(), "squared"
        result = layerwise_gfs(model, X, target, spec.k, loss=loss, replacement=spec.replacement, seed=seed)
        subnet = result.model.to(device)
        numbers = network_numbers(spec, subnet, data, device)
        subnets[f"gfs_{target_name}"] = {
            "target": target_name,
            **numbers,
            "target_loss_sum": None,
            "distinct": int(sum(result.widths_after.values())),
            "loss_curve_sum": None,
            "lemma_a": None,
            "finetuned": _finetuned(spec, subnet, data, seed, device),
            "params_before": result.params_before,
            "params_after": result.params_after,
            "macs_before": result.macs_before,
            "macs_after": result.macs_after,
        }
    return {"width": None, "V": None, "subnets": subnets}


def unit_constants(spec: ExperimentSpec, data: UnitData, spreads: dict[int, float], L0: float) -> tuple[dict, dict]:
    """(constants, predicted t*) of a two-layer unit; see ebtheory.verify.records for the fields.

    V_bar is the largest atom spread measured on the checkpoint grid (THEORY.md 4: a bound on V along
    training). The "fixed_eta" prediction uses the eta this unit ran with (ebtheory.verify.spec.step_size: the
    spec's eta, or eta * max(ms)/m under eta_scaling 'inverse_m'); "du_eta" uses eta = lambda0 / m^2.
    """
    from ebtheory.constants import lambda0 as gram_spectrum
    from ebtheory.symbolic import BoundInputs, evaluate_bound, threshold_from_constants

    m, C = data.X.shape[0], data.num_classes
    eta_run = step_size(spec, m)
    spectrum = gram_spectrum(data.X.double())
    lam0, lam_max = float(spectrum.lambda_min), float(spectrum.lambda_max)
    y_norm2 = float(data.Y.double().square().sum())
    V_bar = max(spreads.values())
    constants = {
        "lambda0": lam0,
        "lambda_max": lam_max,
        "V0": spreads[0],
        "V_bar": V_bar,
        "L0_sum": L0,
        "y_norm2": y_norm2,
        "eta": eta_run,
        "width": spec.width,
        "kappa": spec.kappa,
        "eta_times_lambda_max": eta_run * lam_max,
    }
    if not lam0 > 0:
        return constants, None
    predicted = {}
    for regime, eta in (("fixed_eta", eta_run), ("du_eta", lam0 / m**2)):
        if not 0 < eta * lam0 < 2:
            predicted[regime] = None
            continue
        values = evaluate_bound(
            BoundInputs(
                m=m,
                k=spec.k,
                eta=eta,
                lambda0=lam0,
                delta=spec.delta,
                V=V_bar,
                C=C,
                kappa=spec.kappa,
                eps=spec.eps,
                y_norm2=y_norm2,
                loss="sum",
            )
        )
        measured = threshold_from_constants(values.c1, L0, values.tol, eta, lam0)[0] if L0 > 0 else None
        predicted[regime] = {
            "eta": eta,
            "t_star": values.t_star,
            "t_star_upper": values.t_star_upper,
            "tol": values.tol,
            "c1": values.c1,
            "L0_bound": values.L0_bound,
            "t_star_measured_L0": measured,
        }
    return constants, predicted


def run_unit(spec: ExperimentSpec, m: int, seed: int, run_dir: str, device: str = "auto") -> None:
    """Unit (m, seed): pre-train once, write a row for every unfinished checkpoint, then the summary."""
    from ebtheory.train import select_device, train_with_checkpoints

    if records.unit_finished(run_dir, m, seed):
        return
    started = time.perf_counter()
    torch.manual_seed(seed)
    target_device = select_device(device)
    data = load_unit_data(spec, m, seed)
    model = build_model(spec, data, seed)
    done = records.finished_points(run_dir, m, seed)
    spreads: dict[int, float] = {}
    point_fn = cnn_point if spec.model == "cnn" else two_layer_point
    trace = start_earlybird(spec)
    mask_times = set(earlybird_times(spec)) if trace is not None else set()
    point_times = set(spec.checkpoints)

    def on_checkpoint(t: int, current: nn.Module) -> None:
        # Every mask time, finished or not: the masks are cheap and a resumed unit needs all of them.
        if t in mask_times:
            observe_earlybird(spec, trace, t, current, data, seed, target_device)
        if t not in point_times:
            return
        if t in done and spec.model == "cnn":
            return
        if t in done:
            spreads[t] = records.read_point(run_dir, m, seed, t).V
            return
        dense = network_numbers(spec, current, data, target_device)
        values = point_fn(spec, current, data, seed, t, target_device)
        if values["V"] is not None:
            spreads[t] = values["V"]
        records.write_point(
            run_dir,
            {"run_hash": spec.hash, "m": m, "seed": seed, "t": t, "k": spec.k, "dense": dense, **values},
        )

    result = train_with_checkpoints(
        model,
        data.X,
        _train_targets(spec, data),
        train_config(spec, m, seed),
        sorted(point_times | mask_times),
        device=target_device,
        on_checkpoint=on_checkpoint,
        keep_states=False,
        loss_every=1 if spec.optimizer == "gd" else max(spec.checkpoints),
        penalty=_bn_penalty(spec),
    )
    curve = [float(v) if math.isfinite(v) else None for v in result.losses]
    constants, predicted = (None, None)
    if spec.model != "cnn":
        L0 = _sum_loss_of_curve(spec, curve[0], m)
        constants, predicted = unit_constants(spec, data, spreads, L0)
    earlybird = {} if trace is None else finish_earlybird(spec, trace, data, seed, target_device)
    records.write_unit(
        run_dir,
        {
            "run_hash": spec.hash,
            "m": m,
            "seed": seed,
            "checkpoints": list(spec.checkpoints),
            "train_loss": spec.train_loss,
            "dense_loss_curve": curve,
            "constants": constants,
            "predicted": predicted,
            **earlybird,
            "device": str(target_device),
            "elapsed_s": time.perf_counter() - started,
        },
    )


def _bn_penalty(spec: ExperimentSpec):
    """The L1 penalty on BN scales (You et al. Sec. 3.2) when spec.earlybird_bn_l1 > 0, else None."""
    from ebtheory.prune.earlybird import bn_l1_penalty

    if spec.earlybird_bn_l1 == 0:
        return None
    return lambda model: bn_l1_penalty(model, spec.earlybird_bn_l1)


def _sum_loss_of_curve(spec: ExperimentSpec, value: float, m: int) -> float:
    """The initial loss in sum units (the training curve is in the units of spec.train_loss)."""
    return value * m if spec.train_loss == "mean_squares" else value
