"""The symbolic bound: numeric values against independent formulas, the threshold property, monotonicity,
asymptotics, sum/mean agreement, LaTeX, and every bad-input path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

from ebtheory import symbolic as S


@st.composite
def bound_inputs(draw: st.DrawFn) -> S.BoundInputs:
    lambda0 = draw(st.floats(1e-4, 1.0))
    product = draw(st.floats(1e-4, 1.99))
    return S.BoundInputs(
        m=draw(st.integers(1, 10**6)),
        k=draw(st.integers(1, 10**4)),
        eta=product / lambda0,
        lambda0=lambda0,
        delta=draw(st.floats(1e-3, 0.999)),
        V=draw(st.floats(1e-3, 1e6)),
        C=draw(st.integers(1, 20)),
        kappa=draw(st.floats(0.01, 3.0)),
        eps=draw(st.floats(0.01, 0.99)),
    )


def independent_formulas(b: S.BoundInputs) -> dict[str, float]:
    """The issue's formulas typed independently of ebtheory.symbolic."""
    eps = float(b.eps)
    c1 = 1 / (eps * (2 - eps)) + 1 / ((1 - eps) * b.k)
    l0 = (b.m + b.m * b.C * b.kappa**2 / 2) / (2 * b.delta)
    tol = b.V / (2 * (1 - eps) * b.k)
    log_arg = math.log(c1 * l0 / tol)
    return {
        "c1": c1,
        "L0_bound": l0,
        "tol": tol,
        "t_star": max(0.0, log_arg / -math.log1p(-b.eta * b.lambda0 / 2)),
        "t_star_upper": max(0.0, 2 / (b.eta * b.lambda0) * log_arg),
    }


@given(bound_inputs())
def test_values_agree_with_independent_formulas(b: S.BoundInputs) -> None:
    values = S.evaluate_bound(b).to_dict()
    for key, expected in independent_formulas(b).items():
        assert values[key] == pytest.approx(expected, rel=1e-9, abs=1e-12), key


@given(bound_inputs(), st.floats(0, 1e5))
def test_lambdified_values_equal_sympy_evalf(b: S.BoundInputs, t: float) -> None:
    values = S.evaluate_bound(b, t=t)
    l0 = S.initial_loss_bound_expr().subs({S.m: b.m, S.C: b.C, S.kappa: b.kappa, S.delta: b.delta, S.y_norm2: b.m})
    subs = {
        S.m: b.m,
        S.C: b.C,
        S.k: b.k,
        S.eta: b.eta,
        S.lambda0: b.lambda0,
        S.delta: b.delta,
        S.kappa: b.kappa,
        S.eps: b.eps,
        S.V: b.V,
        S.y_norm2: b.m,
        S.t: t,
    }
    # Exact binary values at 60 digits, so sympy's evaluation is not limited by 15-digit Floats.
    subs = {symbol: sp.Float(value, 60) for symbol, value in subs.items()}
    l0 = l0.subs(S.delta, sp.Float(b.delta, 60)).subs(S.kappa, sp.Float(b.kappa, 60))
    pruned = S.pruned_loss_bound_expr(S.initial_loss_bound_expr()).subs(subs).evalf(40)
    exact = S.threshold_exact_expr().subs(S.L0, l0).subs(subs).evalf(40)
    assert values.pruned_loss_bound == pytest.approx(float(pruned), rel=1e-12)
    assert values.t_star == pytest.approx(max(0.0, float(exact)), rel=1e-12, abs=1e-9)


@given(bound_inputs())
def test_threshold_is_exactly_where_the_bound_reaches_twice_the_greedy_term(b: S.BoundInputs) -> None:
    """For t >= t*, L(S_k; t) <= tol + greedy term (= 2 tol); at ceil(t*) - 1 it is not (docs/theory.md, section 4)."""
    values = S.evaluate_bound(b)
    greedy_term = values.tol
    t_star = values.t_star
    assume(t_star < 1e7)
    for t in (math.ceil(t_star), math.ceil(t_star) + 1, 2 * math.ceil(t_star) + 3):
        assert S.evaluate_bound(b, t=t).pruned_loss_bound <= (values.tol + greedy_term) * (1 + 1e-12)
    assume(t_star >= 1 and t_star - math.floor(t_star) > 1e-6)
    before = S.evaluate_bound(b, t=math.ceil(t_star) - 1).pruned_loss_bound
    assert before > values.tol + greedy_term


def test_clamp_at_zero_when_the_log_is_negative() -> None:
    b = S.BoundInputs(m=1, k=1, eta=1.0, lambda0=0.5, delta=0.9, V=1e6)
    assert (
        S.threshold_exact_expr()
        .subs(S.L0, S.initial_loss_bound_expr())
        .subs(
            {
                S.m: 1,
                S.C: 1,
                S.k: 1,
                S.eta: 1,
                S.lambda0: 0.5,
                S.delta: 0.9,
                S.kappa: 1,
                S.eps: 0.5,
                S.V: 1e6,
                S.y_norm2: 1,
            }
        )
        .evalf()
        < 0
    )
    values = S.evaluate_bound(b)
    assert values.t_star == 0.0 and values.t_star_upper == 0.0


