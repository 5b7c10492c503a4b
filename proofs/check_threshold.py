"""Sympy checks for proofs/threshold.md: the pre-training threshold t* and its upper form.

The Lemma A bound the theorem starts from is `check_lemma_a.proven_bound()`, the induction hypothesis that
check_lemma_a proves (with the constant A solved for from the recursion), not symbolic.lemma_a_expr():
the code's split c1(k) L + greedy term, tol and the pruned-loss bound are each compared with it.

x = eta lambda0 / 2 is the contraction gap, in (0, 1) when eta lambda0 in (0, 2); it is rewritten as
x = s/(1+s) with s > 0 for the positivity certificates. R = c1 L0 / tol is the log argument.
"""

from __future__ import annotations

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.check_lemma_a import proven_bound
from ebtheory.proofs.checks import Step

x, s = sp.symbols("x s", positive=True)
GAP_IN_UNIT_INTERVAL = {x: s / (1 + s)}


def gap_substitution() -> dict[sp.Symbol, sp.Expr]:
    """eta = 2x/lambda0, so that 1 - eta lambda0/2 = 1 - x."""
    return {symbolic.eta: 2 * x / symbolic.lambda0}


def log_gap_excess() -> sp.Expr:
    """f(x) = ln(1/(1-x)) - x, built from dense_rate_factor_expr(); f >= 0 on (0,1) gives the upper form."""
    rate = symbolic.dense_rate_factor_expr().subs(gap_substitution())
    return sp.log(1 / rate) - (1 - rate)


def steps() -> list[Step]:
    c1, greedy, tol = symbolic.c1_expr(), symbolic.greedy_term_expr(), symbolic.tol_expr()
    loss, L0, t = symbolic.dense_loss, symbolic.L0, symbolic.t
    lemma_proved = proven_bound()
    exact, upper = symbolic.threshold_exact_expr(), symbolic.threshold_upper_expr()
    rate = symbolic.dense_rate_factor_expr()
    log_argument = symbolic.threshold_log_argument_expr()
    at_threshold = symbolic.pruned_loss_bound_expr().subs(t, exact)
    f = log_gap_excess()
    derivative = sp.diff(f, x)
    gap = (1 - rate).subs(gap_substitution())
    return [
        Step(
            "threshold.lemma_a_split",
            "c1(k) L(u) + greedy term (the split the threshold uses) is Lemma A as proved in check_lemma_a",
            "==",
            c1 * loss + greedy,
            lemma_proved,
            planted=(c1 * loss + 2 * greedy, lemma_proved),
        ),
        Step(
            "threshold.tol_is_greedy_term",
            "tol = the proved Lemma A bound at L(u) = 0 with V = V_bar, i.e. V_bar/(2(1-eps)k)",
            "==",
            tol,
            lemma_proved.subs(loss, 0),
            planted=(symbolic.V / symbolic.k, lemma_proved.subs(loss, 0)),
        ),
        Step(
            "threshold.pruned_bound",
            "pruned_loss_bound_expr() is the proved Lemma A at L(u) = (1 - eta lambda0/2)^t L0",
            "==",
            symbolic.pruned_loss_bound_expr(),
            lemma_proved.subs(loss, symbolic.dense_loss_bound_expr()),
            planted=(symbolic.pruned_loss_bound_expr(), lemma_proved.subs(loss, L0)),
        ),
        Step(
            "threshold.exact_solves",
            "c1 L0 (1 - eta lambda0/2)^{t*} = tol at the exact t*",
            "==",
            c1 * L0 * rate**exact,
            tol,
            planted=(c1 * L0 * rate ** (2 * exact), tol),
        ),
        Step(
            "threshold.bound_at_threshold",
            "pruned_loss_bound_expr() at t = t* equals 2 tol = 2 V_bar/(2(1-eps)k)",
            "==",
            at_threshold,
            2 * tol,
            planted=(at_threshold, tol),
        ),
        Step(
            "threshold.log_excess_at_zero",
            "f(x) = ln(1/(1-x)) - x vanishes at x = 0",
            "==",
            f.subs(x, 0),
            sp.Integer(0),
            planted=(f.subs(x, 0), sp.log(2)),
        ),
        Step(
            "threshold.log_excess_increasing",
            "f'(x) = x/(1-x) >= 0 on (0,1), so ln(1/(1-x)) >= x",
            "<=",
            sp.Integer(0),
            derivative,
            substitution=GAP_IN_UNIT_INTERVAL,
            planted=(sp.Integer(0), sp.diff(sp.log(1 / (1 - x)) - 2 * x, x)),
        ),
        Step(
            "threshold.upper_minus_exact",
            "t*_upper - t* = ln(R) f(x) / (x ln(1/(1-x))): >= 0 whenever R >= 1 (the unclamped case)",
            "==",
            (upper - exact).subs(gap_substitution()),
            sp.log(log_argument) * f / (gap * sp.log(1 / (1 - x))),
            planted=((upper - exact).subs(gap_substitution()), sp.log(log_argument) * f / sp.log(1 / (1 - x))),
        ),
    ]
