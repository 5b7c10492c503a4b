"""Where one unit's CPU goes: `ebtheory.verify.unit.run_unit` of a two-layer preset's (m, seed), split into
phases by cProfile (pre-training GD, and at the checkpoints GFS, fine-tuning, its auto step and
lambda_min(H(t)); Early-Bird with IMP; the unit summary).

    python -m ebtheory.verify.bench.unit_phases [--preset quick] [--m 800] [--seed 0] [--data-dir DIR]

Prints one JSON object: CPU seconds (time.process_time, one torch thread) of the unit run once without the
profiler (`cpu_s`) and once under it (`cpu_s_profiled`, which adds the profiler's per-call overhead, mostly
to the Python-heavy GFS loop), the profiled phases in CPU seconds (the profiler's clock is process time), and the pre-training loop's throughput in
GFLOP/s (4 m N (d + C) floating-point operations an iteration: the two m x d x N products and the two
m x N x C ones of ebtheory.verify.fast_gd; cProfile adds little to this loop of a few large products).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import pstats
import tempfile
import time
from typing import Any

import torch

from ebtheory.verify.presets import get_preset
from ebtheory.verify.spec import ExperimentSpec
from ebtheory.verify.unit import run_unit, unit_context

# (phase, (file suffix, function), callers that count: None for every caller). The checkpoint parts count
# only the calls made while measuring a point, not those made for the Early-Bird tickets.
_MEASURE = (("families.py", "measure_point"), ("families.py", "_subnet_entry"))
CHECKPOINT_PARTS: tuple[tuple[str, tuple[str, str], tuple[tuple[str, str], ...]], ...] = (
    ("GFS selection (each target)", ("gfs.py", "greedy_forward_selection"), _MEASURE),
    ("GFS atom Gram (shared by the targets)", ("gfs.py", "shared_gram"), _MEASURE),
    ("fine-tuning GD", ("context.py", "finetuned"), _MEASURE),
    ("fine-tuning auto step", ("families.py", "finetune_step"), _MEASURE),
    ("lambda_min(H(t))", ("families.py", "hidden_gram_lambda_min"), _MEASURE),
)

Key = tuple[str, int, str]


def _matches(key: Key, where: tuple[str, str]) -> bool:
    return key[0].endswith(where[0]) and key[2] == where[1]


def cumulative(
    stats: pstats.Stats, where: tuple[str, str], callers: tuple[tuple[str, str], ...] | None = None
) -> float:
    """Cumulative seconds of the function `where` = (file suffix, name), counting only calls from `callers`
    when given (cProfile's per-caller cumulative times)."""
    total = 0.0
    table: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, _tt, ct, by_caller) in table.items():
        if not _matches(key, where):
            continue
        if callers is None:
            total += ct
            continue
        total += sum(entry[3] for caller, entry in by_caller.items() if any(_matches(caller, c) for c in callers))
    return total


def phases(stats: pstats.Stats) -> dict[str, float]:
    """The unit's profiled CPU seconds by phase; `other checkpoint work` is the rest of the checkpoint
    callbacks (the dense and subnetwork numbers, baselines, Lemma A, V, the Early-Bird masks, the rows)."""
    whole = cumulative(stats, ("unit.py", "run_unit"))
    training = cumulative(stats, ("families.py", "pretrain"))
    callbacks = cumulative(stats, ("unit.py", "on_iteration"))
    out = {
        "data and set-up": cumulative(stats, ("unit.py", "unit_context")),
        "pre-training GD": training - callbacks,
        "checkpoints": callbacks,
    }
    parts = {name: cumulative(stats, where, callers) for name, where, callers in CHECKPOINT_PARTS}
    out.update({f"checkpoints: {name}": seconds for name, seconds in parts.items()})
    out["checkpoints: other checkpoint work"] = callbacks - sum(parts.values())
    out["Early-Bird masks' tickets (IMP, GFS, mask)"] = cumulative(stats, ("earlybird_tickets.py", "finish_earlybird"))
    out["unit summary (constants, H_inf spectrum, t*)"] = cumulative(stats, ("families.py", "summarise"))
    out["total"] = whole
    return {name: round(seconds, 3) for name, seconds in out.items()}


def _run_once(spec: ExperimentSpec, m: int, seed: int, profile: cProfile.Profile | None) -> float:
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.process_time()
        if profile is not None:
            profile.enable()
        run_unit(spec, m, seed, run_dir, device="cpu")
        if profile is not None:
            profile.disable()
        return time.process_time() - start


def unit_phases(preset: str = "quick", m: int = 800, seed: int = 0, data_dir: str = "") -> dict[str, object]:
    """Time run_unit(preset, m, seed) unprofiled, then profiled, and split the profiled run by phase."""
    spec = get_preset(preset)
    if spec.model != "ntk" or spec.optimizer != "gd":
        raise ValueError(
            f"preset must be a full-batch GD two-layer NTK preset (tiny, quick, fashion); got preset={preset!r}"
        )
    if m not in spec.ms:
        raise ValueError(f"m must be one of the preset's sizes {spec.ms}; got m={m}")
    spec = dataclasses.replace(spec, data_dir=data_dir) if data_dir else spec
    torch.set_num_threads(1)
    data = unit_context(spec, m, seed, "cpu").data  # also a warm-up: the data's imports are not timed
    inputs, classes = int(data.X[0].numel()), data.num_classes
    cpu_s = _run_once(spec, m, seed, None)
    profile = cProfile.Profile(time.process_time)
    cpu_profiled = _run_once(spec, m, seed, profile)
    split = phases(pstats.Stats(profile))
    iterations = max(spec.checkpoints) + 1  # losses at 0..T: T updates and T + 1 forward passes
    gd_s = split["pre-training GD"]
    throughput = None
    if gd_s > 0:
        flops = 4 * m * spec.width * (inputs + classes) * iterations
        throughput = {
            "iterations": iterations,
            "us_per_iteration": round(gd_s / iterations * 1e6, 1),
            "gflops_per_s": round(flops / gd_s / 1e9, 1),
        }
    return {
        "preset": preset,
        "m": m,
        "seed": seed,
        "dtype": spec.dtype,
        "torch_threads": torch.get_num_threads(),
        "cpu_s": round(cpu_s, 2),
        "cpu_s_profiled": round(cpu_profiled, 2),
        "phases_s": split,
        "pretraining_gd": throughput,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--m", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args()
    print(json.dumps(unit_phases(args.preset, args.m, args.seed, args.data_dir)))


if __name__ == "__main__":
    main()