def test_monotonicity_is_derived_by_sympy() -> None:
    claims = {claim.variable: claim for claim in S.threshold_monotonicity()}
    expected = {
        "m": "increasing",
        "k": "increasing",
        "delta": "decreasing",
        "V": "decreasing",
        "eta": "decreasing",
        "lambda_0": "decreasing",
    }
    assert {name: claim.direction for name, claim in claims.items()} == expected
    assert all(claim.proven for claim in claims.values())


@given(bound_inputs(), st.floats(1.01, 10.0))
def test_monotonicity_numerically(b: S.BoundInputs, factor: float) -> None:
    base = S.evaluate_bound(b).t_star
    assume(base > 0)
    bigger_m = S.evaluate_bound(S.BoundInputs(**{**b.__dict__, "m": int(b.m * factor) + 1})).t_star
    bigger_k = S.evaluate_bound(S.BoundInputs(**{**b.__dict__, "k": int(b.k * factor) + 1})).t_star
    bigger_v = S.evaluate_bound(S.BoundInputs(**{**b.__dict__, "V": b.V * factor})).t_star
    smaller_delta = S.evaluate_bound(S.BoundInputs(**{**b.__dict__, "delta": b.delta / factor})).t_star
    bigger_lambda = S.evaluate_bound(
        S.BoundInputs(**{**b.__dict__, "eta": b.eta / factor, "lambda0": b.lambda0 * factor})
    )
    bigger_eta = S.evaluate_bound(
        S.BoundInputs(**{**b.__dict__, "eta": b.eta * min(factor, 1.99 / (b.eta * b.lambda0))})
    )
    assert bigger_m > base and bigger_k > base and smaller_delta > base
    assert bigger_v < base
    assert bigger_eta.t_star <= base
    # eta*lambda0 unchanged when eta shrinks by the factor lambda0 grows: t* unchanged.
    assert bigger_lambda.t_star == pytest.approx(base, rel=1e-9)


def test_log_m_limit() -> None:
    limit = S.threshold_log_m_limit()
    assert sp.simplify(limit - 1 / sp.log(1 / S.dense_rate_factor_expr())) == 0
    b = dict(k=10, eta=1.0, lambda0=0.1, delta=0.1, V=10.0)
    ratios = [S.evaluate_bound(S.BoundInputs(m=10**e, **b)).t_star / math.log(10**e) for e in (4, 16, 64, 256)]
    target = 1 / -math.log1p(-0.05)
    errors = [abs(r - target) for r in ratios]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.05 * errors[0]


def test_per_example_threshold_has_no_m() -> None:
    assert not S.per_example_log_argument_expr().has(S.m)


@given(bound_inputs(), st.floats(0, 1e4))
def test_sum_and_mean_loss_agree(b: S.BoundInputs, t: float) -> None:
    total = S.evaluate_bound(b, t=t)
    mean = S.evaluate_bound(S.BoundInputs(**{**b.__dict__, "V": b.V / b.m, "loss": "mean"}), t=t)
    assert mean.t_star == pytest.approx(total.t_star, rel=1e-9, abs=1e-9)
    assert mean.c1 == pytest.approx(total.c1, rel=1e-12)
    for key in ("L0_bound", "tol", "pruned_loss_bound"):
        assert getattr(mean, key) * b.m == pytest.approx(getattr(total, key), rel=1e-9)


@given(st.floats(1e-6, 1e6), st.floats(1e-6, 1e6), st.integers(1, 1000), st.floats(0.001, 0.999))
def test_best_eps_minimises_lemma_a(loss: float, spread: float, steps: int, other: float) -> None:
    best = S.best_eps(loss, spread, steps)
    assert 0 < best < 1
    at_best = S.lemma_a_bound(loss, spread, steps, best)
    assert at_best <= S.lemma_a_bound(loss, spread, steps, other) * (1 + 1e-9)


def test_lemma_a_expression_matches_theory_form() -> None:
    theory = S.dense_loss / (S.eps * (2 - S.eps)) + (S.dense_loss + S.V / 2) / ((1 - S.eps) * S.k)
    assert sp.simplify(S.lemma_a_expr() - theory) == 0
    assert S.lemma_a_bound(1.0, 2.0, 4, 0.5) == pytest.approx(4 / 3 + 2 / 4 + 2 / 4)


def test_h_inf_entry_values() -> None:
    entry = S.h_inf_entry_expr()
    assert entry.subs(S.cosine, 1) == sp.Rational(1, 2)
    assert entry.subs(S.cosine, 0) == 0
    assert entry.subs(S.cosine, -1) == 0


def test_every_expression_has_latex_and_every_symbol_a_meaning() -> None:
    expressions = S.all_expressions()
    assert len(expressions) >= 12
    for name, expression in expressions.items():
        text = S.to_latex(expression)
        assert text and "\\" in text, name
        assert expression.free_symbols <= set(S.SYMBOL_MEANINGS), name
    assert "\\|Y\\|_F^2" in S.to_latex(S.initial_loss_bound_expr())


