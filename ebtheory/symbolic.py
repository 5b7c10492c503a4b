"""The pre-training bound as sympy expressions: one home for every formula of the theory.

Sources: docs/theory.md, sections 1-4 and the proofs in proofs/ (Lemma A: proofs/lemma_a.md; threshold:
proofs/threshold.md). Losses are the *sum* loss L(u) = 1/2 ||u - Y||_F^2 unless a function says
"per-example" (L/m). Time t counts full-batch gradient-descent iterations.

Every numeric value below is computed from these same expressions (lambdified to mpmath and evaluated
at 50 digits, then rounded to float), never from a second hand-typed copy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

import mpmath
import numpy as np
import sympy as sp
from scipy.optimize import brentq

from ebtheory.validation import (
    require_choice,
    require_nonnegative,
    require_open_interval,
    require_positive,
    require_positive_int,
    require_step_size_product,
)

# ----------------------------------------------------------------------------------------------
# Symbols. Each carries its sympy assumptions; SYMBOL_MEANINGS gives the one-line meaning.
# ----------------------------------------------------------------------------------------------
m = sp.Symbol("m", positive=True, integer=True)
N = sp.Symbol("N", positive=True, integer=True)
C = sp.Symbol("C", positive=True, integer=True)
k = sp.Symbol("k", positive=True, integer=True)
t = sp.Symbol("t", nonnegative=True)
eta = sp.Symbol("eta", positive=True)
lambda0 = sp.Symbol("lambda_0", positive=True)
delta = sp.Symbol("delta", positive=True)
kappa = sp.Symbol("kappa", positive=True)
eps = sp.Symbol("epsilon", positive=True)
V = sp.Symbol("V", positive=True)
y_norm2 = sp.Symbol("Y2", positive=True)
dense_loss = sp.Symbol("L", nonnegative=True)
L0 = sp.Symbol("L_0", positive=True)
cosine = sp.Symbol("s", real=True)
c1_symbol = sp.Symbol("c_1", positive=True)
tolerance = sp.Symbol("tol", positive=True)
c_width = sp.Symbol("c_N", positive=True)
c_step = sp.Symbol("c_eta", positive=True)

SYMBOL_MEANINGS: dict[sp.Symbol, str] = {
    m: "number of training examples (dataset size)",
    N: "hidden width of the dense two-layer network",
    C: "number of outputs per example (classes for one-hot labels, 1 for regression)",
    k: "greedy forward-selection steps = size of the pruned subnetwork, repeats counted",
    t: "gradient-descent pre-training iterations of the dense network",
    eta: "gradient-descent step size on the sum loss",
    lambda0: "smallest eigenvalue of the infinite-width Gram matrix H_inf",
    delta: "failure probability of the high-probability statements",
    kappa: "initialisation scale: w_r(0) ~ N(0, kappa^2 I)",
    eps: "Young's-inequality parameter of Lemma A, in (0, 1)",
    V: "atom spread (1/N) sum_r ||g_r - u||_F^2 of the rescaled neurons (a bound V_bar along training)",
    y_norm2: "squared Frobenius norm ||Y||_F^2 of the targets (= m for one-hot or unit labels)",
    dense_loss: "sum loss L(u) = 1/2 ||u - Y||_F^2 of the dense network",
    L0: "sum loss of the dense network at initialisation, L(0) (or a bound on it)",
    cosine: "cosine x_i . x_j between two unit-norm inputs, in [-1, 1]",
    c1_symbol: "the dense-loss coefficient c1(k) of Lemma A, as a free symbol",
    tolerance: "the target for the dense term c1 L(t): t* is when c1 L0 rate^t first reaches it",
    c_width: "unknown constant of Du et al.'s width condition N = Omega(m^6 / (lambda0^4 delta^3))",
    c_step: "unknown constant of Du et al.'s step-size condition eta = O(lambda0 / m^2)",
}

LATEX_NAMES: dict[sp.Symbol, str] = {
    y_norm2: r"\|Y\|_F^2",
    dense_loss: r"L(u)",
    L0: r"L(0)",
    lambda0: r"\lambda_0",
    eps: r"\epsilon",
    c_width: r"c_N",
    c_step: r"c_\eta",
}

# ----------------------------------------------------------------------------------------------
# Expressions
# ----------------------------------------------------------------------------------------------


def h_inf_entry_expr() -> sp.Expr:
    """H_inf[i, j] = s (pi - arccos s) / (2 pi) with s = x_i . x_j (Du et al. 2019, eq. 3.1; docs/theory.md, section 1)."""
    return cosine * (sp.pi - sp.acos(cosine)) / (2 * sp.pi)


def dense_rate_factor_expr() -> sp.Expr:
    """Per-iteration contraction 1 - eta lambda0 / 2 of the dense sum loss (Du et al. 2019, Thm 4.1)."""
    return 1 - eta * lambda0 / 2


def dense_loss_bound_expr() -> sp.Expr:
    """L(t) <= (1 - eta lambda0/2)^t L(0), sum loss (Du et al. 2019, Thm 4.1; needs the width/step conditions)."""
    return dense_rate_factor_expr() ** t * L0


def initial_loss_bound_expr() -> sp.Expr:
    """L(0) <= (||Y||^2 + m C kappa^2 / 2) / (2 delta) w.p. >= 1 - delta, sum loss (Markov; proofs/initial_loss.md)."""
    return (y_norm2 + m * C * kappa**2 / 2) / (2 * delta)


def c1_expr() -> sp.Expr:
    """c1(k) = 1/(eps (2 - eps)) + 1/((1 - eps) k): the dense-loss coefficient of Lemma A."""
    return 1 / (eps * (2 - eps)) + 1 / ((1 - eps) * k)


def greedy_term_expr() -> sp.Expr:
    """V / (2 (1 - eps) k): the dense-loss-free term of Lemma A (the greedy term), sum loss."""
    return V / (2 * (1 - eps) * k)


def lemma_a_expr() -> sp.Expr:
    """Lemma A: L(u_{S_k}) <= c1(k) L(u) + V/(2(1-eps)k)
    = L(u)/(eps(2-eps)) + (L(u) + V/2)/((1-eps)k), sum loss (proofs/lemma_a.md)."""
    return c1_expr() * dense_loss + greedy_term_expr()


def tol_expr() -> sp.Expr:
    """Default tolerance on the dense term: tol = V/(2(1-eps)k), so past t* the bound is <= 2x the greedy term."""
    return greedy_term_expr()


def pruned_loss_bound_expr(initial_loss: sp.Expr | None = None) -> sp.Expr:
    """L(S_k; t) <= c1(k) (1 - eta lambda0/2)^t L0 + V/(2(1-eps)k): Lemma A at u = u(t) with the dense rate.

    `initial_loss` replaces the symbol L0 (pass initial_loss_bound_expr() for the Markov bound)."""
    bound = lemma_a_expr().subs(dense_loss, dense_loss_bound_expr())
    return bound if initial_loss is None else bound.subs(L0, initial_loss)


def _defaults() -> dict[sp.Symbol, sp.Expr]:
    return {c1_symbol: c1_expr(), tolerance: tol_expr()}


def threshold_exact_generic_expr() -> sp.Expr:
    """t* = ln(c1 L0 / tol) / ln(1 / (1 - eta lambda0/2)) with c1 and tol left as free symbols."""
    return sp.log(c1_symbol * L0 / tolerance) / sp.log(1 / dense_rate_factor_expr())


def threshold_upper_generic_expr() -> sp.Expr:
    """(2 / (eta lambda0)) ln(c1 L0 / tol) with c1 and tol left as free symbols."""
    return 2 / (eta * lambda0) * sp.log(c1_symbol * L0 / tolerance)


def threshold_log_argument_expr() -> sp.Expr:
    """c1(k) L0 / tol: t* is the log of this over the log-contraction (docs/theory.md, section 4)."""
    return (c1_symbol * L0 / tolerance).subs(_defaults())


def threshold_exact_expr() -> sp.Expr:
    """t* = ln(c1 L0 / tol) / ln(1 / (1 - eta lambda0/2)), before the clamp at 0 (proofs/threshold.md)."""
    return threshold_exact_generic_expr().subs(_defaults())


def threshold_upper_expr() -> sp.Expr:
    """Upper form (2 / (eta lambda0)) ln(c1 L0 / tol) >= exact t*, from ln(1/(1-x)) >= x (proofs/threshold.md)."""
    return threshold_upper_generic_expr().subs(_defaults())


def width_condition_expr() -> sp.Rel:
    """Du et al. 2019, Thm 4.1 width condition N >= c_N m^6 / (lambda0^4 delta^3), c_N unknown."""
    return sp.Ge(N, c_width * m**6 / (lambda0**4 * delta**3))


def step_size_condition_expr() -> sp.Rel:
    """Du et al. 2019, Thm 4.1 step-size condition eta <= c_eta lambda0 / m^2, c_eta unknown."""
    return sp.Le(eta, c_step * lambda0 / m**2)


def per_example_log_argument_expr() -> sp.Expr:
    """c1 L0/tol with per-example quantities: L0 -> L0_bound/m, V -> m V_mean, ||Y||^2 = m.

    Here the symbol V stands for the per-example spread V_mean. The result has no m: with a per-example
    loss and a per-example tolerance, m cancels and t* no longer grows with m (docs/theory.md, section 5.1)."""
    per_example_l0 = initial_loss_bound_expr().subs(y_norm2, m) / m
    per_example_tol = tol_expr()
    return sp.simplify(c1_expr() * per_example_l0 / per_example_tol)


def all_expressions() -> dict[str, sp.Basic]:
    """Every expression of the bound by name (for LaTeX output and documentation)."""
    return {
        "h_inf_entry": h_inf_entry_expr(),
        "dense_rate_factor": dense_rate_factor_expr(),
        "dense_loss_bound": dense_loss_bound_expr(),
        "initial_loss_bound": initial_loss_bound_expr(),
        "c1": c1_expr(),
        "greedy_term": greedy_term_expr(),
        "lemma_a": lemma_a_expr(),
        "tol": tol_expr(),
        "pruned_loss_bound": pruned_loss_bound_expr(),
        "threshold_exact": threshold_exact_expr(),
        "threshold_upper": threshold_upper_expr(),
        "width_condition": width_condition_expr(),
        "step_size_condition": step_size_condition_expr(),
        "per_example_log_argument": per_example_log_argument_expr(),
    }


def to_latex(expression: sp.Basic) -> str:
    """LaTeX for any expression of this module, with the paper's symbol names."""
    return sp.latex(expression, symbol_names=LATEX_NAMES)


