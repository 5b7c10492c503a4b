"""Pre-training: full-batch gradient descent, minibatch SGD and Adam, with a checkpoint grid.

The theory's algorithm (docs/theory.md section 1; Du et al., ICLR 2019, Thm 4.1) is full-batch gradient
descent on the SUM loss, W <- W - eta * grad L(W) with L = 1/2 ||u - Y||_F^2. That is
`TrainConfig(optimizer="gd", loss="sum_squares")`. One run yields the model at every iteration t
of a checkpoint grid, so a sweep over the pre-training length t never retrains.

Units: an *iteration* is one parameter update. For "gd" that is one full-batch step; for "sgd" and
"adam" with a batch size it is one minibatch step (not an epoch). `losses[t]` is the full-data
training loss after t iterations, t = 0 (the initialisation) .. T.

The practitioner regime (issue 12; Wolfe et al. 2024, Sec. 5; You et al., ICLR 2020) counts training
in *epochs*: mini-batch SGD or Adam at a fixed step on the per-example (mean) loss. An epoch is
S = ceil(m / B) iterations (the last minibatch of each epoch is short when B does not divide m), and
`epochs_to_steps` turns an epoch count e (fractions allowed) into the first iteration t at which at
least e * m examples have been processed (see its docstring); `epoch_grid` builds the checkpoint
grid "fractions of an epoch early, whole epochs later"; `fine_tune_epochs` fine-tunes in epochs.
Training runs in the model's dtype (float32 for every model of ebtheory.models): the inputs are
cast to it, and every full-data evaluation runs in chunks (`loss_value`, `evaluate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ebtheory.epochs import (  # noqa: F401  (re-exported: the epoch arithmetic lives there)
    epoch_checkpoints,
    epoch_grid,
    epochs_to_steps,
    examples_seen,
    steps_per_epoch,
    steps_to_epochs,
)

OPTIMIZERS = ("gd", "sgd", "adam")
LOSSES = ("sum_squares", "mean_squares", "cross_entropy")

CheckpointCallback = Callable[[int, nn.Module], None]
Penalty = Callable[[nn.Module], torch.Tensor]


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite; the message names the iteration and the lr."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (frozen, so a config can name a run)."""

    optimizer: str = field(
        default="gd", metadata={"help": "gd (full batch), sgd (minibatches) or adam (minibatches or full batch)"}
    )
    lr: float = field(default=1e-3, metadata={"help": "step size eta"})
    loss: str = field(
        default="sum_squares",
        metadata={"help": "sum_squares 1/2||u-Y||^2, mean_squares (that / m), cross_entropy (mean)"},
    )
    batch_size: int | None = field(
        default=None, metadata={"help": "minibatch size: required for sgd, None for gd, either for adam (None = full)"}
    )
    momentum: float = field(default=0.0, metadata={"help": "heavy-ball momentum in [0, 1) (gd, sgd; 0 for adam)"})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 coefficient added to the gradient"})
    seed: int = field(default=0, metadata={"help": "seed of the minibatch order"})
    betas: tuple[float, float] = field(
        default=(0.9, 0.999), metadata={"help": "Adam's moment decay rates (beta1, beta2), each in [0, 1)"}
    )
    adam_eps: float = field(default=1e-8, metadata={"help": "Adam's denominator term eps > 0"})

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got optimizer={self.optimizer!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}; got loss={self.loss!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0; got lr={self.lr}")
        if self.optimizer == "gd" and self.batch_size is not None:
            raise ValueError(
                f"batch_size must be None for optimizer='gd' (full batch); got batch_size={self.batch_size}"
            )
        if self.optimizer == "sgd" and (self.batch_size is None or self.batch_size < 1):
            raise ValueError(
                f"batch_size must be an integer >= 1 for optimizer='sgd'; got batch_size={self.batch_size}"
            )
        if self.optimizer == "adam" and self.batch_size is not None and self.batch_size < 1:
            raise ValueError(
                f"batch_size must be None (full batch) or an integer >= 1 for optimizer='adam'; "
                f"got batch_size={self.batch_size}"
            )
        if not (0.0 <= self.momentum < 1.0):
            raise ValueError(f"momentum must lie in [0, 1); got momentum={self.momentum}")
        if self.optimizer == "adam" and self.momentum != 0.0:
            raise ValueError(
                f"momentum must be 0 for optimizer='adam' (its first-moment rate is betas[0]); "
                f"got momentum={self.momentum}"
            )
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got betas={self.betas}")
        if not (math.isfinite(self.adam_eps) and self.adam_eps > 0):
            raise ValueError(f"adam_eps must be a finite number > 0; got adam_eps={self.adam_eps}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be finite and >= 0; got weight_decay={self.weight_decay}")


@dataclass(frozen=True)
class TrainResult:
    """losses[t]: full-data training loss after t iterations (units of `config.loss`); NaN only where
    `recorded[t]` is False (see `loss_every`). states[t]: a CPU copy of the state_dict at iteration t."""

    losses: np.ndarray
    states: dict[int, dict[str, torch.Tensor]]
    recorded: np.ndarray

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])


