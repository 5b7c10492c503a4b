"""Greedy forward selection layer by layer, for deep MLPs and residual CNNs (Ye et al., ICML 2020).

THEORY.md section 5.6: beyond two layers, GFS selects the neurons (MLP) or channels (CNN) of one layer
at a time, from the input side to the output side, and only the empirical part of the theory applies.

The averaged subnetwork of one layer. With n units and a multiset S of them, the layer's activations h
are gated so that unit j carries weight count_S(j) * n / |S|; every other layer is left as it is (layers
below were already replaced by their pruned versions). For a net with one hidden layer and output
h @ W2 + b this is exactly u_S = (1/|S|) sum_{r in S} g_r with atoms g_r = n h_r (x) W2[r] + b, THEORY.md
section 2. Step s picks the unit whose addition gives the least loss of the WHOLE network:
    S_s = S_{s-1} + {argmin_j L(net with this layer gated to S_{s-1} + {j})},  ties to the lowest index.
The layer after the gate (the "mixer", a Linear or Conv2d) is linear in h, so with P = mixer(h * c) for
the counts c of S_{s-1}, candidate j gives the mixer output (n/s) (P + mixer(h_j e_j)) + bias: one
contribution per candidate, scored in batches of `candidate_batch` through the layers above, with the
activations below the layer computed once per layer.

Losses (sum over the m examples, THEORY.md convention):
    "squared":       L = 1/2 ||f(X) - T||_F^2
    "cross_entropy": L = -sum_i sum_c T_ic log softmax(f(x_i))_c
where T is Y itself (an m x C float matrix) or one_hot(Y) for integer labels Y.

The scores are computed in eval mode (BatchNorm uses its running statistics, so every example and
every candidate sees the same fixed function). The result's model is physically smaller: for a DeepMLP
each hidden Linear keeps the chosen rows and the next Linear the chosen columns times count * n / |S|;
for a ResidualCNN each block keeps the chosen conv1 output channels, the matching bn1 entries (weight,
bias, running_mean, running_var) and conv2 input channels times count * n / |S|. Not pruned in a
ResidualCNN: the stem, the block outputs (conv2 / bn2 / shortcut, tied to the identity shortcuts) and
the head.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebtheory.models import DeepMLP, ResidualCNN, count_macs, count_parameters
from ebtheory.validation import require_choice, require_positive_int

__all__ = ["LayerwiseResult", "layerwise_gfs", "prunable_layers", "LOSSES"]

LOSSES = ("squared", "cross_entropy")
Keep = int | float | Sequence[int] | Mapping[str, int]


@dataclass(frozen=True)
class LayerwiseResult:
    """Outcome of `layerwise_gfs`.

    model: the new, smaller network (same class as the input; the input model is not modified).
    selections: layer name -> chosen unit indices of that layer in selection order, with repeats.
    losses: layer name -> (k,) float64, the whole net's sum loss after each step at that layer.
    dense_loss: sum loss of the input model (eval mode).
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
        return (model.layers[0].in_features,)
    return model.input_shape


def _filled(module: nn.Linear | nn.Conv2d, weight: Tensor, bias: Tensor | None) -> nn.Linear | nn.Conv2d:
    """Copy weight and bias into the freshly built `module`."""
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None:
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
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )


def _output_units(layer: nn.Linear | nn.Conv2d, kept: Tensor) -> nn.Linear | nn.Conv2d:
    """Keep the output units (Linear rows, Conv out channels) `kept`."""
    if isinstance(layer, nn.Linear):
        new = _linear(layer, layer.in_features, len(kept))
    else:
        new = _conv(layer, layer.in_channels, len(kept))
    return _filled(new, layer.weight[kept], None if layer.bias is None else layer.bias[kept])


def _input_units(layer: nn.Linear | nn.Conv2d, kept: Tensor, scales: Tensor) -> nn.Linear | nn.Conv2d:
    """Keep the input units `kept`, their weights multiplied by `scales` (the folded gate count * n/|S|)."""
    weight = layer.weight[:, kept] * scales.reshape(-1, *[1] * (layer.weight.dim() - 2))
    if isinstance(layer, nn.Linear):
        new = _linear(layer, len(kept), layer.out_features)
    else:
        new = _conv(layer, len(kept), layer.out_channels)
    return _filled(new, weight, layer.bias)


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
            new.running_mean.copy_(bn.running_mean[kept])
            new.running_var.copy_(bn.running_var[kept])
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _mlp_site(model: DeepMLP, index: int, X: Tensor) -> _Site:
    h = X.flatten(1)
    for layer in model.layers[: index + 1]:
        h = F.relu(layer(h))
    upper = list(model.layers[index + 2 :])

    def above(z: Tensor) -> Tensor:
        for layer in upper:
            z = layer(F.relu(z))
        return z

    def shrink(kept: Tensor, scales: Tensor) -> None:
        model.layers[index + 1] = _input_units(model.layers[index + 1], kept, scales)
        model.layers[index] = _output_units(model.layers[index], kept)

    return _Site(model.layers[index].out_features, h, model.layers[index + 1], above, shrink)


def _cnn_site(model: ResidualCNN, index: int, X: Tensor) -> _Site:
    h = model.features(X)
    for block in model.blocks[:index]:
        h = block(h)
    block = model.blocks[index]
    shortcut = block.shortcut(h)
    upper = list(model.blocks[index + 1 :])

    def above(z: Tensor) -> Tensor:
        batch = z.shape[:2]
        y = F.relu(block.bn2(z.flatten(0, 1)).unflatten(0, batch) + shortcut).flatten(0, 1)
        for later in upper:
            y = later(y)
        return model.classify(y).unflatten(0, batch)

    def shrink(kept: Tensor, scales: Tensor) -> None:
        block.conv2 = _input_units(block.conv2, kept, scales)
        block.bn1 = _batch_norm_channels(block.bn1, kept)
        block.conv1 = _output_units(block.conv1, kept)

    return _Site(block.conv1.out_channels, block.inner(h), block.conv2, above, shrink)