# ----------------------------------------------------------------------------------------------
# Symbolic analysis: monotonicity of t*, its log m asymptotics, the best eps
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonotonicityClaim:
    """t* is `direction` in `variable`; `derivative` is the sympy derivative whose sign sympy proved."""

    variable: str
    direction: Literal["increasing", "decreasing"]
    derivative: sp.Expr
    proven: bool


def _positive_reparametrisation() -> dict[sp.Symbol, sp.Expr]:
    """eps = 1/(1+p), eta = 2/(lambda0 (1+q)) with p, q > 0 encode eps in (0,1), eta lambda0 in (0,2) for sympy."""
    p, q = sp.symbols("p q", positive=True)
    return {eps: 1 / (1 + p), eta: 2 / (lambda0 * (1 + q))}


def threshold_monotonicity() -> list[MonotonicityClaim]:
    """Signs of d t*/d x, derived by sympy, where t* = A/B, A = ln(c1 L0_bound/tol) > 0 (unclamped), B = ln(1/(1-eta lambda0/2)) > 0.

    m, k, delta, V enter only A, so sign(dt*/dx) = sign(dA/dx). eta and lambda0 enter only B, so
    sign(dt*/dx) = -sign(dB/dx). L0 is the Markov bound with ||Y||^2 = m."""
    substitution = _positive_reparametrisation()
    log_argument = threshold_log_argument_expr().subs(L0, initial_loss_bound_expr().subs(y_norm2, m))
    numerator = sp.log(log_argument)
    denominator = sp.log(1 / dense_rate_factor_expr())
    claims = []
    cases: tuple[tuple[sp.Symbol, Literal["increasing", "decreasing"], sp.Expr, int], ...] = (
        (m, "increasing", numerator, 1),
        (k, "increasing", numerator, 1),
        (delta, "decreasing", numerator, 1),
        (V, "decreasing", numerator, 1),
        (eta, "decreasing", denominator, -1),
        (lambda0, "decreasing", denominator, -1),
    )
    for symbol, direction, part, sign in cases:
        derivative = sp.simplify(sp.diff(part, symbol).subs(substitution))
        signed = sp.simplify(sign * derivative)
        proven = bool(signed.is_positive) if direction == "increasing" else bool(signed.is_negative)
        claims.append(MonotonicityClaim(str(symbol), direction, derivative, proven))
    # t* increasing in 1/delta is the same statement as decreasing in delta.
    return claims