def test_conditions_name_their_unknown_constants() -> None:
    assert S.c_width in S.width_condition_expr().free_symbols
    assert S.c_step in S.step_size_condition_expr().free_symbols


GOOD = dict(m=100, k=10, eta=1.0, lambda0=0.1, delta=0.1, V=1.0)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("m", 0, "m must be a positive integer"),
        ("m", 2.5, "m must be a positive integer"),
        ("m", True, "m must be"),
        ("k", -1, "k must be a positive integer"),
        ("eta", 0.0, "eta must lie in (0, inf)"),
        ("eta", float("nan"), "eta must be a finite"),
        ("lambda0", -1.0, "lambda0 must lie in (0, inf)"),
        ("eta", 30.0, "eta*lambda0 must lie in (0, 2)"),
        ("delta", 1.0, "delta must lie in (0, 1)"),
        ("delta", 0.0, "delta must lie in (0, 1)"),
        ("V", 0.0, "V must lie in (0, inf)"),
        ("V", float("inf"), "V must be a finite"),
        ("eps", 1.0, "eps must lie in (0, 1)"),
        ("kappa", 0.0, "kappa must lie in (0, inf)"),
        ("C", 0, "C must be a positive integer"),
        ("y_norm2", -1.0, "y_norm2 must lie in (0, inf)"),
        ("loss", "median", "loss must be one of"),
    ],
)
def test_bad_inputs_name_the_argument_and_range(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as error:
        S.BoundInputs(**{**GOOD, field: value})
    assert fragment in str(error.value)
    assert repr(value) in str(error.value) or field == "eta"


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: S.evaluate_bound(S.BoundInputs(**GOOD), t=-1.0), "t must lie in [0, inf)"),
        (lambda: S.evaluate_bound(S.BoundInputs(**GOOD, eps="best")), "t must be given"),
        (lambda: S.lemma_a_bound(-1.0, 1.0, 1), "dense_loss must lie in [0, inf)"),
        (lambda: S.lemma_a_bound(1.0, 1.0, 0), "k must be a positive integer"),
        (lambda: S.best_eps(0.0, 1.0, 1), "L > 0 needed"),
        (lambda: S.dense_rate_factor(3.0, 1.0), "eta*lambda0 must lie in (0, 2)"),
        (lambda: S.threshold_from_constants(1.0, 0.0, 1.0, 1.0, 0.1), "L0 must lie in (0, inf)"),
        (lambda: S.evaluate_bound(S.BoundInputs(**{**GOOD, "m": 10**320})), "overflows"),
    ],
)
def test_bad_numeric_calls(call, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as error:
        call()
    assert fragment in str(error.value)


@given(bound_inputs(), st.floats(0.001, 1e4))
def test_threshold_from_constants_matches_evaluate_bound(b: S.BoundInputs, t: float) -> None:
    values = S.evaluate_bound(b)
    exact, upper = S.threshold_from_constants(values.c1, values.L0_bound, values.tol, b.eta, b.lambda0)
    assert exact == pytest.approx(values.t_star, rel=1e-12, abs=1e-9)
    assert upper == pytest.approx(values.t_star_upper, rel=1e-12, abs=1e-9)
    assert upper >= exact


def test_curve_decreases_to_twice_the_greedy_term() -> None:
    b = S.BoundInputs(**GOOD)
    values = S.evaluate_bound(b)
    curve = S.pruned_loss_bound_curve(b, np.linspace(0, 3 * values.t_star, 30))
    assert np.all(np.diff(curve) < 0)
    assert curve[-1] > values.tol and curve[-1] < 2 * values.tol


def test_evaluate_refuses_an_unknown_symbol_name() -> None:
    """A typo ("lambda0" for "lambda_0") must raise, naming the typo and the known symbols; it used to be
    filled with 1 and evaluate silently."""
    with pytest.raises(ValueError) as caught:
        S._evaluate("dense_rate_factor", eta=0.5, lambda0=0.01)
    message = str(caught.value)
    assert "'lambda0'" in message
    assert "lambda_0" in message and "epsilon" in message  # the known names are listed


def test_evaluate_refuses_a_missing_symbol() -> None:
    with pytest.raises(ValueError, match=r"no value for symbol\(s\) \['lambda_0'\]"):
        S._evaluate("dense_rate_factor", eta=0.5)


def test_evaluate_refuses_an_unknown_expression_name() -> None:
    with pytest.raises(ValueError, match=r"unknown expression name 'lemma_b'.*'lemma_a'"):
        S._evaluate("lemma_b", L=1.0)


def test_evaluate_ignores_known_symbols_the_expression_does_not_use() -> None:
    """evaluate_bound passes every constant to every expression; symbols outside one are not read."""
    value = S._evaluate("dense_rate_factor", eta=0.5, lambda_0=0.01, m=7, epsilon=0.3)
    assert value == pytest.approx(1 - 0.5 * 0.01 / 2, rel=1e-15)
