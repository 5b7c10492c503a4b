"""Sympy checks for proofs/h_inf.md: the H_inf entry is the arc-cosine kernel integral.

For unit inputs x, y at angle theta (cosine s = cos theta), H_inf[x, y] = E_w[x.y 1{w.x > 0} 1{w.y > 0}]
with w ~ N(0, I). The indicators depend on w only through its projection onto the plane of x and y, a
standard 2-D Gaussian; in polar coordinates (r, phi) of that plane, with x at phi = 0 and y at
phi = theta, the probability is the Gaussian mass of the set {cos(phi) > 0, cos(phi - theta) > 0}.
sympy solves both inequalities on the circle, intersects the solution sets and integrates the polar
density r exp(-r^2/2)/(2 pi) over them, at exact angles theta in [0, pi]; the result times s must equal
`ebtheory.symbolic.h_inf_entry_expr()` at s = cos(theta).
"""

from __future__ import annotations

import functools

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.checks import Step

phi = sp.Symbol("phi", real=True)
radius = sp.Symbol("r", positive=True)
# Exact angles in [0, pi]: both ends (s = 1, s = -1), acute and obtuse angles. The right angle is left out:
# there s = 0 and both sides vanish whatever the probability, so it would check nothing.
ANGLES: tuple[sp.Expr, ...] = (sp.Integer(0), sp.pi / 6, sp.pi / 3, 2 * sp.pi / 3, 3 * sp.pi / 4, sp.pi)
CIRCLE = sp.Interval.Ropen(0, 2 * sp.pi)


def half_plane(direction_angle: sp.Expr) -> sp.Set:
    """The angles phi on the circle with w(phi) . x > 0 for the unit x at angle `direction_angle`."""
    return sp.solveset(sp.cos(phi - direction_angle) > 0, phi, CIRCLE)


def _intervals(angles: sp.Set) -> list[sp.Interval]:
    if angles is sp.S.EmptySet:
        return []
    if isinstance(angles, sp.Interval):
        return [angles]
    if isinstance(angles, sp.Union) and all(isinstance(part, sp.Interval) for part in angles.args):
        return list(angles.args)
    raise ValueError(f"expected a union of intervals of angles; got {angles}")


@functools.cache
def radial_mass() -> sp.Expr:
    """int_0^oo r exp(-r^2/2) dr: the radial factor of the standard 2-D Gaussian in polar coordinates."""
    return sp.integrate(radius * sp.exp(-(radius**2) / 2), (radius, 0, sp.oo))


def gaussian_mass(angles: sp.Set) -> sp.Expr:
    """P(phi in angles) for a standard 2-D Gaussian w: its polar density r exp(-r^2/2)/(2 pi) factorises,
    so the mass is the radial factor times the integral of d phi/(2 pi) over the angles."""
    angular = sp.Add(*(sp.integrate(1 / (2 * sp.pi), (phi, part.start, part.end)) for part in _intervals(angles)))
    return radial_mass() * angular


@functools.cache
def both_active_probability(theta: sp.Expr) -> sp.Expr:
    """P(w.x > 0 and w.y > 0) for unit x, y at angle theta: the mass of the intersection of two half-planes."""
    return gaussian_mass(sp.Intersection(half_plane(sp.Integer(0)), half_plane(theta)))


@functools.cache
def one_active_probability(theta: sp.Expr) -> sp.Expr:
    """P(w.y > 0) alone: 1/2 for every theta."""
    return gaussian_mass(half_plane(theta))


def independent_probability(theta: sp.Expr) -> sp.Expr:
    """P(w.x > 0) P(w.y > 0) = 1/4: the planted wrong step treats the two indicators as independent."""
    return one_active_probability(sp.Integer(0)) * one_active_probability(theta)


def kernel_integral(theta: sp.Expr, probability: sp.Expr) -> sp.Expr:
    """E_w[x.y 1{w.x > 0} 1{w.y > 0}] = cos(theta) * P(both active): x.y is a constant, not random."""
    return sp.cos(theta) * probability


def steps() -> list[Step]:
    entry = symbolic.h_inf_entry_expr()
    result = [
        Step(
            "h_inf.half_plane_mass",
            "a half-plane through the origin has Gaussian mass 1/2 (the polar density integrates correctly)",
            "==",
            one_active_probability(sp.pi / 3),
            sp.Rational(1, 2),
            planted=(gaussian_mass(sp.Interval(0, sp.pi / 3)), sp.Rational(1, 2)),
        )
    ]
    for theta in ANGLES:
        integral = kernel_integral(theta, both_active_probability(theta))
        at_cosine = entry.subs(symbolic.cosine, sp.cos(theta))
        result.append(
            Step(
                f"h_inf.entry[theta={theta}]",
                "symbolic.h_inf_entry_expr() at s = cos(theta) equals the 2-D polar integral of x.y 1{w.x>0} 1{w.y>0}",
                "==",
                at_cosine,
                integral,
                planted=(at_cosine, kernel_integral(theta, independent_probability(theta))),
            )
        )
    return result