def threshold_log_m_limit() -> sp.Expr:
    """lim_{m -> oo} t*/ln m with ||Y||^2 = m and the Markov L0 bound; equals 1/ln(1/(1 - eta lambda0/2))."""
    exact = threshold_exact_expr().subs(L0, initial_loss_bound_expr().subs(y_norm2, m))
    return sp.limit(exact / sp.log(m), m, sp.oo)


@functools.cache
def _lemma_a_eps_derivative() -> Callable[..., float]:
    return sp.lambdify((eps, dense_loss, V, k), sp.diff(lemma_a_expr(), eps), modules="math")


def best_eps(dense_loss_value: float, spread: float, steps: int) -> float:
    """The eps in (0,1) that minimises Lemma A's bound c1(k) L + V/(2(1-eps)k) for given (L, V, k).

    The bound is strictly convex in eps on (0,1) and tends to +inf at both ends when L > 0, so the
    minimiser is the unique root of its sympy-derived eps-derivative (found by Brent's method)."""
    loss = require_positive(
        "dense_loss (L > 0 needed: at L = 0 the bound decreases to V/(2k) as eps -> 0)", dense_loss_value
    )
    spread = require_positive("V", spread)
    steps = require_positive_int("k", steps)
    derivative = _lemma_a_eps_derivative()
    low, high = 1e-15, 1 - 1e-15
    try:
        ends = (derivative(low, loss, spread, steps), derivative(high, loss, spread, steps))
    except (OverflowError, ZeroDivisionError):
        ends = (math.nan, math.nan)
    if not (math.isfinite(ends[0]) and math.isfinite(ends[1]) and ends[0] < 0 < ends[1]):
        raise ValueError(
            f"eps='best' has no minimiser in [{low:g}, 1 - {low:g}] for dense_loss={loss!r}, V={spread!r}, "
            f"k={steps} (the dense loss is negligible against V, or the numbers are too extreme for floats); "
            "give a fixed eps in (0, 1)"
        )
    return float(brentq(lambda e: derivative(e, loss, spread, steps), low, high, xtol=1e-14, rtol=1e-14, maxiter=500))


# ----------------------------------------------------------------------------------------------
# Numeric evaluation from the expressions above
# ----------------------------------------------------------------------------------------------

_PRECISION_DIGITS = 50


_NAMED_EXPRESSIONS: dict[str, Callable[[], sp.Expr]] = {
    "initial_loss_bound": initial_loss_bound_expr,
    "c1": c1_expr,
    "tol": tol_expr,
    "lemma_a": lemma_a_expr,
    "threshold_exact": threshold_exact_expr,
    "threshold_upper": threshold_upper_expr,
    "pruned_loss_bound": pruned_loss_bound_expr,
    "dense_rate_factor": dense_rate_factor_expr,
    "threshold_exact_generic": threshold_exact_generic_expr,
    "threshold_upper_generic": threshold_upper_generic_expr,
}


def _named_expression(name: str) -> sp.Expr:
    """The expression `_evaluate` knows by `name` (a key of _NAMED_EXPRESSIONS)."""
    if name not in _NAMED_EXPRESSIONS:
        raise ValueError(f"unknown expression name {name!r}; known names: {sorted(_NAMED_EXPRESSIONS)}")
    return _NAMED_EXPRESSIONS[name]()


