"""Every fast path of the two-layer harness unit against its slow, obvious twin (issue 10).

- GFS with one shared atom Gram per checkpoint vs a separate call per target: identical choices.
- fast_gd's fused ReLU backward vs the separate comparison and multiply: the same numbers.
- the first-layer NTK operator with a precomputed activation pattern vs the one it computes.
- hidden_gram_lambda_min's float32 co-activation counts and cached cosines vs the float64 Gram.
- the float64 input cache vs a fresh conversion.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebtheory.constants.ntk import two_layer_ntk_operator
from ebtheory.prune.gfs import atom_gram, greedy_forward_selection, shared_gram
from ebtheory.verify import families as fam
from ebtheory.verify import fast_gd
from ebtheory.verify.context import UnitData


def _net(seed: int, m: int, d: int, n: int, c: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    W1 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    W2 = torch.sign(torch.randn(n, c, generator=gen, dtype=torch.float64)) / n**0.5
    Y = torch.nn.functional.one_hot(torch.randint(0, c, (m,), generator=gen), c).to(torch.float64)
    return X, W1, W2, Y


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    m=st.integers(2, 40),
    n=st.integers(1, 24),
    c=st.integers(1, 4),
    k=st.integers(1, 30),
    replacement=st.booleans(),
    duplicate=st.booleans(),
)
def test_shared_gram_gfs_matches_separate_calls(
    seed: int, m: int, n: int, c: int, k: int, replacement: bool, duplicate: bool
) -> None:
    X, W1, W2, Y = _net(seed, m, 5, n, c)
    if duplicate and n > 1:  # planted ties: a duplicate neuron goes to the lowest copy either way
        W1[-1], W2[-1] = W1[0], W2[0]
    if not replacement:
        k = min(k, n)
    H = torch.relu(X @ W1.T)
    dense = H @ W2
    gram = atom_gram(H, W2, dtype=torch.float64)
    for target in (Y, dense):
        alone = greedy_forward_selection(H, W2, target, k, replacement=replacement, form="gram")
        shared = greedy_forward_selection(H, W2, target, k, replacement=replacement, gram=gram)
        assert shared.form == "gram"
        assert torch.equal(shared.indices, alone.indices)
        assert torch.equal(shared.counts, alone.counts)
        np.testing.assert_array_equal(shared.losses, alone.losses)


def test_shared_gram_follows_auto_form() -> None:
    X, W1, W2, Y = _net(0, 30, 5, 40, 2)
    H = torch.relu(X @ W1.T)
    assert shared_gram(H, W2, 5) is None  # N = 40 > 2 k C = 20: "auto" runs the residual form
    assert greedy_forward_selection(H, W2, Y, 5).form == "residual"
    gram = shared_gram(H, W2, 10)
    assert gram is not None and torch.equal(gram, atom_gram(H, W2, dtype=torch.float64))
    assert shared_gram(H, W2, 10, memory_limit_bytes=8) is None  # does not fit


def test_shared_gram_is_validated() -> None:
    X, W1, W2, Y = _net(1, 10, 3, 6, 2)
    H = torch.relu(X @ W1.T)
    with pytest.raises(ValueError, match="gram must be the"):
        greedy_forward_selection(H, W2, Y, 3, gram=torch.zeros(5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="dtype"):
        greedy_forward_selection(H, W2, Y, 3, gram=torch.zeros(6, 6, dtype=torch.float32))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 50), n=st.integers(1, 40))
def test_fused_relu_backward_matches_mask_multiply(seed: int, m: int, n: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    pre = torch.randn(m, n, generator=gen)
    pre[pre.abs() < 0.3] = 0.0  # exact zeros: relu'(0) = 0, as torch
    grad = torch.randn(m, n, generator=gen)
    slow = grad * (pre > 0)
    fast = grad.clone()
    fast_gd._relu_backward_(fast, pre)
    assert torch.equal(fast, slow)


def test_operator_with_given_activations_matches_computed() -> None:
    X, W1, W2, _ = _net(3, 25, 6, 12, 3)
    active = (X @ W1.T > 0).to(torch.float64)
    v = np.random.default_rng(0).standard_normal(25 * 3)
    slow = two_layer_ntk_operator(X, W1, W2) @ v
    fast = two_layer_ntk_operator(X, W1, W2, active=active) @ v
    np.testing.assert_array_equal(fast, slow)
    assert fam._first_layer_lambda_max(X, W1, W2, active) == fam._first_layer_lambda_max(X, W1, W2)
    with pytest.raises(ValueError, match="active"):
        two_layer_ntk_operator(X, W1, W2, active=active.float())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(2, 60), n=st.integers(1, 50))
def test_hidden_gram_lambda_min_matches_float64_gram(seed: int, m: int, n: int) -> None:
    X, W1, _, _ = _net(seed, m, 4, n, 1)
    active = (X @ W1.T > 0).to(torch.float64)
    spectrum = torch.linalg.eigvalsh((X @ X.T) * (active @ active.T) / n)
    slow, largest = float(spectrum[0]), float(spectrum[-1].abs())
    # dsyevr (one eigenvalue) vs torch's dsyevd (all): both backward stable, so they agree to a few
    # m * eps * ||gram||, absolute (relative to lambda_min only when the Gram is well conditioned)
    tol = 8 * m * np.finfo(np.float64).eps * largest
    first = fam.hidden_gram_lambda_min(X, W1)
    assert first is not None and abs(first - slow) <= tol
    assert fam.hidden_gram_lambda_min(X, W1, X @ X.T) == first  # the unit's cosines passed in: the same value


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 80), rank=st.integers(1, 80))
def test_smallest_eigenvalue_matches_torch_eigvalsh(seed: int, m: int, rank: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    factor = torch.randn(m, rank, generator=gen, dtype=torch.float64)
    gram = factor @ factor.T - 0.1 * torch.eye(m, dtype=torch.float64)  # also singular and indefinite
    spectrum = torch.linalg.eigvalsh(gram)
    tol = 8 * m * np.finfo(np.float64).eps * float(spectrum.abs().max())
    assert abs(fam._smallest_eigenvalue(gram) - float(spectrum[0])) <= tol


def test_unit_data_float64_views_are_the_conversion_computed_once() -> None:
    X = torch.randn(7, 3)
    labels = torch.zeros(7, dtype=torch.long)
    data = UnitData(X=X, Y=torch.zeros(7, 2), y=labels, X_test=X, y_test=labels, num_classes=2, input_shape=(3,))
    first = data.X64
    assert torch.equal(first, X.to(torch.float64)) and first.dtype == torch.float64
    assert data.X64 is first  # cached on the instance
    assert torch.equal(data.cosines64, first @ first.T) and data.cosines64 is data.cosines64
    other = dataclasses.replace(data, X=torch.randn(7, 3))  # a new instance: its own views
    assert torch.equal(other.X64, other.X.double())


def test_unit_above_the_spectrum_cap_records_no_lambda0_and_reports_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paper scale (issue 12) in miniature: with the cap below m, the unit writes lambda0 = lambda_max = None
    and no prediction instead of computing the m x m H_inf spectrum, and the analysis and the report
    read the row and say why the hypotheses that need lambda0 are not recorded."""
    from ebtheory.verify import records, unit
    from ebtheory.verify.analysis import analyze
    from ebtheory.verify.analysis.hypotheses import NO_LAMBDA0
    from ebtheory.verify.presets import get_preset
    from ebtheory.verify.report import build_report, format_report

    spec = dataclasses.replace(get_preset("tiny"), earlybird=False)
    monkeypatch.setattr(fam, "H_INF_SPECTRUM_MAX_M", 15)
    records.write_spec(tmp_path, spec)
    unit.run_unit(spec, 16, 0, str(tmp_path), device="cpu")
    row = records.read_record(tmp_path / records.UNITS_DIR / records.unit_filename(16, 0), records.UnitRow)
    assert row.constants is not None
    assert row.constants.lambda0 is None and row.constants.lambda_max is None
    assert row.constants.eta_times_lambda_max is None
    assert row.predicted is None and row.hypotheses is None
    run = records.load_run(tmp_path)
    analysis = analyze(run)
    assert analysis.constants[0].lambda0 is None and analysis.constants[0].rate_predicted is None
    assert NO_LAMBDA0 in format_report(analysis)
    build_report(analysis)
