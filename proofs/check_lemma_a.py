"""Sympy checks for proofs/lemma_a.md: Lemma A by induction, checked against ebtheory.symbolic.

Notation (lemma_a.md): rho^2 = ||u - Y||^2 = 2 L(u), q_k = ||u_{S_k} - Y||^2 = 2 L(u_{S_k}), gamma = 1/k.
Nothing of the recursion is typed by hand: its coefficients are read off the polynomials whose identities
are checked (the one-step identity of check_one_step.py and the after-Young identity below), and the
constant A of the induction hypothesis Q(k) = A rho^2 + B/k is solved for from the recursion (the only A
for which the order-1/k terms cancel). B = (rho^2 + V)/(1-eps) is the proof's choice (lemma_a.md). The
code's bound, Q_code(k) = 2 * symbolic.lemma_a_expr() at L = rho^2/2, must equal Q(k) and must close the
induction. Constrained symbols are rewritten through positive ones: eps = 1/(1+p) (eps in (0,1)) and
k = 1 + j (k > 1).
"""

from __future__ import annotations

import functools

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs import check_one_step
from ebtheory.proofs.check_one_step import squared_norm
from ebtheory.proofs.checks import Step

rho2 = sp.Symbol("rho2", positive=True)
q_previous = sp.Symbol("q_prev", nonnegative=True)
p, j = sp.symbols("p j", positive=True)
unknown_a, unknown_b = sp.symbols("A B", positive=True)
EPS_IN_UNIT_INTERVAL = {symbolic.eps: 1 / (1 + p)}
K_ABOVE_ONE = {symbolic.k: 1 + j}


def _vectors(dim: int) -> tuple[sp.Matrix, sp.Matrix]:
    return sp.Matrix(sp.symbols(f"a_0:{dim}", real=True)), sp.Matrix(sp.symbols(f"b_0:{dim}", real=True))


def young_slack(a: sp.Matrix, b: sp.Matrix) -> sp.Expr:
    """eps||a||^2 + ||b||^2/eps - 2<a,b>, nonnegative by Young's inequality."""
    eps = symbolic.eps
    return eps * squared_norm(a) + squared_norm(b) / eps - 2 * a.dot(b)


