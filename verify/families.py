"""Model families of the harness: one object per family owns everything that differs between them.

The unit (ebtheory.verify.unit) and the Early-Bird / ticket code (ebtheory.verify.earlybird_tickets) never ask
which model they run: they call the family of the spec (`family_of(spec)`, the one registry,
`FAMILIES`). A family knows how to

- build the dense net and prepare its inputs (`unit_sphere`),
- measure and prune it at a checkpoint (`measure_point`: the subnetworks, V, the hypotheses' numbers),
- summarise a unit (`summarise`: the bound's constants, the predicted t*, the hypotheses record),
- pick the fine-tuning step of a subnetwork (`finetune_step`),
- draw the Early-Bird mask (`earlybird_mask`), build the EB and GFS tickets at detection
  (`tickets_at`), and say what IMP prunes and how its result is counted (`imp_parameters`,
  `imp_neurons`, `ticket_weights`).

Families (spec.model):

- ``ntk``, ``mean_field``: two-layer nets u = H W2 (docs/theory.md, sections 1-4). Exact GFS
  (ebtheory.prune.gfs) in float64 on CPU against the labels and the dense output, magnitude and
  random baselines at the same k, Lemma A's check, the hypotheses of the theorem at every checkpoint.
- ``deep_mlp``: a ReLU MLP (ebtheory.models.DeepMLP, hidden widths spec.mlp_widths) pruned by
  layer-wise GFS (ebtheory.prune.layerwise), spec.keep_fraction of each hidden layer's neurons (k when 0),
  with the L1-norm and random baselines at the same size per layer; empirical numbers only
  (docs/theory.md, section 5.6).
- ``cnn``: the residual CNN, layer-wise GFS over the blocks' inner channels (keep_fraction, or k per
  block), the same baselines, every net scored with BatchNorm statistics re-estimated on the training
  set (LayerwiseFamily); empirical numbers only (docs/theory.md, section 5.6).

To add a family: subclass `ModelFamily`, implement its abstract methods, add it to `FAMILIES`, and
add its name to ebtheory.verify.spec.MODELS.
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, Protocol, cast

import numpy as np
import scipy.sparse.linalg
import torch
from torch import nn
from torch.nn.utils import prune

from ebtheory import symbolic
from ebtheory.constants import diagnostics
from ebtheory.constants import lambda0 as h_inf_spectrum
from ebtheory.constants.ntk import two_layer_ntk_lambda_max, two_layer_ntk_operator
from ebtheory.epochs import steps_per_epoch
from ebtheory.models import (
    DeepMLP,
    MeanFieldTwoLayer,
    ResidualBlock,
    ResidualCNN,
    TwoLayerNTK,
    count_macs,
    count_parameters,
)
from ebtheory.prune.baselines import magnitude_selection, random_selection
from ebtheory.prune.batchnorm import batch_norms, reestimate_batch_norm
from ebtheory.prune.earlybird import bn_channel_mask, bn_l1_penalty, neuron_norm_mask
from ebtheory.prune.gfs import atom_spread, greedy_forward_selection, pruned_two_layer, shared_gram
from ebtheory.prune.imp import PrunedParameter, prunable_parameters
from ebtheory.prune.layerwise import (
    LayerwiseOptions,
    LayerwiseResult,
    l1_norm_units,
    layerwise_gfs,
    prunable_layers,
    prune_units,
    random_units,
)
from ebtheory.train import train_with_checkpoints
from ebtheory.verify import fast_gd
from ebtheory.verify.context import UnitContext, UnitData, point_seed, sum_squared_loss
from ebtheory.verify.records import (
    Hypotheses,
    LemmaACheck,
    NetworkNumbers,
    PointDiagnostics,
    PointRow,
    Prediction,
    SubnetEntry,
    Ticket,
    UnitConstants,
)
from ebtheory.verify.spec import DENSE_GRAM_MAX_M, H_INF_SPECTRUM_MAX_M, ExperimentSpec, step_size

LEMMA_A_SLACK = 1e-9  # relative float64 slack when checking measured <= bound
# Lanczos tolerance of the fine-tuning step's lambda_max; the Ritz value is raised by it, so the
# estimate stays an upper bound (TwoLayerFamily.finetune_step). 1e-6 took ~22 products a subnetwork.
FINETUNE_LANCZOS_TOL = 1e-2
# The auto fine-tuning step of a mean-loss run measures the Gauss-Newton matrix on at most this many of the
# m examples (a seeded subset): at m = 60,000 the matrix-free Lanczos on all of them took minutes a subnetwork.
AUTO_STEP_MAX_EXAMPLES = 4096
Penalty = Callable[[nn.Module], torch.Tensor]


class TwoLayerNet(Protocol):
    """The two-layer form (ebtheory.models TwoLayerNTK, MeanFieldTwoLayer; ebtheory.prune.gfs.PrunedTwoLayer):
    out(x) = hidden(x) @ readout()[0], hidden(x) = relu(x W1^T) with W1 = input_weights."""

    input_weights: torch.Tensor

    def readout(self) -> tuple[torch.Tensor, torch.Tensor | None]: ...


def _two_layer(model: nn.Module) -> TwoLayerNet:
    return cast(TwoLayerNet, model)


def _linears(model: DeepMLP) -> list[nn.Linear]:
    return [cast(nn.Linear, layer) for layer in model.layers]


def _blocks(model: nn.Module) -> list[ResidualBlock]:
    return [cast(ResidualBlock, block) for block in cast(ResidualCNN, model).blocks]


@dataclass(frozen=True)
class PointMeasure:
    """What a family measures at one checkpoint (the family-specific fields of a PointRow)."""

    width: int | None
    V: float | None
    subnets: dict[str, SubnetEntry]
    diagnostics: PointDiagnostics | None


@dataclass(frozen=True)
class TicketPair:
    """The EB and GFS tickets at the detection checkpoint, before IMP joins them (ebtheory.verify.earlybird_tickets).

    overlap: neurons (channels) both keep; kept_per_block: kept inner channels per block (CNN) or
    neurons per hidden layer (deep MLP); None for the two-layer nets."""

    earlybird: Ticket
    gfs: Ticket
    overlap: int
    kept_per_block: tuple[int, ...] | None


@dataclass(frozen=True)
class UnitSummary:
    """What a family adds to a unit's row: the bound's constants, the predicted t* per step-size regime,
    and the theorem's hypotheses measured on the run (two-layer only; None otherwise)."""

    constants: UnitConstants | None = None
    predicted: dict[str, Prediction | None] | None = None
    hypotheses: Hypotheses | None = None


