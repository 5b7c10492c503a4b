"""The proofs' machine checks (proofs/checks.py): all pass, every planted wrong step is caught, and every
wrong formula planted in ebtheory.symbolic makes at least one check fail (the mutation test)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from ebtheory import symbolic as S
from ebtheory.proofs.__main__ import main as proofs_main
from ebtheory.proofs.check_initial_loss import relu_moment
from ebtheory.proofs.checks import Step, all_steps, plant, positivity_certificate, run_checks, verify

ROOT = Path(__file__).resolve().parents[1]
STEPS = all_steps()


def run_proofs(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ebtheory.proofs", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_every_check_passes():
    failed = [r for r in run_checks(STEPS) if not r.passed]
    assert failed == []


@pytest.mark.slow
def test_python_m_proofs_passes_every_check():
    completed = run_proofs()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = [line for line in completed.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == len(STEPS)
    assert all(line.startswith("PASS ") for line in lines), completed.stdout


def test_proofs_cli_exits_nonzero_on_a_planted_wrong_step(capsys):
    assert proofs_main(["--plant", "lemma_a.closing", "--only", "lemma_a"]) == 1
    out = capsys.readouterr().out
    assert "FAIL lemma_a.closing" in out
    assert "PASS lemma_a.base_case" in out


def test_unknown_planted_step_is_a_usage_error(capsys):
    assert proofs_main(["--plant", "lemma_a.no_such_step"]) == 2
    assert "lemma_a.no_such_step" in capsys.readouterr().err


def test_every_step_has_a_planted_wrong_version():
    assert [s.name for s in STEPS if s.planted is None] == []


# Planted steps whose failing check takes seconds (sympy tries every rewrite before it gives up): run in
# CI, kept out of the fast loop.
SLOW_PLANTED = {
    "one_step.expectation_identity[N=3,D=2]",
    "one_step.expectation_identity[N=4,D=3]",
    "lemma_a.closing_slack",
    "threshold.pruned_bound",
    "threshold.exact_solves",
    "threshold.bound_at_threshold",
    "threshold.upper_minus_exact",
    "log_m.spread_linear_in_m",
}


def _maybe_slow(name: str, slow: set[str]) -> object:
    return pytest.param(name, marks=pytest.mark.slow) if name in slow else name


@pytest.mark.parametrize("name", [_maybe_slow(s.name, SLOW_PLANTED) for s in STEPS])
def test_planted_wrong_step_fails(name):
    planted = {s.name: s for s in plant(STEPS, name)}[name]
    result = verify(planted)
    assert not result.passed, result


# --------------------------------------------------------------------------- the mutation test
# Each entry replaces one function of ebtheory.symbolic by a wrong formula. The symbolic module calls its
# own functions through module globals, so a wrong c1 also reaches lemma_a_expr, t*, tol and the rest,
# as a typo in the file would.
eps, k, V, L, s = S.eps, S.k, S.V, S.dense_loss, S.cosine
MUTATIONS: dict[str, tuple[str, Callable[..., sp.Expr]]] = {
    "c1: changed constant 1/(2 eps(2-eps))": (
        "c1_expr",
        lambda: 1 / (2 * eps * (2 - eps)) + 1 / ((1 - eps) * k),
    ),
    "c1: dropped term 1/((1-eps)k)": ("c1_expr", lambda: 1 / (eps * (2 - eps))),
    "c1: looser but true 2/((1-eps)k)": ("c1_expr", lambda: 1 / (eps * (2 - eps)) + 2 / ((1 - eps) * k)),
    "greedy term: V/(4(1-eps)k)": ("greedy_term_expr", lambda: V / (4 * (1 - eps) * k)),
    "greedy term: dropped 1-eps": ("greedy_term_expr", lambda: V / (2 * k)),
    "lemma A: doubled greedy term": ("lemma_a_expr", lambda: S.c1_expr() * L + 2 * S.greedy_term_expr()),
    "lemma A: dropped dense term": ("lemma_a_expr", lambda: S.greedy_term_expr()),
    "tol: the sketch's V/k": ("tol_expr", lambda: V / k),
    "H_inf: pi instead of 2 pi": ("h_inf_entry_expr", lambda: s * (sp.pi - sp.acos(s)) / sp.pi),
    "H_inf: dropped factor s": ("h_inf_entry_expr", lambda: (sp.pi - sp.acos(s)) / (2 * sp.pi)),
    "H_inf: arccos s for pi - arccos s": ("h_inf_entry_expr", lambda: s * sp.acos(s) / (2 * sp.pi)),
    "H_inf: the sine term of the degree-1 arc-cosine kernel added": (
        "h_inf_entry_expr",
        lambda: (s * (sp.pi - sp.acos(s)) + sp.sqrt(1 - s**2)) / (2 * sp.pi),
    ),
    "L0 bound: kappa^2 not halved": (
        "initial_loss_bound_expr",
        lambda: (S.y_norm2 + S.m * S.C * S.kappa**2) / (2 * S.delta),
    ),
    "L0 bound: dropped ||Y||^2": ("initial_loss_bound_expr", lambda: S.m * S.C * S.kappa**2 / (4 * S.delta)),
    "L0 bound: delta for 2 delta": (
        "initial_loss_bound_expr",
        lambda: (S.y_norm2 + S.m * S.C * S.kappa**2 / 2) / S.delta,
    ),
    "dense rate: eta lambda0/4": ("dense_rate_factor_expr", lambda: 1 - S.eta * S.lambda0 / 4),
    "dense rate: eta lambda0": ("dense_rate_factor_expr", lambda: 1 - S.eta * S.lambda0),
    "dense loss bound: exponent 2t": ("dense_loss_bound_expr", lambda: S.dense_rate_factor_expr() ** (2 * S.t) * S.L0),
    "t* upper: 1/(eta lambda0)": (
        "threshold_upper_generic_expr",
        lambda: 1 / (S.eta * S.lambda0) * sp.log(S.c1_symbol * S.L0 / S.tolerance),
    ),
    "t* exact: eta lambda0/2 for its log": (
        "threshold_exact_generic_expr",
        lambda: sp.log(S.c1_symbol * S.L0 / S.tolerance) / (S.eta * S.lambda0 / 2),
    ),
    "t* log argument: 2 tol": (
        "threshold_log_argument_expr",
        lambda: S.c1_expr() * S.L0 / (2 * S.tol_expr()),
    ),
    "pruned bound: dropped c1": (
        "pruned_loss_bound_expr",
        lambda initial_loss=None: S.dense_loss_bound_expr() + S.greedy_term_expr(),
    ),
    "per-example log argument: m left in": (
        "per_example_log_argument_expr",
        lambda: S.c1_expr() * S.initial_loss_bound_expr().subs(S.y_norm2, S.m) / S.tol_expr(),
    ),
}


def _same(step: Step, reference: Step) -> bool:
    return bool(step.lhs == reference.lhs and step.rhs == reference.rhs and step.substitution == reference.substitution)


def first_failure(steps: list[Step]) -> str | None:
    """The name of the first failing step, checking only steps the mutation changed: an unchanged step is
    the same sympy claim as in STEPS, which test_every_check_passes shows passes."""
    reference = {step.name: step for step in STEPS}
    for step in steps:
        if not _same(step, reference[step.name]) and not verify(step).passed:
            return step.name
    return None


SLOW_MUTATIONS = {
    "c1: dropped term 1/((1-eps)k)",
    "c1: looser but true 2/((1-eps)k)",
    "lemma A: doubled greedy term",
    "dense rate: eta lambda0/4",
    "dense rate: eta lambda0",
    "dense loss bound: exponent 2t",
    "t* upper: 1/(eta lambda0)",
    "t* exact: eta lambda0/2 for its log",
    "t* log argument: 2 tol",
    "pruned bound: dropped c1",
}


@pytest.mark.parametrize("mutation", [_maybe_slow(name, SLOW_MUTATIONS) for name in sorted(MUTATIONS)])
def test_a_wrong_formula_in_symbolic_fails_a_proof_check(mutation, monkeypatch):
    assert set(SLOW_MUTATIONS) <= set(MUTATIONS)
    function_name, wrong = MUTATIONS[mutation]
    assert hasattr(S, function_name)
    monkeypatch.setattr(S, function_name, wrong)
    mutated = all_steps()
    assert [step.name for step in mutated] == [step.name for step in STEPS]
    assert first_failure(mutated) is not None, f"no proof check caught the planted formula: {mutation}"


def test_first_failure_sees_no_failure_without_a_mutation():
    """The mutation test's helper is not vacuous: the unmutated steps give no failure, a planted step does."""
    assert first_failure(all_steps()) is None
    assert first_failure(plant(STEPS, "lemma_a.coefficient_nonnegative")) == "lemma_a.coefficient_nonnegative"


