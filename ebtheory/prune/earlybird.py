"""Early-Bird tickets (You et al., "Drawing Early-Bird Tickets", ICLR 2020; docs/theory.md, section 6).

During pre-training, after every epoch, a channel mask is drawn from the |BatchNorm scale| of all
BN layers at one global pruning ratio p. A ticket is declared once the masks stop moving: the
normalised Hamming distance between masks within a window of epochs stays at most eps.

Mask convention: a mask is a 1-D bool tensor over all channels (or hidden neurons), concatenated
in module order; True = kept. Epoch convention: masks are fed in training order, one per epoch;
a detection is reported as the 0-based index i of the mask at which it fires (the earliest
possible is window - 1). If masks[i] is drawn after epoch i + 1, the ticket epoch is i + 1.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

METHODS = ("topk", "threshold")
COMPARES = ("newest_vs_all", "consecutive")

ScalesLike = nn.Module | Sequence[torch.Tensor] | torch.Tensor


def _check_ratio(ratio: float) -> None:
    if not (isinstance(ratio, (int, float)) and 0.0 < ratio < 1.0):
        raise ValueError(f"ratio (the global pruning ratio p) must lie in (0, 1); got ratio={ratio!r}")


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The affine BatchNorm layers of `model` in module order."""
    return [
        module
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None
    ]


def bn_scales(model: nn.Module) -> list[torch.Tensor]:
    """The BN scale vectors gamma of every affine BatchNorm layer, detached, in module order."""
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"model has no affine BatchNorm layers; got {type(model).__name__}")
    return [layer.weight.detach() for layer in layers]


def global_magnitude_mask(scores: torch.Tensor, ratio: float, method: str = "topk") -> torch.Tensor:
    """Keep the channels of largest score at global pruning ratio p = `ratio` (scores >= 0, 1-D).

    "topk": keep exactly round((1 - p) * total) channels (round half up), ties broken in favour
    of the lowest index. "threshold" (the reference code, EB-Train `pruning`): sort the scores,
    threshold = sorted[int(total * p)], keep score > threshold; ties at the threshold are all
    pruned, so fewer than (1 - p) * total may be kept.
    """
    _check_ratio(ratio)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got method={method!r}")
    if scores.ndim != 1 or scores.numel() == 0:
        raise ValueError(f"scores must be a non-empty 1-D tensor; got shape {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must be finite; got NaN or inf (did training diverge?)")
    total = scores.numel()
    if method == "threshold":
        threshold = torch.sort(scores).values[int(total * ratio)]
        return scores > threshold
    keep = math.floor((1.0 - ratio) * total + 0.5)
    # A stable descending sort puts equal scores in index order, so ties favour the lowest index.
    order = torch.sort(scores, descending=True, stable=True).indices
    mask = torch.zeros(total, dtype=torch.bool, device=scores.device)
    mask[order[:keep]] = True
    return mask


def _concat_abs(scales: ScalesLike) -> torch.Tensor:
    if isinstance(scales, nn.Module):
        scales = bn_scales(scales)
    if isinstance(scales, torch.Tensor):
        scales = [scales]
    if len(scales) == 0:
        raise ValueError("scales must hold at least one BN scale vector; got an empty list")
    return torch.cat([s.detach().reshape(-1).abs() for s in scales])


def bn_channel_mask(scales: ScalesLike, ratio: float, method: str = "topk") -> torch.Tensor:
    """Early-Bird channel mask: global pruning ratio p over |gamma| of all BN layers (You et al.,
    Sec. 3.2). `scales`: a model (its affine BN layers) or a list of gamma vectors. See
    `global_magnitude_mask` for "topk" and "threshold"."""
    return global_magnitude_mask(_concat_abs(scales), ratio, method)


def hidden_layer_weights(model: nn.Module) -> list[torch.Tensor]:
    """Incoming weight matrices of the hidden layers of an MLP: every nn.Linear but the last."""
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if len(linears) < 2:
        raise ValueError(f"an MLP needs >= 2 nn.Linear layers to have hidden neurons; got {len(linears)}")
    return [layer.weight.detach() for layer in linears[:-1]]


def neuron_norm_mask(weights: nn.Module | Sequence[torch.Tensor], ratio: float, method: str = "topk") -> torch.Tensor:
    """Early-Bird style mask for MLPs without BN: score of hidden neuron r = ||w_r||_2, the norm of
    its incoming weight row; one global ratio p over all hidden layers (a model: every nn.Linear
    but the last)."""
    matrices = hidden_layer_weights(weights) if isinstance(weights, nn.Module) else list(weights)
    if not matrices:
        raise ValueError("weights must hold at least one weight matrix; got an empty list")
    scores = torch.cat([w.detach().reshape(w.shape[0], -1).norm(dim=1) for w in matrices])
    return global_magnitude_mask(scores, ratio, method)


def hamming_distance(mask_a: torch.Tensor, mask_b: torch.Tensor) -> float:
    """Normalised Hamming distance (1/c) #{j : a_j != b_j} in [0, 1] between two masks of c entries."""
    if mask_a.shape != mask_b.shape or mask_a.numel() == 0:
        raise ValueError(
            f"masks must be non-empty and of one shape; got {tuple(mask_a.shape)} and {tuple(mask_b.shape)}"
        )
    return float((mask_a.bool() != mask_b.bool()).sum()) / mask_a.numel()


