"""Sympy checks for proofs/initial_loss.md: E L(0) under the NTK initialisation and the Markov bound.

u_ic(0) = N^{-1/2} sum_r a_rc relu(w_r . x_i), w_r ~ N(0, kappa^2 I), ||x_i|| = 1, so w_r . x_i ~ N(0, kappa^2);
a_rc in {+1, -1} with probability 1/2 each, independent of W and of each other.
"""

from __future__ import annotations

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.checks import Step

z = sp.Symbol("z", real=True)
r = sp.Symbol("r", positive=True, integer=True)


def relu_moment(power: int) -> sp.Expr:
    """E[relu(s)^power] for s ~ N(0, kappa^2): the integral of s^power times the Gaussian density over s > 0."""
    kappa = symbolic.kappa
    density = sp.exp(-(z**2) / (2 * kappa**2)) / (sp.sqrt(2 * sp.pi) * kappa)
    return sp.integrate(z**power * density, (z, 0, sp.oo))


def sign_moment(power: int) -> sp.Expr:
    """E[a^power] for a uniform on {+1, -1}."""
    return sp.Rational(1, 2) * (sp.Integer(1) ** power + sp.Integer(-1) ** power)


def output_second_moment(sign_second_moment: sp.Expr) -> sp.Expr:
    """E[u_ic(0)^2] = (1/N) sum_r E[a_rc^2] E[relu(w_r.x_i)^2]: the r != r' terms vanish since E[a_rc] = 0."""
    width = symbolic.N
    return sp.summation(sign_second_moment * relu_moment(2) / width, (r, 1, width))


def expected_initial_loss(second_moment: sp.Expr, mean_output: sp.Expr) -> sp.Expr:
    """E L(0) = 1/2 (||Y||^2 - 2 sum_ic Y_ic E[u_ic] + sum_ic E[u_ic^2]) with E[u_ic] = mean_output.

    sum_ic Y_ic E[u_ic] = mean_output * (sum of the entries of Y); it vanishes when mean_output = 0, so the
    symbol for the entry sum drops out."""
    y_sum = sp.Symbol("sum_Y", real=True)
    m, outputs, y_norm2 = symbolic.m, symbolic.C, symbolic.y_norm2
    return (y_norm2 - 2 * y_sum * mean_output + m * outputs * second_moment) / 2


def steps() -> list[Step]:
    kappa, width = symbolic.kappa, symbolic.N
    mean_output = sp.summation(sign_moment(1) * relu_moment(1) / sp.sqrt(width), (r, 1, width))
    second = output_second_moment(sign_moment(2))
    markov = expected_initial_loss(second, mean_output) / symbolic.delta
    return [
        Step(
            "initial_loss.relu_second_moment",
            "E[relu(w.x)^2] = kappa^2/2 for w ~ N(0, kappa^2 I), ||x|| = 1",
            "==",
            relu_moment(2),
            kappa**2 / 2,
            planted=(relu_moment(2), kappa**2),
        ),
        Step(
            "initial_loss.relu_first_moment",
            "E[relu(w.x)] = kappa/sqrt(2 pi) is finite, so E[a] E[relu] = 0 below is a product of finite numbers",
            "==",
            relu_moment(1),
            kappa / sp.sqrt(2 * sp.pi),
            planted=(relu_moment(1), kappa / 2),
        ),
        Step(
            "initial_loss.cross_term",
            "E[u_ic(0)] = N^{-1/2} sum_r E[a_rc] E[relu] = 0, so E<u(0), Y> = 0",
            "==",
            mean_output,
            sp.Integer(0),
            planted=(sp.summation(relu_moment(1) / sp.sqrt(width), (r, 1, width)), sp.Integer(0)),
        ),
        Step(
            "initial_loss.output_second_moment",
            "E[u_ic(0)^2] = (1/N) sum_r E[a^2] E[relu^2] = kappa^2/2 per output",
            "==",
            second,
            kappa**2 / 2,
            planted=(second, kappa**2 / 2 * width),
        ),
        Step(
            "initial_loss.markov_bound",
            "E L(0)/delta = (||Y||^2 + m C kappa^2/2)/(2 delta) = symbolic.initial_loss_bound_expr()",
            "==",
            markov,
            symbolic.initial_loss_bound_expr(),
            planted=(markov * 2, symbolic.initial_loss_bound_expr()),
        ),
    ]
