"""Greedy forward selection layer by layer, for deep MLPs and residual CNNs (Ye et al., ICML 2020).

docs/theory.md section 5.6: beyond two layers, GFS selects the neurons (MLP) or channels (CNN) of one layer
at a time, from the input side to the output side, and only the empirical part of the theory applies.

The averaged subnetwork of one layer. With n units and a multiset S of them, the layer's activations h
are gated so that unit j carries weight count_S(j) * n / |S|; every other layer is left as it is (layers
below were already replaced by their pruned versions). For a net with one hidden layer and output
h @ W2 + b this is exactly u_S = (1/|S|) sum_{r in S} g_r with atoms g_r = n h_r (x) W2[r] + b, docs/theory.md
section 2. Step s picks the unit whose addition gives the least loss of the WHOLE network:
    S_s = S_{s-1} + {argmin_j L(net with this layer gated to S_{s-1} + {j})},  ties to the lowest index.
The layer after the gate (the "mixer", a Linear or Conv2d) is linear in h, so with P = mixer(h * c) for
the counts c of S_{s-1}, candidate j gives the mixer output (n/s) (P + mixer(h_j e_j)) + bias: one
contribution per candidate, scored in batches of `candidate_batch` through the layers above, with the
activations below the layer computed once per layer.

Losses (sum over the m examples, docs/theory.md convention):
    "squared":       L = 1/2 ||f(X) - T||_F^2
    "cross_entropy": L = -sum_i sum_c T_ic log softmax(f(x_i))_c
where T is Y itself (an m x C float matrix) or one_hot(Y) for integer labels Y.

BatchNorm during scoring (`LayerwiseOptions.statistics`, issue 12.3). "running": eval mode, every
BatchNorm uses its running statistics, so every candidate sees the same fixed function; after pruning
those statistics are stale. "batch": every BatchNorm normalises each candidate subnetwork with the
statistics of that subnetwork's own activations over the m examples (a train-mode forward of the
candidate alone, running buffers untouched; ebtheory.prune.batchnorm.normalise), so a candidate is
judged as it will behave once its statistics are re-estimated. Under "batch" the gate's overall scale
n/|S| cancels in the BatchNorm after the pruned layer (only the relative counts matter).

After each pruned layer (and on the dense working copy before the first) `reestimate_bn` recomputes
every running mean and variance on X with no weight change (ebtheory.prune.batchnorm), so every
returned subnetwork carries statistics of its own. Per-layer fine-tuning (`finetune_epochs`) trains
the whole working net for a fraction of an epoch in train mode after each layer, as Ye et al.'s
reference code does (0.1 epoch); adaptive stopping (`stop_accuracy`) ends a layer's selection once
the subnetwork's training accuracy reaches that fraction of the dense net's (Ye et al.: 0.98).
`LayerwiseOptions()` holds the practitioner defaults (without replacement, half the channels of each
block, batch statistics, re-estimation); calling `layerwise_gfs` without `options` keeps the
behaviour of the versions before issue 12 (`LEGACY_OPTIONS`: eval-mode scoring, no re-estimation),
so recorded runs reproduce.

The result's model is physically smaller: for a DeepMLP
each hidden Linear keeps the chosen rows and the next Linear the chosen columns times count * n / |S|;
for a ResidualCNN each block keeps the chosen conv1 output channels, the matching bn1 entries (weight,
bias, running_mean, running_var) and conv2 input channels times count * n / |S|. Not pruned in a
ResidualCNN: the stem, the block outputs (conv2 / bn2 / shortcut, tied to the identity shortcuts) and
the head. `prune_units` builds the same smaller net for any given units with their weights unchanged
(no gate scale), and `l1_norm_units` (Li et al., ICLR 2017) and `random_units` choose units for the
baselines at equal size.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebtheory.models import DeepMLP, ResidualBlock, ResidualCNN, count_macs, count_parameters
from ebtheory.prune.batchnorm import normalise, reestimate_batch_norm
from ebtheory.train import TrainConfig, fine_tune_epochs
from ebtheory.validation import require_choice, require_positive_int

__all__ = [
    "LEGACY_OPTIONS",
    "LOSSES",
    "STATISTICS",
    "LayerwiseOptions",
    "LayerwiseResult",
    "l1_norm_units",
    "layerwise_gfs",
    "prunable_layers",
    "prune_units",
    "random_units",
    "reestimate_batch_norm",
]

LOSSES = ("squared", "cross_entropy")
STATISTICS = ("batch", "running")
Keep = int | float | Sequence[int] | Mapping[str, int]
CANDIDATE_ELEMENTS = 2**25  # auto candidate_batch: about this many floats per stacked mixer output


@dataclass(frozen=True)
class LayerwiseOptions:
    """How layer-wise GFS prunes (issue 12.3; Ye et al., ICML 2020, and their reference code).

    keep: greedy steps per layer (see `layerwise_gfs`); default 0.5 = half the units of each layer.
    replacement: select with replacement (Lemma A, docs/theory.md sections 3, 5.4) or without (Ye et al.'s code).
    statistics: "batch" scores each candidate with BatchNorm batch statistics of its own activations
        over the m examples (no running-statistics update); "running" in eval mode (module docstring).
    reestimate_bn: re-estimate BatchNorm running statistics on X (no weight change) for the dense
        working copy, after every pruned layer and so for the returned subnetwork.
    stop_accuracy: adaptive stopping; a layer's selection ends after the first step at which the
        subnetwork's training accuracy (argmax of the outputs against argmax of the target rows, in
        the scoring mode) is >= stop_accuracy * the dense net's; `keep` is then the cap. None: no stop.
    finetune_epochs: after each layer, train the whole working net this many epochs (fractions allowed,
        ebtheory.train.epochs_to_steps) with `finetune` (its loss must match: cross_entropy for
        loss="cross_entropy", mean_squares or sum_squares for "squared"); layer i uses minibatch seed
        finetune.seed + i. 0: none.
    bn_batch_size: rows per batch of the BatchNorm re-estimate.
    """

    keep: Keep = 0.5
    replacement: bool = False
    statistics: str = "batch"
    reestimate_bn: bool = True
    stop_accuracy: float | None = None
    finetune_epochs: float | Fraction = 0.0
    finetune: TrainConfig | None = None
    bn_batch_size: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.replacement, bool):
            raise ValueError(f"replacement must be True or False; got replacement={self.replacement!r}")
        require_choice("statistics", self.statistics, STATISTICS)
        if not isinstance(self.reestimate_bn, bool):
            raise ValueError(f"reestimate_bn must be True or False; got reestimate_bn={self.reestimate_bn!r}")
        if self.stop_accuracy is not None and not (
            isinstance(self.stop_accuracy, numbers.Real) and 0 < float(self.stop_accuracy) <= 1
        ):
            raise ValueError(f"stop_accuracy must be None or lie in (0, 1]; got stop_accuracy={self.stop_accuracy!r}")
        if not (
            isinstance(self.finetune_epochs, numbers.Real)
            and math.isfinite(float(self.finetune_epochs))
            and self.finetune_epochs >= 0
        ):
            raise ValueError(
                f"finetune_epochs must be a finite number >= 0; got finetune_epochs={self.finetune_epochs!r}"
            )
        if self.finetune_epochs > 0 and not isinstance(self.finetune, TrainConfig):
            raise ValueError(f"finetune must be a TrainConfig when finetune_epochs > 0; got finetune={self.finetune!r}")
        require_positive_int("bn_batch_size", self.bn_batch_size)


LEGACY_OPTIONS = LayerwiseOptions(keep=0.5, replacement=True, statistics="running", reestimate_bn=False)


@dataclass(frozen=True)
class LayerwiseResult:
    """Outcome of `layerwise_gfs`.

    model: the new, smaller network (same class as the input; the input model is not modified).
    selections: layer name -> chosen unit indices of that layer in selection order, with repeats.
    losses: layer name -> (steps,) float64, the whole net's sum loss after each step at that layer, in
        the scoring mode (`LayerwiseOptions.statistics`); fewer than `keep` steps after an adaptive stop.
    dense_loss: sum loss of the dense working copy in eval mode (after re-estimation when reestimate_bn).
    accuracies: layer name -> (steps,) training accuracy after each step (argmax against argmax of
        the target rows), in the scoring mode.
    dense_accuracy: the dense working copy's training accuracy in the scoring mode.
    options: the options the selection ran with.
    widths_before / widths_after: layer name -> number of units.
    params_* (count_parameters) and macs_* (count_macs, per example) before and after pruning.
    """

    model: nn.Module
    selections: dict[str, list[int]]
    losses: dict[str, np.ndarray]
    dense_loss: float
    widths_before: dict[str, int]
    widths_after: dict[str, int]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    accuracies: dict[str, np.ndarray]
    dense_accuracy: float
    options: LayerwiseOptions


@dataclass(frozen=True)
class _Site:
    """One prunable layer of the working model: its activations, the mixer after them, the net above."""

    width: int
    activations: Tensor  # (m, n) or (m, n, H, W), computed once per layer
    mixer: nn.Linear | nn.Conv2d
    above: Callable[[Tensor], Tensor]  # mixer outputs (B, m, ...) -> network outputs (B, m, C)
    shrink: Callable[[Tensor, Tensor], None]  # (kept indices, input scales) -> smaller working model


def prunable_layers(model: nn.Module) -> list[str]:
    """Names of the layers whose units layer-wise GFS selects, input side first."""
    if isinstance(model, DeepMLP):
        return [f"layers.{i}" for i in range(len(model.layers) - 1)]
    if isinstance(model, ResidualCNN):
        return [f"blocks.{b}.conv1" for b in range(len(model.blocks))]
    raise ValueError(
        f"model must be a DeepMLP or a ResidualCNN; got {type(model).__name__} "
        "(two-layer nets: use ebtheory.prune.gfs.greedy_forward_selection)"
    )


def _input_shape(model: nn.Module) -> tuple[int, ...]:
    if isinstance(model, DeepMLP):
        return (model.linear(0).in_features,)
    assert isinstance(model, ResidualCNN)
    return model.input_shape


Layer = TypeVar("Layer", nn.Linear, nn.Conv2d)


def _filled(module: Layer, weight: Tensor, bias: Tensor | None) -> Layer:
    """Copy weight and bias into the freshly built `module`."""
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None and module.bias is not None:
            module.bias.copy_(bias)
    return module


def _linear(layer: nn.Linear, in_features: int, out_features: int) -> nn.Linear:
    return nn.Linear(
        in_features, out_features, bias=layer.bias is not None, device=layer.weight.device, dtype=layer.weight.dtype
    )


def _conv(conv: nn.Conv2d, in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        out_channels,
        cast(tuple[int, int], conv.kernel_size),
        stride=cast(tuple[int, int], conv.stride),
        padding=cast(tuple[int, int], conv.padding),
        dilation=cast(tuple[int, int], conv.dilation),
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )


def _output_units(layer: Layer, kept: Tensor) -> Layer:
    """Keep the output units (Linear rows, Conv out channels) `kept`."""
    bias = None if layer.bias is None else layer.bias[kept]
    if isinstance(layer, nn.Linear):
        return _filled(_linear(layer, layer.in_features, len(kept)), layer.weight[kept], bias)
    return _filled(_conv(layer, layer.in_channels, len(kept)), layer.weight[kept], bias)


def _input_units(layer: Layer, kept: Tensor, scales: Tensor) -> Layer:
    """Keep the input units `kept`, their weights multiplied by `scales` (the folded gate count * n/|S|)."""
    weight = layer.weight[:, kept] * scales.reshape(-1, *[1] * (layer.weight.dim() - 2))
    if isinstance(layer, nn.Linear):
        return _filled(_linear(layer, len(kept), layer.out_features), weight, layer.bias)
    return _filled(_conv(layer, len(kept), layer.out_channels), weight, layer.bias)


def _batch_norm_channels(bn: nn.BatchNorm2d, kept: Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(
        len(kept),
        eps=bn.eps,
        momentum=bn.momentum,
        affine=bn.affine,
        track_running_stats=bn.track_running_stats,
        device=bn.running_mean.device if bn.running_mean is not None else None,
        dtype=bn.running_mean.dtype if bn.running_mean is not None else None,
    )
    with torch.no_grad():
        if bn.affine:
            new.weight.copy_(bn.weight[kept])
            new.bias.copy_(bn.bias[kept])
        if bn.track_running_stats:
            assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
            assert new.running_mean is not None and new.running_var is not None and new.num_batches_tracked is not None
            new.running_mean.copy_(bn.running_mean[kept])
            new.running_var.copy_(bn.running_var[kept])
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _shrinker(model: nn.Module, index: int) -> Callable[[Tensor, Tensor], None]:
    """(kept indices, input scales) -> make prunable layer `index` of `model` keep only those units."""
    if isinstance(model, DeepMLP):

        def shrink_mlp(kept: Tensor, scales: Tensor) -> None:
            model.layers[index + 1] = _input_units(model.linear(index + 1), kept, scales)
            model.layers[index] = _output_units(model.linear(index), kept)

        return shrink_mlp
    assert isinstance(model, ResidualCNN)
    block = model.block(index)

    def shrink_block(kept: Tensor, scales: Tensor) -> None:
        block.conv2 = _input_units(block.conv2, kept, scales)
        block.bn1 = _batch_norm_channels(block.bn1, kept)
        block.conv1 = _output_units(block.conv1, kept)

    return shrink_block


def _mlp_site(model: DeepMLP, index: int, X: Tensor) -> _Site:
    h = X.flatten(1)
    for layer in model.layers[: index + 1]:
        h = F.relu(layer(h))
    upper = list(model.layers[index + 2 :])

    def above(z: Tensor) -> Tensor:
        for layer in upper:
            z = layer(F.relu(z))
        return z

    return _Site(model.linear(index).out_features, h, model.linear(index + 1), above, _shrinker(model, index))


# Functional forwards of ResidualCNN with a choice of BatchNorm statistics (normalise: groups=None is
# eval mode with running statistics, groups=G normalises each of G stacked batches with its own).
def _stem(model: ResidualCNN, X: Tensor, groups: int | None) -> Tensor:
    x = X.reshape(X.shape[0], *model.input_shape) if X.dim() == 2 else X
    conv, bn = model.stem
    return F.relu(normalise(cast(nn.BatchNorm2d, bn), conv(x), groups))


def _inner(block: ResidualBlock, h: Tensor, groups: int | None) -> Tensor:
    return F.relu(normalise(block.bn1, block.conv1(h), groups))


def _shortcut(block: ResidualBlock, h: Tensor, groups: int | None) -> Tensor:
    if isinstance(block.shortcut, nn.Identity):
        return h
    conv, bn = cast(nn.Sequential, block.shortcut)
    return normalise(cast(nn.BatchNorm2d, bn), conv(h), groups)


def _block(block: ResidualBlock, h: Tensor, groups: int | None) -> Tensor:
    """ResidualBlock.forward: relu(bn2(conv2(inner(h))) + shortcut(h))."""
    return F.relu(normalise(block.bn2, block.conv2(_inner(block, h, groups)), groups) + _shortcut(block, h, groups))


def _forward(model: nn.Module, X: Tensor, statistics: str) -> Tensor:
    """The whole net's outputs on X, BatchNorm in the scoring mode (batch statistics over all of X)."""
    if not isinstance(model, ResidualCNN) or statistics == "running":
        return model(X)
    h = _stem(model, X, 1)
    for index in range(len(model.blocks)):
        h = _block(model.block(index), h, 1)
    return model.classify(h)