@functools.cache
def _numeric(name: str) -> Callable[..., mpmath.mpf]:
    """The named expression lambdified to mpmath over its free symbols, in ARGUMENT_ORDER."""
    return sp.lambdify(_ARGUMENT_ORDER, _named_expression(name), modules="mpmath")


@functools.cache
def _required_symbols(name: str) -> frozenset[str]:
    """Names of the free symbols of the named expression: `_evaluate` needs a value for each."""
    return frozenset(str(symbol) for symbol in _named_expression(name).free_symbols)


_ARGUMENT_ORDER = (m, C, k, t, eta, lambda0, delta, kappa, eps, V, y_norm2, dense_loss, L0, c1_symbol, tolerance)


def _evaluate(name: str, **values: float) -> float:
    """Evaluate a named expression at 50 digits; raise ValueError rather than return NaN or inf.

    `values` maps symbol names (str(symbol), e.g. "lambda_0", "epsilon") to numbers. A name that is no
    symbol of _ARGUMENT_ORDER, or a free symbol of the expression left without a value, is a ValueError
    naming it and the known symbols: a typo must not evaluate silently with a default."""
    known = [str(symbol) for symbol in _ARGUMENT_ORDER]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown symbol name(s) {unknown}; known symbols: {known}")
    missing = sorted(_required_symbols(name) - set(values))
    if missing:
        raise ValueError(
            f"{name}: no value for symbol(s) {missing}, which the expression needs; given: {sorted(values)}"
        )
    # Symbols outside the expression are never read by the lambdified function; 0 only fills their slot.
    arguments = [values.get(str(symbol), 0) for symbol in _ARGUMENT_ORDER]
    # 50 digits plus one per decade of the smallest input below 1: 1 - eta*lambda0/2 with
    # eta*lambda0 = 1e-60 would round to 1 at 50 digits and log(1/1) = 0 would divide t*.
    smallest = min((abs(mpmath.mpf(a)) for a in arguments if a), default=mpmath.mpf(1))
    digits = _PRECISION_DIGITS + (int(mpmath.ceil(-mpmath.log10(smallest))) if smallest < 1 else 0)
    with mpmath.workdps(digits):
        try:
            result = _numeric(name)(*[mpmath.mpf(a) for a in arguments])
        except ZeroDivisionError:
            raise ValueError(f"{name} divides by zero at {values}; the inputs are too extreme") from None
        if isinstance(result, mpmath.mpc):
            raise ValueError(f"{name} is not real at {values}")
        try:
            as_float = float(result)
        except OverflowError:
            as_float = math.inf
        underflows = as_float == 0.0 and result != 0
    if not math.isfinite(as_float):
        raise ValueError(f"{name} overflows a float at {values}; the inputs are too extreme")
    if underflows:
        raise ValueError(f"{name} underflows a float (|{name}| < 5e-324) at {values}; the inputs are too extreme")
    return as_float


@dataclass(frozen=True)
class BoundInputs:
    """Constants of the threshold theorem (docs/theory.md, section 4), validated on construction.

    loss="sum": V and every returned loss are sum losses 1/2||u - Y||^2.
    loss="mean": V and every returned loss are per-example (sum / m). t* is the same number in both
    modes for the same data (V_sum = m V_mean); with V_mean held fixed, m cancels from t*.
    eps="best" picks the eps minimising the pruned-loss bound at the given t (needs t)."""

    m: int
    k: int
    eta: float
    lambda0: float
    delta: float
    V: float
    C: int = 1
    kappa: float = 1.0
    eps: float | Literal["best"] = 0.5
    y_norm2: float | None = None
    loss: Literal["sum", "mean"] = "sum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "m", require_positive_int("m", self.m))
        object.__setattr__(self, "k", require_positive_int("k", self.k))
        object.__setattr__(self, "C", require_positive_int("C", self.C))
        object.__setattr__(self, "eta", require_positive("eta", self.eta))
        object.__setattr__(self, "lambda0", require_positive("lambda0", self.lambda0))
        require_step_size_product(self.eta, self.lambda0)
        object.__setattr__(self, "delta", require_open_interval("delta", self.delta, 0.0, 1.0))
        object.__setattr__(self, "V", require_positive("V", self.V))
        object.__setattr__(self, "kappa", require_positive("kappa", self.kappa))
        if self.eps != "best":
            object.__setattr__(self, "eps", require_open_interval("eps", self.eps, 0.0, 1.0))
        if self.y_norm2 is not None:
            object.__setattr__(self, "y_norm2", require_positive("y_norm2", self.y_norm2))
        require_choice("loss", self.loss, ("sum", "mean"))

    @property
    def label_norm2(self) -> float | int:
        """||Y||_F^2, defaulting to m (one-hot or unit labels)."""
        return self.m if self.y_norm2 is None else self.y_norm2

    @property
    def spread_sum(self) -> float:
        """V in sum-loss units."""
        return self.V * self.m if self.loss == "mean" else self.V


@dataclass(frozen=True)
class BoundValues:
    """Numbers of the threshold theorem. Losses are in the units of BoundInputs.loss; t in GD iterations.

    success_probability = max(0, 1 - 2 delta): the Markov bound on L(0) and Du et al.'s Theorem 4.1 each
    fail with probability delta, so the combined guarantee holds with probability >= 1 - 2 delta by a
    union bound (proofs/threshold.md). Pass delta/2 for an overall 1 - delta."""

    t_star: float
    t_star_upper: float
    c1: float
    L0_bound: float
    tol: float
    eps: float
    loss: str
    success_probability: float
    pruned_loss_bound: float | None = None
    t: float | None = None

    def to_dict(self) -> dict[str, float | str | None]:
        return asdict(self)