def select_device(requested: str = "auto") -> torch.device:
    """ "auto" -> cuda when available, else cpu; "cpu", "cuda" or "cuda:<index>" -> that device."""
    if not isinstance(requested, str):
        raise ValueError(f"device must be a string ('auto', 'cpu', 'cuda', 'cuda:<i>'); got {requested!r}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        index = requested[5:]
        if index and not index.isdigit():
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<i>'; got device={requested!r}")
        if not torch.cuda.is_available():
            raise ValueError(f"device={requested!r} was requested but CUDA is not available; use 'cpu'")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device={requested!r}: index must be < {torch.cuda.device_count()} (visible CUDA devices)"
            )
        return torch.device(requested)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<i>'; got device={requested!r}")


def objective(outputs: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """The training objective on a batch of b examples.

    sum_squares: 1/2 ||u - Y||_F^2 (docs/theory.md section 1, the sum loss);
    mean_squares: that divided by b (the per-example loss);
    cross_entropy: mean over the b examples of -log softmax(u)_y (targets: int labels or one-hot rows).
    """
    if loss == "cross_entropy":
        if targets.dtype.is_floating_point:
            return F.cross_entropy(outputs, targets.to(outputs.dtype))
        return F.cross_entropy(outputs, targets)
    if targets.shape != outputs.shape:
        if targets.numel() != outputs.numel():
            raise ValueError(
                f"targets must match the model's outputs {tuple(outputs.shape)}; got Y rows of shape "
                f"{tuple(targets.shape)}"
            )
        targets = targets.reshape(outputs.shape)
    half_sq = 0.5 * (outputs - targets.to(outputs.dtype)).pow(2).sum()
    return half_sq / outputs.shape[0] if loss == "mean_squares" else half_sq


def _check_data(X: torch.Tensor, Y: torch.Tensor, loss: str) -> None:
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one example; got X with 0 rows")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y must have one row per example of X ({X.shape[0]}); got Y.shape={tuple(Y.shape)}")
    if loss != "cross_entropy" and not Y.dtype.is_floating_point:
        raise ValueError(f"loss={loss!r} needs floating-point targets (e.g. one_hot(y)); got Y.dtype={Y.dtype}")


def loss_value(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, loss: str, *, chunk_size: int = 8192) -> float:
    """Full-data training loss of `model` in eval mode, without gradients, in `loss`'s units.

    sum_squares: 1/2 ||u - Y||^2 summed over all m examples; mean_squares and cross_entropy: per
    example. Evaluated in chunks of `chunk_size` rows and accumulated in float64.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got loss={loss!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got chunk_size={chunk_size}")
    _check_data(X, Y, loss)
    was_training = model.training
    model.eval()
    total = 0.0
    m = X.shape[0]
    with torch.no_grad():
        for start in range(0, m, chunk_size):
            xb, yb = X[start : start + chunk_size], Y[start : start + chunk_size]
            # Chunk totals are summed, so take each chunk's SUM and divide by m once at the end.
            batch = objective(model(xb), yb, "sum_squares" if loss != "cross_entropy" else loss)
            total += float(batch) * (xb.shape[0] if loss == "cross_entropy" else 1.0)
    model.train(was_training)
    return total if loss == "sum_squares" else total / m


def _mode_dependent(model: nn.Module) -> bool:
    """True when train and eval mode differ (BatchNorm, dropout), so a training forward is not the
    eval-mode loss and must not be recorded in its place."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
    return any(isinstance(module, kinds) for module in model.modules())