def _cnn_site(model: ResidualCNN, index: int, X: Tensor, statistics: str) -> _Site:
    below = 1 if statistics == "batch" else None
    h = _stem(model, X, below)
    for lower in range(index):
        h = _block(model.block(lower), h, below)
    block = model.block(index)
    shortcut = _shortcut(block, h, below)
    upper = [model.block(later) for later in range(index + 1, len(model.blocks))]

    def above(z: Tensor) -> Tensor:
        # Candidates ride along as the SECOND axis, (m, B, ...) flattened to m*B rows: the layout the
        # grouped conv of _unit_contributions produces (so the transpose below is free) and the
        # interleaved layout in which normalise's per-candidate statistics are one fused kernel.
        count, m = z.shape[:2]
        groups = count if statistics == "batch" else None
        rows = z.transpose(0, 1).reshape(m * count, *z.shape[2:])
        y = F.relu(normalise(block.bn2, rows, groups).unflatten(0, (m, count)) + shortcut[:, None]).flatten(0, 1)
        for later in upper:
            y = _block(later, y, groups)
        return model.classify(y).unflatten(0, (m, count)).transpose(0, 1)

    return _Site(block.conv1.out_channels, _inner(block, h, below), block.conv2, above, _shrinker(model, index))


def _site(model: nn.Module, index: int, X: Tensor, statistics: str) -> _Site:
    if isinstance(model, DeepMLP):
        return _mlp_site(model, index, X)
    assert isinstance(model, ResidualCNN)
    return _cnn_site(model, index, X, statistics)