class ModelFamily(abc.ABC):
    """What differs between model families; see the module docstring."""

    name: str
    unit_sphere: bool = True  # inputs flattened onto the unit sphere (docs/theory.md, section 1)
    earlybird_score: Literal["neuron_norm", "bn1_scale"] = "neuron_norm"
    two_layer: bool = False  # the theory (Lemma A, t*) applies

    @abc.abstractmethod
    def build(self, spec: ExperimentSpec, data: UnitData, seed: int) -> nn.Module:
        """The dense network of the spec, seeded by the unit's seed."""

    @abc.abstractmethod
    def measure_point(self, ctx: UnitContext, model: nn.Module, initial: nn.Module, t: int) -> PointMeasure:
        """Prune and measure `model` at checkpoint t (`initial`: the same net at t = 0)."""

    def summarise(self, ctx: UnitContext, points: Sequence[PointRow], initial_loss_sum: float) -> UnitSummary:
        """The family's part of the unit row (default: nothing beyond the empirical numbers)."""
        return UnitSummary()

    def finetune_step(self, ctx: UnitContext, subnet: nn.Module) -> float:
        """The fine-tuning step of a subnetwork: spec.finetune_eta (ebtheory.verify.spec.step_size)."""
        return step_size(ctx.spec, ctx.m, finetune=True)

    def scored_net(self, ctx: UnitContext, model: nn.Module) -> nn.Module:
        """The net whose numbers are reported for a trained `model` (the dense net at a checkpoint, the IMP
        ticket): `model` itself by default. `model` must be left unchanged (pre-training goes on with it)."""
        return model

    def dense_numbers(self, ctx: UnitContext, model: nn.Module) -> NetworkNumbers:
        """The reported numbers of a trained net: ctx.numbers(self.scored_net(ctx, model))."""
        return ctx.numbers(self.scored_net(ctx, model))

    @abc.abstractmethod
    def earlybird_mask(self, model: nn.Module, ratio: float) -> torch.Tensor:
        """The Early-Bird mask of `model` at ratio p (bool, on CPU)."""

    @abc.abstractmethod
    def tickets_at(self, ctx: UnitContext, model: nn.Module, mask: torch.Tensor, t: int) -> TicketPair:
        """The EB ticket (the mask's units) and the GFS ticket (as many units, without replacement) at t."""

    @abc.abstractmethod
    def imp_parameters(self, model: nn.Module) -> list[PrunedParameter]:
        """The weights iterative magnitude pruning prunes."""

    @abc.abstractmethod
    def imp_neurons(self, model: nn.Module, chosen: Sequence[PrunedParameter], masks: Sequence[torch.Tensor]) -> int:
        """Hidden units (inner channels) that keep at least one weight after IMP."""

    @abc.abstractmethod
    def ticket_weights(self, model: nn.Module, pair: TicketPair, d: int) -> int:
        """The prunable weights the EB ticket keeps: the count IMP prunes down to (d: input dimension)."""

    def bn_penalty(self, spec: ExperimentSpec) -> Penalty | None:
        """A penalty added to the pre-training objective (None: none)."""
        return None

    def pretrain(
        self,
        ctx: UnitContext,
        model: nn.Module,
        checkpoints: Sequence[int],
        on_checkpoint: Callable[[int, nn.Module], None],
    ) -> np.ndarray:
        """Pre-train `model` in place, calling on_checkpoint(t, model) at every checkpoint (iterations); the
        loss after every iteration (units of spec.train_loss; NaN where not recorded: SGD and Adam). Full-batch GD on the
        squared loss runs the closed-form loop (ebtheory.verify.fast_gd), anything else ebtheory.train."""
        spec, config, penalty = ctx.spec, ctx.train_config(), self.bn_penalty(ctx.spec)
        model.to(ctx.device)
        if fast_gd.supports(model, config, penalty):
            return fast_gd.gradient_descent(model, ctx.data.X, ctx.targets, config, checkpoints, on_checkpoint)
        result = train_with_checkpoints(
            model,
            ctx.data.X,
            ctx.targets,
            config,
            checkpoints,
            device=ctx.device,
            on_checkpoint=on_checkpoint,
            keep_states=False,
            loss_every=1 if spec.optimizer == "gd" else max(checkpoints),
            penalty=penalty,
        )
        return result.losses

    def ticket(
        self,
        ctx: UnitContext,
        subnet: nn.Module,
        neurons: int,
        params: int,
        iterations: Sequence[int],
        name: str | None = None,
        **masks: Any,
    ) -> Ticket:
        """A ticket's record: its numbers as pruned, then after spec.finetune_steps of fine-tuning.
        With --save-tickets the pruned ticket is saved as `name` at t = iterations[0] (UnitContext.keep)."""
        pruned = ctx.numbers(subnet)
        if name is not None:
            ctx.keep(name, int(iterations[0]), subnet, pruned, always=True, **masks)
        tuned = ctx.finetuned(subnet, self.finetune_step(ctx, subnet))
        final = tuned if tuned is not None else pruned
        return Ticket(
            neurons=neurons,
            params=params,
            iterations=tuple(int(i) for i in iterations),
            total_iterations=int(sum(iterations)),
            pruned=pruned,
            train_loss_sum=final.train_loss_sum,
            train_loss_mean=final.train_loss_mean,
            train_acc=final.train_acc,
            test_acc=final.test_acc,
        )


# --------------------------------------------------------------------------------------- two-layer


def _first_layer_lambda_max(
    X: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor, active: torch.Tensor | None = None
) -> float:
    """An upper bound on lambda_max of the first-layer NTK Gram: the Lanczos Ritz value (a lower
    bound) at relative tolerance FINETUNE_LANCZOS_TOL, raised by (1 + tol); exact for tiny Grams.
    A short Lanczos basis (ncv = 8) needs about a third of the products of scipy's default.
    active: 1{X W1^T > 0} in float64 when the caller has it (two_layer_ntk_operator recomputes it)."""
    operator = two_layer_ntk_operator(X, W1, W2, active=active)
    if operator.shape[0] <= 16:
        return two_layer_ntk_lambda_max(X, W1, W2)
    start = np.random.default_rng(0).standard_normal(operator.shape[0])
    if not np.any(operator @ start):
        return 0.0  # J J^T v = 0 for a generic v: every neuron is dead on X
    ritz = scipy.sparse.linalg.eigsh(
        operator, k=1, which="LA", tol=FINETUNE_LANCZOS_TOL, ncv=8, v0=start, return_eigenvectors=False
    )
    return float(ritz[0]) * (1 + FINETUNE_LANCZOS_TOL)