def _check_checkpoints(checkpoints: Iterable[int]) -> list[int]:
    points = list(checkpoints)
    if not points:
        raise ValueError("checkpoints must name at least one iteration; got an empty grid")
    if any(not isinstance(t, (int, np.integer)) or isinstance(t, bool) for t in points):
        raise ValueError(f"checkpoints must be integers; got checkpoints={points}")
    if points[0] < 0 or any(b <= a for a, b in zip(points, points[1:])):
        raise ValueError(f"checkpoints must be sorted, unique and >= 0; got checkpoints={points}")
    return [int(t) for t in points]


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().to("cpu", copy=True) for name, value in model.state_dict().items()}


def _diverged(t: int, value: float, config: TrainConfig) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged: loss={value} at iteration {t} (optimizer={config.optimizer}, lr={config.lr}); "
        f"try a smaller lr (for gd on the sum loss, Du et al. need lr = O(lambda0 / m^2))"
    )


def _minibatches(m: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless minibatch indices: a fresh seeded permutation per epoch, the last batch may be short."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(m, generator=generator)
        yield from order.split(batch_size)


def _as_model_input(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Floating-point X in the dtype of the model's first floating parameter (no copy when equal)."""
    reference = next((p for p in model.parameters() if p.is_floating_point()), None)
    if reference is None or not X.is_floating_point():
        return X
    return X.to(reference.dtype)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(
            model.parameters(),
            lr=config.lr,
            betas=config.betas,
            eps=config.adam_eps,
            weight_decay=config.weight_decay,
        )
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def train_with_checkpoints(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    checkpoints: Sequence[int],
    *,
    device: torch.device | str | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    keep_states: bool = True,
    progress: bool = False,
    penalty: Penalty | None = None,
    loss_every: int = 1,
) -> TrainResult:
    """Train `model` in place for T = max(checkpoints) iterations and hand back every checkpoint.

    gd: W <- W - lr * (grad L(W) + weight_decay * W) (+ momentum), L over all m examples.
    sgd: the same on one minibatch per iteration; minibatch order from torch.Generator(seed).
    For sgd with "sum_squares" the minibatch objective is 1/2 ||u_B - Y_B||^2 (a sum over the batch).
    `penalty(model)` (e.g. earlybird.bn_l1_penalty) is added to the objective being minimised but not
    to the recorded losses. At each checkpoint t (before update t+1) `on_checkpoint(t, model)` is
    called (it may evaluate the model but must not change it) and, with keep_states, a CPU copy of
    the state_dict is kept. `loss_every=s` records the
    full-data loss only every s iterations, at checkpoints and at T (the others stay NaN, marked in
    `recorded`): for sgd a full-data evaluation per minibatch step is expensive.
    The model (and the data) are moved to `device` (None -> select_device("auto")) and stay there;
    floating-point X is cast to the model's dtype (float32 training for float32 models).
    adam: torch.optim.Adam (Kingma and Ba, 2015) with `betas`, `adam_eps`, L2 `weight_decay`, on the
    same minibatches (or the full batch when batch_size is None).
    Raises TrainingDivergedError (a ValueError) when a loss is not finite.
    """
    grid = _check_checkpoints(checkpoints)
    _check_data(X, Y, config.loss)
    if loss_every < 1:
        raise ValueError(f"loss_every must be >= 1; got loss_every={loss_every}")
    if device is None or isinstance(device, str):
        target = select_device("auto" if device is None else device)
    else:
        target = torch.device(device)
    model.to(target)
    X, Y = _as_model_input(model, X).to(target), Y.to(target)
    total = grid[-1]
    wanted = set(grid)
    optimizer = _optimizer(model, config)
    losses = np.full(total + 1, np.nan)
    recorded = np.zeros(total + 1, dtype=bool)
    states: dict[int, dict[str, torch.Tensor]] = {}
    # Full batch (gd, adam without batch_size) on a mode-independent model: the step's own forward is
    # exactly the eval loss at t.
    reuse_forward = config.batch_size is None and not _mode_dependent(model)
    batches = None if config.batch_size is None else _minibatches(X.shape[0], config.batch_size, config.seed)
    steps: Iterable[int] = range(total + 1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"{config.optimizer} lr={config.lr}", unit="it")
    model.train()

    def step_forward() -> torch.Tensor:
        if batches is None:
            xb, yb = X, Y
        else:
            index = next(batches).to(target)
            xb, yb = X[index], Y[index]
        optimizer.zero_grad(set_to_none=True)
        return objective(model(xb), yb, config.loss)

    for t in steps:
        record = t % loss_every == 0 or t in wanted or t == total
        # The step's forward may only run before the checkpoint when it cannot change the state
        # (a train-mode BatchNorm forward updates running statistics).
        step_loss = step_forward() if reuse_forward and t < total else None
        if record:
            value = float(step_loss.detach()) if step_loss is not None else loss_value(model, X, Y, config.loss)
            if not math.isfinite(value):
                raise _diverged(t, value, config)
            losses[t], recorded[t] = value, True
        if t in wanted:
            if on_checkpoint is not None:
                on_checkpoint(t, model)
                model.train()
            if keep_states:
                states[t] = _cpu_state(model)
        if t == total:
            break
        if step_loss is None:
            step_loss = step_forward()
        if not record and not math.isfinite(float(step_loss.detach())):
            raise _diverged(t, float(step_loss.detach()), config)
        objective_value = step_loss if penalty is None else step_loss + penalty(model)
        objective_value.backward()
        optimizer.step()
    return TrainResult(losses=losses, states=states, recorded=recorded)


def fine_tune(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    steps: int,
    config: TrainConfig,
    device: torch.device | str | None = None,
    *,
    progress: bool = False,
) -> TrainResult:
    """Train a (pruned) network in place for `steps` iterations; states holds only the final state.

    Same objective and units as `train_with_checkpoints`; steps = 0 returns the loss as it stands.
    The full-data loss is recorded at t = 0 and t = steps only (`recorded`): with mini-batches a
    full-data evaluation per step would cost as much as the training itself several times over.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0; got steps={steps!r}")
    return train_with_checkpoints(
        model,
        X,
        Y,
        config,
        [int(steps)],
        device=device,
        keep_states=True,
        progress=progress,
        loss_every=max(int(steps), 1),
    )


def fine_tune_epochs(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    epochs: float | Fraction,
    config: TrainConfig,
    device: torch.device | str | None = None,
    *,
    progress: bool = False,
) -> TrainResult:
    """`fine_tune` for t(epochs) = epochs_to_steps(epochs, m, config.batch_size) iterations (units: epochs
    over the m rows of X; e.g. 0.1 epoch at m = 1000, B = 64 is 2 iterations). In train mode, so it also
    refreshes BatchNorm running statistics (with their momentum, not a re-estimate)."""
    steps = epochs_to_steps(epochs, X.shape[0], config.batch_size)
    return fine_tune(model, X, Y, steps, config, device, progress=progress)


@dataclass(frozen=True)
class Evaluation:
    """loss: full-data loss in `loss`'s units (sum_squares: sum; mean_squares, cross_entropy: per example);
    accuracy: fraction of rows whose output argmax equals the label (float Y: argmax of its row)."""

    loss: float
    accuracy: float


def evaluate(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, loss: str, *, chunk_size: int = 8192) -> Evaluation:
    """Loss and accuracy of `model` in eval mode over all rows of X, in chunks of `chunk_size` rows
    (one forward pass per chunk, loss accumulated in float64), without gradients; the mode is restored."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got loss={loss!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got chunk_size={chunk_size}")
    _check_data(X, Y, loss)
    reference = next(model.parameters(), None)
    if reference is not None:
        X, Y = _as_model_input(model, X).to(reference.device), Y.to(reference.device)
    was_training = model.training
    model.eval()
    total, correct, m = 0.0, 0, X.shape[0]
    try:
        with torch.no_grad():
            for start in range(0, m, chunk_size):
                xb, yb = X[start : start + chunk_size], Y[start : start + chunk_size]
                outputs = model(xb)
                batch = objective(outputs, yb, "sum_squares" if loss != "cross_entropy" else loss)
                total += float(batch) * (xb.shape[0] if loss == "cross_entropy" else 1.0)
                labels = yb if not yb.dtype.is_floating_point else yb.reshape(outputs.shape).argmax(dim=1)
                correct += int((outputs.argmax(dim=1) == labels).sum())
    finally:
        model.train(was_training)
    return Evaluation(loss=total if loss == "sum_squares" else total / m, accuracy=correct / m)
