"""Spectral-curve benchmark: wall time of ebtheory.constants.spectral for the whole predicted dense curve
L_pred(t) on a fine t grid (0 and 60 log-spaced t up to 20,000), dense eigendecomposition against the
batched Lanczos Gauss quadrature, and their agreement. Goal (issue 11.2): m = 10k in <= 30 s, m = 20k in
<= 2 min on the 2-core CPU. Inputs: Fashion-MNIST on the unit sphere with one-hot labels and the initial
output of a seeded TwoLayerNTK (width 256, kappa 0.3); a seeded synthetic nonnegative matrix and random
labels when Fashion-MNIST is not installed. eta = 1/lambda_max(H_inf) (from the Lanczos run's top node)."""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import torch

from ebtheory.constants.spectral import DENSE_MAX_M, spectral_measure

FULL_SIZES = (2000, 5000, 10000, 20000)
QUICK_SIZES = (300, 600)
DENSE_LIMIT = 2000  # the agreement is a test (tests/test_spectral.py); O(m^3) beyond this only costs time
CLASSES = 10


def _inputs(m: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from ebtheory.data import flatten_unit_sphere, load_fashion_mnist, one_hot

        dataset = load_fashion_mnist()
        X = flatten_unit_sphere(dataset.X_train[:m]).double().numpy()
        return X, one_hot(dataset.y_train[:m], CLASSES).double().numpy(), "fashion-mnist"
    except (ValueError, OSError):
        rng = np.random.default_rng(seed)
        X = np.abs(rng.standard_normal((m, 784)))
        labels = rng.integers(0, CLASSES, m)
        return X / np.linalg.norm(X, axis=1, keepdims=True), np.eye(CLASSES)[labels], "synthetic |N(0, I_784)|"


def _initial_output(X: np.ndarray, seed: int) -> np.ndarray:
    from ebtheory.models import TwoLayerNTK

    net = TwoLayerNTK(X.shape[1], 256, CLASSES, kappa=0.3, seed=seed).double()
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


def run_spectral_benchmark(quick: bool, seed: int = 0) -> dict:
    """One row per (m, method): wall seconds and process CPU seconds (H_inf build included; the machine is
    shared, so wall time includes waiting), Lanczos steps, converged; `max_rel_diff`: max over the grid
    of |lanczos - dense| / dense where both ran (dense only up to DENSE_LIMIT)."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    X_all, Y_all, source = _inputs(max(sizes), seed)
    ts = np.concatenate([[0.0], np.unique(np.round(np.geomspace(1, 20_000, 60)))])
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    for m in sizes:
        X, Y = X_all[:m], Y_all[:m]
        U0 = _initial_output(X, seed)
        probe = spectral_measure(X, Y, init=U0, method="lanczos", eta=1e-12, ts=[0.0, 1.0], max_steps=30)
        eta = 1.0 / float(probe.nodes.max())
        start, cpu = time.perf_counter(), time.process_time()
        lanczos = spectral_measure(X, Y, init=U0, method="lanczos", eta=eta, ts=ts)
        curve = lanczos.loss(eta, ts)
        row = {
            "m": m,
            "method": "lanczos",
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "steps": lanczos.steps,
            "converged": lanczos.converged,
            "final_over_initial": float(curve[-1] / curve[0]),
        }
        if m <= min(DENSE_LIMIT, DENSE_MAX_M):
            start, cpu = time.perf_counter(), time.process_time()
            dense = spectral_measure(X, Y, init=U0, method="dense").loss(eta, ts)
            seconds = time.perf_counter() - start
            rows.append({"m": m, "method": "dense", "seconds": seconds, "cpu_seconds": time.process_time() - cpu})
            row["max_rel_diff"] = float(np.max(np.abs(curve - dense) / dense))
        rows.append(row)
    return {
        "source": source,
        "grid": {"points": int(ts.size), "t_max": float(ts[-1])},
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "rows": rows,
    }
