"""Recorded rows of a verification run: the schema, atomic writes, and `load_run`.

The report and the figures read these files and nothing else (STYLE.md: data flows one way).

Layout of a run directory (named ``<preset>-<spec hash>`` by verify.spec.run_dir_name)::

    RUN_DIR/spec.json                          the spec (all fields), its name and hash
    RUN_DIR/points/m{m}_s{seed}_t{t}.json      one point row per (m, seed, t)
    RUN_DIR/units/m{m}_s{seed}.json            one unit summary per (m, seed), written last:
                                               its presence means the unit is complete

Every file is written atomically (temporary file in the same directory, then os.replace), so a
reader sees either nothing or the whole row, and a killed run leaves no half rows.

Units. Losses named ``*_sum`` are the sum loss L(u) = 1/2 ||u - Y||_F^2 (THEORY.md 1) over the m
training examples; ``*_mean`` is the per-example loss L/m. Accuracies are fractions in [0, 1].
``t`` counts full-batch pre-training iterations (gradient steps, not epochs; with SGD a step is one
mini-batch). ``V`` is the atom spread (1/N) sum_r ||g_r - u||_F^2 (THEORY.md 2), in the units of
twice a sum loss. A value that could not be measured is ``null`` (None), never NaN.

Point row (kind "point"), one per (m, seed, t):
    schema        int, SCHEMA_VERSION
    kind          "point"
    m, seed, t    dataset size, seed, pre-training iterations at this checkpoint
    k             subnetwork size (number of GFS steps; for the CNN, kept channels per layer)
    width         N, hidden width of the dense net (None for the CNN)
    dense         {"train_loss_sum", "train_loss_mean", "train_acc", "test_acc"} of the dense net at t
    V             atom spread at t (two-layer only, else None)
    subnets       dict name -> subnet entry; names: "gfs_labels" (GFS against the one-hot labels),
                  "gfs_dense" (GFS against the dense network's own output at t), "magnitude",
                  "random" (baselines at the same k). Each entry:
                    target            "labels" or "dense": what the selection was fitted to
                    train_loss_sum    sum loss of the subnetwork against the LABELS (squared loss
                                      1/2||u - Y||^2; summed cross-entropy when spec.train_loss is
                                      "cross_entropy", as for the CNN; the same for "dense")
                    train_loss_mean   the same, per example
                    train_acc, test_acc
                    target_loss_sum   sum loss against its own target (equals train_loss_sum for
                                      target "labels"); this is the L(u_{S_k}) of Lemma A
                    distinct          number of distinct neurons kept (GFS selects with replacement)
                    loss_curve_sum    GFS only: target sum loss after each of the k steps, else None
                    finetuned         {"train_loss_sum", "train_loss_mean", "train_acc", "test_acc"}
                                      after `finetune_steps` of fine-tuning, or None when not run
                    lemma_a           GFS on the two-layer net only, else None:
                                      {"bound": Lemma A bound on target_loss_sum (sum loss, eps of
                                       the spec), "measured": target_loss_sum, "held": measured <=
                                       bound (with 1e-9 relative slack for float error),
                                       "ratio": measured / bound, "dense_loss_sum": L(u) against
                                       the target, "null_loss_sum": L at k = 0 (the zero output)
                                       against the target, "vacuous": bound >= null_loss_sum}

Unit summary (kind "unit"), one per (m, seed):
    schema, kind ("unit"), m, seed
    checkpoints        the t grid, iterations
    train_loss         the pre-training loss of the spec ("sum_squares": sum loss, ...)
    dense_loss_curve   training loss after every iteration 0..max(t) (losses[t]) in the units of
                       train_loss; None where not recorded (SGD records only at checkpoints)
    constants          {"lambda0", "lambda_max" (of H_inf), "V0" (atom spread at t=0), "V_bar" (largest
                        atom spread on the grid), "L0_sum" (measured initial sum loss), "y_norm2"
                        (||Y||_F^2), "eta", "width", "kappa", "eta_times_lambda_max"}
                        (two-layer only; None for the CNN)
    predicted          {"fixed_eta": {...}, "du_eta": {...}} ("fixed_eta": the eta the unit ran with,
                        spec.eta or, under eta_scaling "inverse_m", eta * max(ms)/m) each {"eta", "t_star",
                        "t_star_upper", "tol", "c1", "L0_bound", "t_star_measured_L0" (t* with the
                        measured L(0) in place of the Markov bound)} in iterations (tol and L0_bound
                        are sum losses; V_bar stands for V); a regime is None where eta * lambda0
                        is not in (0, 2). "du_eta" uses
                        eta = lambda0 / m^2 (Du et al.'s O() constant named 1) and is a prediction
                        only, never run. None for the CNN.
    earlybird_checkpoints, earlybird_distance_matrix, earlybird_detection_t, earlybird, tickets
                       present when spec.earlybird is on (ebtheory.verify.unit documents the procedure). The
                       checkpoints of the pre-training grid play the role of You et al.'s epochs.
    earlybird_checkpoints     the t of each mask (iterations): the spec's checkpoints
    earlybird_distance_matrix D[i][j] = normalised Hamming distance in [0, 1] between the masks at
                              earlybird_checkpoints[i] and [j] (ebtheory.prune.earlybird.distance_matrix)
    earlybird_detection_t     the first checkpoint t at which the Early-Bird rule held (every checked
                              distance <= eps over the window), in iterations; None = never
    earlybird          {"score": "neuron_norm" (two-layer: ||w_r||_2 of the incoming weights) or
                        "bn1_scale" (CNN: |gamma| of each residual block's bn1, the inner channels that
                        can be removed, as in layer-wise GFS), "ratio": global pruning ratio p,
                        "kept"/"total": neurons (channels) the mask keeps / has, "window", "eps",
                        "compare", "bn_l1" (L1 coefficient on BN scales during pre-training, CNN),
                        "detection_index" (index into earlybird_checkpoints or None),
                        "tickets_skipped": why `tickets` is None (no detection), else None}
    tickets            three subnetworks of equal size and equal total iteration budget, or None:
                       {"t": t_EB (the detection checkpoint), "finetune_steps": F (spec.finetune_steps),
                        "budget_iterations": t_EB + F, "overlap_neurons": neurons both in the EB mask
                        and in the GFS ticket, "earlybird": {...}, "gfs": {...}, "imp": {...}}.
                       earlybird: the n = kept neurons of the mask at t_EB as the averaged
                         subnetwork (1/n) sum_{r in mask} g_r (ebtheory.prune.gfs.pruned_two_layer),
                         fine-tuned F steps with finetune_eta; iterations [t_EB, F].
                       gfs: GFS WITHOUT replacement to n steps at the same t_EB against the labels
                         (exactly n distinct neurons, like the mask), fine-tuned F steps; [t_EB, F].
                       imp: iterative magnitude pruning of the input weights W (torch prune masks),
                         rewinding to t = 0, spec.imp_rounds rounds, down to n * d surviving input
                         weights (what the other two keep), from a fresh copy of the initial net; the
                         dense run and the retraining after each round get the budget t_EB + F split
                         as evenly as possible ("iterations", pre-training eta). Its readout is not
                         pruned (fixed signs for the NTK net; trained b for the mean-field net).
                       Each ticket: {"neurons": hidden neurons with a kept weight, "params": trainable
                        weights kept (earlybird/gfs: n (d + C), the fine-tuned output weights
                        included; imp: surviving input weights), "iterations", "total_iterations",
                        "pruned": numbers before fine-tuning (None for imp),
                        "train_loss_sum", "train_loss_mean", "train_acc", "test_acc": the final ticket
                        (after the F steps; imp after its last retraining) against the labels}.
                       Budgets count iterations, not FLOPs: an IMP iteration runs the dense-width net.
                       CNN (labels as class indices, cross-entropy, SGD iterations): earlybird = the
                         dense net at t_EB with the unkept inner channels' bn1 scale and shift masked to
                         0 (the channel outputs exactly 0: the function of the net without them);
                         gfs = layer-wise GFS without replacement keeping as many inner channels per
                         block ("kept_per_block"); imp prunes all conv / linear weights down to those
                         the EB ticket keeps (its "params"; the others' "params" count all trainable
                         parameters, BN included, of the physically smaller net).
    device             the torch device the unit ran on
    elapsed_s          wall-clock seconds of the unit (informational; not compared across runs)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SPEC_FILE = "spec.json"
POINTS_DIR = "points"
UNITS_DIR = "units"


def point_filename(m: int, seed: int, t: int) -> str:
    """File name of the point row (m, seed, t) inside RUN_DIR/points."""
    return f"m{m}_s{seed}_t{t}.json"


def unit_filename(m: int, seed: int) -> str:
    """File name of the unit summary (m, seed) inside RUN_DIR/units."""
    return f"m{m}_s{seed}.json"


def _check_finite(value: Any, where: str) -> None:
    """Rows never hold NaN or inf (JSON cannot, and the rules forbid silent NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"row field {where} must be finite or None; got {value}")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(item, f"{where}[{index}]")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
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


