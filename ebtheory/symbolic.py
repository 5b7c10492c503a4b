"""The pre-training bound as sympy expressions: one home for every formula of the theory.

Sources: THEORY.md sections 1-4 and the proofs in proofs/ (Lemma A: proofs/lemma_a.md; threshold:
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
    """H_inf[i, j] = s (pi - arccos s) / (2 pi) with s = x_i . x_j (Du et al. 2019, eq. 3.1; THEORY.md 1)."""
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
    """c1(k) L0 / tol: t* is the log of this over the log-contraction (THEORY.md 4)."""
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
    loss and a per-example tolerance, m cancels and t* no longer grows with m (THEORY.md 5.1)."""
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
    with mpmath.workdps(_PRECISION_DIGITS):
        result = _numeric(name)(*[mpmath.mpf(a) for a in arguments])
        if isinstance(result, mpmath.mpc):
            raise ValueError(f"{name} is not real at {values}")
        try:
            as_float = float(result)
        except OverflowError:
            as_float = math.inf
    if not math.isfinite(as_float):
        raise ValueError(f"{name} overflows a float at {values}; the inputs are too extreme")
    return as_float


@dataclass(frozen=True)
class BoundInputs:
    """Constants of the threshold theorem (THEORY.md 4), validated on construction.

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
        raise ValueError(f"eps='best' needs a positive dense-loss bound at t; got {dense_at_t} at t={t}")
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
