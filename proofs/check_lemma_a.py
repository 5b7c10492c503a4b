"""Sympy checks for proofs/lemma_a.md: Lemma A by induction, with the bound taken from ebtheory.symbolic.

Notation (lemma_a.md): rho^2 = ||u - Y||^2 = 2 L(u), q_k = ||u_{S_k} - Y||^2 = 2 L(u_{S_k}), gamma = 1/k,
Q(k) = 2 * lemma_a_expr() at L = rho^2/2 (the claimed bound on q_k), A = lim_k c1(k) = 1/(eps(2-eps)),
and the recursion R(k) = (1-gamma)(1-gamma(1-eps)) Q(k-1) + gamma(1-gamma) rho^2/eps + gamma^2 (rho^2 + V).
Constrained symbols are rewritten through positive ones: eps = 1/(1+p) (eps in (0,1)) and k = 1 + j (k > 1).
"""

from __future__ import annotations

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.check_one_step import squared_norm
from ebtheory.proofs.checks import Step

rho2 = sp.Symbol("rho2", positive=True)
q_previous = sp.Symbol("q_prev", nonnegative=True)
p, j = sp.symbols("p j", positive=True)
EPS_IN_UNIT_INTERVAL = {symbolic.eps: 1 / (1 + p)}
K_ABOVE_ONE = {symbolic.k: 1 + j}


def recursion_coefficient(steps_k: sp.Expr) -> sp.Expr:
    """(1 - gamma)(1 - gamma (1 - eps)) with gamma = 1/k: the factor in front of q_{k-1}."""
    gamma = 1 / steps_k
    return (1 - gamma) * (1 - gamma * (1 - symbolic.eps))


def q_bound(steps_k: sp.Expr, lemma: sp.Expr) -> sp.Expr:
    """Q(k): the bound on q_k = 2 L(u_{S_k}) that `lemma` (a bound on L(u_{S_k})) gives at L(u) = rho^2/2."""
    return 2 * lemma.subs({symbolic.dense_loss: rho2 / 2, symbolic.k: steps_k}, simultaneous=True)


def recursion(steps_k: sp.Expr, lemma: sp.Expr) -> sp.Expr:
    """R(k): the one-step bound on q_k with q_{k-1} replaced by Q(k-1)."""
    gamma = 1 / steps_k
    eps, spread = symbolic.eps, symbolic.V
    return (
        recursion_coefficient(steps_k) * q_bound(steps_k - 1, lemma)
        + gamma * (1 - gamma) * rho2 / eps
        + gamma**2 * (rho2 + spread)
    )


def _vectors(dim: int) -> tuple[sp.Matrix, sp.Matrix]:
    return sp.Matrix(sp.symbols(f"a_0:{dim}", real=True)), sp.Matrix(sp.symbols(f"b_0:{dim}", real=True))