def read_json(path: str | os.PathLike) -> Any:
    """Read one JSON file."""
    with open(path) as handle:
        return json.load(handle)


def write_point(run_dir: str | os.PathLike, row: dict) -> Path:
    """Write one point row (needs keys m, seed, t) atomically under RUN_DIR/points."""
    name = point_filename(int(row["m"]), int(row["seed"]), int(row["t"]))
    return write_json_atomic(Path(run_dir) / POINTS_DIR / name, {"schema": SCHEMA_VERSION, "kind": "point", **row})


def write_unit(run_dir: str | os.PathLike, summary: dict) -> Path:
    """Write one unit summary (needs keys m, seed) atomically under RUN_DIR/units."""
    name = unit_filename(int(summary["m"]), int(summary["seed"]))
    return write_json_atomic(Path(run_dir) / UNITS_DIR / name, {"schema": SCHEMA_VERSION, "kind": "unit", **summary})


def finished_points(run_dir: str | os.PathLike, m: int, seed: int) -> set[int]:
    """The checkpoints t whose point row (m, seed, t) is already on disk."""
    directory = Path(run_dir) / POINTS_DIR
    prefix = f"m{m}_s{seed}_t"
    if not directory.is_dir():
        return set()
    return {
        int(p.name[len(prefix) : -len(".json")])
        for p in directory.iterdir()
        if p.name.startswith(prefix) and p.name.endswith(".json")
    }


