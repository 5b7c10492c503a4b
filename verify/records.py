"""Typed rows of a run directory: every record the harness writes, and the only code that writes or reads them.

Layout of a run directory (named ``<preset>-<spec hash>`` by ebtheory.verify.spec.run_dir_name)::

    RUN_DIR/spec.json                          the spec (all fields), its name and hash
    RUN_DIR/points/m{m}_s{seed}_t{t}.json      one PointRow per (m, seed, t)
    RUN_DIR/units/m{m}_s{seed}.json            one UnitRow per (m, seed), written last: its presence
                                               means the unit is complete
    RUN_DIR/run.json                           the RunSummary, written when a sweep finishes

Every record is a frozen pydantic dataclass with a schema version (``SCHEMA_VERSION``). Writing
validates the record and writes it atomically (temporary file in the same directory, then
os.replace), so a reader sees either nothing or the whole row. Reading parses strictly: types,
ranges (losses and spreads >= 0, accuracies in [0, 1]), finite numbers, no unknown fields, the
run's spec hash, a file name that matches (m, seed, t), no duplicates. Any failure raises
``RowError`` (a ValueError) naming the file and the field; a row of another schema version names
both versions.

Units (docs/theory.md, section 1). Losses named ``*_sum`` are the sum loss L(u) = 1/2 ||u - Y||_F^2
over the m training examples (summed cross-entropy when the spec trains with cross_entropy);
``*_mean`` is the per-example loss L/m. ``t`` counts pre-training iterations (gradient steps; with
SGD one step is one mini-batch). ``V`` is the atom spread (1/N) sum_r ||g_r - u||_F^2, in the units
of twice a sum loss. A value that could not be measured is ``None``, never NaN.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

from ebtheory.verify.spec import ExperimentSpec, spec_from_dict

SCHEMA_VERSION = 2
SPEC_FILE = "spec.json"
RUN_FILE = "run.json"
POINTS_DIR = "points"
UNITS_DIR = "units"
MAX_ROW_BYTES = 64 * 1024 * 1024  # a row is kilobytes; anything this large is not a row

_CONFIG = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Size = Annotated[int, Field(ge=1)]


class RowError(ValueError):
    """A row that cannot be read or written: names the file and the field."""


# --------------------------------------------------------------------------------------------- point


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class NetworkNumbers:
    """Loss against the labels (sum and per example) and train / test accuracy of one network."""

    train_loss_sum: NonNegative
    train_loss_mean: NonNegative
    train_acc: Fraction
    test_acc: Fraction


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class LemmaACheck:
    """Lemma A at one point (proofs/lemma_a.md): bound on the target loss of GFS after k steps.

    bound: c1(k) L(u) + V/(2(1-eps)k) (sum loss); measured: the GFS target loss; held: measured <= bound
    with 1e-9 relative slack; ratio: measured / bound; dense_loss_sum: L(u) against the target;
    null_loss_sum: the loss of the empty selection (zero output); vacuous: bound >= null_loss_sum.
    """

    bound: NonNegative
    measured: NonNegative
    held: bool
    ratio: NonNegative | None
    dense_loss_sum: NonNegative
    null_loss_sum: NonNegative
    vacuous: bool


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class SubnetEntry:
    """One pruned subnetwork at a point: GFS against a target, or a baseline at the same k.

    target: what the selection was fitted to ("labels" or "dense", the dense net's own output at t).
    train_loss_*: against the LABELS; target_loss_sum: against its own target (the L(u_{S_k}) of
    Lemma A; None for the CNN). distinct: distinct neurons (channels) kept. loss_curve_sum: the GFS
    target sum loss after each of the k steps (two-layer GFS only). finetuned: the numbers after
    spec.finetune_steps of fine-tuning (None when none ran). lemma_a: two-layer GFS with replacement
    only. params_* / macs_*: parameter and multiply-accumulate counts before and after (CNN / deep MLP).
    """

    target: Literal["labels", "dense"]
    train_loss_sum: NonNegative
    train_loss_mean: NonNegative
    train_acc: Fraction
    test_acc: Fraction
    target_loss_sum: NonNegative | None
    distinct: Count
    loss_curve_sum: tuple[NonNegative, ...] | None
    finetuned: NetworkNumbers | None
    lemma_a: LemmaACheck | None
    params_before: Count | None = None
    params_after: Count | None = None
    macs_before: Count | None = None
    macs_after: Count | None = None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class PointDiagnostics:
    """Hypotheses of the theorem measured at one checkpoint (two-layer nets; docs/theory.md, section 6).

    lambda_min_H: smallest eigenvalue of the Gram H(t) of the net's hidden features at t,
    H_ij(t) = x_i . x_j (1/N) sum_r 1{w_r(t).x_i > 0} 1{w_r(t).x_j > 0} (Du et al. 2019, Eq. 5);
    drift: max_r ||w_r(t) - w_r(0)||_2, the largest move of a neuron's input weights since t = 0.
    """

    lambda_min_H: float | None
    drift: NonNegative | None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class PointRow:
    """Everything measured at one checkpoint t of unit (m, seed)."""

    kind: Literal["point"] = "point"
    schema: int = SCHEMA_VERSION
    run_hash: str
    m: Size
    seed: Count
    t: Count
    k: Size
    width: Size | None
    dense: NetworkNumbers
    V: NonNegative | None
    subnets: dict[str, SubnetEntry]
    diagnostics: PointDiagnostics | None = None


# ---------------------------------------------------------------------------------------------- unit


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class UnitConstants:
    """The bound's constants measured on a two-layer unit (docs/theory.md, section 2).

    lambda0, lambda_max: extreme eigenvalues of H_inf on the m inputs, None when not measured (m above
    ebtheory.verify.spec.H_INF_SPECTRUM_MAX_M: the m x m spectrum does not fit); V0: atom spread at
    t = 0; V_bar: the largest atom spread on the checkpoint grid; L0_sum: measured initial sum loss;
    y_norm2: ||Y||_F^2; eta: the step the unit ran with; eta_times_lambda_max: eta * lambda_max (None
    with lambda_max).
    """

    lambda0: float | None
    lambda_max: float | None
    V0: NonNegative
    V_bar: NonNegative
    L0_sum: NonNegative
    y_norm2: NonNegative
    eta: Annotated[float, Field(gt=0)]
    width: Size
    kappa: Annotated[float, Field(gt=0)]
    eta_times_lambda_max: float | None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class Prediction:
    """The worst-case threshold t* (proofs/threshold.md) in one step-size regime, in iterations.

    tol and L0_bound are sum losses; V_bar stands for V; t_star_measured_L0 uses the measured L(0)
    in place of the Markov bound (None when L(0) = 0).
    """

    eta: Annotated[float, Field(gt=0)]
    t_star: NonNegative
    t_star_upper: NonNegative
    tol: NonNegative
    c1: NonNegative
    L0_bound: NonNegative
    t_star_measured_L0: NonNegative | None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class EarlyBirdSettings:
    """How the Early-Bird masks were drawn and compared (You et al. 2020), and the detection index."""

    score: Literal["neuron_norm", "bn1_scale"]
    ratio: Fraction
    kept: Count
    total: Size
    window: Size
    eps: NonNegative
    compare: str
    bn_l1: NonNegative
    detection_index: Count | None
    tickets_skipped: str | None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class Ticket:
    """One subnetwork of the equal-size, equal-budget ticket comparison (numbers after its training).

    neurons: hidden units (inner channels) kept; params: trainable weights kept; iterations: the
    training segments; pruned: numbers before fine-tuning (None for IMP); rounds, remaining: IMP only.
    """

    neurons: Count
    params: Count
    iterations: tuple[Count, ...]
    total_iterations: Count
    pruned: NetworkNumbers | None
    train_loss_sum: NonNegative
    train_loss_mean: NonNegative
    train_acc: Fraction
    test_acc: Fraction
    rounds: Size | None = None
    remaining: tuple[Count, ...] | None = None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class Tickets:
    """The three tickets at the Early-Bird detection t_EB with the budget t_EB + F iterations."""

    t: Count
    finetune_steps: Count
    budget_iterations: Count
    overlap_neurons: Count
    earlybird: Ticket
    gfs: Ticket
    imp: Ticket
    kept_per_block: tuple[Count, ...] | None = None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class Hypotheses:
    """The threshold theorem's hypotheses measured on a two-layer unit (docs/theory.md, section 8;
    Du, Zhai, Poczos, Singh, ICLR 2019). Unknown O()/Omega() constants are taken as 1.

    lazy_radius: the radius the proof needs the weights to stay in, R = c kappa delta lambda0 / m^2
    (Du et al. Lemma 3.2: if every ||w_r - w_r(0)|| <= R then lambda_min(H) > lambda0/2, with
    probability 1 - delta over w_r(0) ~ N(0, kappa^2 I); their c is an unknown small constant,
    `lazy_radius_constant`, taken as 1; ebtheory.constants.diagnostics.lazy_radius);
    drift_max: max over the grid of max_r ||w_r(t) - w_r(0)||_2; drift_within_radius: drift_max <= R;
    lambda_min_H0: lambda_min(H(0)) of the hidden-feature Gram (PointDiagnostics), lambda_min_H0_held:
    it is >= 3 lambda0/4 (Du et al. Lemma 3.1); lambda_min_H_min: min over the grid of lambda_min(H(t)),
    lambda_min_H_held: it is >= lambda0/2 (the conclusion of Lemma 3.2 the proof uses);
    eta, eta_bound, eta_held: the step the unit ran with against lambda0/m^2 (c_eta = 1, Thm 4.1);
    width, width_bound, width_held: N against m^6/(lambda0^4 delta^3) (c_N = 1, Thm 4.1; width_bound
    None when it exceeds the float range, then width_held is False);
    V_ratio_max: max over the grid of V(t)/V(0) (V_bar must bound V(t) for t >= t*, proofs/threshold.md H3).
    None where a number could not be measured (no diagnostics recorded, V(0) = 0).
    """

    lazy_radius: NonNegative
    lazy_radius_constant: Annotated[float, Field(gt=0)]
    drift_max: NonNegative | None
    drift_within_radius: bool | None
    lambda_min_H0: float | None
    lambda_min_H0_held: bool | None
    lambda_min_H_min: float | None
    lambda_min_H_held: bool | None
    eta: Annotated[float, Field(gt=0)]
    eta_bound: NonNegative
    eta_held: bool
    width: Size
    width_bound: NonNegative | None
    width_held: bool
    V_ratio_max: NonNegative | None


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class UnitRow:
    """The summary of unit (m, seed), written after all of its points.

    checkpoints: the t grid; dense_loss_curve: the pre-training loss (units of train_loss) after every
    iteration 0..max t (GD), None entries where not finite, None where not recorded (SGD);
    constants and predicted: two-layer only; earlybird_*: when spec.earlybird is on; hypotheses:
    the theorem's hypotheses measured on the run (Hypotheses; two-layer only, None in older rows).
    """

    kind: Literal["unit"] = "unit"
    schema: int = SCHEMA_VERSION
    run_hash: str
    m: Size
    seed: Count
    checkpoints: tuple[Count, ...]
    train_loss: str
    dense_loss_curve: tuple[NonNegative | None, ...] | None
    constants: UnitConstants | None
    predicted: dict[str, Prediction | None] | None
    device: str
    elapsed_s: NonNegative
    earlybird_checkpoints: tuple[Count, ...] | None = None
    earlybird_distance_matrix: tuple[tuple[Fraction, ...], ...] | None = None
    earlybird_detection_t: Count | None = None
    earlybird: EarlyBirdSettings | None = None
    tickets: Tickets | None = None
    hypotheses: Hypotheses | None = None


# ----------------------------------------------------------------------------------------------- run


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class RunSummary:
    """Written when a sweep finishes: what ran, how long, and on what machine (informational)."""

    kind: Literal["run"] = "run"
    schema: int = SCHEMA_VERSION
    run_hash: str
    name: str
    units: Count
    points: Count
    elapsed_s: NonNegative
    machine: dict[str, str]


Record = PointRow | UnitRow | RunSummary
R = TypeVar("R", PointRow, UnitRow, RunSummary)
_ADAPTERS: dict[type, TypeAdapter[Any]] = {cls: TypeAdapter(cls) for cls in (PointRow, UnitRow, RunSummary)}
_KINDS: dict[type, str] = {PointRow: "point", UnitRow: "unit", RunSummary: "run"}


# ------------------------------------------------------------------------------------------- writing


def point_filename(m: int, seed: int, t: int) -> str:
    """File name of the point row (m, seed, t) inside RUN_DIR/points."""
    return f"m{m}_s{seed}_t{t}.json"


def unit_filename(m: int, seed: int) -> str:
    """File name of the unit summary (m, seed) inside RUN_DIR/units."""
    return f"m{m}_s{seed}.json"


_POINT_NAME = re.compile(r"^m(\d+)_s(\d+)_t(\d+)\.json$")
_UNIT_NAME = re.compile(r"^m(\d+)_s(\d+)\.json$")


def _check_finite(value: Any, where: str) -> None:
    """JSON rows never hold NaN or inf."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RowError(f"row field {where} must be finite or None; got {value}")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_finite(item, f"{where}[{index}]")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write `obj` as JSON to `path` atomically: temp file in the same directory, fsync, os.replace."""
    path = Path(path)
    _check_finite(obj, path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(obj, handle, sort_keys=True, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_json_dict(record: Any) -> dict[str, Any]:
    """A record as the JSON object written to disk (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(record), allow_nan=False))


def _as_record(cls: type[R], row: R | Mapping[str, Any], where: str) -> R:
    """Accept a record or a plain mapping (validated through the schema, as if read from JSON)."""
    if isinstance(row, cls):
        return _validate(cls, to_json_dict(row), where)
    if not isinstance(row, Mapping):
        raise RowError(f"{where}: expected a {cls.__name__} or a mapping; got {type(row).__name__}")
    data = {"kind": _KINDS[cls], "schema": SCHEMA_VERSION, **row}
    _check_finite(data, where)
    return _validate(cls, json.loads(json.dumps(data, allow_nan=False)), where)


def write_point(run_dir: str | os.PathLike[str], row: PointRow | Mapping[str, Any]) -> Path:
    """Validate and write one point row atomically under RUN_DIR/points."""
    record = _as_record(PointRow, row, "point row")
    path = Path(run_dir) / POINTS_DIR / point_filename(record.m, record.seed, record.t)
    return write_json_atomic(path, to_json_dict(record))


def write_unit(run_dir: str | os.PathLike[str], row: UnitRow | Mapping[str, Any]) -> Path:
    """Validate and write one unit summary atomically under RUN_DIR/units."""
    record = _as_record(UnitRow, row, "unit row")
    return write_json_atomic(Path(run_dir) / UNITS_DIR / unit_filename(record.m, record.seed), to_json_dict(record))


def write_run_summary(run_dir: str | os.PathLike[str], summary: RunSummary) -> Path:
    """Validate and write RUN_DIR/run.json atomically."""
    record = _as_record(RunSummary, summary, "run summary")
    return write_json_atomic(Path(run_dir) / RUN_FILE, to_json_dict(record))


def write_spec(
    run_dir: str | os.PathLike[str], spec: ExperimentSpec, data_identity: Mapping[str, Any] | None = None
) -> Path:
    """Write RUN_DIR/spec.json (every field, the name and the hash) atomically.

    data_identity: the data the run reads (ebtheory.verify.rundir.data_identity), kept under the key
    'data_identity' so that a resume on other data is refused; readers of the spec ignore it."""
    blob = spec.to_dict()
    if data_identity is not None:
        blob["data_identity"] = dict(data_identity)
    return write_json_atomic(Path(run_dir) / SPEC_FILE, blob)


# ------------------------------------------------------------------------------------------- reading


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(row)"


def _validate(cls: type[R], data: Any, where: str) -> R:
    if not isinstance(data, dict):
        raise RowError(f"{where}: a {_KINDS[cls]} row must be a JSON object; got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise RowError(
            f"{where}: field 'schema' is {schema!r}, but this ebtheory reads schema {SCHEMA_VERSION} "
            "(rows of another version: re-run the sweep with this version)"
        )
    if data.get("kind") != _KINDS[cls]:
        raise RowError(f"{where}: field 'kind' is {data.get('kind')!r}; expected {_KINDS[cls]!r}")
    try:
        return _ADAPTERS[cls].validate_json(json.dumps(data, allow_nan=False), strict=True)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        value = first.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise RowError(f"{where}: field {_format_loc(first['loc'])}: {first['msg']}; got {shown}{more}") from None
    except ValueError as error:  # NaN or inf that json.dumps refuses
        raise RowError(f"{where}: {error}") from None


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse one JSON file; any failure is a RowError naming the file (NaN and Infinity refused)."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            # a directory, a FIFO or a device (/dev/zero reports size 0 and never ends): not a row
            raise RowError(f"{path}: not a regular file")
        size = path.stat().st_size
        if size > MAX_ROW_BYTES:
            raise RowError(f"{path}: {size} bytes is too large for a row (at most {MAX_ROW_BYTES})")
        text = path.read_text()
    except UnicodeDecodeError as error:
        raise RowError(f"{path}: not UTF-8 text ({error.reason})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise RowError(f"{path}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except RecursionError:
        raise RowError(f"{path}: JSON nested too deeply to be a row") from None
    except ValueError as error:
        raise RowError(f"{path}: {error}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (rows hold finite numbers or null)")


def read_record(path: str | os.PathLike[str], cls: type[R]) -> R:
    """Read and validate one row file of type `cls`."""
    return _validate(cls, read_json(path), str(path))


def read_spec(run_dir: str | os.PathLike[str]) -> ExperimentSpec:
    """The spec recorded in RUN_DIR/spec.json, validated; its recorded hash must match the spec's."""
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise RowError(f"run_dir={str(run_dir)!r} is not a run directory: it has no {SPEC_FILE}")
    data = read_json(path)
    if not isinstance(data, dict):
        raise RowError(f"{path}: the spec must be a JSON object; got {type(data).__name__}")
    try:
        spec = spec_from_dict(data)
    except (TypeError, ValueError) as error:
        raise RowError(f"{path}: {' '.join(str(error).split())}") from None
    if data.get("hash") != spec.hash:
        raise RowError(f"{path}: field 'hash' is {data.get('hash')!r} but the recorded fields hash to {spec.hash!r}")
    return spec


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """Everything recorded in a run directory, validated.

    spec: the run's ExperimentSpec; units sorted by (m, seed); points sorted by (m, seed, t);
    summary: the RunSummary when the sweep finished (None while it is running or was interrupted).
    """

    run_dir: Path
    spec: ExperimentSpec
    units: tuple[UnitRow, ...]
    points: tuple[PointRow, ...]
    summary: RunSummary | None = None

    def points_for(self, m: int | None = None, seed: int | None = None) -> list[PointRow]:
        """Point rows filtered by m and/or seed, in (m, seed, t) order."""
        return [p for p in self.points if (m is None or p.m == m) and (seed is None or p.seed == seed)]

    def unit(self, m: int, seed: int) -> UnitRow | None:
        """The unit summary (m, seed), or None when that unit has not finished."""
        return next((u for u in self.units if u.m == m and u.seed == seed), None)

    @property
    def ms(self) -> list[int]:
        """Dataset sizes m present in the point rows, ascending."""
        return sorted({p.m for p in self.points})

    @property
    def seeds(self) -> list[int]:
        """Seeds present in the point rows, ascending."""
        return sorted({p.seed for p in self.points})


def _check_belongs(path: Path, spec: ExperimentSpec, row: PointRow | UnitRow) -> None:
    """The row must be of this run (spec hash), of a cell of its spec, and in the file named for it."""
    if row.run_hash != spec.hash:
        raise RowError(f"{path}: field run_hash is {row.run_hash!r}, but this run's spec hashes to {spec.hash!r}")
    if row.m not in spec.ms:
        raise RowError(f"{path}: field m is {row.m}, not one of the spec's ms {list(spec.ms)}")
    if row.seed not in spec.seeds:
        raise RowError(f"{path}: field seed is {row.seed}, not one of the spec's seeds {list(spec.seeds)}")
    if isinstance(row, PointRow):
        expected = point_filename(row.m, row.seed, row.t)
        if row.t not in spec.checkpoints:
            raise RowError(f"{path}: field t is {row.t}, not a checkpoint of the spec")
    else:
        expected = unit_filename(row.m, row.seed)
    if path.name != expected:
        raise RowError(f"{path}: the row's (m, seed{', t' if isinstance(row, PointRow) else ''}) belong in {expected}")


def _read_rows(directory: Path, cls: type[R], spec: ExperimentSpec, pattern: re.Pattern[str]) -> list[R]:
    if not directory.is_dir():
        return []
    rows: list[R] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            continue  # an in-flight atomic write
        if not pattern.match(path.name):
            raise RowError(f"{path}: not a {_KINDS[cls]} row file name (expected {pattern.pattern})")
        row = read_record(path, cls)
        if not isinstance(row, RunSummary):
            _check_belongs(path, spec, row)
        rows.append(row)
    return rows


def load_run(run_dir: str | os.PathLike[str]) -> RunRecord:
    """Read and validate a run directory (spec.json, points/, units/, run.json) into a RunRecord.

    Raises RowError (a ValueError) naming the file and the field on anything that is not a valid
    row of this run: not a run directory, truncated JSON, a field of the wrong type or out of range,
    a non-finite number, a row of another run or schema version, a misplaced row.
    """
    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    points = _read_rows(run_dir / POINTS_DIR, PointRow, spec, _POINT_NAME)
    units = _read_rows(run_dir / UNITS_DIR, UnitRow, spec, _UNIT_NAME)
    summary = None
    if (run_dir / RUN_FILE).is_file():
        summary = read_record(run_dir / RUN_FILE, RunSummary)
        if summary.run_hash != spec.hash:
            raise RowError(
                f"{run_dir / RUN_FILE}: field run_hash is {summary.run_hash!r}; the spec hashes to {spec.hash!r}"
            )
    points.sort(key=lambda p: (p.m, p.seed, p.t))
    units.sort(key=lambda u: (u.m, u.seed))
    return RunRecord(run_dir=run_dir, spec=spec, units=tuple(units), points=tuple(points), summary=summary)


# ------------------------------------------------------------------------------------ resume helpers


def finished_points(run_dir: str | os.PathLike[str], m: int, seed: int) -> set[int]:
    """The checkpoints t whose point row (m, seed, t) is already on disk."""
    directory = Path(run_dir) / POINTS_DIR
    if not directory.is_dir():
        return set()
    found = set()
    for path in directory.iterdir():
        match = _POINT_NAME.match(path.name)
        if match and int(match.group(1)) == m and int(match.group(2)) == seed:
            found.add(int(match.group(3)))
    return found


def read_point(run_dir: str | os.PathLike[str], m: int, seed: int, t: int) -> PointRow:
    """The recorded point row (m, seed, t), validated."""
    return read_record(Path(run_dir) / POINTS_DIR / point_filename(m, seed, t), PointRow)


def unit_finished(run_dir: str | os.PathLike[str], m: int, seed: int) -> bool:
    """True when the unit summary (m, seed) exists, i.e. the unit completed."""
    return (Path(run_dir) / UNITS_DIR / unit_filename(m, seed)).is_file()


def count_points(run_dir: str | os.PathLike[str]) -> int:
    """Point rows on disk (for progress bars)."""
    directory = Path(run_dir) / POINTS_DIR
    return sum(1 for _ in directory.glob("m*.json")) if directory.is_dir() else 0


def iter_records(run: RunRecord) -> Iterable[PointRow | UnitRow]:
    """Every point and unit row of a run, points first."""
    yield from run.points
    yield from run.units