def _sum_values(inputs: BoundInputs, eps_value: float) -> dict[str, float]:
    return {
        "m": inputs.m,
        "C": inputs.C,
        "k": inputs.k,
        "eta": inputs.eta,
        "lambda_0": inputs.lambda0,
        "delta": inputs.delta,
        "kappa": inputs.kappa,
        "epsilon": eps_value,
        "V": inputs.spread_sum,
        "Y2": inputs.label_norm2,
    }


def evaluate_bound(inputs: BoundInputs, t: float | None = None) -> BoundValues:
    """t* (exact, clamped at 0), its upper form, c1, the Markov L0 bound, tol and, given t, L(S_k; t)'s bound.

    Formulas: threshold_exact_expr, threshold_upper_expr, c1_expr, initial_loss_bound_expr, tol_expr,
    pruned_loss_bound_expr (with L0 = the Markov bound), all evaluated at 50 digits."""
    if t is not None:
        t = require_nonnegative("t", t)
    eps_value = _resolve_eps(inputs, t)
    values = _sum_values(inputs, eps_value)
    l0_bound = _evaluate("initial_loss_bound", **values)
    values["L_0"] = l0_bound
    t_exact = _evaluate("threshold_exact", **values)
    t_upper = _evaluate("threshold_upper", **values)
    scale = 1.0 / inputs.m if inputs.loss == "mean" else 1.0
    pruned = None
    if t is not None:
        pruned = _evaluate("pruned_loss_bound", t=t, **values) * scale
    return BoundValues(
        t_star=max(0.0, t_exact),
        t_star_upper=max(0.0, t_upper),
        c1=_evaluate("c1", **values),
        L0_bound=l0_bound * scale,
        tol=_evaluate("tol", **values) * scale,
        eps=eps_value,
        loss=inputs.loss,
        success_probability=max(0.0, 1.0 - 2.0 * inputs.delta),
        pruned_loss_bound=pruned,
        t=t,
    )


def _resolve_eps(inputs: BoundInputs, t: float | None) -> float:
    """The numeric eps: as given, or the minimiser of the pruned-loss bound at t for eps="best"."""
    if inputs.eps != "best":
        return float(inputs.eps)
    if t is None:
        raise ValueError("eps='best' minimises the pruned-loss bound at a given t, so t must be given (t >= 0)")
    values = _sum_values(replace(inputs, eps=0.5), 0.5)
    dense_at_t = _evaluate("initial_loss_bound", **values) * _evaluate("dense_rate_factor", **values) ** t
    if dense_at_t <= 0:
        raise ValueError(
            f"eps='best' needs a positive dense-loss bound at t; got {dense_at_t} at t={t} (L0 (1 - eta lambda0/2)^t "
            "underflows a float): give a smaller t or a fixed eps in (0, 1)"
        )
    return best_eps(dense_at_t, inputs.spread_sum, inputs.k)


def pruned_loss_bound_curve(inputs: BoundInputs, ts: Sequence[float]) -> np.ndarray:
    """L(S_k; t) bound of evaluate_bound at every t in `ts` (units of inputs.loss)."""
    return np.array([evaluate_bound(inputs, t=float(time)).pruned_loss_bound for time in ts], dtype=float)


def lemma_a_bound(dense_loss_value: float, spread: float, steps: int, epsilon: float = 0.5) -> float:
    """Lemma A: L(u_{S_k}) <= L/(eps(2-eps)) + (L + V/2)/((1-eps)k). Sum loss in, sum loss out.

    (Per-example works too: divide L and V by m; the bound divides by m.)"""
    loss = require_nonnegative("dense_loss", dense_loss_value)
    spread = require_nonnegative("V", spread)
    steps = require_positive_int("k", steps)
    epsilon = require_open_interval("eps", epsilon, 0.0, 1.0)
    return _evaluate("lemma_a", L=loss, V=spread, k=steps, epsilon=epsilon)


def dense_rate_factor(eta_value: float, lambda0_value: float) -> float:
    """1 - eta lambda0/2, the per-iteration contraction of the dense sum loss (Du et al. 2019, Thm 4.1)."""
    eta_value = require_positive("eta", eta_value)
    lambda0_value = require_positive("lambda0", lambda0_value)
    require_step_size_product(eta_value, lambda0_value)
    return _evaluate("dense_rate_factor", eta=eta_value, lambda_0=lambda0_value)


def threshold_from_constants(
    c1_value: float, initial_loss: float, tolerance: float, eta_value: float, lambda0_value: float
) -> tuple[float, float]:
    """(t*, upper form), both clamped at 0, from a measured or bounded L0 and a tolerance (same loss units)."""
    c1_value = require_positive("c1", c1_value)
    initial_loss = require_positive("L0", initial_loss)
    tolerance = require_positive("tol", tolerance)
    eta_value = require_positive("eta", eta_value)
    lambda0_value = require_positive("lambda0", lambda0_value)
    require_step_size_product(eta_value, lambda0_value)
    values = {"eta": eta_value, "lambda_0": lambda0_value, "L_0": initial_loss, "c_1": c1_value, "tol": tolerance}
    exact = _evaluate("threshold_exact_generic", **values)
    upper = _evaluate("threshold_upper_generic", **values)
    return max(0.0, exact), max(0.0, upper)