def _mix(mixer: nn.Linear | nn.Conv2d, h: Tensor) -> Tensor:
    """The mixer without its bias applied to h: it is linear in h."""
    if isinstance(mixer, nn.Linear):
        return h @ mixer.weight.T
    return F.conv2d(h, mixer.weight, None, mixer.stride, mixer.padding, mixer.dilation, mixer.groups)


def _unit_contributions(mixer: nn.Linear | nn.Conv2d, h: Tensor, units: Tensor) -> Tensor:
    """mixer(h_j e_j) without bias for each j in `units`, stacked to (B, m, ...)."""
    if isinstance(mixer, nn.Linear):
        return h[:, units].T[:, :, None] * mixer.weight[:, units].T[:, None, :]
    weight = mixer.weight[:, units].transpose(0, 1)  # (B, out, kh, kw): one group per candidate
    count = len(units)
    out = F.conv2d(
        h[:, units],
        weight.reshape(count * mixer.out_channels, 1, *weight.shape[2:]),
        None,
        mixer.stride,
        mixer.padding,
        mixer.dilation,
        groups=count,
    )
    return out.unflatten(1, (count, mixer.out_channels)).transpose(0, 1)


def _mixer_bias(mixer: nn.Linear | nn.Conv2d) -> Tensor | float:
    if mixer.bias is None:
        return 0.0
    return mixer.bias if isinstance(mixer, nn.Linear) else mixer.bias[:, None, None]


