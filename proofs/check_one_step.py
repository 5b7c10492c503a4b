"""Sympy checks for proofs/one_step.md: greedy is no worse than a uniformly random atom.

The expectation identity E_r ||(1-gamma) a + gamma (g_r - Y)||^2 = ||(1-gamma) a + gamma b||^2 + gamma^2 V
is an identity of polynomials once the atoms, targets and a are written out coordinate by coordinate;
it is checked for several (number of atoms N, flattened dimension D = m C). The proof for general N, D
is the bias-variance decomposition in one_step.md; these instances guard its algebra.
"""

from __future__ import annotations

import sympy as sp

from ebtheory.proofs.checks import Step

SIZES: tuple[tuple[int, int], ...] = ((2, 1), (3, 2), (4, 3))
gamma = sp.Symbol("gamma", positive=True)


def squared_norm(vector: sp.Matrix) -> sp.Expr:
    return sum(entry**2 for entry in vector)


def expectation_parts(n_atoms: int, dim: int) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(E_r ||(1-gamma) a + gamma (g_r - Y)||^2, ||(1-gamma) a + gamma b||^2, V) for symbolic atoms, Y and a."""
    atoms = [sp.Matrix(sp.symbols(f"g{r}_0:{dim}", real=True)) for r in range(n_atoms)]
    target = sp.Matrix(sp.symbols(f"Y_0:{dim}", real=True))
    a = sp.Matrix(sp.symbols(f"a_0:{dim}", real=True))
    dense = sum(atoms, sp.zeros(dim, 1)) / n_atoms  # u is the mean of the atoms
    b = dense - target
    spread = sum(squared_norm(g - dense) for g in atoms) / n_atoms  # V
    expectation = sum(squared_norm((1 - gamma) * a + gamma * (g - target)) for g in atoms) / n_atoms
    return expectation, squared_norm((1 - gamma) * a + gamma * b), spread


def expectation_identity_sides(n_atoms: int, dim: int, variance_factor: sp.Expr = 1) -> tuple[sp.Expr, sp.Expr]:
    """(E_r ||(1-gamma) a + gamma (g_r - Y)||^2, ||(1-gamma) a + gamma b||^2 + variance_factor gamma^2 V)."""
    expectation, bias, spread = expectation_parts(n_atoms, dim)
    return expectation, bias + variance_factor * gamma**2 * spread


def variance_coefficient(n_atoms: int = 3, dim: int = 2) -> sp.Expr:
    """(E_r ||.||^2 - ||(1-gamma) a + gamma b||^2) / V, derived from the atoms (gamma^2 when the identity holds).

    proofs/check_lemma_a.py builds Lemma A's recursion from this derived coefficient, not from a typed one:
    if it depended on the atoms, the recursion would carry their symbols and the induction check would fail."""
    expectation, bias, spread = expectation_parts(n_atoms, dim)
    return sp.factor(sp.cancel((expectation - bias) / spread))


def steps() -> list[Step]:
    result = []
    for n_atoms, dim in SIZES:
        lhs, rhs = expectation_identity_sides(n_atoms, dim)
        wrong_lhs, wrong_rhs = expectation_identity_sides(n_atoms, dim, variance_factor=gamma**-1)
        result.append(
            Step(
                name=f"one_step.expectation_identity[N={n_atoms},D={dim}]",
                claim="E_r||(1-g)a + g(g_r - Y)||^2 = ||(1-g)a + g b||^2 + g^2 V when u = mean of the atoms",
                relation="==",
                lhs=lhs,
                rhs=rhs,
                planted=(wrong_lhs, wrong_rhs),  # gamma V instead of gamma^2 V
            )
        )
    return result
