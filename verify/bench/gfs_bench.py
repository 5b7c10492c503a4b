"""Benchmark of exact greedy forward selection: naive vs Gram vs residual, and one MNIST-scale run.

Per-step times. naive: `greedy_forward_selection_naive` (one forward pass of the candidate subnetwork
per candidate), timed over its first `naive_steps` steps only (slow; its cost grows with the step).
gram: the O(N) selection loop after the N x N Gram is built, over `fast_steps` steps; the build time
and the O(mC)-per-step loss bookkeeping are reported beside it. residual: one H^T R product per step.
Choices of the fast forms are compared with naive's on the steps naive ran.

End to end: one call of `greedy_forward_selection` (form "auto") at MNIST scale, wall time and peak
memory, measured in a fresh process as ru_maxrss (the peak resident set) minus the resident set just
before the call (activations H already built), so it counts what GFS itself allocates.

Inputs are synthetic and seeded: x on the unit sphere, a two-layer NTK net (W1 ~ N(0, I), output
signs / sqrt(N)), one-hot labels; activations in float32.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass

import torch

from ebtheory.prune.gfs import greedy_forward_selection, greedy_forward_selection_naive

__all__ = ["GFSBenchConfig", "run_gfs_benchmark", "gfs_markdown_table", "device_description"]


@dataclass(frozen=True)
class GFSBenchConfig:
    """Sizes of the benchmark; `quick` gives a tiny one for tests."""

    widths: tuple[int, ...] = (1000, 4000)
    samples: tuple[int, ...] = (5000, 10000)
    outputs: int = 10
    input_dim: int = 784
    naive_steps: int = 2
    fast_steps: int = 200
    residual_steps: int = 10
    end_to_end: tuple[int, int, int] = (60000, 10000, 1000)  # (m, N, k), MNIST scale
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0) -> GFSBenchConfig:
        return cls(
            widths=(40,),
            samples=(120,),
            outputs=3,
            input_dim=8,
            naive_steps=2,
            fast_steps=20,
            residual_steps=5,
            end_to_end=(300, 60, 30),
            seed=seed,
        )


def device_description() -> str:
    """CPU model and core count (from /proc/cpuinfo when present) and torch's thread count."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"


def _synthetic_net(m: int, n: int, outputs: int, input_dim: int, seed: int) -> tuple[torch.Tensor, ...]:
    """(H float32 m x N, W2 N x C, Y one-hot m x C); H filled in row chunks to keep the peak near its size."""
    gen = torch.Generator().manual_seed(seed)
    W1 = torch.randn(n, input_dim, generator=gen)
    W2 = (torch.randint(0, 2, (n, outputs), generator=gen).float() * 2 - 1) / math.sqrt(n)
    labels = torch.randint(0, outputs, (m,), generator=gen)
    Y = torch.nn.functional.one_hot(labels, outputs).float()
    H = torch.empty(m, n)
    rows = max(1, (64 * 2**20) // (4 * max(n, input_dim)))
    for start in range(0, m, rows):
        X = torch.randn(min(rows, m - start), input_dim, generator=gen)
        X /= X.norm(dim=1, keepdim=True)
        torch.clamp_min(X @ W1.T, 0.0, out=H[start : start + rows])
    return H, W2, Y


def _per_step_row(m: int, n: int, config: GFSBenchConfig) -> dict:
    H, W2, Y = _synthetic_net(m, n, config.outputs, config.input_dim, config.seed)
    naive = greedy_forward_selection_naive(H, W2, Y, config.naive_steps)
    gram = greedy_forward_selection(H, W2, Y, config.fast_steps, form="gram")
    residual = greedy_forward_selection(H, W2, Y, config.residual_steps, form="residual")
    reference = naive.indices.tolist()
    shared = min(config.naive_steps, config.residual_steps)
    naive_step = naive.timings["select"] / config.naive_steps
    gram_step = gram.timings["select"] / config.fast_steps
    residual_step = residual.timings["select"] / config.residual_steps
    return {
        "m": m,
        "N": n,
        "C": config.outputs,
        "naive_s_per_step": naive_step,
        "gram_s_per_step": gram_step,
        "gram_build_s": gram.timings["build"],
        "gram_loss_bookkeeping_s_per_step": gram.timings["losses"] / config.fast_steps,
        "residual_s_per_step": residual_step,
        "speedup_gram": naive_step / gram_step,
        "speedup_residual": naive_step / residual_step,
        "steps_compared": shared,
        "identical_choices": (
            gram.indices[: config.naive_steps].tolist() == reference
            and residual.indices[:shared].tolist() == reference[:shared]
        ),
    }


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="utf-8") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _end_to_end(config: GFSBenchConfig, isolated: bool = False) -> dict:
    m, n, k = config.end_to_end
    H, W2, Y = _synthetic_net(m, n, config.outputs, config.input_dim, config.seed)
    before = _resident_bytes()
    start = time.perf_counter()
    result = greedy_forward_selection(H, W2, Y, k)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    check_steps = min(k, config.residual_steps)
    check = greedy_forward_selection(H, W2, Y, check_steps, form="residual")
    return {
        "m": m,
        "N": n,
        "C": config.outputs,
        "k": k,
        "form": result.form,
        "wall_s": wall,
        "timings_s": result.timings,
        "activations_bytes": H.numel() * H.element_size(),
        "peak_rss_delta_bytes": max(peak - before, 0),
        "memory_method": "resource.getrusage ru_maxrss after the call minus /proc/self/statm RSS before it, "
        + ("in a fresh process" if isolated else "in-process (earlier allocations can mask the peak)"),
        "final_sum_loss": float(result.losses[-1]),
        "distinct_neurons": int((result.counts > 0).sum()),
        "residual_check_steps": check_steps,
        "same_choices_as_residual": check.indices.tolist() == result.indices[:check_steps].tolist(),
    }