# ----------------------------------------------------------------------------------------------
# Spectral predictor (docs/theory.md, section 9): the dense curve from the spectrum of H_inf
# (Arora, Du, Hu, Li, Wang, ICML 2019, Thm 4.1), the degree-1 arc-cosine kernel of the initial
# output, the pruned-curve model (Lemma A's shape with measured constants) and the level dilation.
# Sum losses unless a name says per-example; t in GD iterations, tau = eta m t per-example time.
# ----------------------------------------------------------------------------------------------
angle = sp.Symbol("theta", nonnegative=True)
eigenvalue = sp.Symbol("lambda_i", nonnegative=True)
label_projection = sp.Symbol("q_i", nonnegative=True)
kernel_projection = sp.Symbol("r_i", nonnegative=True)
mode_weight = sp.Symbol("p_i", nonnegative=True)
spectral_loss = sp.Symbol("L_pred", nonnegative=True)
greedy_efficiency = sp.Symbol("gamma", positive=True)
spread_per_example = sp.Symbol("v", nonnegative=True)
pruned_cap = sp.Symbol("P_0", positive=True)
tau = sp.Symbol("tau", nonnegative=True)
level_dilation = sp.Symbol("rho", positive=True)
predicted_time = sp.Symbol("t_pred", nonnegative=True)

SYMBOL_MEANINGS.update(
    {
        angle: "angle arccos(x_i . x_j) between two unit-norm inputs, in [0, pi]",
        eigenvalue: "i-th eigenvalue of H_inf (eigenvector v_i)",
        label_projection: "q_i = sum_c (v_i^T Y_c)^2: the labels' weight on eigenvector v_i",
        kernel_projection: "r_i = v_i^T K1 v_i: the expected initial output's weight on v_i (per output, kappa = 1)",
        mode_weight: "p_i = q_i + C kappa^2 r_i: the expected initial residual's weight on v_i",
        spectral_loss: "L_pred(t): the spectral prediction of the dense sum loss after t iterations",
        greedy_efficiency: "gamma: GFS approximation error over the Maurey variance V/(2k) (measured)",
        spread_per_example: "v = V/m: the atom spread per example",
        pruned_cap: "P0: the pruned per-example loss at t = 0 (the model's ceiling)",
        tau: "tau = eta m t: per-example time of full-batch GD on the sum loss",
        level_dilation: "rho(level): recorded over predicted time for the dense loss to reach a level",
        predicted_time: "t_pred(level): the spectral curve's time to reach a loss level",
    }
)
LATEX_NAMES.update(
    {
        eigenvalue: r"\lambda_i",
        spectral_loss: r"L_{\mathrm{pred}}(t)",
        pruned_cap: r"P_0",
        predicted_time: r"t_{\mathrm{pred}}",
    }
)


def arccos_kernel_expr() -> sp.Expr:
    """K1(theta) = (sin theta + (pi - theta) cos theta) / (2 pi): E[relu(w.x) relu(w.x')] for w ~ N(0, I)
    and unit x, x' at angle theta (degree-1 arc-cosine kernel, Cho and Saul 2009, divided by 2 pi).
    The covariance of the initial output of one output column at kappa = 1 (docs/theory.md, section 9)."""
    return (sp.sin(angle) + (sp.pi - angle) * sp.cos(angle)) / (2 * sp.pi)


def arccos_kernel_cosine_expr() -> sp.Expr:
    """K1 as a function of the cosine s = x.x': (sqrt(1 - s^2) + (pi - arccos s) s) / (2 pi)."""
    return sp.simplify(arccos_kernel_expr().subs(angle, sp.acos(cosine)))


def spectral_mode_weight_expr() -> sp.Expr:
    """p_i = q_i + C kappa^2 r_i = E_init sum_c (v_i^T (Y_c - u_c(0)))^2 (docs/theory.md, section 9).

    q_i = sum_c (v_i^T Y_c)^2, r_i = v_i^T K1 v_i; the cross term vanishes because E u(0) = 0 (random
    output signs), and each of the C outputs has covariance kappa^2 K1."""
    return label_projection + C * kappa**2 * kernel_projection


def spectral_mode_decay_expr() -> sp.Expr:
    """|1 - eta lambda_i|^(2t): the squared GD contraction of mode i after t iterations.

    Written as ((1 - eta lambda_i)^2)^t (sympy prints |1 - eta lambda_i|^(2t)) so that it is real for
    every real t >= 0 (time to a level is found by bisection in continuous t); at integer t it is
    (1 - eta lambda_i)^(2t)."""
    return ((1 - eta * eigenvalue) ** 2) ** t


def spectral_mode_loss_expr() -> sp.Expr:
    """1/2 |1 - eta lambda_i|^(2t) p_i: the summand of the spectral dense curve (sum loss)."""
    return spectral_mode_decay_expr() * mode_weight / 2


def spectral_dense_loss_expr() -> sp.Expr:
    """L_pred(t) = 1/2 sum_i (1 - eta lambda_i)^(2t) p_i over the m eigenpairs of H_inf, sum loss.

    Arora et al. 2019, Thm 4.1 (||y - u(t)||^2 = sum_i (1 - eta lambda_i)^(2t) (v_i^T (y - u(0)))^2
    up to the width's error), applied per output column and averaged over the initialisation."""
    i = sp.Symbol("i", positive=True, integer=True)
    lam, weight = sp.IndexedBase("lambda"), sp.IndexedBase("p")
    summand = spectral_mode_loss_expr().subs({eigenvalue: lam[i], mode_weight: weight[i]})
    return sp.Sum(summand, (i, 1, m))