def distance_matrix(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """All-pairs normalised Hamming distances D[i, j] (float64, on the masks' device).

    With A the stacked 0/1 masks, D = (A (1 - A)^T + (1 - A) A^T) / c.
    """
    if len(masks) == 0:
        raise ValueError("masks must hold at least one mask; got an empty sequence")
    shape = masks[0].shape
    if any(mask.shape != shape for mask in masks) or masks[0].numel() == 0:
        raise ValueError(f"masks must be non-empty and of one shape; got shapes {[tuple(m.shape) for m in masks]}")
    A = torch.stack([mask.reshape(-1).bool() for mask in masks]).to(torch.float64)
    differ = A @ (1 - A).T
    return (differ + differ.T) / A.shape[1]


def _check_detector_args(window: int, eps: float, compare: str) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an integer >= 2 (masks compared per decision); got window={window!r}")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0; got eps={eps!r}")
    if compare not in COMPARES:
        raise ValueError(f"compare must be one of {COMPARES}; got compare={compare!r}")


def window_distances(D: torch.Tensor, i: int, window: int, compare: str) -> torch.Tensor:
    """The distances the rule checks at mask i, from a distance matrix D (i >= window - 1).

    newest_vs_all (EB-Train `cal_dist`): D[i, j] for j = i-window+1 .. i-1;
    consecutive (the paper's README): D[j, j+1] for j = i-window+1 .. i-1.
    """
    start = i - window + 1
    if compare == "newest_vs_all":
        return D[i, start:i]
    rows = torch.arange(start, i, device=D.device)
    return D[rows, rows + 1]


def detection_point(
    masks: Sequence[torch.Tensor], window: int = 5, eps: float = 0.1, compare: str = "newest_vs_all"
) -> int | None:
    """The first index i at which the Early-Bird rule holds (all checked distances <= eps), or None.

    Same rule as `EarlyBirdDetector`, computed from one `distance_matrix` of the whole sequence.
    """
    _check_detector_args(window, eps, compare)
    if len(masks) < window:
        return None
    D = distance_matrix(masks)
    for i in range(window - 1, len(masks)):
        if bool((window_distances(D, i, window, compare) <= eps).all()):
            return i
    return None


@dataclass
class EarlyBirdDetector:
    """Feed one mask per epoch; `update` says whether the Early-Bird rule holds now.

    The rule holds at mask i when i >= window - 1 and every checked distance is <= eps:
    "newest_vs_all" checks the newest mask against each of the previous window - 1 masks (the
    reference code, EB-Train `EarlyBird.early_bird_emerge`, whose test is `dist > 0.1 -> False`);
    "consecutive" checks each of the last window - 1 consecutive pairs. Paper defaults: window 5,
    eps 0.1. `ratio` and `method` are used by `update_from_model` to draw the BN channel mask.
    `history[i]` holds the distances checked at mask i (empty while the window fills);
    `detected_at` is the first index where the rule held.
    """

    window: int = 5
    eps: float = 0.1
    ratio: float | None = None
    compare: str = "newest_vs_all"
    method: str = "topk"
    history: list[tuple[float, ...]] = field(default_factory=list, init=False)
    detected_at: int | None = field(default=None, init=False)
    _recent: deque = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_detector_args(self.window, self.eps, self.compare)
        if self.ratio is not None:
            _check_ratio(self.ratio)
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got method={self.method!r}")
        self._recent = deque(maxlen=self.window)

    def update(self, mask: torch.Tensor) -> bool:
        """Add the newest mask (1-D bool); True when the rule holds at this mask."""
        if self._recent and mask.shape != self._recent[-1].shape:
            raise ValueError(
                f"mask must have the shape of the earlier masks {tuple(self._recent[-1].shape)}; "
                f"got {tuple(mask.shape)}"
            )
        self._recent.append(mask.detach().reshape(-1).bool())
        index = len(self.history)
        if len(self._recent) < self.window:
            self.history.append(())
            return False
        D = distance_matrix(list(self._recent))
        checked = window_distances(D, self.window - 1, self.window, self.compare)
        self.history.append(tuple(float(d) for d in checked))
        holds = bool((checked <= self.eps).all())
        if holds and self.detected_at is None:
            self.detected_at = index
        return holds

    def update_from_model(self, model: nn.Module) -> bool:
        """Draw the BN channel mask of `model` at `ratio` and `update` with it."""
        if self.ratio is None:
            raise ValueError("ratio must be set (in (0, 1)) to draw masks from a model; got ratio=None")
        return self.update(bn_channel_mask(model, self.ratio, self.method))


def bn_l1_penalty(model: nn.Module, coefficient: float = 1e-4) -> torch.Tensor:
    """coefficient * sum over BN layers of ||gamma||_1: the sparsity term on BN scales used while
    pre-training for Early-Bird tickets (network slimming, Liu et al. 2017; You et al. Sec. 3.2).
    Add it to the training loss (e.g. `train_with_checkpoints(..., penalty=...)`)."""
    if not (isinstance(coefficient, (int, float)) and math.isfinite(coefficient) and coefficient >= 0):
        raise ValueError(f"coefficient must be a finite number >= 0; got coefficient={coefficient!r}")
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"model has no affine BatchNorm layers; got {type(model).__name__}")
    total = torch.stack([layer.weight.abs().sum() for layer in layers]).sum()
    return coefficient * total
