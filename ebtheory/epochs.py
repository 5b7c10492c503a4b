"""Epoch arithmetic of mini-batch training: iterations <-> epochs, exactly (issue 12.1).

An epoch is S = ceil(m / B) iterations of mini-batches of B examples (the last minibatch of an epoch is
short when B does not divide m; B = None is full batch, S = 1). `epochs_to_steps` turns an epoch count
e (fractions allowed, as exact rationals) into the first iteration at which at least e * m examples
have been processed. Torch-free, so the spec validation (ebtheory.verify.spec) can use it;
ebtheory.train re-exports every function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

__all__ = [
    "epoch_checkpoints",
    "epoch_grid",
    "epochs_to_steps",
    "examples_seen",
    "steps_per_epoch",
    "steps_to_epochs",
]


def steps_per_epoch(m: int, batch_size: int | None) -> int:
    """S = ceil(m / B) iterations make one epoch (one pass over the m examples; the last minibatch of
    an epoch is short when B does not divide m, as in `_minibatches`); B = None (full batch) gives S = 1."""
    m = _positive_int("m", m)
    if batch_size is None:
        return 1
    return -(-m // _positive_int("batch_size", batch_size))


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {name}={value!r}")
    return int(value)


def _as_fraction(name: str, value: object) -> Fraction:
    """An epoch count as an exact rational: ints and Fractions as they are, floats as the nearest
    fraction with denominator <= 10**6 (so 0.1 is 1/10 and 1/3 is 1/3, not their binary neighbours)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating, Fraction)):
        raise ValueError(f"{name} must be a number of epochs >= 0; got {name}={value!r}")
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number of epochs >= 0; got {name}={value!r}")
    if isinstance(value, Fraction):
        exact = value
    elif isinstance(value, (float, np.floating)):
        exact = Fraction(float(value)).limit_denominator(10**6)
    else:
        exact = Fraction(int(value))
    if exact < 0:
        raise ValueError(f"{name} must be a number of epochs >= 0; got {name}={value!r}")
    return exact


def examples_seen(t: int, m: int, batch_size: int | None) -> int:
    """Examples processed by t iterations: floor(t / S) * m + min((t mod S) * B, m), S = ceil(m / B)."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
        raise ValueError(f"t must be an integer >= 0; got t={t!r}")
    per_epoch = steps_per_epoch(m, batch_size)
    whole, rest = divmod(int(t), per_epoch)
    return whole * m + min(rest * (m if batch_size is None else batch_size), m)


def epochs_to_steps(epochs: float | Fraction, m: int, batch_size: int | None) -> int:
    """The iteration t(e) that ends e epochs: the FIRST t with examples_seen(t) >= e * m.

    Closed form, with S = ceil(m / B) and e = E + f (E whole, 0 <= f < 1):
        t(e) = E * S + ceil(f * m / B)            (B = None: full batch, S = 1, ceil(f))
    so whole epochs are exact multiples of S, and a fraction f of an epoch is the first minibatch step
    whose examples cover f * m (e.g. m = 1000, B = 64: S = 16, t(0.1) = ceil(100/64) = 2, t(2) = 32).
    `steps_to_epochs(t(e)) >= e`, with equality when f * m / B is an integer. Units: iterations.
    """
    exact = _as_fraction("epochs", epochs)
    m = _positive_int("m", m)
    per_epoch = steps_per_epoch(m, batch_size)
    whole = math.floor(exact)
    part = exact - whole
    size = m if batch_size is None else batch_size
    return int(whole * per_epoch + math.ceil(part * m / size))


def steps_to_epochs(t: int, m: int, batch_size: int | None) -> float:
    """Epochs completed after t iterations: examples_seen(t) / m (a fraction of an epoch mid-epoch)."""
    return examples_seen(t, m, batch_size) / _positive_int("m", m)


def epoch_grid(
    total_epochs: int, early_fractions: Sequence[float] = (0.125, 0.25, 0.5), every: int = 1
) -> tuple[Fraction, ...]:
    """Checkpoints in epochs: 0, the early fractions of the first epoch, then every `every`-th whole
    epoch up to `total_epochs` (always included). Exact rationals; map them with `epoch_checkpoints`."""
    total = _positive_int("total_epochs", total_epochs)
    every = _positive_int("every", every)
    fractions = [_as_fraction(f"early_fractions[{i}]", f) for i, f in enumerate(early_fractions)]
    if any(not 0 < f < 1 for f in fractions) or fractions != sorted(set(fractions)):
        raise ValueError(
            f"early_fractions must be increasing, unique and in (0, 1); got early_fractions={list(early_fractions)}"
        )
    whole = sorted({*range(every, total + 1, every), total})
    return (Fraction(0), *fractions, *(Fraction(e) for e in whole))


def epoch_checkpoints(epochs: Sequence[float | Fraction], m: int, batch_size: int | None) -> list[int]:
    """The iteration grid [t(e) for e in epochs] (`epochs_to_steps`); ValueError when two epoch counts
    land on the same iteration (an epoch of S = ceil(m / B) steps cannot resolve them)."""
    points = [epochs_to_steps(e, m, batch_size) for e in epochs]
    for (a, ta), (b, tb) in zip(zip(epochs, points), zip(epochs[1:], points[1:])):
        if tb <= ta:
            raise ValueError(
                f"epochs must map to increasing iterations; got epochs {a} and {b} -> iterations {ta} and {tb} "
                f"(one epoch is {steps_per_epoch(m, batch_size)} iterations at m={m}, batch_size={batch_size})"
            )
    return points