def _site(model: nn.Module, index: int, X: Tensor) -> _Site:
    if isinstance(model, DeepMLP):
        return _mlp_site(model, index, X)
    return _cnn_site(model, index, X)


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


def _select_layer(
    site: _Site,
    targets: Tensor,
    loss: str,
    steps: int,
    replacement: bool,
    candidate_batch: int,
    n_candidates: int | None,
    generator: torch.Generator,
) -> tuple[list[int], np.ndarray, Tensor]:
    """Greedy steps at one layer; returns (chosen indices in order, loss after each step, counts)."""
    h, mixer, width = site.activations, site.mixer, site.width
    bias = _mixer_bias(mixer)
    counts = torch.zeros(width, dtype=torch.long, device=h.device)
    mixed = torch.zeros_like(_mix(mixer, h))
    chosen: list[int] = []
    losses = np.empty(steps, dtype=np.float64)
    for step in range(1, steps + 1):
        pool = torch.arange(width, device=h.device) if replacement else torch.nonzero(counts == 0).flatten()
        if n_candidates is not None and n_candidates < len(pool):
            pool = pool[torch.randperm(len(pool), generator=generator)[:n_candidates].to(h.device)].sort().values
        scale = width / step
        best_loss, best_unit = float("inf"), -1
        for start in range(0, len(pool), candidate_batch):
            units = pool[start : start + candidate_batch]
            z = scale * (mixed + _unit_contributions(mixer, h, units)) + bias
            # a NaN score must not hide the finite ones (argmin would return the NaN)
            scores = torch.nan_to_num(_batched_loss(site.above(z), targets, loss), nan=float("inf"))
            position = int(torch.argmin(scores))
            if float(scores[position]) < best_loss:
                best_loss, best_unit = float(scores[position]), int(units[position])
        if not np.isfinite(best_loss):
            raise ValueError(f"the loss of every candidate at step {step} is not finite (NaN or inf)")
        mixed = mixed + _unit_contributions(mixer, h, torch.tensor([best_unit], device=h.device))[0]
        counts[best_unit] += 1
        chosen.append(best_unit)
        losses[step - 1] = best_loss
    return chosen, losses, counts


def layerwise_gfs(
    model: nn.Module,
    X: Tensor,
    Y: Tensor,
    keep: Keep,
    *,
    loss: str = "squared",
    replacement: bool = True,
    candidate_batch: int = 128,
    n_candidates: int | None = None,
    seed: int = 0,
) -> LayerwiseResult:
    """Layer-wise greedy forward selection (Ye et al., ICML 2020) of a DeepMLP or ResidualCNN.

    keep: greedy steps per layer (|S| of that layer): an int for every layer, a fraction in (0, 1] of each
        layer's width, a sequence with one int per layer of `prunable_layers(model)`, or a mapping from
        those names. With replacement the layer keeps the distinct chosen units (at most `keep`).
    loss: "squared" or "cross_entropy" (sum over examples, see the module docstring).
    replacement: select with replacement (as in Lemma A) or without (Ye et al.'s reference code).
    candidate_batch: candidates scored in one batched forward pass (memory ~ candidate_batch x the
        activations above the layer).
    n_candidates: if given, each step scores a seeded random sample of this many candidates.
    Returns a LayerwiseResult; the input model is left unchanged.
    """
    names = prunable_layers(model)
    loss = require_choice("loss", loss, LOSSES)
    candidate_batch = require_positive_int("candidate_batch", candidate_batch)
    if n_candidates is not None:
        n_candidates = require_positive_int("n_candidates", n_candidates)
    if not isinstance(X, Tensor) or X.dim() < 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a tensor of shape (m, ...) with m >= 1; got {getattr(X, 'shape', X)!r}")
    reference = next(model.parameters())
    X = X.to(dtype=reference.dtype, device=reference.device)
    if not torch.isfinite(X).all():
        raise ValueError("X must be finite; it contains NaN or inf")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    generator = torch.Generator().manual_seed(int(seed))

    work = copy.deepcopy(model).eval()
    selections: dict[str, list[int]] = {}
    losses: dict[str, np.ndarray] = {}
    widths_before: dict[str, int] = {}
    widths_after: dict[str, int] = {}
    with torch.no_grad():
        dense_outputs = work(X)
        targets = _targets(Y, X.shape[0], dense_outputs.shape[1], loss, X.dtype, X.device)
        dense_loss = float(_batched_loss(dense_outputs[None], targets, loss)[0])
        steps = _steps_per_layer(keep, names, [_site_width(work, i) for i in range(len(names))], replacement)
        for index, name in enumerate(names):
            site = _site(work, index, X)
            chosen, layer_losses, counts = _select_layer(
                site, targets, loss, steps[index], replacement, candidate_batch, n_candidates, generator
            )
            kept = torch.nonzero(counts).flatten()
            site.shrink(kept, counts[kept].to(X.dtype) * (site.width / steps[index]))
            work.eval()  # new modules are built in train mode; a train-mode BatchNorm would use batch stats
            selections[name], losses[name] = chosen, layer_losses
            widths_before[name], widths_after[name] = site.width, len(kept)
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
    )


def _site_width(model: nn.Module, index: int) -> int:
    if isinstance(model, DeepMLP):
        return model.layers[index].out_features
    return model.blocks[index].conv1.out_channels
