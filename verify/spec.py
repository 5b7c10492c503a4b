"""Experiment specs: one frozen dataclass fixes everything a verification sweep does.

Following open_lth: each field carries its help text; the run directory is named by a hash of
the fields that differ from the dataclass defaults (so adding a field with a default later keeps
old hashes, and old results stay findable; tests/test_spec.py pins the preset hashes).

Units: `eta` is the step size of the SUM loss 1/2 ||u - Y||_F^2 (docs/theory.md, section 1) unless `train_loss`
says otherwise. The spec's clock (`ticks_per_epoch`): with 0, checkpoints `t`, `finetune_steps` and the
Early-Bird mask times count pre-training iterations (gradient steps); with q >= 1 (the practitioner
regime, issue 12.1: mini-batch SGD or Adam counted in epochs) they count ticks of 1/q epoch, the same
for every m, and a unit of size m maps tick c to iteration `tick_iterations(spec, m, c)`
(ebtheory.epochs.epochs_to_steps(c/q, m, batch_size)).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ebtheory.epochs import epochs_to_steps, steps_per_epoch

MODELS = ("ntk", "mean_field", "deep_mlp", "cnn")  # ebtheory.verify.families.FAMILIES
TWO_LAYER_MODELS = ("ntk", "mean_field")  # exact GFS, baselines, Lemma A and the theory's constants
BN_MODELS = ("cnn",)  # models with BatchNorm (Early-Bird scores and its L1 penalty)
DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "synthetic")
OPTIMIZERS = ("gd", "sgd", "adam")
DTYPES = ("float32", "float64")
DTYPE_EPS = {"float32": 2.0**-23, "float64": 2.0**-52}  # machine epsilons (the spec module does not import torch)
MAX_INPUT_JITTER = 1e-3
MINIBATCH_OPTIMIZERS = ("sgd", "adam")  # optimizers that take batch_size and may count epochs
TRAIN_LOSSES = ("sum_squares", "mean_squares", "cross_entropy")
BASELINES = ("magnitude", "random")
TARGETS = ("labels", "dense")
THRESHOLD_LOSSES = ("sum", "mean")
ETA_SCALINGS = ("fixed", "inverse_m")
EARLYBIRD_COMPARES = ("newest_vs_all", "consecutive")  # ebtheory.prune.earlybird.COMPARES
CNN_EARLYBIRD_RATIO = 0.5  # the auto ratio p of the CNN's BN channel masks (You et al. use 0.3-0.7)
MIN_MS = 4
MIN_SEEDS = 3
# Hard caps: beyond them a field would hang a unit or exhaust memory long before it finished.
MAX_ITERATIONS = 10**8  # largest checkpoint t and fine-tuning steps
MAX_CHECKPOINTS = 10_000  # checkpoints per unit (each one prunes and scores every subnetwork)
MAX_K = 10**6  # GFS steps (two-layer) or units kept per layer
MAX_EARLYBIRD_MASKS = 100_000  # Early-Bird mask times (a distance matrix of that many squared)
MAX_IMP_ROUNDS = 100
MAX_SIZES = 1000  # entries of ms, seeds, widths
DENSE_GRAM_MAX_M = 4096  # two-layer: above this lambda_min(H(t)) comes from Lanczos on the matrix-free product
# Two-layer: above this many examples a unit does not compute H_inf's spectrum (families.TwoLayerFamily.summarise):
# the m x m float64 Gram and its factorisation take 2 m^2 * 8 bytes (4 GiB at the cap, 54 GiB at m = 60,000)
# and O(m^3) time. lambda0, lambda_max and the predicted t* are then recorded as not measured (None), and the
# hypotheses that need lambda0 are reported as not recorded, with this reason.
H_INF_SPECTRUM_MAX_M = 16384
MAX_UNIT_BYTES = 64 * 2**30  # the largest tensors of a unit (estimate_unit_bytes) must fit in 64 GiB
INPUT_DIMS = {"digits": 64, "fashion-mnist": 784, "mnist": 784, "cifar10": 3072, "synthetic": 64}
MIN_KAPPA, MAX_KAPPA = 1e-15, 1e15  # float32 weights kappa * N(0, 1) and their squares stay normal
MIN_ETA, MAX_ETA = 1e-30, 1e15  # the step as run (times max(ms)/min(ms) under inverse_m) stays finite
MAX_NAME_LENGTH = 100
MAX_TICKS_PER_EPOCH = 10_000
_PLAIN_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def is_plain_name(name: object) -> bool:
    """True for a run name that stays one directory inside --out: letters, digits, '.', '_', '-',
    not starting with '.' or '-' (so neither '..' nor a hidden or option-like name), at most
    MAX_NAME_LENGTH characters; no path separator, so never absolute."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and set(name) <= _PLAIN_NAME_CHARS
        and name[0] not in ".-"
    )