def unit_finished(run_dir: str | os.PathLike, m: int, seed: int) -> bool:
    """True when the unit summary (m, seed) exists, i.e. the unit completed."""
    return (Path(run_dir) / UNITS_DIR / unit_filename(m, seed)).is_file()


@dataclass(frozen=True)
class RunRecord:
    """Everything recorded in a run directory.

    spec: the spec as a dict (fields of verify.spec.ExperimentSpec plus "name" and "hash").
    units: unit summaries sorted by (m, seed). points: point rows sorted by (m, seed, t).
    """

    run_dir: Path
    spec: dict
    units: tuple[dict, ...]
    points: tuple[dict, ...]

    def points_for(self, m: int | None = None, seed: int | None = None) -> list[dict]:
        """Point rows filtered by m and/or seed, in (m, seed, t) order."""
        return [p for p in self.points if (m is None or p["m"] == m) and (seed is None or p["seed"] == seed)]

    def unit(self, m: int, seed: int) -> dict | None:
        """The unit summary (m, seed), or None when that unit has not finished."""
        return next((u for u in self.units if u["m"] == m and u["seed"] == seed), None)

    @property
    def ms(self) -> list[int]:
        """Dataset sizes m present in the point rows, ascending."""
        return sorted({p["m"] for p in self.points})

    @property
    def seeds(self) -> list[int]:
        """Seeds present in the point rows, ascending."""
        return sorted({p["seed"] for p in self.points})


def _read_rows(directory: Path, kind: str) -> Iterable[dict]:
    if not directory.is_dir():
        return []
    rows = []
    for path in sorted(directory.glob("*.json")):
        row = read_json(path)
        if row.get("kind") != kind:
            raise ValueError(f"{path} holds kind={row.get('kind')!r}; expected {kind!r}")
        rows.append(row)
    return rows


def load_run(run_dir: str | os.PathLike) -> RunRecord:
    """Read a run directory (spec.json, points/, units/) into a RunRecord.

    Raises ValueError when run_dir has no spec.json (not a run directory).
    """
    run_dir = Path(run_dir)
    spec_path = run_dir / SPEC_FILE
    if not spec_path.is_file():
        raise ValueError(f"run_dir={str(run_dir)!r} is not a run directory: it has no {SPEC_FILE}")
    spec = read_json(spec_path)
    units = sorted(_read_rows(run_dir / UNITS_DIR, "unit"), key=lambda u: (u["m"], u["seed"]))
    points = sorted(_read_rows(run_dir / POINTS_DIR, "point"), key=lambda p: (p["m"], p["seed"], p["t"]))
    return RunRecord(run_dir=run_dir, spec=spec, units=tuple(units), points=tuple(points))
