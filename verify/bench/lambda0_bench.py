"""lambda0 benchmark: wall time of ebtheory.constants.lambda0 on Fashion-MNIST (raw pixels on the unit sphere)
for the dense and shift-invert solvers over m, with their agreement. Goal (issue 4): m = 10k in <= 30 s on
the 2-core CPU. Falls back to a seeded synthetic nonnegative matrix when Fashion-MNIST is not installed."""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from ebtheory.constants.gram import DENSE_MAX_M, lambda0

FULL_SIZES = (1000, 2000, 5000, 10000)
QUICK_SIZES = (500, 1000, 2000)
DENSE_LIMIT = 5000  # O(m^3) full eigendecomposition beyond this is only slow, not informative


def _inputs(m: int) -> tuple[np.ndarray, str]:
    try:
        from ebtheory.data import flatten_unit_sphere, load_fashion_mnist

        dataset = load_fashion_mnist()
        return flatten_unit_sphere(dataset.X_train[:m]).double().numpy(), "fashion-mnist"
    except (ValueError, OSError):
        rng = np.random.default_rng(0)
        X = np.abs(rng.standard_normal((m, 784)))
        return X / np.linalg.norm(X, axis=1, keepdims=True), "synthetic |N(0, I_784)|"


def run_lambda0_benchmark(quick: bool) -> dict:
    """One row per (m, method): seconds (H_inf build included), lambda_min, lambda_max, degenerate, converged;
    `agreement` gives |dense - shift-invert| / lambda_min where both ran."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    X_all, source = _inputs(max(sizes))
    rows = []
    for m in sizes:
        by_method = {}
        for method in ("dense", "shift-invert"):
            if method == "dense" and m > DENSE_LIMIT:
                continue
            start = time.perf_counter()
            spectrum = lambda0(X_all[:m], method=method)
            seconds = time.perf_counter() - start
            by_method[method] = spectrum
            rows.append(
                {
                    "m": m,
                    "method": method,
                    "seconds": round(seconds, 3),
                    "lambda_min": spectrum.lambda_min,
                    "lambda_max": spectrum.lambda_max,
                    "degenerate": spectrum.degenerate,
                    "converged": spectrum.converged,
                }
            )
        if len(by_method) == 2:
            dense, iterative = by_method["dense"], by_method["shift-invert"]
            rows[-1]["agreement"] = abs(dense.lambda_min - iterative.lambda_min) / dense.lambda_min
    return {
        "source": source,
        "dense_max_m_auto": DENSE_MAX_M,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