def _f(default: Any, help: str, hashed: bool = True) -> Any:
    """A dataclass field with help text; hashed=False keeps it out of the run-directory hash."""
    return field(default=default, metadata={"help": help, "hashed": hashed})


@dataclass(frozen=True)
class ExperimentSpec:
    """A verification sweep: data, sizes m, model, optimiser, checkpoint grid, seeds, pruning, tolerances."""

    name: str = _f("custom", "preset name (part of the run-directory name)")
    dataset: str = _f("digits", f"data set, one of {DATASETS}")
    data_dir: str = _f("", "directory of the data files ('' = loader default); not hashed", hashed=False)
    ms: tuple[int, ...] = _f((100, 200, 400, 800), "training-set sizes m, nested subsets, ascending")
    n_test: int = _f(500, "test examples used for test accuracy (0 = all)")
    balanced: bool = _f(True, "class-balanced nested subsets")
    model: str = _f("ntk", f"dense network, one of {MODELS}")
    width: int = _f(512, "hidden width N of the two-layer net")
    kappa: float = _f(1.0, "initial weight scale kappa of w_r(0) ~ N(0, kappa^2 I)")
    output_mode: str = _f(
        "signs", "fixed output layer: 'signs' (docs/theory.md, section 1: per-output Gram = H_inf) or 'vectors'"
    )
    cnn_widths: tuple[int, ...] = _f((16, 32), "channel widths of the residual CNN stages")
    mlp_widths: tuple[int, ...] = _f((128, 128), "hidden widths of the deep MLP (model 'deep_mlp')")
    dtype: str = _f(
        "float32",
        f"float type of the data, the training and every net measured, one of {DTYPES}; 'float64' makes the "
        "dense trajectory, and so the thresholds, reproducible across machines at about twice the training cost "
        "(docs/theory.md, section 7.3)",
    )
    input_jitter: float = _f(
        0.0,
        "relative perturbation of every training input, x -> x (1 + input_jitter s) with seeded random signs s, "
        "applied in spec.dtype: a reproducibility check against the unperturbed run (ebtheory compare); 0 = none",
    )
    optimizer: str = _f("gd", f"pre-training optimiser, one of {OPTIMIZERS}")
    train_loss: str = _f("sum_squares", f"pre-training loss, one of {TRAIN_LOSSES}")
    eta: float = _f(0.01, "pre-training step size eta (at the largest m when eta_scaling is 'inverse_m')")
    eta_scaling: str = _f(
        "fixed",
        "step size across m: 'fixed' (the same eta for every m: the regime of the log m claim, "
        "docs/theory.md, section 5.2) or 'inverse_m' (eta * max(ms) / m for pre-training and fine-tuning: a fixed "
        "per-example step, i.e. the mean loss at a fixed learning rate, the usual practice)",
    )
    batch_size: int = _f(0, "mini-batch size for sgd and adam (0 = full batch: every step sees all m examples)")
    momentum: float = _f(0.0, "momentum of the optimiser")
    checkpoints: tuple[int, ...] = _f(
        (0, 1, 3, 10, 30, 100), "pre-training times t, ascending, from 0, on the spec's clock (ticks_per_epoch)"
    )
    seeds: tuple[int, ...] = _f((0, 1, 2), "seeds; each (m, seed) is one unit of work")
    k: int = _f(32, "subnetwork size: GFS steps (two-layer) or units kept per layer (deep_mlp neurons, CNN channels)")
    replacement: bool = _f(True, "GFS with replacement (Lemma A needs it)")
    targets: tuple[str, ...] = _f(TARGETS, f"GFS targets, subset of {TARGETS}")
    baselines: tuple[str, ...] = _f(BASELINES, f"baselines at the same k, subset of {BASELINES}")
    finetune_steps: int = _f(0, "fine-tuning length after pruning, on the spec's clock (ticks_per_epoch; 0 = none)")
    finetune_eta: float = _f(
        0.01,
        "fine-tuning step size (same loss and optimiser as pre-training); 0 = auto (two-layer only): "
        "1/lambda_max of each subnetwork's own Gauss-Newton matrix of the training loss "
        "(ebtheory.verify.families.TwoLayerFamily.finetune_step)",
    )
    eps: float = _f(0.5, "Young's-inequality eps of Lemma A, in (0, 1)")
    delta: float = _f(0.1, "failure probability delta of the predicted t*")
    rel_tol: float = _f(0.05, "threshold (a): first t with pruned loss <= (1 + rel_tol) * plateau")
    abs_tol: float = _f(0.1, "threshold (b): first t with pruned loss below abs_tol")
    threshold_loss: str = _f("mean", "loss the thresholds read: 'sum' or 'mean' (per example)")
    # Early-Bird and lottery-ticket baselines (issue 6). Defaults keep every older hash unchanged.
    earlybird: bool = _f(True, "record the Early-Bird detection, mask distances and the three tickets")
    earlybird_ratio: float = _f(
        0.0,
        "Early-Bird global pruning ratio p in (0, 1); 0 = auto: 1 - k/width (two-layer), "
        f"1 - k L / sum(mlp_widths) (deep_mlp, L layers), {CNN_EARLYBIRD_RATIO} (CNN)",
    )
    earlybird_window: int = _f(5, "Early-Bird window: masks compared per decision (You et al.: 5), >= 2")
    earlybird_eps: float = _f(0.1, "Early-Bird threshold on the normalised mask distance (You et al.: 0.1)")
    earlybird_compare: str = _f("newest_vs_all", f"Early-Bird comparison, one of {EARLYBIRD_COMPARES}")
    earlybird_bn_l1: float = _f(0.0, "CNN only: L1 penalty coefficient on BN scales during pre-training (0 = off)")
    imp_rounds: int = _f(2, "rounds of iterative magnitude pruning for the IMP ticket, >= 1")
    earlybird_masks: int = _f(
        0,
        "Early-Bird mask times: n > 0 evenly spaced iterations over [0, max t] (with full-batch GD an "
        "iteration is an epoch); 0 = the checkpoint grid (log-spaced: its first masks are iterations apart)",
    )
    # The practitioner regime (issue 12). Defaults keep every older hash unchanged.
    ticks_per_epoch: int = _f(
        0,
        "the clock of checkpoints, finetune_steps and earlybird_masks: 0 = iterations (gradient steps); "
        "q >= 1 = ticks of 1/q epoch (sgd or adam only): tick c is iteration "
        "ebtheory.epochs.epochs_to_steps(c/q, m, batch_size) at size m, so every m is compared at equal epochs",
    )
    keep_fraction: float = _f(
        0.0,
        "layer-wise models (deep_mlp, cnn): fraction of each prunable layer's units that GFS and the baselines "
        "keep, in (0, 1]; 0 = k units per layer",
    )
    gfs_examples: int = _f(
        0,
        "layer-wise models: GFS scores its candidates on a seeded subset of this many training examples "
        "(0 = all m); BatchNorm re-estimation, fine-tuning and every reported number use all m",
    )
    gfs_stop_accuracy: float = _f(
        0.0,
        "layer-wise models: adaptive stopping, a layer's selection ends once the subnetwork keeps this "
        "fraction of the dense training accuracy (Ye et al.: 0.98); 0 = off",
    )
    gfs_layer_finetune_ticks: int = _f(
        0,
        "layer-wise models: after each pruned layer, train the whole working net this long (spec's clock; "
        "Ye et al. 0.1 epoch) before the next layer is scored; 0 = none",
    )

    def __post_init__(self) -> None:
        validate(self)

    @property
    def hash(self) -> str:
        """Hash of the fields that differ from the defaults (see spec_hash)."""
        return spec_hash(self)

    def to_dict(self) -> dict:
        """All fields (tuples as lists), plus 'hash'."""
        out = {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out["hash"] = self.hash
        return out


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _require(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}; got {name}={value!r}")


def _ascending(values: tuple[int, ...]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def validate(spec: ExperimentSpec) -> None:
    """Check every field; raise ValueError naming the field, its value and the allowed range."""
    _require(
        is_plain_name(spec.name),
        "name",
        spec.name,
        f"a plain name of 1-{MAX_NAME_LENGTH} letters, digits, '.', '_', '-' not starting with '.' or '-' "
        "(it names the run directory inside --out)",
    )
    _check_types(spec)
    _require(spec.dataset in DATASETS, "dataset", spec.dataset, f"one of {DATASETS}")
    _require(spec.model in MODELS, "model", spec.model, f"one of {MODELS}")
    _require(spec.optimizer in OPTIMIZERS, "optimizer", spec.optimizer, f"one of {OPTIMIZERS}")
    _require(spec.dtype in DTYPES, "dtype", spec.dtype, f"one of {DTYPES}")
    smallest_jitter = 2 * DTYPE_EPS.get(spec.dtype, 0.0)
    _require(
        spec.input_jitter == 0 or smallest_jitter <= spec.input_jitter <= MAX_INPUT_JITTER,
        "input_jitter",
        spec.input_jitter,
        f"0, or in [{smallest_jitter:.3g}, {MAX_INPUT_JITTER:g}] for dtype {spec.dtype!r} (below 2 machine epsilons "
        "the perturbation would round away and the check could not fail)",
    )
    _require(spec.train_loss in TRAIN_LOSSES, "train_loss", spec.train_loss, f"one of {TRAIN_LOSSES}")
    _require(spec.output_mode in ("signs", "vectors"), "output_mode", spec.output_mode, "'signs' or 'vectors'")
    _require(spec.threshold_loss in THRESHOLD_LOSSES, "threshold_loss", spec.threshold_loss, "'sum' or 'mean'")
    _require(
        MIN_MS <= len(spec.ms) <= MAX_SIZES and _ascending(spec.ms) and spec.ms[0] >= 2,
        "ms",
        spec.ms,
        f"{MIN_MS} to {MAX_SIZES} strictly ascending sizes >= 2",
    )
    _require(
        MIN_SEEDS <= len(spec.seeds) <= MAX_SIZES and len(set(spec.seeds)) == len(spec.seeds) and min(spec.seeds) >= 0,
        "seeds",
        spec.seeds,
        f"{MIN_SEEDS} to {MAX_SIZES} distinct non-negative seeds",
    )
    _require(
        2 <= len(spec.checkpoints) <= MAX_CHECKPOINTS and spec.checkpoints[0] == 0 and _ascending(spec.checkpoints),
        "checkpoints",
        spec.checkpoints,
        f"2 to {MAX_CHECKPOINTS} strictly ascending iterations starting at 0",
    )
    _require(
        spec.checkpoints[-1] <= MAX_ITERATIONS, "checkpoints", spec.checkpoints[-1], f"at most {MAX_ITERATIONS:.0e}"
    )
    _require(spec.n_test >= 0, "n_test", spec.n_test, ">= 0")
    _validate_widths(spec)
    _require(
        MIN_KAPPA <= spec.kappa <= MAX_KAPPA,
        "kappa",
        spec.kappa,
        f"in [{MIN_KAPPA:.0e}, {MAX_KAPPA:.0e}] (float32 weights kappa N(0, 1) and their squares must stay normal floats)",
    )
    _require(spec.eta_scaling in ETA_SCALINGS, "eta_scaling", spec.eta_scaling, f"one of {ETA_SCALINGS}")
    for name in ("eta", "finetune_eta"):
        value = getattr(spec, name)
        largest = value * max(spec.ms) / min(spec.ms) if spec.eta_scaling == "inverse_m" else value
        if name == "finetune_eta" and value == 0:
            continue
        _require(
            MIN_ETA <= value and largest <= MAX_ETA,
            name,
            value,
            f"in [{MIN_ETA:.0e}, {MAX_ETA:.0e}] as run (times max(ms)/min(ms) = "
            f"{max(spec.ms) / min(spec.ms):.4g} under eta_scaling 'inverse_m')",
        )
    _require(
        spec.finetune_eta > 0 or spec.model in TWO_LAYER_MODELS,
        "finetune_eta",
        spec.finetune_eta,
        f"> 0, or 0 (auto) for the two-layer models {TWO_LAYER_MODELS}",
    )
    _require(spec.batch_size >= 0, "batch_size", spec.batch_size, ">= 0 (0 = full batch)")
    _require(0 <= spec.momentum < 1, "momentum", spec.momentum, "in [0, 1)")
    _require(
        spec.momentum == 0 or spec.optimizer != "adam",
        "momentum",
        spec.momentum,
        "0 for optimizer 'adam' (its first-moment rate is ebtheory.train.TrainConfig.betas[0])",
    )
    _require(spec.k >= 1, "k", spec.k, ">= 1")
    _require(spec.k <= MAX_K, "k", spec.k, f"<= {MAX_K:.0e} (greedy steps or units kept per layer)")
    smallest = min(prunable_widths(spec))
    _require(
        spec.replacement or spec.k <= smallest,
        "k",
        spec.k,
        f"<= the smallest prunable width {smallest} when selecting without replacement",
    )
    _require(
        len(spec.targets) >= 1 and set(spec.targets) <= set(TARGETS) and len(set(spec.targets)) == len(spec.targets),
        "targets",
        spec.targets,
        f"a non-empty subset of {TARGETS}",
    )
    _require(
        set(spec.baselines) <= set(BASELINES) and len(set(spec.baselines)) == len(spec.baselines),
        "baselines",
        spec.baselines,
        f"a subset of {BASELINES}",
    )
    _require(
        not spec.baselines or spec.model not in TWO_LAYER_MODELS or spec.k <= spec.width,
        "k",
        spec.k,
        f"<= width={spec.width} when baselines {spec.baselines} pick k distinct neurons",
    )
    _require(
        0 <= spec.finetune_steps <= MAX_ITERATIONS,
        "finetune_steps",
        spec.finetune_steps,
        f"in [0, {MAX_ITERATIONS:.0e}]",
    )
    _require(0 < spec.eps < 1, "eps", spec.eps, "in (0, 1)")
    _require(0 < spec.delta < 1, "delta", spec.delta, "in (0, 1)")
    _require(0 < spec.rel_tol < math.inf, "rel_tol", spec.rel_tol, "a finite number > 0")
    _require(0 < spec.abs_tol < math.inf, "abs_tol", spec.abs_tol, "a finite number > 0")
    _validate_earlybird(spec)
    _validate_layerwise(spec)
    _validate_clock(spec)
    needed = estimate_unit_bytes(spec)
    _require(
        needed <= MAX_UNIT_BYTES,
        "width",
        spec.width,
        f"small enough that a unit's largest tensors fit in {MAX_UNIT_BYTES / 2**30:.0f} GiB "
        f"(estimated {needed / 2**30:.3g} GiB at m={max(spec.ms)}; see estimate_unit_bytes)",
    )


def _validate_layerwise(spec: ExperimentSpec) -> None:
    layerwise_only = ("keep_fraction", "gfs_examples", "gfs_stop_accuracy", "gfs_layer_finetune_ticks")
    for name in layerwise_only:
        _require(
            getattr(spec, name) == 0 or spec.model not in TWO_LAYER_MODELS,
            name,
            getattr(spec, name),
            f"0 for the two-layer models {TWO_LAYER_MODELS} (exact GFS on all m examples, k steps)",
        )
    _require(0 <= spec.keep_fraction <= 1, "keep_fraction", spec.keep_fraction, "in (0, 1], or 0 for k units per layer")
    _require(spec.gfs_examples >= 0, "gfs_examples", spec.gfs_examples, ">= 0 (0 = all m)")
    _require(0 <= spec.gfs_stop_accuracy <= 1, "gfs_stop_accuracy", spec.gfs_stop_accuracy, "in (0, 1], or 0 (off)")
    _require(
        0 <= spec.gfs_layer_finetune_ticks <= MAX_ITERATIONS,
        "gfs_layer_finetune_ticks",
        spec.gfs_layer_finetune_ticks,
        f"in [0, {MAX_ITERATIONS:.0e}]",
    )
    _require(
        spec.gfs_layer_finetune_ticks == 0 or spec.optimizer in MINIBATCH_OPTIMIZERS,
        "gfs_layer_finetune_ticks",
        spec.gfs_layer_finetune_ticks,
        f"0 unless optimizer is one of {MINIBATCH_OPTIMIZERS} (per-layer fine-tuning trains in train mode)",
    )


def _validate_clock(spec: ExperimentSpec) -> None:
    """ticks_per_epoch: 0, or a mini-batch optimizer whose ticks land on distinct iterations at every m."""
    q = spec.ticks_per_epoch
    _require(0 <= q <= MAX_TICKS_PER_EPOCH, "ticks_per_epoch", q, f"in [0, {MAX_TICKS_PER_EPOCH}] (0 = iterations)")
    if q == 0:
        return
    _require(
        spec.optimizer in MINIBATCH_OPTIMIZERS,
        "ticks_per_epoch",
        q,
        f"0 unless optimizer is one of {MINIBATCH_OPTIMIZERS} (full-batch GD: one iteration is one epoch)",
    )
    times = sorted(set(spec.checkpoints) | set(earlybird_times(spec)))
    for m in spec.ms:
        steps = [tick_iterations(spec, m, c) for c in times]
        clash = next(((a, b) for a, b, sa, sb in zip(times, times[1:], steps, steps[1:]) if sb <= sa), None)
        _require(
            clash is None,
            "checkpoints",
            clash,
            f"ticks (checkpoints and Early-Bird mask times) that land on distinct iterations at every m; at m={m} "
            f"one epoch is {steps_per_epoch(m, _batch(spec, m))} iterations, too few for ticks_per_epoch={q}",
        )


def _batch(spec: ExperimentSpec, m: int) -> int | None:
    """The mini-batch size a unit of size m trains with (None: full batch)."""
    if spec.optimizer not in MINIBATCH_OPTIMIZERS or spec.batch_size == 0:
        return None
    return min(spec.batch_size, m)


def tick_iterations(spec: ExperimentSpec, m: int, ticks: int) -> int:
    """Iterations (gradient steps) that `ticks` on the spec's clock take at size m: ticks itself when
    ticks_per_epoch is 0, else ebtheory.epochs.epochs_to_steps(ticks / q, m, batch) (the first
    iteration at which ticks/q epochs of examples have been seen)."""
    if spec.ticks_per_epoch == 0:
        return int(ticks)
    return epochs_to_steps(Fraction(int(ticks), spec.ticks_per_epoch), m, _batch(spec, m))


def _check_types(spec: ExperimentSpec) -> None:
    """Every field has the type of its hint (bool is not an int, an int is a float)."""
    hints = typing.get_type_hints(ExperimentSpec)
    for f in dataclasses.fields(spec):
        kind, value = hints[f.name], getattr(spec, f.name)
        if typing.get_origin(kind) is tuple:
            inner = typing.get_args(kind)[0]
            ok = isinstance(value, tuple) and all(_is_instance(item, inner) for item in value)
            expected = f"a tuple of {inner.__name__}"
        else:
            ok = _is_instance(value, kind)
            expected = f"of type {kind.__name__}" + (" (finite)" if kind is float else "")
        _require(ok, f.name, value, expected)


def _is_instance(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind)


def _validate_widths(spec: ExperimentSpec) -> None:
    for name in ("width", "cnn_widths", "mlp_widths"):
        value = getattr(spec, name)
        values = value if isinstance(value, tuple) else (value,)
        _require(
            1 <= len(values) <= MAX_SIZES and min(values) >= 1,
            name,
            value,
            f"positive, at most {MAX_SIZES} entries",
        )
    # The two-layer code needs two neurons: GFS picks among them and the auto Early-Bird mask keeps k < N.
    _require(spec.model not in TWO_LAYER_MODELS or spec.width >= 2, "width", spec.width, ">= 2")


def prunable_widths(spec: ExperimentSpec) -> tuple[int, ...]:
    """Widths of the layers whose units GFS and the Early-Bird mask select: (width,) for the two-layer
    nets, mlp_widths (deep_mlp), cnn_widths (the CNN's blocks)."""
    return {"deep_mlp": spec.mlp_widths, "cnn": spec.cnn_widths}.get(spec.model, (spec.width,))


def estimate_unit_bytes(spec: ExperimentSpec) -> int:
    """A lower estimate of the memory of one unit at the largest m, in bytes: its largest tensors.

    Two-layer: the hidden activations H (m x N float64, and in spec.dtype in training), the input weights
    (N x d, spec.dtype), the GFS atom Gram (N x N float64), the hidden-feature Gram (m x m float64, up to
    DENSE_GRAM_MAX_M examples) and H_inf with its factorisation (2 m x m float64, up to H_INF_SPECTRUM_MAX_M).
    Deep MLP: the activations of every layer (m x width, spec.dtype). CNN: the activations of the widest stage
    at the input resolution (m x channels x pixels, spec.dtype)."""
    m = max(spec.ms)
    d = INPUT_DIMS[spec.dataset] if spec.dataset in INPUT_DIMS else 784
    size = 8 if spec.dtype == "float64" else 4  # bytes of a float of spec.dtype
    if spec.model in TWO_LAYER_MODELS:
        N = spec.width
        grams = (8 if m <= DENSE_GRAM_MAX_M else 0) + (16 if m <= H_INF_SPECTRUM_MAX_M else 0)
        return (8 + size) * m * N + size * N * d + grams * m * m + 8 * N * N
    if spec.model == "deep_mlp":
        return size * m * (d + sum(spec.mlp_widths)) * 3 + size * d * spec.mlp_widths[0]
    return size * m * max(spec.cnn_widths) * d * 3


def _validate_earlybird(spec: ExperimentSpec) -> None:
    _require(0 <= spec.earlybird_ratio < 1, "earlybird_ratio", spec.earlybird_ratio, "in (0, 1), or 0 for auto")
    widths = prunable_widths(spec)
    if spec.earlybird and spec.earlybird_ratio == 0 and spec.model not in BN_MODELS:
        _require(
            spec.k * len(widths) < sum(widths),
            "k",
            spec.k,
            f"< {sum(widths) / len(widths):g} (the mean prunable width) for the auto Early-Bird ratio "
            "1 - k L / sum(widths) (or set earlybird_ratio)",
        )
    if spec.earlybird:
        kept = math.floor((1.0 - earlybird_ratio(spec)) * sum(widths) + 0.5)
        _require(
            kept >= 1,
            "earlybird_ratio",
            spec.earlybird_ratio,
            f"a ratio that keeps at least one of the {sum(widths)} units (keeps round((1 - p) * {sum(widths)}) = {kept})",
        )
    _require(
        2 <= spec.earlybird_window <= MAX_EARLYBIRD_MASKS,
        "earlybird_window",
        spec.earlybird_window,
        f"in [2, {MAX_EARLYBIRD_MASKS}]",
    )
    _require(
        spec.earlybird_masks == 0 or spec.earlybird_window <= spec.earlybird_masks <= MAX_EARLYBIRD_MASKS,
        "earlybird_masks",
        spec.earlybird_masks,
        f"0 (the checkpoint grid) or in [earlybird_window ({spec.earlybird_window}), {MAX_EARLYBIRD_MASKS}]",
    )
    _require(
        spec.earlybird_eps >= 0 and math.isfinite(spec.earlybird_eps),
        "earlybird_eps",
        spec.earlybird_eps,
        "a finite number >= 0",
    )
    _require(
        spec.earlybird_compare in EARLYBIRD_COMPARES,
        "earlybird_compare",
        spec.earlybird_compare,
        f"one of {EARLYBIRD_COMPARES}",
    )
    _require(
        spec.earlybird_bn_l1 >= 0 and math.isfinite(spec.earlybird_bn_l1),
        "earlybird_bn_l1",
        spec.earlybird_bn_l1,
        "a finite number >= 0",
    )
    _require(
        spec.earlybird_bn_l1 == 0 or spec.model in BN_MODELS,
        "earlybird_bn_l1",
        spec.earlybird_bn_l1,
        f"0 unless model is one of {BN_MODELS} (the other nets have no BatchNorm)",
    )
    _require(1 <= spec.imp_rounds <= MAX_IMP_ROUNDS, "imp_rounds", spec.imp_rounds, f"in [1, {MAX_IMP_ROUNDS}]")


def step_size(spec: ExperimentSpec, m: int, finetune: bool = False) -> float:
    """The step size a unit of size m runs with: eta (or finetune_eta), times max(ms)/m under
    eta_scaling 'inverse_m' (so every m takes the same per-example step)."""
    base = spec.finetune_eta if finetune else spec.eta
    return base * max(spec.ms) / m if spec.eta_scaling == "inverse_m" else base


def subnetwork_size(spec: ExperimentSpec) -> str:
    """How big the spec's subnetworks are, for report and figure headers: 'k = K', or the fraction of each
    layer's units when keep_fraction decides it (layer-wise models; k is then unused)."""
    return f"keeping {spec.keep_fraction:g} of each layer's units" if spec.keep_fraction > 0 else f"k = {spec.k}"


def earlybird_times(spec: ExperimentSpec) -> tuple[int, ...]:
    """Iterations at which the Early-Bird mask is drawn: spec.earlybird_masks evenly spaced over
    [0, max checkpoint] (rounded, duplicates dropped), or the checkpoint grid when it is 0."""
    if spec.earlybird_masks == 0:
        return tuple(spec.checkpoints)
    last = spec.checkpoints[-1]
    return tuple(sorted({round(i * last / (spec.earlybird_masks - 1)) for i in range(spec.earlybird_masks)}))


AUTO_EARLYBIRD_RATIOS = {"cnn": CNN_EARLYBIRD_RATIO}  # fixed auto ratios; the rest keep as many as GFS


def earlybird_ratio(spec: ExperimentSpec) -> float:
    """The Early-Bird pruning ratio p the unit uses: the field, or the auto value when it is 0:
    1 - k L / sum(widths) over the L prunable layers (prunable_widths: the mask keeps as many units as
    GFS keeps, k per layer; two-layer 1 - k/width), or the fixed AUTO_EARLYBIRD_RATIOS (CNN)."""
    if spec.earlybird_ratio > 0:
        return spec.earlybird_ratio
    widths = prunable_widths(spec)
    return AUTO_EARLYBIRD_RATIOS.get(spec.model, 1.0 - spec.k * len(widths) / sum(widths))


def spec_hash(spec: ExperimentSpec) -> str:
    """sha256 (first 12 hex digits) of the canonical JSON of the hashed, non-default fields."""
    changed = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if f.metadata.get("hashed", True) and value != f.default:
            changed[f.name] = _jsonable(value)
    blob = json.dumps(changed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_dir_name(spec: ExperimentSpec) -> str:
    """Directory name of a run: '<name>-<hash>'."""
    return f"{spec.name}-{spec.hash}"


def log_checkpoints(t_max: int, count: int) -> tuple[int, ...]:
    """0 followed by about `count` log-spaced integers in [1, t_max] (duplicates after rounding dropped)."""
    if t_max < 1 or count < 1:
        raise ValueError(f"t_max and count must be >= 1; got t_max={t_max}, count={count}")
    values = {0, t_max}
    for i in range(count):
        values.add(int(round(t_max ** (i / max(count - 1, 1)))))
    return tuple(sorted(values))


FINE_GRID_COUNT = 64  # checkpoints per unit of the fine grids (issue 10.2: at least 60)


def fine_checkpoints(
    t_max: int, count: int = FINE_GRID_COUNT, *, tail_fraction: float = 0.5, tail_start: float = 0.1
) -> tuple[int, ...]:
    """A fine checkpoint grid: 0, a log-spaced head over [1, t_split] and a dense, evenly spaced tail
    over (t_split, t_max], t_split = round(tail_start * t_max); `count` distinct iterations in all
    (fewer only when [0, t_max] has fewer integers).

    The head resolves early thresholds in log t (the scale thresholds are interpolated on); the tail
    resolves the plateau and the U-shaped rise late in training, where a log grid is 2-3x apart
    (issue 10.2). tail_fraction of the points go to the tail. Units: pre-training iterations."""
    if isinstance(t_max, bool) or not isinstance(t_max, int) or not 1 <= t_max <= MAX_ITERATIONS:
        raise ValueError(f"t_max must be an integer in [1, {MAX_ITERATIONS:.0e}]; got t_max={t_max!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 4 <= count <= MAX_CHECKPOINTS:
        raise ValueError(f"count must be an integer in [4, {MAX_CHECKPOINTS}]; got count={count!r}")
    if not 0 < tail_fraction < 1:
        raise ValueError(f"tail_fraction must lie in (0, 1); got tail_fraction={tail_fraction!r}")
    if not 0 < tail_start < 1:
        raise ValueError(f"tail_start must lie in (0, 1); got tail_start={tail_start!r}")
    if count >= t_max + 1:
        return tuple(range(t_max + 1))
    split = max(1, round(tail_start * t_max))
    n_head = min(count - 1 - max(1, round(count * tail_fraction)), split)
    n_tail = min(count - 1 - n_head, t_max - split)  # a short head leaves its points to the tail
    tail = {split + round((t_max - split) * (i + 1) / n_tail) for i in range(n_tail)}
    head: set[int] = set()
    points = n_head
    while len(head) < n_head:  # rounding merges the first log-spaced points: ask for more until distinct
        head = {round(v) for v in np.geomspace(1, split, points)}
        points += 1
    grid = sorted({0} | head | tail)
    return tuple(grid)


def _parse_value(name: str, kind: Any, text: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        parts = [p for p in text.split(",") if p.strip()]
        return tuple(_parse_value(name, inner, p.strip()) for p in parts)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"--set {name} needs a boolean (true/false); got {text!r}")
        return lowered in ("true", "1", "yes")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"--set {name} needs a value of type {kind.__name__}; got {text!r}") from None


def with_overrides(spec: ExperimentSpec, assignments: list[str] | tuple[str, ...]) -> ExperimentSpec:
    """Apply `key=value` overrides (tuples comma-separated, e.g. ms=100,200,400,800); re-validates."""
    hints = typing.get_type_hints(ExperimentSpec)
    changes: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ValueError(f"--set expects key=value; got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in hints:
            raise ValueError(f"--set key must be a spec field ({', '.join(sorted(hints))}); got {key!r}")
        changes[key] = _parse_value(key, hints[key], text)
    return dataclasses.replace(spec, **changes)


def spec_from_dict(data: dict) -> ExperimentSpec:
    """Rebuild a spec from its to_dict() (extra keys such as 'hash' ignored)."""
    names = {f.name for f in dataclasses.fields(ExperimentSpec)}
    kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
    return ExperimentSpec(**kwargs)


def field_help() -> dict[str, str]:
    """Field name -> help text (for `ebtheory run --help`)."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(ExperimentSpec)}
