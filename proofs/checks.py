"""Machine checks for the proofs in proofs/*.md: each algebraic step is data, checked by sympy.

A `Step` states one claim `lhs REL rhs` of a proof. Three relations are checked:

- "==": sympy reduces lhs - rhs to 0 (expand, simplify, then simplify after expanding logs);
- "<=": rhs - lhs >= 0 by a *positivity certificate*: after `substitution` (which rewrites each
  constrained symbol through free positive ones, e.g. eps = 1/(1+p) for eps in (0,1), k = 1+j for
  k > 1) every free symbol is declared positive and rhs - lhs is a ratio of two polynomials whose
  coefficients all have one sign. A polynomial with nonnegative coefficients is >= 0 at positive
  arguments, so the certificate is a proof; a missing certificate is reported as FAIL;
- "limit": lim_{variable -> oo} lhs == rhs.

Each step may carry `planted`, a deliberately wrong version (lhs, rhs) of itself: `plant(steps, name)`
swaps it in, and the runner must then report FAIL (tests/test_proofs.py does this for every step).
A check returns (name, passed, detail); `python -m ebtheory.proofs` (or `ebtheory proofs`) runs them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

import sympy as sp

Relation = Literal["==", "<=", "limit"]

CHECK_MODULES: tuple[str, ...] = (
    "ebtheory.proofs.check_h_inf",
    "ebtheory.proofs.check_one_step",
    "ebtheory.proofs.check_lemma_a",
    "ebtheory.proofs.check_initial_loss",
    "ebtheory.proofs.check_threshold",
    "ebtheory.proofs.check_log_m",
)


@dataclass(frozen=True, eq=False)
class Step:
    """One claim `lhs relation rhs` of a proof (see the module docstring for how each relation is checked)."""

    name: str
    claim: str
    relation: Relation
    lhs: sp.Expr
    rhs: sp.Expr
    substitution: Mapping[sp.Symbol, sp.Expr] = field(default_factory=dict)
    variable: sp.Symbol | None = None
    planted: tuple[sp.Expr, sp.Expr] | None = None


class CheckResult(NamedTuple):
    name: str
    passed: bool
    detail: str


def _reduces_to_zero(difference: sp.Expr) -> bool:
    rewrites = (
        sp.expand,
        sp.simplify,
        lambda e: sp.simplify(sp.expand_log(sp.expand(e), force=True)),
        lambda e: sp.simplify(sp.powsimp(sp.expand_log(e, force=True), force=True)),
    )
    return any(rewrite(difference) == 0 for rewrite in rewrites)


def _short(expression: sp.Expr, width: int = 160) -> str:
    text = str(sp.factor(sp.expand(expression)))
    return text if len(text) <= width else text[: width - 3] + "..."


def _coefficient_sign(polynomial: sp.Expr, symbols: Sequence[sp.Symbol]) -> int | None:
    """+1 / -1 when every coefficient is >= 0 / <= 0 (0 for the zero polynomial), None otherwise."""
    expanded = sp.expand(polynomial)
    if expanded == 0:
        return 0
    coefficients = sp.Poly(expanded, *symbols).coeffs() if symbols else [expanded]
    if all(c.is_nonnegative for c in coefficients):
        return 1
    if all(c.is_nonpositive for c in coefficients):
        return -1
    return None


def positivity_certificate(expression: sp.Expr, substitution: Mapping[sp.Symbol, sp.Expr]) -> tuple[bool, str]:
    """Prove expression >= 0 for all positive values of the free symbols left after `substitution`."""
    rewritten = sp.together(sp.sympify(expression).subs(substitution))
    symbols = sorted(rewritten.free_symbols, key=str)
    unconstrained = [s for s in symbols if not s.is_positive]
    if unconstrained:
        return False, f"symbols not known positive after substitution: {unconstrained}"
    numerator, denominator = sp.fraction(rewritten)
    sign_numerator = _coefficient_sign(numerator, symbols)
    sign_denominator = _coefficient_sign(denominator, symbols)
    if sign_numerator is None or sign_denominator is None:  # a common factor may hide the signs
        numerator, denominator = sp.fraction(sp.cancel(rewritten))
        sign_numerator = _coefficient_sign(numerator, symbols)
        sign_denominator = _coefficient_sign(denominator, symbols)
    if sign_numerator == 0:
        return True, "difference is identically 0"
    if sign_numerator is None or sign_denominator in (None, 0):
        return False, f"no sign certificate for ({sp.factor(numerator)}) / ({sp.factor(denominator)})"
    if sign_numerator * sign_denominator > 0:
        return True, f"nonnegative-coefficient ratio in {symbols}"
    return False, f"difference is <= 0, not >= 0: ({sp.factor(numerator)}) / ({sp.factor(denominator)})"


def verify(step: Step) -> CheckResult:
    """Check one step; the detail says what was shown or why it failed."""
    try:
        if step.relation == "==":
            difference = step.lhs - step.rhs
            passed = _reduces_to_zero(difference)
            detail = "lhs - rhs reduces to 0" if passed else f"lhs - rhs does not reduce to 0: {_short(difference)}"
        elif step.relation == "<=":
            passed, detail = positivity_certificate(step.rhs - step.lhs, step.substitution)
        elif step.relation == "limit":
            if step.variable is None:
                raise ValueError(f"step {step.name}: relation 'limit' needs a variable")
            value = sp.limit(step.lhs.subs(step.substitution), step.variable, sp.oo)
            passed = _reduces_to_zero(value - step.rhs)
            detail = f"limit = {value}"
        else:
            raise ValueError(f"step {step.name}: relation must be '==', '<=' or 'limit'; got {step.relation!r}")
    except (TypeError, NotImplementedError, sp.PolynomialError) as error:  # sympy could not decide
        return CheckResult(step.name, False, f"sympy error: {error}")
    return CheckResult(step.name, bool(passed), detail)


def all_steps(modules: Iterable[str] = CHECK_MODULES) -> list[Step]:
    """The steps of every proof, in proof order (each check module exposes `steps() -> list[Step]`)."""
    steps: list[Step] = []
    for module_name in modules:
        steps.extend(importlib.import_module(module_name).steps())
    names = [s.name for s in steps]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"step names must be unique; repeated: {duplicated}")
    return steps


def plant(steps: Sequence[Step], name: str) -> list[Step]:
    """The steps with step `name` replaced by its deliberately wrong version (its `planted` data)."""
    by_name = {s.name: s for s in steps}
    if name not in by_name:
        raise ValueError(f"plant must name a step; got {name!r}, allowed: {sorted(by_name)}")
    planted = by_name[name].planted
    if planted is None:
        raise ValueError(f"step {name!r} has no planted wrong version")
    wrong_lhs, wrong_rhs = planted
    return [replace(s, lhs=wrong_lhs, rhs=wrong_rhs, planted=None) if s.name == name else s for s in steps]


def run_checks(steps: Sequence[Step]) -> list[CheckResult]:
    """Check every step, in order."""
    return [verify(step) for step in steps]