def young_sides(scale: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """eps||a||^2 + ||b||^2/eps - 2<a,b> and ||scale a - b/scale||^2 (equal when scale = sqrt(eps))."""
    a, b = _vectors(3)
    eps = symbolic.eps
    return eps * squared_norm(a) + squared_norm(b) / eps - 2 * a.dot(b), squared_norm(scale * a - b / scale)


def after_young_sides(coefficient: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """||(1-g)a + g b||^2 + g(1-g)(Young slack)  versus  coefficient ||a||^2 + g(1-g)||b||^2/eps + g^2||b||^2."""
    a, b = _vectors(2)
    eps, gamma = symbolic.eps, 1 / symbolic.k
    young_slack = eps * squared_norm(a) + squared_norm(b) / eps - 2 * a.dot(b)
    lhs = squared_norm((1 - gamma) * a + gamma * b) + gamma * (1 - gamma) * young_slack
    rhs = coefficient * squared_norm(a) + gamma * (1 - gamma) * squared_norm(b) / eps + gamma**2 * squared_norm(b)
    return lhs, rhs


def steps() -> list[Step]:
    eps, k, spread, loss = symbolic.eps, symbolic.k, symbolic.V, symbolic.dense_loss
    lemma = symbolic.lemma_a_expr()
    # A wrong constant: the greedy term V/(4(1-eps)k) instead of V/(2(1-eps)k).
    wrong_lemma = symbolic.c1_expr() * loss + spread / (4 * (1 - eps) * k)
    a_limit = sp.limit(symbolic.c1_expr(), k, sp.oo)
    both = {**EPS_IN_UNIT_INTERVAL, **K_ABOVE_ONE}
    stated = loss / (eps * (2 - eps)) + (loss + spread / 2) / ((1 - eps) * k)
    return [
        Step(
            "lemma_a.statement",
            "symbolic.lemma_a_expr() is L/(eps(2-eps)) + (L + V/2)/((1-eps)k), the statement proved",
            "==",
            lemma,
            stated,
            planted=(lemma, loss / eps + (loss + spread / 2) / ((1 - eps) * k)),
        ),
        Step(
            "lemma_a.eps_half",
            "at eps = 1/2 the bound is (4/3 + 2/k) L + V/k",
            "==",
            lemma.subs(eps, sp.Rational(1, 2)),
            (sp.Rational(4, 3) + 2 / k) * loss + spread / k,
            planted=(lemma.subs(eps, sp.Rational(1, 2)), (sp.Rational(4, 3) + 1 / k) * loss + spread / k),
        ),
        Step(
            "lemma_a.young_identity",
            "eps||a||^2 + ||b||^2/eps - 2<a,b> = ||sqrt(eps) a - b/sqrt(eps)||^2 >= 0 (Young)",
            "==",
            *young_sides(sp.sqrt(eps)),
            planted=young_sides(eps),
        ),
        Step(
            "lemma_a.after_young",
            "||(1-g)a+gb||^2 + g(1-g)(Young slack) = (1-g)(1-g(1-eps))||a||^2 + g(1-g)||b||^2/eps + g^2||b||^2",
            "==",
            *after_young_sides(recursion_coefficient(k)),
            planted=after_young_sides((1 - 1 / k) ** 2),
        ),
        Step(
            "lemma_a.coefficient_nonnegative",
            "(1-1/k)(1-(1-eps)/k) >= 0 for k > 1, eps in (0,1), so the hypothesis on q_{k-1} may be inserted",
            "<=",
            sp.Integer(0),
            recursion_coefficient(k),
            substitution=both,
            planted=(sp.Integer(0), recursion_coefficient(k) - 1),
        ),
        Step(
            "lemma_a.A_at_least_one",
            "A = lim_k c1(k) = 1/(eps(2-eps)) >= 1 on (0,1)",
            "<=",
            sp.Integer(1),
            a_limit,
            substitution=EPS_IN_UNIT_INTERVAL,
            planted=(sp.Integer(1), a_limit * eps),
        ),
        Step(
            "lemma_a.base_case",
            "q_1 <= rho^2 + V <= Q(1)",
            "<=",
            rho2 + spread,
            q_bound(sp.Integer(1), lemma),
            substitution=EPS_IN_UNIT_INTERVAL,
            planted=(rho2 + 2 * spread, q_bound(sp.Integer(1), wrong_lemma)),
        ),
        Step(
            "lemma_a.closing",
            "R(k) <= Q(k) for every k > 1: the induction closes",
            "<=",
            recursion(k, lemma),
            q_bound(k, lemma),
            substitution=both,
            planted=(recursion(k, wrong_lemma), q_bound(k, wrong_lemma)),
        ),
        Step(
            "lemma_a.closing_slack",
            "Q(k) - R(k) = A rho^2 / k^2 exactly: the induction closes with room to spare",
            "==",
            q_bound(k, lemma) - recursion(k, lemma),
            a_limit * rho2 / k**2,
            planted=(q_bound(k, lemma) - recursion(k, lemma), (a_limit - 1) * rho2 / k**2),
        ),
    ]