# --------------------------------------------------------------------------- certificates and Monte Carlo
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
    predicted = float(relu_moment(2).subs(S.kappa, kappa))
    assert np.isclose(predicted, kappa**2 / 2)
    standard_error = np.std(outputs**2) / np.sqrt(trials)
    assert abs(np.mean(outputs**2) - predicted) < 5 * standard_error
    assert abs(np.mean(outputs)) < 5 * np.std(outputs) / np.sqrt(trials)  # the cross term E[u] = 0


@pytest.mark.parametrize("cosine", [0.9, 0.3, -0.5])
def test_h_inf_entry_matches_monte_carlo_in_six_dimensions(cosine):
    """The 2-D reduction of proofs/h_inf.md, checked where it is not assumed: w ~ N(0, I_6)."""
    rng = np.random.default_rng(1)
    x = np.zeros(6)
    x[0] = 1.0
    y = np.zeros(6)
    y[0], y[3] = cosine, np.sqrt(1 - cosine**2)
    w = rng.standard_normal((400_000, 6))
    samples = cosine * ((w @ x > 0) & (w @ y > 0))
    predicted = float(S.h_inf_entry_expr().subs(S.cosine, cosine))
    assert abs(samples.mean() - predicted) < 5 * samples.std() / np.sqrt(samples.size)
