"""Cost of one checkpoint of the two-layer family (issue 12): `TwoLayerFamily.measure_point` at t = 0 on a
unit of a preset (default paper-mlp: Fashion-MNIST, d = 784, width 1024, k = 512), with fine-tuning of
the 4 subnetworks cut to `finetune_steps`; and `summarise`'s H_inf spectrum cap.

    python -m ebtheory.verify.bench.unit_bench --m 10000 --data-dir DIR [--preset paper-mlp] [--finetune-steps 1]

Prints one JSON object: CPU seconds (time.process_time) and wall seconds of the checkpoint, the peak
resident memory of the process (ru_maxrss, after loading the data), and the threads torch used. Nothing
is asserted; run it with OMP_NUM_THREADS=1 for a per-process figure.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import resource
import time

import torch

from ebtheory.verify.families import H_INF_SPECTRUM_MAX_M, family_of
from ebtheory.verify.presets import get_preset
from ebtheory.verify.unit import unit_context


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checkpoint_cost(preset: str, m: int, data_dir: str, finetune_steps: int, seed: int = 0) -> dict[str, object]:
    """Time one measure_point of unit (m, seed) of `preset` at t = 0 (see the module docstring)."""
    spec = dataclasses.replace(get_preset(preset), data_dir=data_dir, finetune_steps=finetune_steps)
    started = time.perf_counter()
    ctx = unit_context(spec, m, seed, "cpu")
    family = family_of(spec)
    model = family.build(spec, ctx.data, seed)
    initial = copy.deepcopy(model).eval()
    load_s, rss_data = time.perf_counter() - started, _rss_mib()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    measure = family.measure_point(ctx, model, initial, 0)
    return {
        "preset": preset,
        "m": m,
        "d": int(ctx.data.X[0].numel()),
        "width": spec.width,
        "k": spec.k,
        "finetune_steps": finetune_steps,
        "checkpoint_cpu_s": round(time.process_time() - cpu0, 2),
        "checkpoint_wall_s": round(time.perf_counter() - wall0, 2),
        "load_s": round(load_s, 2),
        "maxrss_after_load_mib": round(rss_data),
        "maxrss_mib": round(_rss_mib()),
        "torch_threads": torch.get_num_threads(),
        "subnets": sorted(measure.subnets),
        "lambda_min_H_measured": measure.diagnostics is not None and measure.diagnostics.lambda_min_H is not None,
        "h_inf_spectrum_computed": m <= H_INF_SPECTRUM_MAX_M,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--preset", default="paper-mlp")
    parser.add_argument("--m", type=int, required=True)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--finetune-steps", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(checkpoint_cost(args.preset, args.m, args.data_dir, args.finetune_steps)))


if __name__ == "__main__":
    main()
