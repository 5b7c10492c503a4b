"""Property tests of Lemma A and the one-step inequality (proofs/lemma_a.md, proofs/one_step.md).

Greedy forward selection with replacement is computed here by brute force (every atom tried at every
step, numpy only), independent of ebtheory.prune. The bound under test is ebtheory.symbolic.lemma_a_bound.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.symbolic import lemma_a_bound


def sum_loss(output: np.ndarray, targets: np.ndarray) -> float:
    """L(u) = 1/2 ||u - Y||_F^2."""
    return 0.5 * float(np.sum((output - targets) ** 2))


def brute_force_greedy_losses(atoms: np.ndarray, targets: np.ndarray, k: int) -> list[float]:
    """L(u_{S_1}), ..., L(u_{S_k}) for S_i = S_{i-1} + argmin_r L(((i-1) u_{S_{i-1}} + g_r)/i), trying every r."""
    selected_sum = np.zeros_like(targets)
    losses = []
    for step in range(1, k + 1):
        candidates = [(selected_sum + atom) / step for atom in atoms]
        candidate_losses = [sum_loss(c, targets) for c in candidates]
        best = int(np.argmin(candidate_losses))
        selected_sum = selected_sum + atoms[best]
        losses.append(candidate_losses[best])
    return losses


@st.composite
def atom_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Atoms g_r (N x m x C) and targets Y (m x C); sometimes Y = u (an interpolating dense net, L(u) = 0)."""
    n_atoms = draw(st.integers(1, 30))
    m = draw(st.integers(1, 20))
    outputs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.01, 1.0, 30.0]))
    rng = np.random.default_rng(seed)
    atoms = scale * rng.standard_normal((n_atoms, m, outputs)) + rng.standard_normal((1, m, outputs))
    if draw(st.booleans()):
        targets = atoms.mean(axis=0)
    else:
        targets = rng.standard_normal((m, outputs))
    return atoms, targets


def dense_output_and_spread(atoms: np.ndarray) -> tuple[np.ndarray, float]:
    """u = mean of the atoms, V = (1/N) sum_r ||g_r - u||_F^2."""
    dense = atoms.mean(axis=0)
    return dense, float(np.mean(np.sum((atoms - dense) ** 2, axis=(1, 2))))


@given(atom_sets(), st.integers(1, 20), st.floats(0.01, 0.99))
def test_lemma_a_bounds_brute_force_greedy_at_every_step(problem, k, eps):
    atoms, targets = problem
    dense, spread = dense_output_and_spread(atoms)
    dense_loss = sum_loss(dense, targets)
    for step, greedy_loss in enumerate(brute_force_greedy_losses(atoms, targets, k), start=1):
        bound = lemma_a_bound(dense_loss, spread, step, eps)
        assert greedy_loss <= bound * (1 + 1e-9) + 1e-12, (step, greedy_loss, bound)


@given(atom_sets(), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_greedy_step_is_no_worse_than_a_uniformly_random_atom(problem, k, seed):
    """From any current subnetwork output (here random), q_k = min_r <= E_r = ||(1-g)a + g b||^2 + g^2 V."""
    atoms, targets = problem
    dense, spread = dense_output_and_spread(atoms)
    gamma = 1.0 / k
    current = np.random.default_rng(seed).standard_normal(targets.shape)  # u_{S_{k-1}}
    a, b = current - targets, dense - targets
    squared = np.array([np.sum(((1 - gamma) * a + gamma * (atom - targets)) ** 2) for atom in atoms])
    expectation = float(squared.mean())
    identity = float(np.sum(((1 - gamma) * a + gamma * b) ** 2)) + gamma**2 * spread
    assert np.isclose(expectation, identity, rtol=1e-9, atol=1e-9)
    assert float(squared.min()) <= expectation * (1 + 1e-12) + 1e-12


@given(atom_sets(), st.floats(0.01, 0.99))
def test_base_case_one_atom_is_within_rho2_plus_v(problem, eps):
    """q_1 = min_r ||g_r - Y||^2 <= rho^2 + V = 2 L(u) + V (proofs/lemma_a.md, base case)."""
    atoms, targets = problem
    dense, spread = dense_output_and_spread(atoms)
    first = brute_force_greedy_losses(atoms, targets, 1)[0]
    assert 2 * first <= (2 * sum_loss(dense, targets) + spread) * (1 + 1e-9) + 1e-12
