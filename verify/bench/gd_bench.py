"""Cost of one full-batch GD iteration of the two-layer NTK net at the quick preset's largest unit
(m = 800 digits-sized inputs, d = 64, N = 256, C = 10): the closed-form loop (ebtheory.verify.fast_gd)
against autograd (ebtheory.train.train_with_checkpoints), in float32 and float64, and the same for IMP's
masked retraining (fast_gd.imp_trainer against ebtheory.prune.imp.trainer_from_config).

    python -m ebtheory.verify.bench.gd_bench [--m 800] [--d 64] [--width 256] [--steps 300]

Prints one JSON object: microseconds per iteration (CPU time, time.process_time, one torch thread) for
each loop and dtype. Synthetic seeded unit-sphere inputs and one-hot targets. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ebtheory.models import TwoLayerNTK
from ebtheory.prune.imp import iterative_magnitude_pruning, trainer_from_config
from ebtheory.train import TrainConfig, train_with_checkpoints
from ebtheory.verify import fast_gd


def _data(m: int, d: int, classes: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(m, d, generator=generator)
    X = X / X.norm(dim=1, keepdim=True)
    Y = torch.nn.functional.one_hot(torch.randint(0, classes, (m,), generator=generator), classes)
    return X.to(dtype), Y.to(dtype)


def _train(loop: str, dtype: torch.dtype, m: int, d: int, width: int, steps: int) -> None:
    """One run of `loop` ("gd_closed_form", "gd_autograd", "imp_closed_form", "imp_autograd") for `steps`
    iterations in all (IMP: a dense run and two retrainings of steps // 3 each)."""
    X, Y = _data(m, d, 10, dtype)
    config = TrainConfig(optimizer="gd", lr=0.005, loss="sum_squares")
    net = TwoLayerNTK(d, width, 10, kappa=0.3, seed=0).to(dtype)
    if loop == "gd_closed_form":
        fast_gd.gradient_descent(net, X, Y, config, [steps])
    elif loop == "gd_autograd":
        train_with_checkpoints(net, X, Y, config, [steps], device="cpu", keep_states=False)
    else:
        make = fast_gd.imp_trainer if loop == "imp_closed_form" else trainer_from_config
        trainers = iter([make(X, Y, config, steps // 3, "cpu") for _ in range(3)])
        iterative_magnitude_pruning(
            net,
            lambda model, checkpoints, callback: next(trainers)(model, checkpoints, callback),
            target_remaining=width * d // 2,
            rounds=2,
            parameters=[(net, "input_weights")],
        )


LOOPS = ("gd_closed_form", "gd_autograd", "imp_closed_form", "imp_autograd")


def run_gd_benchmark(m: int = 800, d: int = 64, width: int = 256, steps: int = 300) -> dict[str, object]:
    """Microseconds of CPU per GD iteration, closed form vs autograd, plain and IMP-masked, per dtype
    (after one short warm-up run of each, so imports and first-call costs are not counted)."""
    torch.set_num_threads(1)
    out: dict[str, object] = {"m": m, "d": d, "width": width, "steps": steps, "threads": 1}
    for dtype in (torch.float32, torch.float64):
        for loop in LOOPS:
            _train(loop, dtype, m, d, width, 6)
            start = time.process_time()
            _train(loop, dtype, m, d, width, steps)
            iterations = steps if loop.startswith("gd") else 3 * (steps // 3)
            out[f"{loop}_{str(dtype).removeprefix('torch.')}_us"] = (time.process_time() - start) / iterations * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=800)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(run_gd_benchmark(args.m, args.d, args.width, args.steps), indent=2))


if __name__ == "__main__":
    main()
