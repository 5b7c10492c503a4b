"""The proofs' machine checks: all pass, and every planted wrong step is caught (proofs/checks.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.check_initial_loss import relu_moment
from ebtheory.proofs.checks import all_steps, plant, positivity_certificate, run_checks, verify

ROOT = Path(__file__).resolve().parents[1]
STEPS = all_steps()


def run_proofs(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ebtheory.proofs", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_python_m_proofs_passes_every_check():
    completed = run_proofs()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = [line for line in completed.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == len(STEPS)
    assert all(line.startswith("PASS ") for line in lines), completed.stdout


def test_python_m_proofs_exits_nonzero_on_a_planted_wrong_step():
    completed = run_proofs("--plant", "lemma_a.closing", "--only", "lemma_a")
    assert completed.returncode == 1
    assert "FAIL lemma_a.closing" in completed.stdout
    assert "PASS lemma_a.base_case" in completed.stdout


def test_unknown_planted_step_is_a_usage_error():
    completed = run_proofs("--plant", "lemma_a.no_such_step")
    assert completed.returncode == 2
    assert "lemma_a.no_such_step" in completed.stderr


def test_every_step_has_a_planted_wrong_version():
    assert [s.name for s in STEPS if s.planted is None] == []


@pytest.mark.parametrize("name", [s.name for s in STEPS])
def test_planted_wrong_step_fails(name):
    planted = {s.name: s for s in plant(STEPS, name)}[name]
    result = verify(planted)
    assert not result.passed, result


def test_checks_use_the_expressions_of_ebtheory_symbolic(monkeypatch):
    """A typo in symbolic.py's Lemma A constant (V/(4(1-eps)k)) must make the proof checks fail."""
    monkeypatch.setattr(symbolic, "greedy_term_expr", lambda: symbolic.V / (4 * (1 - symbolic.eps) * symbolic.k))
    results = {r.name: r for r in run_checks(all_steps(["ebtheory.proofs.check_lemma_a"]))}
    assert not results["lemma_a.statement"].passed
    assert not results["lemma_a.closing"].passed


def test_positivity_certificate_is_sound_on_small_cases():
    p, q = sp.symbols("p q", positive=True)
    free = sp.Symbol("w", real=True)
    assert positivity_certificate((p + q) ** 2 / (1 + p), {})[0]
    assert not positivity_certificate(-p, {})[0]
    assert not positivity_certificate(p - q, {})[0]
    assert not positivity_certificate(free**2, {})[0]  # w not known positive: no certificate claimed
    eps_symbol = sp.Symbol("e", positive=True)
    assert positivity_certificate(1 - eps_symbol, {eps_symbol: 1 / (1 + p)})[0]


def test_relu_second_moment_matches_monte_carlo():
    """E[u_ic(0)^2] = kappa^2/2 (proofs/initial_loss.md) against a simulated NTK initialisation."""
    rng = np.random.default_rng(0)
    kappa, d, width, trials = 0.7, 5, 64, 4000
    x = rng.standard_normal(d)
    x /= np.linalg.norm(x)
    w = kappa * rng.standard_normal((trials, width, d))
    a = rng.choice([-1.0, 1.0], size=(trials, width))
    outputs = np.sum(a * np.maximum(w @ x, 0.0), axis=1) / np.sqrt(width)
    predicted = float(relu_moment(2).subs(symbolic.kappa, kappa))
    assert np.isclose(predicted, kappa**2 / 2)
    standard_error = np.std(outputs**2) / np.sqrt(trials)
    assert abs(np.mean(outputs**2) - predicted) < 5 * standard_error
    assert abs(np.mean(outputs)) < 5 * np.std(outputs) / np.sqrt(trials)  # the cross term E[u] = 0
