"""Argument checks for the public boundary: each error names the argument, its value and the allowed range."""

from __future__ import annotations

import math
import numbers


def require_positive_int(name: str, value: object) -> int:
    """Return `value` as an int when it is a whole number >= 1 (bools rejected), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...); got {value!r}")
    if isinstance(value, numbers.Integral):
        whole = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        whole = int(float(value))
    else:
        whole = 0
    if whole < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...); got {value!r}")
    return whole


def require_real(name: str, value: object) -> float:
    """Return `value` as a finite float, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")
    return as_float


def require_positive(name: str, value: object) -> float:
    """Return `value` as a float in (0, inf), else raise ValueError."""
    as_float = require_real(name, value)
    if as_float <= 0:
        raise ValueError(f"{name} must lie in (0, inf); got {value!r}")
    return as_float


def require_nonnegative(name: str, value: object) -> float:
    """Return `value` as a float in [0, inf), else raise ValueError."""
    as_float = require_real(name, value)
    if as_float < 0:
        raise ValueError(f"{name} must lie in [0, inf); got {value!r}")
    return as_float


def require_open_interval(name: str, value: object, low: float, high: float) -> float:
    """Return `value` as a float in the open interval (low, high), else raise ValueError."""
    as_float = require_real(name, value)
    if not low < as_float < high:
        raise ValueError(f"{name} must lie in ({low:g}, {high:g}); got {value!r}")
    return as_float


def require_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return `value` when it is one of `choices`, else raise ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)


def require_step_size_product(eta: float, lambda0: float) -> float:
    """Check 0 < eta*lambda0 < 2, so the GD contraction 1 - eta*lambda0/2 lies in (0, 1)."""
    product = eta * lambda0
    if not 0 < product < 2:
        raise ValueError(
            "eta*lambda0 must lie in (0, 2) for the GD contraction 1 - eta*lambda0/2 to be in (0, 1); "
            f"got eta={eta:g}, lambda0={lambda0:g} (product {product:g})"
        )
    return product


def require_int_at_most(name: str, value: object, high: int, reason: str) -> int:
    """Return `value` as an int in [1, high] (require_positive_int plus a cap), else raise ValueError
    naming the cap and `reason` (why larger values cannot work: memory, loop counts)."""
    whole = require_positive_int(name, value)
    if whole > high:
        raise ValueError(f"{name} must be an integer in [1, {high}] ({reason}); got {value!r}")
    return whole


def require_closed_interval(name: str, value: object, low: float, high: float, reason: str = "") -> float:
    """Return `value` as a float in [low, high], else raise ValueError naming the range and `reason`."""
    as_float = require_real(name, value)
    if not low <= as_float <= high:
        why = f" ({reason})" if reason else ""
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}]{why}; got {value!r}")
    return as_float