def lemma_a_check(
    dense_loss: float, spread: float, k: int, eps: float, measured: float, null_loss: float
) -> LemmaACheck:
    """Lemma A at one point (proofs/lemma_a.md): bound c1(k) L(u) + V/(2(1-eps)k), whether the measured
    GFS loss is below it (relative slack LEMMA_A_SLACK), their ratio, and vacuity (bound >= L at k = 0)."""
    bound = symbolic.lemma_a_bound(dense_loss, spread, k, eps)
    return LemmaACheck(
        bound=bound,
        measured=measured,
        held=measured <= bound * (1 + LEMMA_A_SLACK) + 1e-12,
        ratio=measured / bound if bound > 0 else None,
        dense_loss_sum=dense_loss,
        null_loss_sum=null_loss,
        vacuous=bound >= null_loss,
    )


MATRIX_FREE_MAX_MACS = 2 * 10**9  # above this product cost (m d N) a checkpoint's lambda_min(H) is not measured


def hidden_gram_lambda_min(X: torch.Tensor, W: torch.Tensor, cosines: torch.Tensor | None = None) -> float | None:
    """lambda_min of H(t)_ij = x_i . x_j (1/N) sum_r 1{w_r.x_i > 0} 1{w_r.x_j > 0} (Du et al. 2019, Eq. 5).

    float64 on CPU. Up to DENSE_GRAM_MAX_M examples: the m x m Gram, O(m^2 N), and its smallest
    eigenvalue by `_smallest_eigenvalue`, O(m^3) (0.02 s at m = 800 on one core). Above: Lanczos
    (scipy eigsh, smallest algebraic) on the product
    H v = (1/N) sum_r s_r * (X X^T (s_r * v)), O(m d N) per step, never forming H; None when it does
    not converge or when one product would cost more than MATRIX_FREE_MAX_MACS multiply-adds (paper-scale
    runs: the hypothesis is then reported as unmeasured, not as held). cosines: X X^T in float64 when the
    caller has it (ebtheory.verify.context.UnitData.cosines64, once per unit); computed here otherwise."""
    X64 = X.detach().to("cpu", torch.float64).reshape(X.shape[0], -1)
    m, N = X64.shape[0], W.shape[0]
    if m > DENSE_GRAM_MAX_M and m * N * X64.shape[1] > MATRIX_FREE_MAX_MACS:
        return None
    if m <= DENSE_GRAM_MAX_M:
        # active @ active.T counts co-active neurons: integers <= N, exact in float32 for N < 2^24 (and
        # about twice as fast as float64), so the Gram is bitwise the float64 one.
        counts_dtype = torch.float32 if N < 2**24 else torch.float64
        active = (X64 @ W.detach().to("cpu", torch.float64).T > 0).to(counts_dtype)
        cosines = X64 @ X64.T if cosines is None else cosines
        gram = cosines * (active @ active.T).to(torch.float64) / N
        return _smallest_eigenvalue(gram)
    active = (X64 @ W.detach().to("cpu", torch.float64).T > 0).to(torch.float64)

    def product(v: np.ndarray) -> np.ndarray:
        scaled = active * torch.from_numpy(np.ascontiguousarray(v).reshape(m, 1))
        return ((X64 @ (X64.T @ scaled)) * active).sum(1).numpy() / N

    operator = scipy.sparse.linalg.LinearOperator((m, m), matvec=product, dtype=np.float64)
    start = np.random.default_rng(0).standard_normal(m)
    try:
        value = scipy.sparse.linalg.eigsh(operator, k=1, which="SA", tol=1e-6, v0=start, return_eigenvectors=False)
    except scipy.sparse.linalg.ArpackNoConvergence:
        return None
    return float(value[0])


def _smallest_eigenvalue(gram: torch.Tensor) -> float:
    """The smallest eigenvalue of a symmetric float64 matrix: LAPACK's dsyevr for that one eigenvalue
    (scipy), on one BLAS thread. 0.02 s at m = 800 against torch.linalg.eigvalsh's 0.037 s (all
    eigenvalues, MKL) on this machine's AMD EPYC; the two agree to round-off, about 1e-16 ||gram|| absolute
    (tests/test_two_layer_speed_twins.py). One thread: scipy's OpenBLAS would start one per core, and
    with a unit per core under load that made it 30x slower than torch."""
    import scipy.linalg
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        values = scipy.linalg.eigh(
            gram.numpy(), eigvals_only=True, subset_by_index=[0, 0], driver="evr", check_finite=False
        )
    return float(values[0])


@dataclass(frozen=True)
class _TwoLayerState:
    """A two-layer net at t in float64 on CPU: X, hidden activations H, readout W2, input weights W1."""

    X: torch.Tensor
    H: torch.Tensor
    W2: torch.Tensor
    W1: torch.Tensor

    @classmethod
    def of(cls, model: nn.Module, data: UnitData) -> _TwoLayerState:
        # float64 from the weights (spec.dtype: float32 or float64), so the selection does not depend on
        # float32 BLAS summation order (threads, CPU model): H = relu(X W1^T), the form of ebtheory.models._TwoLayer.
        net = _two_layer(model)
        X = data.X64
        W1 = net.input_weights.detach().to("cpu", torch.float64)
        W2 = net.readout()[0].detach().to("cpu", torch.float64)
        return cls(X=X, H=torch.relu(X @ W1.T), W2=W2, W1=W1)


