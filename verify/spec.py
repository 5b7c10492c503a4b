"""Experiment specs: one frozen dataclass fixes everything a verification sweep does.

Following open_lth: each field carries its help text; the run directory is named by a hash of
the fields that differ from the dataclass defaults (so adding a field with a default later keeps
old hashes, and old results stay findable; tests/test_spec.py pins the preset hashes).

Units: `eta` is the step size of the SUM loss 1/2 ||u - Y||_F^2 (THEORY.md 1) unless `train_loss`
says otherwise; checkpoints `t` are pre-training iterations (gradient steps).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any

MODELS = ("ntk", "mean_field", "cnn")
DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "synthetic")
OPTIMIZERS = ("gd", "sgd")
TRAIN_LOSSES = ("sum_squares", "mean_squares", "cross_entropy")
BASELINES = ("magnitude", "random")
TARGETS = ("labels", "dense")
THRESHOLD_LOSSES = ("sum", "mean")
ETA_SCALINGS = ("fixed", "inverse_m")
EARLYBIRD_COMPARES = ("newest_vs_all", "consecutive")  # ebtheory.prune.earlybird.COMPARES
CNN_EARLYBIRD_RATIO = 0.5  # the auto ratio p of the CNN's BN channel masks (You et al. use 0.3-0.7)
MIN_MS = 4
MIN_SEEDS = 3
MAX_NAME_LENGTH = 100
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
    output_mode: str = _f("signs", "fixed output layer: 'signs' (THEORY.md 1: per-output Gram = H_inf) or 'vectors'")
    cnn_widths: tuple[int, ...] = _f((16, 32), "channel widths of the residual CNN stages")
    optimizer: str = _f("gd", f"pre-training optimiser, one of {OPTIMIZERS}")
    train_loss: str = _f("sum_squares", f"pre-training loss, one of {TRAIN_LOSSES}")
    eta: float = _f(0.01, "pre-training step size eta (at the largest m when eta_scaling is 'inverse_m')")
    eta_scaling: str = _f(
        "fixed",
        "step size across m: 'fixed' (the same eta for every m: the regime of the log m claim, "
        "THEORY.md 5.2) or 'inverse_m' (eta * max(ms) / m for pre-training and fine-tuning: a fixed "
        "per-example step, i.e. the mean loss at a fixed learning rate, the usual practice)",
    )
    batch_size: int = _f(0, "mini-batch size for sgd (0 = full batch)")
    momentum: float = _f(0.0, "momentum of the optimiser")
    checkpoints: tuple[int, ...] = _f((0, 1, 3, 10, 30, 100), "pre-training iterations t, ascending, from 0")
    seeds: tuple[int, ...] = _f((0, 1, 2), "seeds; each (m, seed) is one unit of work")
    k: int = _f(32, "subnetwork size: GFS steps (two-layer) or channels kept per layer (CNN)")
    replacement: bool = _f(True, "GFS with replacement (Lemma A needs it)")
    targets: tuple[str, ...] = _f(TARGETS, f"GFS targets, subset of {TARGETS}")
    baselines: tuple[str, ...] = _f(BASELINES, f"baselines at the same k, subset of {BASELINES}")
    finetune_steps: int = _f(0, "fine-tuning steps after pruning (0 = none)")
    finetune_eta: float = _f(
        0.01,
        "fine-tuning step size (same loss and optimiser as pre-training); 0 = auto (two-layer only): "
        "1/lambda_max of each subnetwork's own Gauss-Newton matrix (ebtheory.verify.unit.finetune_step)",
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
        f"Early-Bird global pruning ratio p in (0, 1); 0 = auto: 1 - k/width (two-layer), {CNN_EARLYBIRD_RATIO} (CNN)",
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
    _require(spec.dataset in DATASETS, "dataset", spec.dataset, f"one of {DATASETS}")
    _require(spec.model in MODELS, "model", spec.model, f"one of {MODELS}")
    _require(spec.optimizer in OPTIMIZERS, "optimizer", spec.optimizer, f"one of {OPTIMIZERS}")
    _require(spec.train_loss in TRAIN_LOSSES, "train_loss", spec.train_loss, f"one of {TRAIN_LOSSES}")
    _require(spec.output_mode in ("signs", "vectors"), "output_mode", spec.output_mode, "'signs' or 'vectors'")
    _require(spec.threshold_loss in THRESHOLD_LOSSES, "threshold_loss", spec.threshold_loss, "'sum' or 'mean'")
    _require(
        len(spec.ms) >= MIN_MS and _ascending(spec.ms) and spec.ms[0] >= 2,
        "ms",
        spec.ms,
        f"at least {MIN_MS} strictly ascending sizes >= 2",
    )
    _require(
        len(spec.seeds) >= MIN_SEEDS and len(set(spec.seeds)) == len(spec.seeds) and min(spec.seeds) >= 0,
        "seeds",
        spec.seeds,
        f"at least {MIN_SEEDS} distinct non-negative seeds",
    )
    _require(
        len(spec.checkpoints) >= 2 and spec.checkpoints[0] == 0 and _ascending(spec.checkpoints),
        "checkpoints",
        spec.checkpoints,
        "at least 2 strictly ascending iterations starting at 0",
    )
    _require(spec.n_test >= 0, "n_test", spec.n_test, ">= 0")
    _require(spec.width >= 1, "width", spec.width, ">= 1")
    _require(spec.kappa > 0 and math.isfinite(spec.kappa), "kappa", spec.kappa, "a finite number > 0")
    _require(spec.eta > 0 and math.isfinite(spec.eta), "eta", spec.eta, "a finite number > 0")
    _require(
        spec.finetune_eta > 0 or (spec.finetune_eta == 0 and spec.model != "cnn"),
        "finetune_eta",
        spec.finetune_eta,
        "> 0, or 0 (auto) for the two-layer models",
    )
    _require(spec.eta_scaling in ETA_SCALINGS, "eta_scaling", spec.eta_scaling, f"one of {ETA_SCALINGS}")
    _require(spec.batch_size >= 0, "batch_size", spec.batch_size, ">= 0")
    _require(0 <= spec.momentum < 1, "momentum", spec.momentum, "in [0, 1)")
    _require(spec.k >= 1, "k", spec.k, ">= 1")
    if spec.model != "cnn":
        _require(
            spec.replacement or spec.k <= spec.width,
            "k",
            spec.k,
            f"<= width={spec.width} when selecting without replacement",
        )
    _require(
        len(spec.targets) >= 1 and set(spec.targets) <= set(TARGETS),
        "targets",
        spec.targets,
        f"a non-empty subset of {TARGETS}",
    )
    _require(set(spec.baselines) <= set(BASELINES), "baselines", spec.baselines, f"a subset of {BASELINES}")
    _require(spec.finetune_steps >= 0, "finetune_steps", spec.finetune_steps, ">= 0")
    _require(0 < spec.eps < 1, "eps", spec.eps, "in (0, 1)")
    _require(0 < spec.delta < 1, "delta", spec.delta, "in (0, 1)")
    _require(0 < spec.rel_tol, "rel_tol", spec.rel_tol, "> 0")
    _require(0 < spec.abs_tol, "abs_tol", spec.abs_tol, "> 0")
    _validate_earlybird(spec)
    _require(len(spec.cnn_widths) >= 1 and min(spec.cnn_widths) >= 1, "cnn_widths", spec.cnn_widths, "positive")


def _validate_earlybird(spec: ExperimentSpec) -> None:
    _require(0 <= spec.earlybird_ratio < 1, "earlybird_ratio", spec.earlybird_ratio, "in (0, 1), or 0 for auto")
    if spec.earlybird and spec.model != "cnn" and spec.earlybird_ratio == 0:
        _require(
            spec.k < spec.width,
            "k",
            spec.k,
            f"< width={spec.width} for the auto Early-Bird ratio 1 - k/width (or set earlybird_ratio)",
        )
    _require(spec.earlybird_window >= 2, "earlybird_window", spec.earlybird_window, ">= 2")
    _require(
        spec.earlybird_masks == 0 or spec.earlybird_masks >= spec.earlybird_window,
        "earlybird_masks",
        spec.earlybird_masks,
        f"0 (the checkpoint grid) or >= earlybird_window ({spec.earlybird_window})",
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
        spec.earlybird_bn_l1 == 0 or spec.model == "cnn",
        "earlybird_bn_l1",
        spec.earlybird_bn_l1,
        "0 unless model='cnn' (the two-layer nets have no BatchNorm)",
    )
    _require(spec.imp_rounds >= 1, "imp_rounds", spec.imp_rounds, ">= 1")


def step_size(spec: ExperimentSpec, m: int, finetune: bool = False) -> float:
    """The step size a unit of size m runs with: eta (or finetune_eta), times max(ms)/m under
    eta_scaling 'inverse_m' (so every m takes the same per-example step)."""
    base = spec.finetune_eta if finetune else spec.eta
    return base * max(spec.ms) / m if spec.eta_scaling == "inverse_m" else base


def earlybird_times(spec: ExperimentSpec) -> tuple[int, ...]:
    """Iterations at which the Early-Bird mask is drawn: spec.earlybird_masks evenly spaced over
    [0, max checkpoint] (rounded, duplicates dropped), or the checkpoint grid when it is 0."""
    if spec.earlybird_masks == 0:
        return tuple(spec.checkpoints)
    last = spec.checkpoints[-1]
    return tuple(sorted({round(i * last / (spec.earlybird_masks - 1)) for i in range(spec.earlybird_masks)}))


def earlybird_ratio(spec: ExperimentSpec) -> float:
    """The Early-Bird pruning ratio p the unit uses: the field, or the auto value when it is 0."""
    if spec.earlybird_ratio > 0:
        return spec.earlybird_ratio
    return CNN_EARLYBIRD_RATIO if spec.model == "cnn" else 1.0 - spec.k / spec.width


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
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
    return ExperimentSpec(**kwargs)


def field_help() -> dict[str, str]:
    """Field name -> help text (for `ebtheory run --help`)."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(ExperimentSpec)}