def _end_to_end_worker(config: GFSBenchConfig, queue: multiprocessing.Queue) -> None:
    queue.put(_end_to_end(config, isolated=True))


def _end_to_end_isolated(config: GFSBenchConfig) -> dict:
    """Run `_end_to_end` in a fresh spawned process so earlier allocations do not mask its peak."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_end_to_end_worker, args=(config, queue))
    process.start()
    row = queue.get()
    process.join()
    return row


def run_gfs_benchmark(quick: bool = False, seed: int = 0) -> dict:
    """Per-step grid and the end-to-end run; returns a JSON-ready dict. Measures only, asserts nothing."""
    config = GFSBenchConfig.quick(seed) if quick else GFSBenchConfig(seed=seed)
    load_before = os.getloadavg()[0]
    rows = [_per_step_row(m, n, config) for n in config.widths for m in config.samples]
    end_to_end = _end_to_end(config) if quick else _end_to_end_isolated(config)
    # Other work on the machine inflates every time here; the 1-minute load average says how much there was.
    return {
        "device": device_description(),
        "config": asdict(config),
        "per_step": rows,
        "end_to_end": end_to_end,
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }


def gfs_markdown_table(result: dict) -> str:
    """The README tables, written from a `run_gfs_benchmark` result."""
    lines = [
        f"Device: {result['device']}. 1-minute load average before/after: "
        f"{result['load_average_1min'][0]:.1f}/{result['load_average_1min'][1]:.1f} (other jobs inflate times).",
        "",
        "| N | m | C | naive s/step | Gram s/step | Gram build s | residual s/step | naive/Gram | "
        "naive/residual | same choices |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["per_step"]:
        lines.append(
            f"| {row['N']} | {row['m']} | {row['C']} | {row['naive_s_per_step']:.3g} | {row['gram_s_per_step']:.2g} | "
            f"{row['gram_build_s']:.3g} | {row['residual_s_per_step']:.3g} | {row['speedup_gram']:.3g}x | "
            f"{row['speedup_residual']:.3g}x | {'yes' if row['identical_choices'] else 'NO'} "
            f"({row['steps_compared']} steps) |"
        )
    e2e = result["end_to_end"]
    timings = ", ".join(f"{name} {seconds:.3g} s" for name, seconds in e2e["timings_s"].items())
    lines += [
        "",
        "| m | N | C | k | form | wall s | peak extra memory | of which H (input) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {e2e['m']} | {e2e['N']} | {e2e['C']} | {e2e['k']} | {e2e['form']} | {e2e['wall_s']:.3g} | "
        f"{e2e['peak_rss_delta_bytes'] / 2**30:.2f} GiB | {e2e['activations_bytes'] / 2**30:.2f} GiB, not counted |",
        "",
        f"End-to-end split: {timings}. Memory: {e2e['memory_method']}. " + _residual_check_sentence(e2e),
    ]
    return "\n".join(lines)


def _residual_check_sentence(e2e: dict) -> str:
    if "same_choices_as_residual" not in e2e:
        return "Choices not cross-checked against the residual form in this run."
    verdict = "yes" if e2e["same_choices_as_residual"] else "NO"
    return f"Same choices as the residual form on the first {e2e['residual_check_steps']} steps: {verdict}."