class TwoLayerFamily(ModelFamily):
    """Two-layer nets (ntk, mean_field): exact GFS, baselines, Lemma A, the theorem's constants and hypotheses."""

    two_layer = True

    def __init__(self, name: str, builder: Callable[[ExperimentSpec, int, int, int], nn.Module]) -> None:
        self.name = name
        self._builder = builder

    def build(self, spec: ExperimentSpec, data: UnitData, seed: int) -> nn.Module:
        """The dense net, initialised as in float32 and held in the data's dtype (spec.dtype)."""
        return self._builder(spec, int(data.X.shape[1]), data.num_classes, seed).to(data.X.dtype)

    def finetune_step(self, ctx: UnitContext, subnet: nn.Module) -> float:
        """spec.finetune_eta, or with finetune_eta = 0 (auto) 1/lambda_max of the subnetwork's Gauss-Newton
        matrix of the training loss, half its GD stability limit.

        Sum loss: J J^T over the m examples. Both layers train, so lambda_max <= lambda_max(first-layer
        NTK) + ||H_S||_2^2 (the readout's Gram); the first term is a Lanczos Ritz value at relative
        tolerance FINETUNE_LANCZOS_TOL raised by (1 + tol), an upper bound. The step is at most
        1/lambda_max and at least 1/(2 (1 + tol) lambda_max).
        Mean loss (mean_squares or cross_entropy, e.g. mini-batch SGD in the practitioner regime): the same
        matrix divided by the number of examples, measured on a seeded subset of at most
        AUTO_STEP_MAX_EXAMPLES of them (all when m is smaller; the top eigenvalue of a subset's Gram per
        example estimates the whole set's, with a small upward bias that makes the step safer). For
        cross-entropy the Gauss-Newton matrix is J^T S J with the softmax Hessian S <= I/2, so the
        squared-loss bound is conservative by up to 2x."""
        if ctx.spec.finetune_eta > 0:
            return step_size(ctx.spec, ctx.m, finetune=True)
        per_example = ctx.spec.train_loss in ("mean_squares", "cross_entropy")
        with torch.no_grad():
            X = ctx.data.X64
            if per_example and X.shape[0] > AUTO_STEP_MAX_EXAMPLES:
                order = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(ctx.seed))
                X = X[order[:AUTO_STEP_MAX_EXAMPLES].sort().values]
            net = _two_layer(subnet)
            W1 = net.input_weights.detach().to("cpu", torch.float64)
            pre = X @ W1.T
            hidden = torch.relu(pre)
            readout = float(torch.linalg.matrix_norm(hidden, ord=2)) ** 2
            active = (pre > 0).to(torch.float64)  # what two_layer_ntk_operator would recompute
            first_layer = _first_layer_lambda_max(X, W1, net.readout()[0].detach().cpu(), active)
        # A zero Gauss-Newton matrix means every chosen neuron is dead on X: all gradients vanish and any
        # step leaves the subnetwork unchanged.
        scale = X.shape[0] if per_example else 1
        return scale / (first_layer + readout) if first_layer + readout > 0 else 1.0

    def _subnet_entry(
        self,
        ctx: UnitContext,
        state: _TwoLayerState,
        counts: torch.Tensor,
        target_name: Literal["labels", "dense"],
        target: torch.Tensor,
        curve: tuple[float, ...] | None,
        lemma: LemmaACheck | None,
        name: str = "",
        t: int = -1,
        dense: nn.Module | None = None,
    ) -> SubnetEntry:
        dtype = ctx.data.X.dtype  # spec.dtype
        subnet = pruned_two_layer(state.W1.to(dtype), state.W2.to(dtype), counts.cpu()).to(ctx.device)
        numbers = ctx.numbers(subnet)
        ctx.keep(name, t, subnet, numbers, dense=dense, counts=counts.cpu())
        with torch.no_grad():
            counts64 = counts.to(torch.float64)
            kept = counts64 > 0
            output = (state.H[:, kept] * (state.W1.shape[0] * counts64[kept] / counts64.sum())) @ state.W2[kept]
        return SubnetEntry(
            target=target_name,
            train_loss_sum=numbers.train_loss_sum,
            train_loss_mean=numbers.train_loss_mean,
            train_acc=numbers.train_acc,
            test_acc=numbers.test_acc,
            target_loss_sum=sum_squared_loss(output, target),
            distinct=int(kept.sum()),
            loss_curve_sum=curve,
            finetuned=ctx.finetuned(subnet, self.finetune_step(ctx, subnet)),
            lemma_a=lemma,
        )

    def measure_point(self, ctx: UnitContext, model: nn.Module, initial: nn.Module, t: int) -> PointMeasure:
        """GFS to k against each target, the baselines at k, Lemma A, and the hypotheses' numbers at t.

        A subnetwork is u_S = (1/k) sum_{r in S} g_r with the atoms g_r = N H[:, r] (x) W2[r]
        (docs/theory.md, section 2); the baselines use the same averaging, so equal k compares like
        with like. The random baseline's seed is derived from (seed, t)."""
        spec = ctx.spec
        model.eval()
        state = _TwoLayerState.of(model, ctx.data)
        N = state.W1.shape[0]
        Y = ctx.data.Y.to(torch.float64)
        dense_out = state.H @ state.W2
        spread = float(atom_spread(state.H, state.W2))
        # One atom Gram per checkpoint, shared by the targets (it depends on H and W2 only); None where
        # GFS's form "auto" would not build it, and then each target runs as it would alone.
        gram = shared_gram(state.H, state.W2, spec.k) if len(spec.targets) > 1 else None
        subnets: dict[str, SubnetEntry] = {}
        for target_name in spec.targets:
            target_name = cast(Literal["labels", "dense"], target_name)
            target = Y if target_name == "labels" else dense_out
            result = greedy_forward_selection(
                state.H, state.W2, target, spec.k, replacement=spec.replacement, seed=ctx.seed, gram=gram
            )
            curve = tuple(float(v) for v in np.asarray(result.losses, dtype=float))
            lemma = None
            if spec.replacement:
                lemma = lemma_a_check(
                    sum_squared_loss(dense_out, target),
                    spread,
                    spec.k,
                    spec.eps,
                    curve[-1],
                    sum_squared_loss(torch.zeros_like(target), target),
                )
            subnets[f"gfs_{target_name}"] = self._subnet_entry(
                ctx, state, result.counts, target_name, target, curve, lemma, f"gfs_{target_name}", t, model
            )
        for baseline in spec.baselines:
            if baseline == "magnitude":
                chosen = magnitude_selection(state.W1, state.W2, spec.k)
            else:
                chosen = random_selection(N, spec.k, seed=point_seed(ctx.seed, t))
            counts = torch.bincount(chosen.cpu(), minlength=N)
            subnets[baseline] = self._subnet_entry(ctx, state, counts, "labels", Y, None, None, baseline, t, model)
        drift = diagnostics.weight_drift(_two_layer(initial).input_weights, _two_layer(model).input_weights)
        cosines = ctx.data.cosines64 if ctx.m <= DENSE_GRAM_MAX_M else None
        lambda_min_H = hidden_gram_lambda_min(state.X, state.W1, cosines)
        return PointMeasure(
            width=N, V=spread, subnets=subnets, diagnostics=PointDiagnostics(lambda_min_H=lambda_min_H, drift=drift)
        )

    def summarise(self, ctx: UnitContext, points: Sequence[PointRow], initial_loss_sum: float) -> UnitSummary:
        """The bound's constants, t* in both step-size regimes, and the hypotheses (module docstring).

        V_bar is the largest atom spread on the checkpoint grid (docs/theory.md, section 4: a bound on V
        along training). "fixed_eta" uses the eta this unit ran with (ebtheory.verify.spec.step_size);
        "du_eta" uses Du et al.'s eta = lambda0 / m^2 (a prediction only)."""
        spec, data, m = ctx.spec, ctx.data, ctx.m
        spreads = {p.t: p.V for p in points if p.V is not None}
        eta_run = step_size(spec, m)
        lam0: float | None = None
        lam_max: float | None = None
        if m <= H_INF_SPECTRUM_MAX_M:
            # torch's eigensolver on one thread: scipy's dense driver took seconds here under load
            spectrum = h_inf_spectrum(data.X64, method="torch" if m <= DENSE_GRAM_MAX_M else "auto")
            lam0, lam_max = float(spectrum.lambda_min), float(spectrum.lambda_max)
        y_norm2 = float(data.Y.double().square().sum())
        constants = UnitConstants(
            lambda0=lam0,
            lambda_max=lam_max,
            V0=spreads[0],
            V_bar=max(spreads.values()),
            L0_sum=initial_loss_sum,
            y_norm2=y_norm2,
            eta=eta_run,
            width=spec.width,
            kappa=spec.kappa,
            eta_times_lambda_max=None if lam_max is None else eta_run * lam_max,
        )
        if lam0 is None or not lam0 > 0:
            return UnitSummary(constants=constants)
        predicted = {
            regime: _prediction(spec, m, data.num_classes, eta, lam0, constants)
            for regime, eta in (("fixed_eta", eta_run), ("du_eta", lam0 / m**2))
        }
        return UnitSummary(
            constants=constants, predicted=predicted, hypotheses=_hypotheses(spec, m, points, constants, lam0)
        )

    def earlybird_mask(self, model: nn.Module, ratio: float) -> torch.Tensor:
        """Hidden neurons by ||w_r||_2 of their incoming weights (no BatchNorm in these nets)."""
        return neuron_norm_mask([_two_layer(model).input_weights], ratio).cpu()

    def tickets_at(self, ctx: UnitContext, model: nn.Module, mask: torch.Tensor, t: int) -> TicketPair:
        """EB: the n kept neurons as an averaged subnetwork; GFS: GFS without replacement to n neurons."""
        model.eval()
        state = _TwoLayerState.of(model, ctx.data)
        n = int(mask.sum())
        d, C = state.W1.shape[1], state.W2.shape[1]
        chosen = greedy_forward_selection(
            state.H, state.W2, ctx.data.Y.to(torch.float64), n, replacement=False, seed=ctx.seed
        )
        iterations = (t, ctx.spec.finetune_steps)
        tickets = {}
        dtype = ctx.data.X.dtype  # spec.dtype
        for name, counts in (("earlybird", mask.long()), ("gfs", chosen.counts)):
            subnet = pruned_two_layer(state.W1.to(dtype), state.W2.to(dtype), counts).to(ctx.device)
            tickets[name] = self.ticket(
                ctx,
                subnet,
                int((counts > 0).sum()),
                subnet.width * (d + C),
                iterations,
                f"ticket_{name}",
                dense=model,
                counts=counts.cpu(),
            )
        return TicketPair(
            earlybird=tickets["earlybird"],
            gfs=tickets["gfs"],
            overlap=int(((chosen.counts > 0) & mask).sum()),
            kept_per_block=None,
        )

    def imp_parameters(self, model: nn.Module) -> list[PrunedParameter]:
        return [(model, "input_weights")]

    def imp_neurons(self, model: nn.Module, chosen: Sequence[PrunedParameter], masks: Sequence[torch.Tensor]) -> int:
        return int(masks[0].reshape(masks[0].shape[0], -1).any(dim=1).sum())

    def ticket_weights(self, model: nn.Module, pair: TicketPair, d: int) -> int:
        return pair.earlybird.neurons * d


