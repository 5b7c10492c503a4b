"""What every part of a unit shares: its data, its spec, its device, and how a network is scored.

A unit is the (m, seed) cell of a sweep (ebtheory.verify.unit). `UnitContext` carries what every step
of it needs, so the model families (ebtheory.verify.families) and the Early-Bird / ticket code
(ebtheory.verify.earlybird_tickets) take one argument instead of five.

Units (docs/theory.md, section 1): losses are sum losses L(u) = 1/2 ||u - Y||_F^2 over the m training
examples, or the summed cross-entropy when the spec pre-trains with cross_entropy (thresholds are
read off the loss the network is trained on); `*_mean` is L / m. Steps count iterations.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ebtheory.data.preprocess import flatten_unit_sphere, one_hot
from ebtheory.data.selection import training_subset
from ebtheory.prune.batchnorm import batch_norms, reestimate_batch_norm
from ebtheory.tickets import TicketWriter
from ebtheory.train import TrainConfig, fine_tune
from ebtheory.verify import fast_gd
from ebtheory.verify.records import NetworkNumbers
from ebtheory.verify.spec import MINIBATCH_OPTIMIZERS, ExperimentSpec, step_size, tick_iterations


@dataclass(frozen=True)
class UnitData:
    """Training subset (X, one-hot Y, labels y) and test split of one unit, on CPU.

    X is (m, d) on the unit sphere for the fully connected nets (docs/theory.md, section 1), or the
    images as stored for the CNN; Y = one_hot(y) (m x C); X, X_test and Y in spec.dtype."""

    X: torch.Tensor
    Y: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]

    @functools.cached_property
    def X64(self) -> torch.Tensor:
        """X in float64 on CPU, exactly X.to(float64): converted once per unit, not at every checkpoint
        and subnetwork (the two-layer measurements run in float64; ebtheory.verify.families)."""
        return self.X.detach().to("cpu", torch.float64)

    @functools.cached_property
    def cosines64(self) -> torch.Tensor:
        """X64 X64^T (m x m, float64; the inputs' inner products), computed once per unit."""
        flat = self.X64.reshape(self.X64.shape[0], -1)
        return flat @ flat.T


def load_unit_data(spec: ExperimentSpec, m: int, seed: int, *, unit_sphere: bool) -> UnitData:
    """Data of unit (m, seed): ebtheory.data.selection.training_subset (the subset `ebtheory estimate`
    draws for the same (m, seed)), inputs projected onto the unit sphere when `unit_sphere`, in spec.dtype."""
    subset = training_subset(spec.dataset, spec.data_dir, m, seed, balanced=spec.balanced, n_test=spec.n_test)
    X, X_test = subset.X, subset.X_test
    if unit_sphere:
        X, X_test = flatten_unit_sphere(X), flatten_unit_sphere(X_test)
    dtype = getattr(torch, spec.dtype)  # float32 as loaded, or float64 (spec.dtype: exact widening)
    X, X_test = X.to(dtype), X_test.to(dtype)
    if spec.input_jitter > 0:
        X = jittered(X, spec.input_jitter, seed=1_000_003 * seed + m)
    return UnitData(
        X=X,
        Y=one_hot(subset.y, subset.num_classes).to(dtype),
        y=subset.y,
        X_test=X_test,
        y_test=subset.y_test,
        num_classes=subset.num_classes,
        input_shape=subset.input_shape,
    )


def jittered(X: torch.Tensor, relative: float, seed: int) -> torch.Tensor:
    """X (1 + relative s) elementwise with seeded random signs s in {-1, +1} (spec.input_jitter): every
    nonzero input moves by `relative` of its size, in X's dtype."""
    signs = torch.randint(0, 2, X.shape, generator=torch.Generator().manual_seed(seed)).to(X.dtype) * 2 - 1
    return X * (1 + relative * signs)


def sum_squared_loss(outputs: torch.Tensor, target: torch.Tensor) -> float:
    """1/2 ||outputs - target||_F^2 in float64 (a sum loss)."""
    return float(0.5 * (outputs.double() - target.double()).square().sum())


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose argmax is the label (0 for no rows)."""
    return float((outputs.argmax(dim=1).cpu() == labels.cpu()).double().mean()) if labels.numel() else 0.0


def network_numbers(spec: ExperimentSpec, model: nn.Module, data: UnitData, device: torch.device) -> NetworkNumbers:
    """Sum and per-example training loss against the labels, train and test accuracy.

    The loss is the squared loss 1/2 ||u - Y||^2 against the one-hot labels (docs/theory.md,
    section 1), or the summed cross-entropy when the spec pre-trains with cross_entropy."""
    model.eval()
    with torch.no_grad():
        train_out = model(data.X.to(device))
        test_out = model(data.X_test.to(device))
    if spec.train_loss == "cross_entropy":
        loss = float(torch.nn.functional.cross_entropy(train_out.double(), data.y.to(device), reduction="sum"))
    else:
        loss = sum_squared_loss(train_out, data.Y.to(device))
    m = data.X.shape[0]
    return NetworkNumbers(
        train_loss_sum=loss,
        train_loss_mean=loss / m,
        train_acc=accuracy(train_out, data.y),
        test_acc=accuracy(test_out, data.y_test),
    )


def point_seed(seed: int, t: int) -> int:
    """The seed of the random choices at point (seed, t), so a resumed unit redraws exactly them."""
    return int(seed) * 1_000_003 + int(t)


@dataclass(frozen=True)
class UnitContext:
    """One unit's spec, size m, seed, data and device."""

    spec: ExperimentSpec
    m: int
    seed: int
    data: UnitData
    device: torch.device
    tickets: TicketWriter | None = None  # ebtheory run --save-tickets: saves the subnetworks built (ebtheory.tickets)

    def keep(
        self, name: str, t: int, subnet: nn.Module, numbers: NetworkNumbers, always: bool = False, **masks: Any
    ) -> None:
        """Save `subnet` (scored `numbers`) as ticket `name` of checkpoint t when --save-tickets chose t (or
        `always`: the Early-Bird tickets); `masks`: dense=, counts= or selection= (TicketWriter.save)."""
        if self.tickets is not None and (always or self.tickets.wants(t)):
            self.tickets.save(name, t, subnet, numbers, **masks)

    def train_config(self, *, finetune: bool = False, lr: float | None = None) -> TrainConfig:
        """TrainConfig of pre-training (or fine-tuning); the step is `lr` when given, else
        ebtheory.verify.spec.step_size (eta or finetune_eta, scaled per m under eta_scaling inverse_m).
        SGD and Adam with batch_size 0 run full batch (the spec field's help)."""
        spec = self.spec
        batch = min(spec.batch_size or self.m, self.m) if spec.optimizer in MINIBATCH_OPTIMIZERS else None
        return TrainConfig(
            optimizer=spec.optimizer,
            lr=step_size(spec, self.m, finetune) if lr is None else lr,
            loss=spec.train_loss,
            batch_size=batch,
            momentum=spec.momentum,
            seed=self.seed,
        )

    @property
    def targets(self) -> torch.Tensor:
        """What pre-training fits: integer labels for cross-entropy, else the one-hot Y."""
        return self.data.y if self.spec.train_loss == "cross_entropy" else self.data.Y

    def numbers(self, model: nn.Module) -> NetworkNumbers:
        """network_numbers of `model` on this unit's data."""
        return network_numbers(self.spec, model, self.data, self.device)

    def iterations(self, ticks: int) -> int:
        """Gradient steps that `ticks` on the spec's clock take at this m (ebtheory.verify.spec.tick_iterations)."""
        return tick_iterations(self.spec, self.m, ticks)

    def finetuned(self, subnet: nn.Module, lr: float) -> NetworkNumbers | None:
        """The numbers of a copy of `subnet` after spec.finetune_steps (on the spec's clock) of training at
        step size `lr` on the pre-training loss (None when finetune_steps is 0), BatchNorm statistics
        re-estimated on the m training examples after training. `subnet` is left unchanged."""
        if self.spec.finetune_steps == 0:
            return None
        tuned = copy.deepcopy(subnet)
        config = self.train_config(finetune=True, lr=lr)
        steps = self.iterations(self.spec.finetune_steps)
        if fast_gd.supports(tuned, config):
            fast_gd.gradient_descent(tuned, self.data.X, self.targets, config, [steps])
            return self.numbers(tuned)
        fine_tune(
            tuned,
            self.data.X.to(self.device),
            self.targets.to(self.device),
            steps,
            config,
            device=self.device,
        )
        if batch_norms(tuned):  # training left moving averages that lag the final weights
            reestimate_batch_norm(tuned, self.data.X.to(self.device))
        return self.numbers(tuned)
