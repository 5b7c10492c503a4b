"""Greedy forward selection on your own model: an nn.Sequential MLP of Linear / ReLU layers, or the
project's DeepMLP and ResidualCNN.

`select_subnetwork(model, X, Y, keep)` returns the pruned module (same kind as the input: a smaller
nn.Sequential for a Sequential) and the selection. The math lives elsewhere and is reused, not copied:

- one hidden layer (Linear, ReLU, Linear) with the squared loss: the exact two-layer GFS of
  ebtheory.prune.gfs (every candidate scored in closed form; docs/theory.md section 2). With
  H = relu(X W1^T + b1) (m x N), W2 = the last Linear's weight transposed (N x C) and b its bias, the
  atoms are g_r = N H[:, r] W2[r]^T + b and the pruned net outputs u_S = (1/k) sum_{r in S} g_r:
  the kept rows of the first Linear, and the last Linear's columns scaled by N count_S(r) / k;
- deeper MLPs, the cross-entropy loss, and the ResidualCNN: layer-wise GFS of
  ebtheory.prune.layerwise (Ye et al., ICML 2020; docs/theory.md section 5.6), one layer at a time from
  the input side, each step scored by the whole network's loss.

Losses are SUM losses over the m examples: squared 1/2 ||f(X) - T||_F^2 or summed cross-entropy, with
T = Y (float, m x C) or one_hot(Y) (integer labels, shape (m,)).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebtheory.models import DeepMLP, ResidualCNN, count_parameters
from ebtheory.prune.gfs import greedy_forward_selection
from ebtheory.prune.layerwise import LOSSES, layerwise_gfs
from ebtheory.validation import require_choice, require_positive_int

__all__ = ["Selection", "select_subnetwork", "sequential_layers"]

Keep = int | float | Sequence[int] | Mapping[str, int]


@dataclass(frozen=True)
class Selection:
    """Outcome of `select_subnetwork`.

    module: the pruned network (the input is not modified); selections: layer name -> chosen unit
    indices in selection order, repeats allowed (names: the Linear's index in the Sequential, e.g.
    "0", or "layers.i" / "blocks.b.conv1" for DeepMLP / ResidualCNN); losses: layer name -> (k,) sum
    loss of the whole net after each step; widths_before / widths_after: units per layer;
    params_before / params_after: count_parameters; method: "exact_two_layer" or "layerwise".
    """

    module: nn.Module
    selections: dict[str, list[int]]
    losses: dict[str, np.ndarray]
    widths_before: dict[str, int]
    widths_after: dict[str, int]
    params_before: int
    params_after: int
    method: str


def sequential_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of an nn.Sequential MLP, checked: Linear (ReLU Linear)*, sizes chained.

    Raises ValueError naming the offending layer (its index and type) for anything else: another layer
    type, two Linear layers without a ReLU between them, a ReLU first or last, mismatched sizes."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential of Linear/ReLU layers; got {type(model).__name__}")
    layers = list(model)
    if len(layers) < 3:
        raise ValueError(f"model must have at least Linear, ReLU, Linear (3 layers); got {len(layers)} layers")
    linears: list[nn.Linear] = []
    for index, layer in enumerate(layers):
        expected = nn.Linear if index % 2 == 0 else nn.ReLU
        if not isinstance(layer, nn.Linear | nn.ReLU):
            raise ValueError(
                f"layer {index} ({type(layer).__name__}) is not supported: the MLP must consist of nn.Linear "
                "and nn.ReLU layers only"
            )
        if not isinstance(layer, expected):
            raise ValueError(
                f"layer {index} ({type(layer).__name__}) is out of place: the MLP must alternate Linear, ReLU, "
                f"Linear, ..., starting and ending with a Linear; expected {expected.__name__} here"
            )
        if isinstance(layer, nn.ReLU) and layer.inplace:
            raise ValueError(f"layer {index} (ReLU) must not be inplace=True (activations are reused)")
        if isinstance(layer, nn.Linear):
            if linears and layer.in_features != linears[-1].out_features:
                raise ValueError(
                    f"layer {index} (Linear) takes in_features={layer.in_features}, but the Linear before it "
                    f"gives out_features={linears[-1].out_features}"
                )
            linears.append(layer)
    if len(layers) % 2 == 0:
        raise ValueError(f"layer {len(layers) - 1} (ReLU) is out of place: the MLP must end with a Linear")
    return linears


def _to_deep_mlp(linears: list[nn.Linear]) -> DeepMLP:
    """A DeepMLP holding copies of `linears` (layer-wise GFS works on DeepMLP)."""
    mlp = DeepMLP(linears[0].in_features, [layer.out_features for layer in linears[:-1]], linears[-1].out_features)
    mlp.layers = nn.ModuleList(copy.deepcopy(layer) for layer in linears)
    return mlp


def _to_sequential(mlp: DeepMLP) -> nn.Sequential:
    modules: list[nn.Module] = []
    for index, layer in enumerate(mlp.layers):
        modules.append(layer)
        if index < len(mlp.layers) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def _check_data(X: Tensor, Y: Tensor, d: int | None) -> None:
    if not isinstance(X, Tensor) or X.dim() < 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a tensor of shape (m, ...) with m >= 1; got {getattr(X, 'shape', X)!r}")
    if d is not None and X[0].numel() != d:
        raise ValueError(
            f"X has {X[0].numel()} features per example (shape {tuple(X.shape)}), but layer 0 (Linear) takes "
            f"in_features={d}"
        )
    if not isinstance(Y, Tensor) or Y.dim() < 1 or Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"Y must be a tensor with one row per example of X (m={X.shape[0]}); got {getattr(Y, 'shape', Y)!r}"
        )


def _float_targets(Y: Tensor, outputs: int, dtype: torch.dtype) -> Tensor:
    """Y as an (m, C) float matrix (one-hot for integer labels), for the exact two-layer GFS."""
    if not Y.is_floating_point():
        if Y.dim() != 1 or int(Y.min()) < 0 or int(Y.max()) >= outputs:
            raise ValueError(
                f"integer Y must be labels of shape (m,) in [0, {outputs - 1}]; "
                f"got shape {tuple(Y.shape)}, range [{int(Y.min())}, {int(Y.max())}]"
            )
        return F.one_hot(Y.long(), outputs).to(dtype)
    T = Y.reshape(-1, 1) if Y.dim() == 1 and outputs == 1 else Y
    if T.dim() != 2 or T.shape[1] != outputs:
        raise ValueError(f"float Y must have shape (m, C) = ({Y.shape[0]}, {outputs}); got {tuple(Y.shape)}")
    return T.to(dtype)


def _two_layer_steps(keep: Keep, width: int) -> int:
    if isinstance(keep, Mapping):
        if set(keep) != {"0"}:
            raise ValueError(f"keep as a mapping must name exactly the layers ['0']; got keys {sorted(keep)}")
        return require_positive_int("keep['0']", keep["0"])
    if isinstance(keep, numbers.Integral) and not isinstance(keep, bool):
        return require_positive_int("keep", keep)
    if isinstance(keep, numbers.Real) and not isinstance(keep, bool):
        if not 0 < float(keep) <= 1:
            raise ValueError(f"keep as a fraction of each layer's width must lie in (0, 1]; got {keep!r}")
        return max(1, round(float(keep) * width))
    if isinstance(keep, Sequence) and not isinstance(keep, str) and len(keep) == 1:
        return require_positive_int("keep[0]", keep[0])
    raise ValueError(f"keep must be an int, a fraction in (0, 1], a one-entry sequence or mapping; got {keep!r}")


def _exact_two_layer(
    linears: list[nn.Linear], X: Tensor, Y: Tensor, keep: Keep, replacement: bool, seed: int
) -> Selection:
    first, last = linears
    W1 = first.weight.detach()
    b1 = None if first.bias is None else first.bias.detach()
    with torch.no_grad():
        H = F.relu(first(X.flatten(1).to(W1.dtype))).double()
    W2 = last.weight.detach().T.double()
    bias = None if last.bias is None else last.bias.detach().double()
    k = _two_layer_steps(keep, first.out_features)
    if not replacement and k > first.out_features:
        raise ValueError(f"keep for layer 0 must lie in [1, {first.out_features}] without replacement; got {k}")
    result = greedy_forward_selection(
        H, W2, _float_targets(Y, last.out_features, torch.float64), k, bias=bias, replacement=replacement, seed=seed
    )
    counts = result.counts.cpu()
    kept = torch.nonzero(counts).flatten()
    scale = first.out_features * counts[kept].double() / k  # N count_S(r) / k: u_S as an average of atoms
    pruned_first = nn.Linear(first.in_features, len(kept), bias=b1 is not None, dtype=W1.dtype, device=W1.device)
    pruned_last = nn.Linear(len(kept), last.out_features, bias=bias is not None, dtype=W1.dtype, device=W1.device)
    with torch.no_grad():
        pruned_first.weight.copy_(W1[kept])
        if b1 is not None:
            pruned_first.bias.copy_(b1[kept])
        pruned_last.weight.copy_((last.weight.detach()[:, kept].double() * scale.to(W1.device)).to(W1.dtype))
        if last.bias is not None:
            pruned_last.bias.copy_(last.bias.detach())
    module = nn.Sequential(pruned_first, nn.ReLU(), pruned_last)
    return Selection(
        module=module,
        selections={"0": [int(i) for i in result.indices.tolist()]},
        losses={"0": np.asarray(result.losses, dtype=np.float64)},
        widths_before={"0": first.out_features},
        widths_after={"0": len(kept)},
        params_before=sum(count_parameters(layer) for layer in linears),
        params_after=count_parameters(module),
        method="exact_two_layer",
    )


def _sequential_keep(keep: Keep, names: list[str]) -> Keep:
    """A mapping keyed by Sequential indices ("0", "2") becomes one keyed by DeepMLP names."""
    if isinstance(keep, Mapping):
        if set(keep) != set(names):
            raise ValueError(f"keep as a mapping must name exactly the layers {names}; got keys {sorted(keep)}")
        return {f"layers.{position}": keep[name] for position, name in enumerate(names)}
    return keep


def select_subnetwork(
    model: nn.Module,
    X: Tensor,
    Y: Tensor,
    keep: Keep,
    *,
    loss: str = "squared",
    replacement: bool = True,
    seed: int = 0,
    candidate_batch: int = 128,
) -> Selection:
    """Greedy forward selection on `model` (an nn.Sequential MLP, a DeepMLP or a ResidualCNN).

    X: (m, d) inputs (or (m, C, s, s) images for the CNN); Y: float targets (m, C) or integer labels (m,).
    keep: greedy steps per hidden layer (the pruned width counts distinct units: at most keep): an int
        for every layer, a fraction in (0, 1] of each layer's width, one int per hidden layer, or a mapping
        from layer names ("0", "2", ... for a Sequential: the index of the Linear whose outputs are pruned).
    loss: "squared" (the theory's loss; exact closed-form scoring for one hidden layer) or
        "cross_entropy" (layer-wise).
    replacement: with replacement (Lemma A; units may repeat, their outgoing weights add up) or without.
    seed: seeds the random candidate subsets (none are drawn unless you go through layerwise_gfs with
        n_candidates); kept so that runs are reproducible by construction.
    Returns a Selection; the input model is not modified. Raises ValueError naming the layer (index and
    type) for unsupported layers and mismatched shapes.
    """
    loss = require_choice("loss", loss, LOSSES)
    if isinstance(model, ResidualCNN | DeepMLP):
        if not isinstance(X, Tensor) or X.dim() < 2:
            raise ValueError(f"X must be a tensor of shape (m, ...); got {getattr(X, 'shape', X)!r}")
        result = layerwise_gfs(
            model, X, Y, keep, loss=loss, replacement=replacement, seed=seed, candidate_batch=candidate_batch
        )
        return Selection(
            module=result.model,
            selections=result.selections,
            losses=result.losses,
            widths_before=result.widths_before,
            widths_after=result.widths_after,
            params_before=result.params_before,
            params_after=result.params_after,
            method="layerwise",
        )
    linears = sequential_layers(model)
    _check_data(X, Y, linears[0].in_features)
    if len(linears) == 2 and loss == "squared":
        return _exact_two_layer(linears, X, Y, keep, replacement, seed)
    names = [str(2 * i) for i in range(len(linears) - 1)]  # the Sequential index of each hidden Linear
    result = layerwise_gfs(
        _to_deep_mlp(linears),
        X.flatten(1),
        Y,
        _sequential_keep(keep, names),
        loss=loss,
        replacement=replacement,
        seed=seed,
        candidate_batch=candidate_batch,
    )
    module = _to_sequential(cast(DeepMLP, result.model))
    rename = {f"layers.{position}": name for position, name in enumerate(names)}
    return Selection(
        module=module,
        selections={rename[key]: value for key, value in result.selections.items()},
        losses={rename[key]: value for key, value in result.losses.items()},
        widths_before={rename[key]: value for key, value in result.widths_before.items()},
        widths_after={rename[key]: value for key, value in result.widths_after.items()},
        params_before=result.params_before,
        params_after=count_parameters(module),
        method="layerwise",
    )