def per_example_time_expr() -> sp.Expr:
    """tau = eta m t: full-batch GD on the sum loss at step eta is a per-example step of eta m (issue 10)."""
    return eta * m * t


def initial_spread_per_example_expr() -> sp.Expr:
    """E[V(0)]/m = C kappa^2 (N - 1)/2 for TwoLayerNTK with output signs (docs/theory.md, section 9).

    V = (1/N) sum_r ||g_r||^2 - ||u||^2 with g_r = sqrt(N) relu(X w_r) a_r^T: E ||g_r||^2 = N C m kappa^2/2
    and E ||u||^2 = m C kappa^2/2. The theory-only v(tau) of the zero-calibration mode (held at t = 0)."""
    return C * kappa**2 * (N - 1) / 2


def greedy_efficiency_theory_expr() -> sp.Expr:
    """gamma = 1/(1 - eps): Lemma A's greedy term V/(2(1-eps)k) over the Maurey variance V/(2k)."""
    return greedy_term_expr() / (V / (2 * k))


def pruned_curve_model_expr() -> sp.Expr:
    """p(t) = min(P0, c1 L_pred(t)/m + gamma v(tau)/(2k)): per-example pruned loss (docs/theory.md, section 9).

    Lemma A's shape (c1 L + V/(2(1-eps)k)) with the measured greedy efficiency gamma in place of
    1/(1-eps), per example (L/m, v = V/m), capped at the pruned loss P0 at t = 0. c1 is a free symbol:
    Lemma A's c1(k) = c1_expr() (a bound), or 1, the value of the exact decomposition
    L(u_S) = L(u) + 1/2||u_S - u||^2 + <u_S - u, u - Y> when the cross term vanishes (it does in
    expectation for atoms sampled at random; docs/theory.md, section 9)."""
    return sp.Min(pruned_cap, c1_symbol * spectral_loss / m + greedy_efficiency * spread_per_example / (2 * k))


def dilated_time_expr() -> sp.Expr:
    """t(level) = rho(level) t_pred(level): the level dilation, recorded over predicted time to reach a
    loss level, measured at the calibration m and applied at every other m (docs/theory.md, section 9)."""
    return level_dilation * predicted_time


def spectral_expressions() -> dict[str, sp.Basic]:
    """Every expression of the spectral predictor by name (for LaTeX output and documentation)."""
    return {
        "arccos_kernel": arccos_kernel_expr(),
        "arccos_kernel_cosine": arccos_kernel_cosine_expr(),
        "spectral_mode_weight": spectral_mode_weight_expr(),
        "spectral_mode_decay": spectral_mode_decay_expr(),
        "spectral_dense_loss": spectral_dense_loss_expr(),
        "per_example_time": per_example_time_expr(),
        "initial_spread_per_example": initial_spread_per_example_expr(),
        "greedy_efficiency_theory": greedy_efficiency_theory_expr(),
        "pruned_curve_model": pruned_curve_model_expr(),
        "dilated_time": dilated_time_expr(),
    }


@functools.cache
def _spectral_numeric(name: str) -> Callable[..., np.ndarray]:
    """A spectral expression lambdified to numpy (vectorised over arrays) over its fixed argument list."""
    expressions: dict[str, tuple[tuple[sp.Symbol, ...], sp.Expr]] = {
        "arccos_kernel": ((angle,), arccos_kernel_expr()),
        "mode_weight": ((label_projection, kernel_projection, C, kappa), spectral_mode_weight_expr()),
        "mode_loss": ((eigenvalue, mode_weight, eta, t), spectral_mode_loss_expr()),
        "per_example_time": ((eta, m, t), per_example_time_expr()),
        "pruned_curve_model": (
            (spectral_loss, m, k, c1_symbol, greedy_efficiency, spread_per_example, pruned_cap),
            pruned_curve_model_expr(),
        ),
        "initial_spread_per_example": ((C, kappa, N), initial_spread_per_example_expr()),
        "greedy_efficiency_theory": ((eps,), greedy_efficiency_theory_expr()),
        "dilated_time": ((level_dilation, predicted_time), dilated_time_expr()),
    }
    arguments, expression = expressions[name]
    return sp.lambdify(arguments, expression, modules="numpy")