def _batched_loss(outputs: Tensor, targets: Tensor, loss: str) -> Tensor:
    """Sum loss over examples for each of B output matrices (B, m, C) -> (B,)."""
    if loss == "squared":
        return 0.5 * (outputs - targets).square().sum(dim=(1, 2))
    return -(targets * torch.log_softmax(outputs, dim=-1)).sum(dim=(1, 2))


def _targets(Y: Tensor, m: int, outputs: int, loss: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """T: Y as an (m, C) float matrix; integer labels become one-hot rows."""
    if not isinstance(Y, Tensor):
        raise ValueError(f"Y must be a torch.Tensor; got {type(Y).__name__}")
    if Y.shape[0] != m:
        raise ValueError(f"Y must have one row per example of X (m={m}); got shape {tuple(Y.shape)}")
    if not Y.is_floating_point():
        if Y.dim() != 1 or int(Y.min()) < 0 or int(Y.max()) >= outputs:
            raise ValueError(
                f"integer Y must be labels of shape (m,) in [0, {outputs - 1}]; "
                f"got shape {tuple(Y.shape)}, range [{int(Y.min())}, {int(Y.max())}]"
            )
        return F.one_hot(Y.long(), outputs).to(dtype=dtype, device=device)
    T = Y.reshape(m, 1) if Y.dim() == 1 and outputs == 1 else Y
    if tuple(T.shape) != (m, outputs):
        raise ValueError(f"float Y must have shape (m, C) = ({m}, {outputs}); got {tuple(Y.shape)}")
    if not torch.isfinite(T).all():
        raise ValueError("Y must be finite; it contains NaN or inf")
    return T.to(dtype=dtype, device=device)


def _steps_per_layer(keep: Keep, names: list[str], widths: list[int], replacement: bool) -> list[int]:
    if isinstance(keep, Mapping):
        if set(keep) != set(names):
            raise ValueError(f"keep as a mapping must name exactly the layers {names}; got keys {sorted(keep)}")
        steps = [require_positive_int(f"keep[{name!r}]", keep[name]) for name in names]
    elif isinstance(keep, numbers.Integral) and not isinstance(keep, bool):
        steps = [require_positive_int("keep", keep)] * len(names)
    elif isinstance(keep, numbers.Real) and not isinstance(keep, bool):
        if not 0 < float(keep) <= 1:
            raise ValueError(f"keep as a fraction of each layer's width must lie in (0, 1]; got {keep!r}")
        steps = [max(1, round(float(keep) * width)) for width in widths]
    elif isinstance(keep, Sequence) and not isinstance(keep, str):
        if len(keep) != len(names):
            raise ValueError(f"keep as a sequence needs one entry per layer {names}; got {list(keep)}")
        steps = [require_positive_int(f"keep[{i}]", k) for i, k in enumerate(keep)]
    else:
        raise ValueError(f"keep must be an int, a fraction in (0, 1], a sequence or a mapping; got {keep!r}")
    if not replacement:
        for name, k, width in zip(names, steps, widths):
            if k > width:
                raise ValueError(f"keep for {name} must lie in [1, {width}] without replacement; got {k}")
    return steps


@dataclass(frozen=True)
class _LayerSelection:
    chosen: list[int]  # unit indices in selection order, with repeats
    losses: np.ndarray  # (steps,) sum loss after each step
    accuracies: np.ndarray  # (steps,) training accuracy after each step
    counts: Tensor  # (width,) times each unit was chosen


def _select_layer(
    site: _Site,
    targets: Tensor,
    labels: Tensor,
    loss: str,
    steps: int,
    replacement: bool,
    candidate_batch: int | None,
    n_candidates: int | None,
    generator: torch.Generator,
    stop_at: float | None,
) -> _LayerSelection:
    """Greedy steps at one layer, at most `steps`; stops early once the accuracy reaches `stop_at`."""
    h, mixer, width = site.activations, site.mixer, site.width
    bias = _mixer_bias(mixer)
    counts = torch.zeros(width, dtype=torch.long, device=h.device)
    mixed = torch.zeros_like(_mix(mixer, h))
    if candidate_batch is None:
        candidate_batch = max(1, min(128, CANDIDATE_ELEMENTS // max(1, mixed.numel())))
    chosen: list[int] = []
    losses: list[float] = []
    accuracies: list[float] = []
    for step in range(1, steps + 1):
        pool = torch.arange(width, device=h.device) if replacement else torch.nonzero(counts == 0).flatten()
        if n_candidates is not None and n_candidates < len(pool):
            pool = pool[torch.randperm(len(pool), generator=generator)[:n_candidates].to(h.device)].sort().values
        scale = width / step
        best_loss, best_unit, best_accuracy = float("inf"), -1, 0.0
        for start in range(0, len(pool), candidate_batch):
            units = pool[start : start + candidate_batch]
            # z = scale * (mixed + contribution_j) + bias, in place on the fresh contributions
            z = _unit_contributions(mixer, h, units).add_(mixed).mul_(scale)
            if not isinstance(bias, float):
                z.add_(bias)
            outputs = site.above(z)
            # a NaN score must not hide the finite ones (argmin would return the NaN)
            scores = torch.nan_to_num(_batched_loss(outputs, targets, loss), nan=float("inf"))
            position = int(torch.argmin(scores))
            if float(scores[position]) < best_loss:
                best_loss, best_unit = float(scores[position]), int(units[position])
                best_accuracy = float((outputs[position].argmax(dim=-1) == labels).double().mean())
        if not np.isfinite(best_loss):
            raise ValueError(f"the loss of every candidate at step {step} is not finite (NaN or inf)")
        mixed = mixed + _unit_contributions(mixer, h, torch.tensor([best_unit], device=h.device))[0]
        counts[best_unit] += 1
        chosen.append(best_unit)
        losses.append(best_loss)
        accuracies.append(best_accuracy)
        if stop_at is not None and best_accuracy >= stop_at:
            break
    return _LayerSelection(chosen, np.asarray(losses, dtype=np.float64), np.asarray(accuracies), counts)


def _finetune_config(options: LayerwiseOptions, loss: str, index: int) -> TrainConfig:
    config = options.finetune
    assert config is not None  # LayerwiseOptions checks it when finetune_epochs > 0
    allowed = ("cross_entropy",) if loss == "cross_entropy" else ("mean_squares", "sum_squares")
    if config.loss not in allowed:
        raise ValueError(
            f"options.finetune.loss must be one of {allowed} to fine-tune the objective of loss={loss!r}; "
            f"got {config.loss!r}"
        )
    return dataclasses.replace(config, seed=config.seed + index)


def _check_inputs(model: nn.Module, X: Tensor, seed: int) -> Tensor:
    if not isinstance(X, Tensor) or X.dim() < 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a tensor of shape (m, ...) with m >= 1; got {getattr(X, 'shape', X)!r}")
    reference = next(model.parameters())
    X = X.to(dtype=reference.dtype, device=reference.device)
    if not torch.isfinite(X).all():
        raise ValueError("X must be finite; it contains NaN or inf")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return X


def layerwise_gfs(
    model: nn.Module,
    X: Tensor,
    Y: Tensor,
    keep: Keep | None = None,
    *,
    options: LayerwiseOptions | None = None,
    loss: str = "squared",
    replacement: bool | None = None,
    candidate_batch: int | None = None,
    n_candidates: int | None = None,
    seed: int = 0,
    fit: tuple[Tensor, Tensor] | None = None,
) -> LayerwiseResult:
    """Layer-wise greedy forward selection (Ye et al., ICML 2020) of a DeepMLP or ResidualCNN.

    options: a LayerwiseOptions (module docstring). None keeps the behaviour before issue 12,
        LEGACY_OPTIONS (eval-mode scoring against running statistics, no re-estimation, with
        replacement); pass LayerwiseOptions() for the practitioner defaults.
    keep: overrides options.keep. Greedy steps per layer (|S| of that layer, at most): an int for every
        layer, a fraction in (0, 1] of each layer's width, a sequence with one int per layer of
        `prunable_layers(model)`, or a mapping from those names. With replacement the layer keeps the
        distinct chosen units (at most `keep`).
    loss: "squared" or "cross_entropy" (sum over examples, see the module docstring).
    replacement: overrides options.replacement when given.
    candidate_batch: candidates scored in one batched forward pass (memory ~ candidate_batch x the
        activations above the layer); None: up to 128, fewer when the stacked mixer outputs would
        exceed CANDIDATE_ELEMENTS floats. The choice does not change the result.
    n_candidates: if given, each step scores a seeded random sample of this many candidates.
    fit: (X_fit, Y_fit), the examples BatchNorm re-estimation and per-layer fine-tuning use (same
        forms as X and Y, same loss); None: X and Y themselves. Scoring a subset of the training set
        while re-estimating and fine-tuning on all of it (the harness's spec.gfs_examples) passes the
        subset as X, Y and the whole set as `fit`. Under statistics="batch" the selections do not
        depend on `fit` without per-layer fine-tuning (running statistics are not used in scoring).
    Returns a LayerwiseResult; the input model is left unchanged.
    """
    options = LEGACY_OPTIONS if options is None else options
    if not isinstance(options, LayerwiseOptions):
        raise ValueError(f"options must be a LayerwiseOptions or None; got {type(options).__name__}")
    if keep is not None or replacement is not None:
        options = dataclasses.replace(
            options,
            keep=options.keep if keep is None else keep,
            replacement=options.replacement if replacement is None else replacement,
        )
    names = prunable_layers(model)
    loss = require_choice("loss", loss, LOSSES)
    if candidate_batch is not None:
        candidate_batch = require_positive_int("candidate_batch", candidate_batch)
    if n_candidates is not None:
        n_candidates = require_positive_int("n_candidates", n_candidates)
    X = _check_inputs(model, X, seed)
    fit_X, fit_Y = (X, Y) if fit is None else (_check_inputs(model, fit[0], seed), fit[1])
    generator = torch.Generator().manual_seed(int(seed))

    work = copy.deepcopy(model).eval()
    if options.reestimate_bn:
        reestimate_batch_norm(work, fit_X, batch_size=options.bn_batch_size)
    selections: dict[str, list[int]] = {}
    losses: dict[str, np.ndarray] = {}
    accuracies: dict[str, np.ndarray] = {}
    widths_before: dict[str, int] = {}
    widths_after: dict[str, int] = {}
    with torch.no_grad():
        dense_outputs = work(X)
        targets = _targets(Y, X.shape[0], dense_outputs.shape[1], loss, X.dtype, X.device)
        fit_targets = (
            targets if fit is None else _targets(fit_Y, fit_X.shape[0], dense_outputs.shape[1], loss, X.dtype, X.device)
        )
        labels = targets.argmax(dim=1)
        dense_loss = float(_batched_loss(dense_outputs[None], targets, loss)[0])
        scored = dense_outputs if options.statistics == "running" else _forward(work, X, options.statistics)
        dense_accuracy = float((scored.argmax(dim=1) == labels).double().mean())
        widths = [_site_width(work, i) for i in range(len(names))]
        steps = _steps_per_layer(options.keep, names, widths, options.replacement)
    stop_at = None if options.stop_accuracy is None else float(options.stop_accuracy) * dense_accuracy
    for index, name in enumerate(names):
        with torch.no_grad():
            site = _site(work, index, X, options.statistics)
            picked = _select_layer(
                site,
                targets,
                labels,
                loss,
                steps[index],
                options.replacement,
                candidate_batch,
                n_candidates,
                generator,
                stop_at,
            )
            kept = torch.nonzero(picked.counts).flatten()
            site.shrink(kept, picked.counts[kept].to(X.dtype) * (site.width / len(picked.chosen)))
        del site
        if options.finetune_epochs > 0:
            work.train()
            fine_tune_epochs(
                work, fit_X, fit_targets, options.finetune_epochs, _finetune_config(options, loss, index), X.device
            )
        if options.reestimate_bn:
            reestimate_batch_norm(work, fit_X, batch_size=options.bn_batch_size)
        work.eval()  # new modules are built in train mode; a train-mode BatchNorm would use batch stats
        selections[name], losses[name], accuracies[name] = picked.chosen, picked.losses, picked.accuracies
        widths_before[name], widths_after[name] = widths[index], len(kept)
    work.train(model.training)
    shape = _input_shape(model)
    return LayerwiseResult(
        model=work,
        selections=selections,
        losses=losses,
        dense_loss=dense_loss,
        widths_before=widths_before,
        widths_after=widths_after,
        params_before=count_parameters(model),
        params_after=count_parameters(work),
        macs_before=count_macs(model, shape),
        macs_after=count_macs(work, shape),
        accuracies=accuracies,
        dense_accuracy=dense_accuracy,
        options=options,
    )


def _site_width(model: nn.Module, index: int) -> int:
    if isinstance(model, DeepMLP):
        return model.linear(index).out_features
    assert isinstance(model, ResidualCNN)
    return model.block(index).conv1.out_channels


def prune_units(model: nn.Module, kept: Mapping[str, Sequence[int]]) -> nn.Module:
    """A copy of `model` keeping only the units `kept[name]` (distinct indices) of each layer of
    `prunable_layers(model)`; their weights are unchanged (scale 1, no gate). Layers not named stay
    whole. BatchNorm statistics are sliced, not re-estimated: follow with `reestimate_batch_norm`."""
    names = prunable_layers(model)
    unknown = sorted(set(kept) - set(names))
    if unknown:
        raise ValueError(f"kept must name layers among {names}; got unknown layers {unknown}")
    work = copy.deepcopy(model)
    for index, name in enumerate(names):
        if name not in kept:
            continue
        width = _site_width(work, index)
        units = sorted({int(u) for u in kept[name]})
        if not units or units[0] < 0 or units[-1] >= width or len(units) != len(kept[name]):
            raise ValueError(
                f"kept[{name!r}] must be distinct indices in [0, {width - 1}], at least one; got {kept[name]}"
            )
        reference = next(work.parameters())
        index_tensor = torch.tensor(units, device=reference.device)
        _shrinker(work, index)(index_tensor, torch.ones(len(units), dtype=reference.dtype, device=reference.device))
    work.train(model.training)
    return work


def _unit_weights(model: nn.Module, index: int) -> Tensor:
    """The weights producing each unit of layer `index`: Linear rows or conv1 filters, one row per unit."""
    if isinstance(model, DeepMLP):
        return model.linear(index).weight.detach().flatten(1)
    assert isinstance(model, ResidualCNN)
    return model.block(index).conv1.weight.detach().flatten(1)


def l1_norm_units(model: nn.Module, keep: Keep) -> dict[str, list[int]]:
    """The units with the largest L1 norm of their incoming weights (conv1 filters for a ResidualCNN,
    Linear rows for a DeepMLP), per layer, keep[layer] of them (Li et al., "Pruning Filters for
    Efficient ConvNets", ICLR 2017); sorted indices, ties to the lowest index."""
    names = prunable_layers(model)
    steps = _steps_per_layer(keep, names, [_site_width(model, i) for i in range(len(names))], False)
    chosen: dict[str, list[int]] = {}
    for index, (name, k) in enumerate(zip(names, steps)):
        score = _unit_weights(model, index).abs().sum(dim=1).double().cpu()
        chosen[name] = sorted(torch.sort(-score, stable=True).indices[:k].tolist())
    return chosen


def random_units(model: nn.Module, keep: Keep, seed: int) -> dict[str, list[int]]:
    """keep[layer] distinct units per layer drawn uniformly from a torch.Generator(seed); sorted."""
    names = prunable_layers(model)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    widths = [_site_width(model, i) for i in range(len(names))]
    steps = _steps_per_layer(keep, names, widths, False)
    generator = torch.Generator().manual_seed(int(seed))
    return {
        name: sorted(torch.randperm(width, generator=generator)[:k].tolist())
        for name, width, k in zip(names, widths, steps)
    }