def young_sides(scale: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """eps||a||^2 + ||b||^2/eps - 2<a,b> and ||scale a - b/scale||^2 (equal when scale = sqrt(eps))."""
    a, b = _vectors(3)
    return young_slack(a, b), squared_norm(scale * a - b / scale)


def after_young_polynomial(slack_weight: int = 1) -> tuple[sp.Expr, sp.Matrix, sp.Matrix]:
    """||(1-g)a + g b||^2 + slack_weight g(1-g)(Young slack), with g = 1/k: an upper bound on the bias part
    of the one-step bound (slack_weight = 1), and the vectors a, b it is written in."""
    a, b = _vectors(2)
    gamma = 1 / symbolic.k
    polynomial = squared_norm((1 - gamma) * a + gamma * b) + slack_weight * gamma * (1 - gamma) * young_slack(a, b)
    return polynomial, a, b


def diagonal_coefficients(polynomial: sp.Expr, a: sp.Matrix, b: sp.Matrix) -> tuple[sp.Expr, sp.Expr]:
    """The coefficients of a_0^2 and b_0^2 in `polynomial`: of ||a||^2 and ||b||^2 when it is c_a||a||^2 + c_b||b||^2
    (that it is, with no cross term, is the check `lemma_a.after_young`)."""
    return sp.factor(sp.diff(polynomial, a[0], 2) / 2), sp.factor(sp.diff(polynomial, b[0], 2) / 2)


@functools.cache
def recursion_coefficients() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(c_q, c_rho, c_V) of the recursion q_k <= c_q q_{k-1} + c_rho rho^2 + c_V V, functions of symbolic.k.

    c_q and c_rho are read off the after-Young polynomial, c_V off the one-step identity (gamma = 1/k)."""
    polynomial, a, b = after_young_polynomial()
    coefficient_q, coefficient_rho = diagonal_coefficients(polynomial, a, b)
    coefficient_v = check_one_step.variance_coefficient().subs(check_one_step.gamma, 1 / symbolic.k)
    return coefficient_q, coefficient_rho, coefficient_v


def one_step_bound(steps_k: sp.Expr, previous: sp.Expr) -> sp.Expr:
    """The recursion's bound on q_k at k = steps_k when q_{k-1} <= previous."""
    coefficient_q, coefficient_rho, coefficient_v = (c.subs(symbolic.k, steps_k) for c in recursion_coefficients())
    return coefficient_q * previous + coefficient_rho * rho2 + coefficient_v * symbolic.V


def q_bound(steps_k: sp.Expr, lemma: sp.Expr) -> sp.Expr:
    """Q(k): the bound on q_k = 2 L(u_{S_k}) that `lemma` (a bound on L(u_{S_k})) gives at L(u) = rho^2/2."""
    return 2 * lemma.subs({symbolic.dense_loss: rho2 / 2, symbolic.k: steps_k}, simultaneous=True)


def recursion(steps_k: sp.Expr, lemma: sp.Expr) -> sp.Expr:
    """R(k): the one-step bound on q_k with q_{k-1} replaced by Q(k-1)."""
    return one_step_bound(steps_k, q_bound(steps_k - 1, lemma))


@functools.cache
def forced_constant() -> sp.Expr:
    """The A of Q(k) = A rho^2 + B/k for which the order-1/k term of Q(k) - R(k) vanishes, solved by sympy.

    Q(k) - R(k) = gamma d_1 + gamma^2 d_2 exactly (gamma = 1/k); d_1 < 0 breaks the induction for large k,
    and d_1 > 0 would leave a bound that does not tend to the recursion's fixed point, so d_1 = 0."""
    gamma = sp.Symbol("gamma", positive=True)
    ansatz = unknown_a * rho2 + unknown_b / symbolic.k
    difference = (ansatz - one_step_bound(symbolic.k, ansatz.subs(symbolic.k, symbolic.k - 1))).subs(
        symbolic.k, 1 / gamma
    )
    polynomial = sp.Poly(sp.cancel(difference), gamma)
    solutions = sp.solve(polynomial.coeff_monomial(gamma), unknown_a)
    if len(solutions) != 1:
        raise ValueError(f"the order-1/k term must fix A uniquely; solutions: {solutions}")
    return sp.factor(solutions[0])


def induction_hypothesis(steps_k: sp.Expr) -> sp.Expr:
    """Q(k) = A rho^2 + B/k with the derived A and the proof's B = (rho^2 + V)/(1 - eps)."""
    return forced_constant() * rho2 + (rho2 + symbolic.V) / ((1 - symbolic.eps) * steps_k)


def proven_bound() -> sp.Expr:
    """Lemma A as proved, in the code's terms: L(u_{S_k}) <= Q(k)/2 at rho^2 = 2 L(u) (sum loss)."""
    return induction_hypothesis(symbolic.k).subs(rho2, 2 * symbolic.dense_loss) / 2


def steps() -> list[Step]:
    eps, k, spread, loss = symbolic.eps, symbolic.k, symbolic.V, symbolic.dense_loss
    lemma = symbolic.lemma_a_expr()
    # A wrong constant: the greedy term V/(4(1-eps)k) instead of V/(2(1-eps)k).
    wrong_lemma = symbolic.c1_expr() * loss + spread / (4 * (1 - eps) * k)
    a_limit = sp.limit(symbolic.c1_expr(), k, sp.oo)
    both = {**EPS_IN_UNIT_INTERVAL, **K_ABOVE_ONE}
    gamma = 1 / k
    polynomial, a, b = after_young_polynomial()
    coefficient_q = recursion_coefficients()[0]
    no_young, a_plain, b_plain = after_young_polynomial(0)
    stated_recursion = (1 - gamma) * (1 - gamma * (1 - eps)) * q_previous + gamma * (1 - gamma) * rho2 / eps
    stated_recursion += gamma**2 * (rho2 + spread)
    return [
        Step(
            "lemma_a.young_identity",
            "eps||a||^2 + ||b||^2/eps - 2<a,b> = ||sqrt(eps) a - b/sqrt(eps)||^2 >= 0 (Young)",
            "==",
            *young_sides(sp.sqrt(eps)),
            planted=young_sides(eps),
        ),
        Step(
            "lemma_a.after_young",
            "||(1-g)a+gb||^2 + g(1-g)(Young slack) = c_q||a||^2 + c_rho||b||^2: no <a,b> term is left",
            "==",
            polynomial,
            sum(c * squared_norm(v) for c, v in zip(diagonal_coefficients(polynomial, a, b), (a, b))),
            planted=(
                no_young,
                sum(
                    c * squared_norm(v)
                    for c, v in zip(diagonal_coefficients(no_young, a_plain, b_plain), (a_plain, b_plain))
                ),
            ),
        ),
        Step(
            "lemma_a.recursion",
            "the derived recursion reads q_k <= (1-g)(1-g(1-eps)) q_{k-1} + g(1-g) rho^2/eps + g^2 (rho^2 + V)",
            "==",
            one_step_bound(k, q_previous),
            stated_recursion,
            planted=(one_step_bound(k, q_previous), stated_recursion + gamma * (1 - gamma) * spread),
        ),
        Step(
            "lemma_a.coefficient_nonnegative",
            "c_q = (1-1/k)(1-(1-eps)/k) >= 0 for k > 1, eps in (0,1), so the hypothesis on q_{k-1} may be inserted",
            "<=",
            sp.Integer(0),
            coefficient_q,
            substitution=both,
            planted=(sp.Integer(0), coefficient_q - 1),
        ),
        Step(
            "lemma_a.fixed_point",
            "the code's lim_k c1(k) is the A forced by the recursion (order-1/k terms cancel): 1/(eps(2-eps))",
            "==",
            a_limit,
            forced_constant(),
            planted=(a_limit, forced_constant() * (2 - eps)),
        ),
        Step(
            "lemma_a.A_at_least_one",
            "A = 1/(eps(2-eps)) >= 1 on (0,1)",
            "<=",
            sp.Integer(1),
            forced_constant(),
            substitution=EPS_IN_UNIT_INTERVAL,
            planted=(sp.Integer(1), forced_constant() * eps),
        ),
        Step(
            "lemma_a.base_case",
            "q_1 <= rho^2 + V (the recursion at k = 1) <= Q_code(1)",
            "<=",
            one_step_bound(sp.Integer(1), q_previous),
            q_bound(sp.Integer(1), lemma),
            substitution=EPS_IN_UNIT_INTERVAL,
            planted=(one_step_bound(sp.Integer(1), q_previous) + spread, q_bound(sp.Integer(1), wrong_lemma)),
        ),
        Step(
            "lemma_a.closing",
            "R(k) <= Q_code(k) for every k > 1: the induction closes for the code's bound",
            "<=",
            recursion(k, lemma),
            q_bound(k, lemma),
            substitution=both,
            planted=(recursion(k, wrong_lemma), q_bound(k, wrong_lemma)),
        ),
        Step(
            "lemma_a.closing_slack",
            "Q_code(k) - R(k) = A rho^2 / k^2 exactly: the induction closes with room to spare",
            "==",
            q_bound(k, lemma) - recursion(k, lemma),
            forced_constant() * rho2 / k**2,
            planted=(q_bound(k, lemma) - recursion(k, lemma), (forced_constant() - 1) * rho2 / k**2),
        ),
        Step(
            "lemma_a.statement",
            "symbolic.lemma_a_expr() is the proved hypothesis Q(k)/2 = L/(eps(2-eps)) + (L + V/2)/((1-eps)k)",
            "==",
            lemma,
            proven_bound(),
            planted=(lemma, proven_bound() + spread / ((1 - eps) * k)),
        ),
        Step(
            "lemma_a.eps_half",
            "at eps = 1/2 the bound is (4/3 + 2/k) L + V/k",
            "==",
            lemma.subs(eps, sp.Rational(1, 2)),
            (sp.Rational(4, 3) + 2 / k) * loss + spread / k,
            planted=(lemma.subs(eps, sp.Rational(1, 2)), (sp.Rational(4, 3) + 1 / k) * loss + spread / k),
        ),
    ]
