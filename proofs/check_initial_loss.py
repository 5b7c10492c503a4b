"""Sympy checks for proofs/initial_loss.md: E L(0) under the NTK initialisation and the Markov bound.

u_ic(0) = N^{-1/2} sum_r a_rc relu(w_r . x_i), w_r ~ N(0, kappa^2 I), ||x_i|| = 1, so the pre-activations
s_r = w_r . x_i are i.i.d. N(0, kappa^2); the signs a_rc are i.i.d., independent of W, with a law given as
data (SIGN_LAW: +1 and -1 with probability 1/2 each).

No moment is typed by hand: every expectation is computed by sympy over the joint law of the random
variables it involves, as a sum over the sign outcomes times a Gaussian integral over each
pre-activation. The products E[a] E[relu] that a hand proof would write are never used; that the
cross terms (r != r') vanish is a computed result, checked as its own step.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.checks import Step

SIGN_LAW: Mapping[int, sp.Expr] = {1: sp.Rational(1, 2), -1: sp.Rational(1, 2)}
ALL_PLUS: Mapping[int, sp.Expr] = {1: sp.Integer(1)}  # the planted wrong law: a_r = +1 for every r
sign, sign_other = sp.symbols("a a_prime", real=True)
pre, pre_other = sp.symbols("z z_prime", real=True)
relu_value, relu_other = sp.symbols("h h_prime", nonnegative=True)


def gaussian_relu_expectation(expression: sp.Expr, relu_symbol: sp.Symbol, pre_activation: sp.Symbol) -> sp.Expr:
    """E over z ~ N(0, kappa^2) of `expression`, in which relu_symbol stands for relu(z).

    The integral over R splits at 0: relu(z) = z for z > 0 and relu(z) = 0 for z < 0."""
    kappa = symbolic.kappa
    density = sp.exp(-(pre_activation**2) / (2 * kappa**2)) / (sp.sqrt(2 * sp.pi) * kappa)
    negative = sp.integrate(expression.subs(relu_symbol, 0) * density, (pre_activation, -sp.oo, 0))
    positive = sp.integrate(expression.subs(relu_symbol, pre_activation) * density, (pre_activation, 0, sp.oo))
    return sp.simplify(negative + positive)


def sign_expectation(expression: sp.Expr, sign_symbol: sp.Symbol, law: Mapping[int, sp.Expr]) -> sp.Expr:
    """E over a ~ law of `expression`: the sum over the outcomes, weighted by their probabilities."""
    if sp.simplify(sum(law.values()) - 1) != 0:
        raise ValueError(f"a sign law's probabilities must sum to 1; got {dict(law)}")
    return sp.expand(sum(probability * expression.subs(sign_symbol, value) for value, probability in law.items()))


def one_neuron_expectation(expression: sp.Expr, law: Mapping[int, sp.Expr]) -> sp.Expr:
    """E[expression(a, relu(z))] for one neuron: a ~ law independent of z ~ N(0, kappa^2)."""
    return gaussian_relu_expectation(sign_expectation(expression, sign, law), relu_value, pre)


def two_neuron_expectation(expression: sp.Expr, law: Mapping[int, sp.Expr]) -> sp.Expr:
    """E[expression(a, relu(z), a', relu(z'))] for two different neurons r != r': all four independent."""
    over_signs = sign_expectation(sign_expectation(expression, sign, law), sign_other, law)
    return gaussian_relu_expectation(gaussian_relu_expectation(over_signs, relu_value, pre), relu_other, pre_other)


@functools.cache
def relu_moment(power: int) -> sp.Expr:
    """E[relu(s)^power] for s ~ N(0, kappa^2)."""
    return gaussian_relu_expectation(relu_value**power, relu_value, pre)


@functools.cache
def output_moments(law_items: tuple[tuple[int, sp.Expr], ...]) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(E[u_ic], E[a_r a_r' relu_r relu_r'] for r != r', E[u_ic^2]) for sign law `law_items`.

    u_ic = N^{-1/2} sum_r a_r relu_r: E[u_ic] = N^{-1/2} * N * E[a relu] (identically distributed terms);
    E[u_ic^2] = (1/N) (N E[a^2 relu^2] + N (N - 1) E[a a' relu relu'])."""
    law = dict(law_items)
    width = symbolic.N
    mean = sp.sqrt(width) * one_neuron_expectation(sign * relu_value, law)
    cross = two_neuron_expectation(sign * relu_value * sign_other * relu_other, law)
    diagonal = one_neuron_expectation(sign**2 * relu_value**2, law)
    second = sp.simplify((width * diagonal + width * (width - 1) * cross) / width)
    return mean, cross, second


def _law_items(law: Mapping[int, sp.Expr]) -> tuple[tuple[int, sp.Expr], ...]:
    return tuple(sorted(law.items()))


def expected_initial_loss(second_moment: sp.Expr, mean_output: sp.Expr) -> sp.Expr:
    """E L(0) = 1/2 (||Y||^2 - 2 sum_ic Y_ic E[u_ic] + sum_ic E[u_ic^2]), with E[u_ic] = mean_output for all i, c.

    sum_ic Y_ic E[u_ic] = mean_output * (the sum of the entries of Y): when the computed mean is 0 the
    symbol for that sum drops out; otherwise it stays and no Y-free bound can match."""
    y_sum = sp.Symbol("sum_Y", real=True)
    m, outputs, y_norm2 = symbolic.m, symbolic.C, symbolic.y_norm2
    return (y_norm2 - 2 * y_sum * mean_output + m * outputs * second_moment) / 2


def steps() -> list[Step]:
    kappa = symbolic.kappa
    mean, cross, second = output_moments(_law_items(SIGN_LAW))
    wrong_mean, wrong_cross, wrong_second = output_moments(_law_items(ALL_PLUS))
    markov = expected_initial_loss(second, mean) / symbolic.delta
    wrong_markov = expected_initial_loss(wrong_second, wrong_mean) / symbolic.delta
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
            "E[relu(w.x)] = kappa/sqrt(2 pi) is finite",
            "==",
            relu_moment(1),
            kappa / sp.sqrt(2 * sp.pi),
            planted=(relu_moment(1), kappa / 2),
        ),
        Step(
            "initial_loss.cross_term",
            "E[u_ic(0)] = 0, computed over the joint law of (a, w): so E<u(0), Y> = 0",
            "==",
            mean,
            sp.Integer(0),
            planted=(wrong_mean, sp.Integer(0)),
        ),
        Step(
            "initial_loss.off_diagonal_vanishes",
            "E[a_r a_r' relu_r relu_r'] = 0 for r != r' (independent neurons, symmetric signs)",
            "==",
            cross,
            sp.Integer(0),
            planted=(wrong_cross, sp.Integer(0)),
        ),
        Step(
            "initial_loss.output_second_moment",
            "E[u_ic(0)^2] = (1/N)(N E[a^2 relu^2] + N(N-1) E[a a' relu relu']) = kappa^2/2, for every width N",
            "==",
            second,
            kappa**2 / 2,
            planted=(wrong_second, kappa**2 / 2),
        ),
        Step(
            "initial_loss.markov_bound",
            "E L(0)/delta = symbolic.initial_loss_bound_expr() = (||Y||^2 + m C kappa^2/2)/(2 delta)",
            "==",
            markov,
            symbolic.initial_loss_bound_expr(),
            planted=(wrong_markov, symbolic.initial_loss_bound_expr()),
        ),
    ]
