"""Full-batch gradient descent for the two-layer nets with the gradient written out: the fast twin of
ebtheory.train for the harness's hottest loops (pre-training and fine-tuning every subnetwork).

The same iteration as ebtheory.train.train_with_checkpoints with TrainConfig(optimizer="gd",
momentum=0, weight_decay=0) and the squared loss, W <- W - eta grad L(W), but without autograd: for
u = relu(X W1^T) W2 and the residual R = u - Y (loss 1/2 ||R||_F^2, divided by m for mean_squares),

    grad_W2 L = relu(X W1^T)^T R,        grad_W1 L = ((R W2^T) * 1{X W1^T > 0})^T X

(scaled by 1/m for mean_squares; ReLU's derivative at 0 taken as 0, as torch does). Three products a
step, as autograd does, minus its bookkeeping: about 2x faster at the sizes of the presets.
tests/test_unit_fast_gd.py checks both loops against ebtheory.train (losses and weights).
Units: losses in the units of the spec's train_loss; t counts iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch
from torch import nn

from ebtheory.models import TwoLayerNTK
from ebtheory.prune.gfs import PrunedTwoLayer
from ebtheory.prune.imp import TrainFunction, trainer_from_config
from ebtheory.train import CheckpointCallback, TrainConfig, TrainingDivergedError

SQUARED_LOSSES = ("sum_squares", "mean_squares")


def supports(model: nn.Module, config: TrainConfig, penalty: object = None) -> bool:
    """True when the closed-form loop computes exactly what ebtheory.train would: full-batch GD without
    momentum or weight decay on a squared loss, for the NTK net (input weights trained) or a pruned
    two-layer subnetwork without biases (both layers trained), and no penalty."""
    plain = (
        config.optimizer == "gd"
        and config.momentum == 0
        and config.weight_decay == 0
        and config.loss in SQUARED_LOSSES
        and penalty is None
    )
    if isinstance(model, PrunedTwoLayer):
        return plain and model.input_bias is None and model.output_bias is None
    return plain and isinstance(model, TwoLayerNTK)


def _diverged(t: int, value: float, lr: float) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged: loss {value} at iteration {t} with lr={lr}; lower the step size eta"
    )


def _relu_backward_(grad: torch.Tensor, pre: torch.Tensor) -> None:
    """grad <- grad * 1{pre > 0} in place, as autograd's relu backward (threshold_backward, one fused
    pass; 6x faster than a separate comparison and multiply at the presets' sizes). Bitwise the same
    as grad.mul_(pre > 0) up to the sign of zeros, which no later sum can see."""
    torch.ops.aten.threshold_backward.grad_input(grad, pre, 0.0, grad_input=grad)


def gradient_descent(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    checkpoints: Sequence[int],
    on_checkpoint: Callable[[int, nn.Module], None] | None = None,
    mask: torch.Tensor | None = None,
) -> np.ndarray:
    """Train `model` in place for max(checkpoints) GD iterations (module docstring); call
    on_checkpoint(t, model) at each checkpoint t, before update t + 1. Returns the loss after every
    iteration 0..T (units of config.loss). Requires supports(model, config).

    mask: a 0/1 tensor of the input weights' shape; the update is then (grad_W1 L) * mask, the gradient
    of W1 = W_orig * mask with respect to W_orig (torch.nn.utils.prune's form, as IMP trains)."""
    if not supports(model, config):
        raise ValueError(f"gradient_descent runs full-batch GD on a squared loss for two-layer nets; got {config}")
    wanted = sorted({int(t) for t in checkpoints})
    total = wanted[-1]
    net = cast(TwoLayerNTK | PrunedTwoLayer, model)
    W1: torch.Tensor = net.input_weights.data
    if mask is not None and tuple(mask.shape) != tuple(W1.shape):
        raise ValueError(f"mask must have the input weights' shape {tuple(W1.shape)}; got {tuple(mask.shape)}")
    mask_rows = None if mask is None else mask.to(W1.device, W1.dtype).T.contiguous()
    device, dtype = W1.device, W1.dtype
    X = X.to(device, dtype).reshape(X.shape[0], -1)
    Y = Y.to(device, dtype).reshape(X.shape[0], -1)
    scale = 1.0 / X.shape[0] if config.loss == "mean_squares" else 1.0
    lr = config.lr
    trained_readout = isinstance(net, PrunedTwoLayer)
    W2: torch.Tensor = net.output_weights.data if isinstance(net, PrunedTwoLayer) else net.readout()[0].detach()
    losses = np.full(total + 1, np.nan)
    marks = set(wanted)
    m, N = X.shape[0], W1.shape[0]

    def buffer(*shape: int, kind: torch.dtype = dtype) -> torch.Tensor:
        return torch.empty(*shape, dtype=kind, device=device)

    # Preallocated buffers: at the presets' sizes a step is a few products of ~1e7 multiply-adds,
    # and fresh allocations cost a fifth of it. The C x m residual and C x N readout layouts: products
    # with the few (C) outputs as the rows are 3-4x faster in MKL than the m x C ones (verify/bench).
    pre, hidden, back = buffer(m, N), buffer(m, N), buffer(m, N)
    C = Y.shape[1]
    residual, readout = buffer(C, m), W2.T.contiguous()
    targets, inputs = Y.T.contiguous(), X.T.contiguous()
    grad_W1, grad_W2 = buffer(X.shape[1], N), buffer(C, N)
    with torch.no_grad():
        for t in range(total + 1):
            torch.mm(X, W1.T, out=pre)
            torch.clamp_min(pre, 0.0, out=hidden)
            torch.mm(readout, hidden.T, out=residual)
            residual.sub_(targets)
            flat = residual.view(-1)
            value = 0.5 * float(torch.dot(flat, flat)) * scale
            if not math.isfinite(value):
                raise _diverged(t, value, lr)
            losses[t] = value
            if t in marks and on_checkpoint is not None:
                on_checkpoint(t, model)
            if t == total:
                break
            torch.mm(residual.T, readout, out=back)
            _relu_backward_(back, pre)
            if trained_readout:
                torch.mm(residual, hidden, out=grad_W2)
                W2.sub_(grad_W2.T, alpha=lr * scale)
                readout.copy_(W2.T)
            torch.mm(inputs, back, out=grad_W1)
            if mask_rows is not None:
                grad_W1.mul_(mask_rows)
            W1.sub_(grad_W1.T, alpha=lr * scale)
    return losses


def imp_trainer(
    X: torch.Tensor, Y: torch.Tensor, config: TrainConfig, steps: int, device: torch.device | str | None = None
) -> TrainFunction:
    """ebtheory.prune.imp.trainer_from_config with the closed-form loop where it applies: the two-layer NTK
    net (dense, or with its input weights masked by torch.nn.utils.prune) under full-batch GD on a squared
    loss. The same iterations (tests/test_unit_fast_gd.py checks weights and masks against the autograd
    trainer); any other net or config goes to trainer_from_config."""
    slow = trainer_from_config(X, Y, config, steps, device)

    def train(model: nn.Module, checkpoints: Sequence[int], on_checkpoint: CheckpointCallback) -> None:
        if not supports(model, config):
            return slow(model, checkpoints, on_checkpoint)
        wanted = {int(t) for t in checkpoints}
        if any(t > steps for t in wanted):
            raise ValueError(f"checkpoints must lie in [0, {steps}] (steps); got {sorted(wanted)}")

        def forward_wanted(t: int, trained: nn.Module) -> None:
            if t in wanted:
                on_checkpoint(t, trained)

        model.to(device if device is not None else X.device)
        mask = getattr(model, "input_weights_mask", None)
        original = getattr(model, "input_weights_orig", None)
        if mask is None or original is None:
            gradient_descent(model, X, Y, config, sorted(wanted | {steps}), forward_wanted)
            return
        with torch.no_grad():
            model.input_weights = original * mask  # the effective weights, as the prune hook computes them
        gradient_descent(model, X, Y, config, sorted(wanted | {steps}), forward_wanted, mask=mask)
        with torch.no_grad():  # masked entries of the original never moved (their gradient is 0)
            trained = cast(torch.Tensor, model.input_weights)
            original.copy_(torch.where(mask.bool(), trained, original))

    return train