def _finite_array(name: str, values: object, low: float | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got non-finite entries in {name}")
    if low is not None and array.size and float(array.min()) < low:
        raise ValueError(f"{name} must be >= {low:g}; got min({name})={float(array.min())!r}")
    return array


def _broadcast(values: object, shape: tuple[int, ...]) -> np.ndarray:
    """A lambdified result as a float64 array of `shape` (lambdify returns a scalar for constant parts)."""
    return np.array(np.broadcast_to(np.asarray(values, dtype=np.float64), shape))


def arccos_kernel(angles: object) -> np.ndarray:
    """K1 at each angle in [0, pi] (arccos_kernel_expr, numpy). Angles from arccos(clip(s, -1, 1))."""
    theta = _finite_array("angles", angles, 0.0)
    if theta.size and float(theta.max()) > math.pi * (1 + 1e-12):
        raise ValueError(f"angles must lie in [0, pi]; got max(angles)={float(theta.max())!r}")
    return np.asarray(_spectral_numeric("arccos_kernel")(np.minimum(theta, math.pi)), dtype=np.float64)


def spectral_mode_weights(
    label_projections: object, kernel_projections: object, outputs: int, kappa_value: float
) -> np.ndarray:
    """p_i = q_i + C kappa^2 r_i for every mode (spectral_mode_weight_expr)."""
    q = _finite_array("label_projections", label_projections, 0.0)
    r = _finite_array("kernel_projections", kernel_projections, 0.0)
    if q.shape != r.shape:
        raise ValueError(f"label_projections and kernel_projections must have one shape; got {q.shape} and {r.shape}")
    outputs = require_positive_int("C", outputs)
    kappa_value = require_positive("kappa", kappa_value)
    return _broadcast(_spectral_numeric("mode_weight")(q, r, outputs, kappa_value), q.shape)


def spectral_dense_loss(eigenvalues: object, weights: object, eta_value: float, ts: object) -> np.ndarray:
    """L_pred(t) = 1/2 sum_i (1 - eta lambda_i)^(2t) p_i at every t of `ts` (sum loss; spectral_dense_loss_expr).

    Needs eta * lambda_i in [0, 2] for every mode (else the mode grows and GD diverges); weights p_i >= 0.
    Each row of the (len(ts) x modes) table comes from the lambdified summand and is summed in float64."""
    lam = _finite_array("eigenvalues", eigenvalues)
    p = _finite_array("weights", weights, 0.0)
    if lam.ndim != 1 or lam.shape != p.shape:
        raise ValueError(f"eigenvalues and weights must be 1-d of one length; got {lam.shape} and {p.shape}")
    eta_value = require_positive("eta", eta_value)
    times = _finite_array("ts", ts, 0.0).reshape(-1)
    products = eta_value * lam
    if lam.size and (float(products.min()) < -1e-12 or float(products.max()) > 2.0):
        raise ValueError(
            "eta*lambda_i must lie in [0, 2] for every mode (else GD on that mode diverges); got "
            f"eta={eta_value!r}, eigenvalues in [{float(lam.min())!r}, {float(lam.max())!r}]"
        )
    lam = np.clip(lam, 0.0, None)
    summand = _spectral_numeric("mode_loss")
    return np.array([float(np.sum(summand(lam, p, eta_value, time))) for time in times], dtype=np.float64)


def per_example_time(eta_value: float, m_value: int, ts: object) -> np.ndarray:
    """tau = eta m t (per_example_time_expr) at every t of `ts`; eta is the sum-loss step."""
    eta_value = require_positive("eta", eta_value)
    m_value = require_positive_int("m", m_value)
    times = _finite_array("ts", ts, 0.0)
    return _broadcast(_spectral_numeric("per_example_time")(eta_value, m_value, times), times.shape)


def initial_spread_per_example(outputs: int, kappa_value: float, width: int) -> float:
    """E[V(0)]/m = C kappa^2 (N - 1)/2 (initial_spread_per_example_expr)."""
    outputs = require_positive_int("C", outputs)
    kappa_value = require_positive("kappa", kappa_value)
    width = require_positive_int("N", width)
    return float(_spectral_numeric("initial_spread_per_example")(outputs, kappa_value, width))


def greedy_efficiency_theory(epsilon: float) -> float:
    """gamma = 1/(1 - eps), Lemma A's own greedy efficiency (greedy_efficiency_theory_expr)."""
    epsilon = require_open_interval("eps", epsilon, 0.0, 1.0)
    return float(_spectral_numeric("greedy_efficiency_theory")(epsilon))


def pruned_curve_model(
    dense_loss_sum: object,
    m_value: int,
    steps: int,
    c1_value: float,
    gamma_value: float,
    spread_mean: object,
    cap: float,
) -> np.ndarray:
    """p(t) = min(P0, c1 L_pred(t)/m + gamma v(tau)/(2k)), per-example (pruned_curve_model_expr).

    dense_loss_sum: L_pred at each t (sum loss); spread_mean: v = V/m at each t (or one number);
    c1 > 0 (Lemma A's c1(k): lemma_a_c1); gamma > 0; cap: P0 > 0 (math.inf for no cap)."""
    dense = _finite_array("dense_loss_sum", dense_loss_sum, 0.0)
    spread = _finite_array("spread_mean", spread_mean, 0.0)
    m_value = require_positive_int("m", m_value)
    steps = require_positive_int("k", steps)
    c1_value = require_positive("c1", c1_value)
    gamma_value = require_positive("gamma", gamma_value)
    if not (cap > 0):
        raise ValueError(f"cap (P0) must be > 0 (math.inf for none); got cap={cap!r}")
    model = _spectral_numeric("pruned_curve_model")
    shape = np.broadcast_shapes(dense.shape, spread.shape)
    return _broadcast(model(dense, m_value, steps, c1_value, gamma_value, spread, cap), shape)


def lemma_a_c1(steps: int, epsilon: float) -> float:
    """c1(k) = 1/(eps(2 - eps)) + 1/((1 - eps)k) (c1_expr), Lemma A's dense-loss coefficient."""
    steps = require_positive_int("k", steps)
    epsilon = require_open_interval("eps", epsilon, 0.0, 1.0)
    return _evaluate("c1", k=steps, epsilon=epsilon)


def dilated_time(dilation: object, times: object) -> np.ndarray:
    """rho(level) t_pred(level) (dilated_time_expr), elementwise; rho > 0, t_pred >= 0."""
    rho = _finite_array("dilation", dilation)
    if rho.size and float(rho.min()) <= 0:
        raise ValueError(f"dilation must be > 0; got min(dilation)={float(rho.min())!r}")
    base = _finite_array("times", times, 0.0)
    return _broadcast(_spectral_numeric("dilated_time")(rho, base), np.broadcast_shapes(rho.shape, base.shape))