def _prediction(
    spec: ExperimentSpec, m: int, C: int, eta: float, lam0: float, constants: UnitConstants
) -> Prediction | None:
    """t* (proofs/threshold.md) at step size eta, or None when eta * lambda0 is outside (0, 2)."""
    if not 0 < eta * lam0 < 2:
        return None
    values = symbolic.evaluate_bound(
        symbolic.BoundInputs(
            m=m,
            k=spec.k,
            eta=eta,
            lambda0=lam0,
            delta=spec.delta,
            V=constants.V_bar,
            C=C,
            kappa=spec.kappa,
            eps=spec.eps,
            y_norm2=constants.y_norm2,
            loss="sum",
        )
    )
    L0 = constants.L0_sum
    measured = symbolic.threshold_from_constants(values.c1, L0, values.tol, eta, lam0)[0] if L0 > 0 else None
    return Prediction(
        eta=eta,
        t_star=values.t_star,
        t_star_upper=values.t_star_upper,
        tol=values.tol,
        c1=values.c1,
        L0_bound=values.L0_bound,
        t_star_measured_L0=measured,
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _hypotheses(
    spec: ExperimentSpec, m: int, points: Sequence[PointRow], constants: UnitConstants, lam0: float
) -> Hypotheses:
    """The theorem's hypotheses on this run (Hypotheses documents every field); lam0 = constants.lambda0,
    measured (summarise records no hypotheses where it is not)."""
    radius = diagnostics.lazy_radius(m, lam0, spec.delta, spec.kappa)
    drifts = [p.diagnostics.drift for p in points if p.diagnostics is not None and p.diagnostics.drift is not None]
    lams = {
        p.t: p.diagnostics.lambda_min_H
        for p in points
        if p.diagnostics is not None and p.diagnostics.lambda_min_H is not None
    }
    eta_bound = diagnostics.step_size_requirement(m, lam0)
    width_bound = diagnostics.width_requirement(m, lam0, spec.delta)
    V0 = constants.V0
    spreads = [p.V for p in points if p.V is not None]
    drift_max = max(drifts) if drifts else None
    lam_min = min(lams.values()) if lams else None
    return Hypotheses(
        lazy_radius=radius,
        lazy_radius_constant=diagnostics.LAZY_RADIUS_CONSTANT,
        drift_max=drift_max,
        drift_within_radius=None if drift_max is None else drift_max <= radius,
        lambda_min_H0=lams.get(0),
        lambda_min_H0_held=None if 0 not in lams else lams[0] >= 0.75 * lam0,
        lambda_min_H_min=lam_min,
        lambda_min_H_held=None if lam_min is None else lam_min >= 0.5 * lam0,
        eta=constants.eta,
        eta_bound=eta_bound,
        eta_held=constants.eta <= eta_bound,
        width=spec.width,
        width_bound=_finite_or_none(width_bound),
        width_held=spec.width >= width_bound,
        V_ratio_max=max(spreads) / V0 if V0 > 0 and spreads else None,
    )


def _ntk(spec: ExperimentSpec, d: int, classes: int, seed: int) -> nn.Module:
    return TwoLayerNTK(d, spec.width, classes, kappa=spec.kappa, output_mode=spec.output_mode, seed=seed)


def _mean_field(spec: ExperimentSpec, d: int, classes: int, seed: int) -> nn.Module:
    return MeanFieldTwoLayer(d, spec.width, classes, seed=seed)


# --------------------------------------------------------------------------------------- layer-wise


class LayerwiseFamily(ModelFamily):
    """Deep nets pruned by layer-wise GFS (ebtheory.prune.layerwise) in the practitioner form of issue 12.3;
    empirical numbers only (docs/theory.md, section 5.6).

    Selection (`_select`): ebtheory.prune.layerwise.LayerwiseOptions with keep = spec.keep_fraction of each
    prunable layer's units (k per layer when 0), spec.replacement, candidates scored with BatchNorm batch
    statistics, adaptive stopping at spec.gfs_stop_accuracy (0 = off) and spec.gfs_layer_finetune_ticks of
    per-layer fine-tuning (spec's clock). Candidates are scored on spec.gfs_examples training examples
    (a subset drawn from point_seed(seed, t), the same for both targets and the ticket; 0 = all m);
    BatchNorm re-estimation and per-layer fine-tuning use all m (layerwise_gfs's `fit`).

    BatchNorm everywhere: every reported number of a net with BatchNorm comes from statistics
    re-estimated on the m training examples (ebtheory.prune.batchnorm.reestimate_batch_norm, no weight
    change): the dense net at a checkpoint (`dense_numbers`, on a copy: the training net is untouched),
    every pruned subnetwork and ticket, and every fine-tuned one (UnitContext.finetuned).

    Baselines (spec.baselines) keep as many units per layer as the GFS labels subnetwork (its distinct
    kept units; the first target's when labels is not a target): "magnitude" the largest L1 norms of
    their incoming weights (ebtheory.prune.layerwise.l1_norm_units, Li et al., ICLR 2017), "random" a
    uniform draw seeded by point_seed(seed, t); their weights unchanged (prune_units), then re-estimated."""

    def scored_net(self, ctx: UnitContext, model: nn.Module) -> nn.Module:
        """A copy of `model` with BatchNorm statistics re-estimated on all m examples (`model` without BatchNorm)."""
        return self._recalibrated(ctx, model)

    @staticmethod
    def _recalibrated(ctx: UnitContext, model: nn.Module) -> nn.Module:
        """`model` itself when it has no BatchNorm, else a copy with statistics re-estimated on all m."""
        if not batch_norms(model):
            return model
        twin = copy.deepcopy(model)
        reestimate_batch_norm(twin, ctx.data.X.to(ctx.device))
        return twin.eval()

    @staticmethod
    def _gfs_rows(ctx: UnitContext, t: int) -> torch.Tensor | None:
        """The training rows GFS scores at point t (sorted), or None for all m (spec.gfs_examples)."""
        n = ctx.spec.gfs_examples
        if n == 0 or n >= ctx.m:
            return None
        generator = torch.Generator().manual_seed(point_seed(ctx.seed, t))
        return torch.randperm(ctx.m, generator=generator)[:n].sort().values

    @staticmethod
    def _options(ctx: UnitContext, keep: float | int | Sequence[int], replacement: bool) -> LayerwiseOptions:
        """The LayerwiseOptions of the spec. Per-layer fine-tuning: gfs_layer_finetune_ticks / q epochs on
        the practitioner clock; with q = 0 the ticks are iterations, i.e. ticks / (iterations per epoch
        at this m) epochs."""
        spec = ctx.spec
        ticks = spec.gfs_layer_finetune_ticks
        epochs = Fraction(0)
        if ticks > 0 and spec.ticks_per_epoch > 0:
            epochs = Fraction(ticks, spec.ticks_per_epoch)
        elif ticks > 0:
            epochs = Fraction(ticks, steps_per_epoch(ctx.m, ctx.train_config(finetune=True).batch_size))
        return LayerwiseOptions(
            keep=keep,
            replacement=replacement,
            statistics="batch",
            reestimate_bn=True,
            stop_accuracy=spec.gfs_stop_accuracy if spec.gfs_stop_accuracy > 0 else None,
            finetune_epochs=epochs,
            finetune=ctx.train_config(finetune=True) if epochs > 0 else None,
        )

    @staticmethod
    def _loss(spec: ExperimentSpec) -> str:
        """The GFS loss on the labels: the pre-training loss (cross-entropy, or the squared loss on one-hot Y)."""
        return "cross_entropy" if spec.train_loss == "cross_entropy" else "squared"

    def _select(
        self,
        ctx: UnitContext,
        model: nn.Module,
        target: torch.Tensor,
        loss: str,
        keep: float | int | Sequence[int],
        replacement: bool,
        t: int,
    ) -> LayerwiseResult:
        """layerwise_gfs of `model` against `target` (all m rows), scored on the rows of `_gfs_rows`,
        re-estimated (and per-layer fine-tuned) on all m; the result's model is on ctx.device."""
        X = ctx.data.X.to(ctx.device)
        target = target.to(ctx.device)
        rows = self._gfs_rows(ctx, t)
        X_scored, T_scored = (X, target) if rows is None else (X[rows.to(ctx.device)], target[rows.to(ctx.device)])
        result = layerwise_gfs(
            model,
            X_scored,
            T_scored,
            options=self._options(ctx, keep, replacement),
            loss=loss,
            seed=ctx.seed,
            fit=(X, target),
        )
        result.model.to(ctx.device).eval()
        return result

    def _entry(
        self,
        ctx: UnitContext,
        subnet: nn.Module,
        target_name: str,
        name: str,
        t: int,
        dense: nn.Module,
        selection: dict[str, list[int]],
    ) -> SubnetEntry:
        """The SubnetEntry of a pruned `subnet` (BatchNorm statistics already re-estimated), fine-tuned too."""
        numbers = ctx.numbers(subnet)
        ctx.keep(name, t, subnet, numbers, dense=dense, selection=selection)
        shape = tuple(int(n) for n in ctx.data.X.shape[1:])
        return SubnetEntry(
            target=cast(Literal["labels", "dense"], target_name),
            train_loss_sum=numbers.train_loss_sum,
            train_loss_mean=numbers.train_loss_mean,
            train_acc=numbers.train_acc,
            test_acc=numbers.test_acc,
            target_loss_sum=None,
            distinct=sum(len(set(units)) for units in selection.values()),
            loss_curve_sum=None,
            finetuned=ctx.finetuned(subnet, self.finetune_step(ctx, subnet)),
            lemma_a=None,
            params_before=count_parameters(dense),
            params_after=count_parameters(subnet),
            macs_before=count_macs(dense, shape),
            macs_after=count_macs(subnet, shape),
        )

    def measure_point(self, ctx: UnitContext, model: nn.Module, initial: nn.Module, t: int) -> PointMeasure:
        """Layer-wise GFS against each target: the labels (with the pre-training loss: cross-entropy on
        the labels, or the squared loss on one-hot Y) or the dense output (squared loss; the output of
        the dense net with re-estimated statistics); then the baselines at the GFS labels sizes."""
        spec = ctx.spec
        model.eval()
        X = ctx.data.X.to(ctx.device)
        keep = spec.keep_fraction if spec.keep_fraction > 0 else spec.k
        subnets: dict[str, SubnetEntry] = {}
        results: dict[str, LayerwiseResult] = {}
        for target_name in spec.targets:
            if target_name == "labels":
                target, loss = ctx.targets, self._loss(spec)
            else:
                with torch.no_grad():
                    target, loss = self._recalibrated(ctx, model)(X).detach(), "squared"
            result = self._select(ctx, model, target, loss, keep, spec.replacement, t)
            results[target_name] = result
            subnets[f"gfs_{target_name}"] = self._entry(
                ctx, result.model, target_name, f"gfs_{target_name}", t, model, result.selections
            )
        reference = results.get("labels", results[spec.targets[0]])
        sizes = [len(set(reference.selections[name])) for name in prunable_layers(model)]
        for baseline in spec.baselines:
            if baseline == "magnitude":
                units = l1_norm_units(model, sizes)
            else:
                units = random_units(model, sizes, point_seed(ctx.seed, t))
            subnet = prune_units(model, units).to(ctx.device)
            reestimate_batch_norm(subnet, X)
            subnets[baseline] = self._entry(ctx, subnet.eval(), "labels", baseline, t, model, units)
        return PointMeasure(width=None, V=None, subnets=subnets, diagnostics=None)

    def imp_parameters(self, model: nn.Module) -> list[PrunedParameter]:
        return prunable_parameters(model)

    def _gfs_ticket(self, ctx: UnitContext, model: nn.Module, kept: Sequence[int], t: int) -> tuple[Ticket, dict]:
        """GFS without replacement keeping as many units per layer as the mask (on the labels, with the
        pre-training loss; the practitioner options of `_select`), and its selections by layer name."""
        result = self._select(ctx, model, ctx.targets, self._loss(ctx.spec), [max(n, 1) for n in kept], False, t)
        ticket = self.ticket(
            ctx,
            result.model,
            int(sum(result.widths_after.values())),
            result.params_after,
            (t, ctx.spec.finetune_steps),
            "ticket_gfs",
            dense=model,
            selection=result.selections,
        )
        return ticket, result.selections

    @staticmethod
    def _overlap(model: nn.Module, selections: dict, parts: Sequence[torch.Tensor]) -> int:
        return sum(
            len(set(selections[name]) & set(torch.nonzero(part).flatten().tolist()))
            for name, part in zip(prunable_layers(model), parts)
        )


class DeepMLPFamily(LayerwiseFamily):
    """A ReLU MLP with hidden widths spec.mlp_widths; k neurons kept per hidden layer."""

    name = "deep_mlp"

    def build(self, spec: ExperimentSpec, data: UnitData, seed: int) -> nn.Module:
        return DeepMLP(int(data.X.shape[1]), spec.mlp_widths, data.num_classes, seed=seed).to(data.X.dtype)

    def earlybird_mask(self, model: nn.Module, ratio: float) -> torch.Tensor:
        """Hidden neurons of every hidden layer by ||w_r||_2 of their incoming weights, one global ratio."""
        return neuron_norm_mask(model, ratio).cpu()

    @staticmethod
    def _kept_params(d: int, kept: Sequence[int], outputs: int) -> tuple[int, int]:
        """(weights, parameters) of the MLP with `kept` neurons per hidden layer (biases included)."""
        sizes = (d, *kept, outputs)
        weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        return weights, weights + sum(sizes[1:])

    def tickets_at(self, ctx: UnitContext, model: nn.Module, mask: torch.Tensor, t: int) -> TicketPair:
        """EB: the dense net with the unkept neurons' incoming weights and biases masked to 0 (their
        ReLU output is exactly 0 and gets no gradient: the same function as removing them);
        GFS: layer-wise GFS without replacement keeping as many neurons per layer."""
        mlp = cast(DeepMLP, model)
        widths = list(mlp.hidden_widths)
        parts = mask.split(widths)
        kept = tuple(int(part.sum()) for part in parts)
        ticket_net = copy.deepcopy(model)
        for layer, part in zip(_linears(cast(DeepMLP, ticket_net))[:-1], parts):
            rows = part.to(layer.weight.device)
            prune.custom_from_mask(layer, "weight", rows[:, None].expand_as(layer.weight).to(layer.weight.dtype))
            prune.custom_from_mask(layer, "bias", rows.to(layer.bias.dtype))
        d, outputs = _linears(mlp)[0].in_features, _linears(mlp)[-1].out_features
        earlybird = self.ticket(
            ctx,
            ticket_net,
            sum(kept),
            self._kept_params(d, kept, outputs)[1],
            (t, ctx.spec.finetune_steps),
            "ticket_earlybird",
        )
        gfs, selections = self._gfs_ticket(ctx, model, kept, t)
        return TicketPair(
            earlybird=earlybird, gfs=gfs, overlap=self._overlap(model, selections, parts), kept_per_block=kept
        )

    def imp_neurons(self, model: nn.Module, chosen: Sequence[PrunedParameter], masks: Sequence[torch.Tensor]) -> int:
        hidden = {id(layer) for layer in _linears(cast(DeepMLP, model))[:-1]}
        return sum(
            int(mask.reshape(mask.shape[0], -1).any(dim=1).sum())
            for (module, _), mask in zip(chosen, masks)
            if id(module) in hidden
        )

    def ticket_weights(self, model: nn.Module, pair: TicketPair, d: int) -> int:
        assert pair.kept_per_block is not None
        return self._kept_params(d, pair.kept_per_block, _linears(cast(DeepMLP, model))[-1].out_features)[0]


def _inner_channel_sizes(block: ResidualBlock) -> tuple[int, int]:
    """(conv weights, all parameters) one inner channel of a residual block carries: its conv1 filter,
    its bn1 scale and shift, its conv2 input slice."""
    weights = block.conv1.weight[0].numel() + block.conv2.weight[:, 0].numel()
    bias = 0 if block.conv1.bias is None else 1
    return weights, weights + bias + 2


class CNNFamily(LayerwiseFamily):
    """The residual CNN (ebtheory.models.ResidualCNN, stage widths spec.cnn_widths); k inner channels
    kept per block; Early-Bird masks from bn1's scales (You et al. 2020)."""

    name = "cnn"
    unit_sphere = False
    earlybird_score = "bn1_scale"

    def build(self, spec: ExperimentSpec, data: UnitData, seed: int) -> nn.Module:
        channels = data.input_shape[0] if len(data.input_shape) == 3 else 1
        net = ResidualCNN(channels, data.num_classes, data.input_shape[-1], widths=spec.cnn_widths, seed=seed)
        return net.to(data.X.dtype)

    def earlybird_mask(self, model: nn.Module, ratio: float) -> torch.Tensor:
        """Inner channels by |gamma| of each residual block's bn1: the block outputs must match the
        shortcut, so only the inner channels can be removed (the channels layer-wise GFS selects)."""
        return bn_channel_mask([block.bn1.weight for block in _blocks(model)], ratio).cpu()

    def bn_penalty(self, spec: ExperimentSpec) -> Penalty | None:
        """The L1 penalty on BN scales (You et al. Sec. 3.2) when spec.earlybird_bn_l1 > 0."""
        if spec.earlybird_bn_l1 == 0:
            return None
        return lambda model: bn_l1_penalty(model, spec.earlybird_bn_l1)

    def tickets_at(self, ctx: UnitContext, model: nn.Module, mask: torch.Tensor, t: int) -> TicketPair:
        """EB: the dense net with the unkept inner channels zeroed (bn1 scale and shift masked, so the
        channel's output is exactly 0: the same function as removing it), its BatchNorm statistics
        re-estimated on all m; GFS: layer-wise GFS without replacement keeping as many inner channels
        per block (`_select`)."""
        widths = [block.bn1.num_features for block in _blocks(model)]
        parts = mask.split(widths)
        kept = tuple(int(part.sum()) for part in parts)
        ticket_net = copy.deepcopy(model)
        for block, part in zip(_blocks(ticket_net), parts):
            for name in ("weight", "bias"):
                prune.custom_from_mask(block.bn1, name, part.to(block.bn1.weight.device, block.bn1.weight.dtype))
        reestimate_batch_norm(ticket_net, ctx.data.X.to(ctx.device))  # a masked channel stays exactly 0
        removed = sum((w - n) * _inner_channel_sizes(block)[1] for block, w, n in zip(_blocks(model), widths, kept))
        earlybird = self.ticket(
            ctx,
            ticket_net,
            sum(kept),
            count_parameters(model) - removed,
            (t, ctx.spec.finetune_steps),
            "ticket_earlybird",
        )
        gfs, selections = self._gfs_ticket(ctx, model, kept, t)
        return TicketPair(
            earlybird=earlybird, gfs=gfs, overlap=self._overlap(model, selections, parts), kept_per_block=kept
        )

    def imp_neurons(self, model: nn.Module, chosen: Sequence[PrunedParameter], masks: Sequence[torch.Tensor]) -> int:
        inner = {id(block.conv1) for block in _blocks(model)}
        return sum(
            int(mask.reshape(mask.shape[0], -1).any(dim=1).sum())
            for (module, _), mask in zip(chosen, masks)
            if id(module) in inner
        )

    def ticket_weights(self, model: nn.Module, pair: TicketPair, d: int) -> int:
        """Every conv / linear weight but those of the removed inner channels."""
        assert pair.kept_per_block is not None
        total = sum(getattr(module, name).numel() for module, name in prunable_parameters(model))
        widths = [block.bn1.num_features for block in _blocks(model)]
        return total - sum(
            (w - n) * _inner_channel_sizes(block)[0] for block, w, n in zip(_blocks(model), widths, pair.kept_per_block)
        )


# ------------------------------------------------------------------------------------------ registry

FAMILIES: dict[str, ModelFamily] = {
    "ntk": TwoLayerFamily("ntk", _ntk),
    "mean_field": TwoLayerFamily("mean_field", _mean_field),
    "deep_mlp": DeepMLPFamily(),
    "cnn": CNNFamily(),
}


def family_of(spec: ExperimentSpec) -> ModelFamily:
    """The family of spec.model (FAMILIES)."""
    if spec.model not in FAMILIES:
        raise ValueError(f"model must be one of {sorted(FAMILIES)}; got model={spec.model!r}")
    return FAMILIES[spec.model]
