"""The unit split by concern: one family object per model, shared data selection, measured hypotheses.

Checks each piece against an independent twin: the subset `ebtheory estimate` loads against the
harness's; lambda_min(H(t)) against the Gram built entry by entry; the recorded hypotheses against
their formulas on the session's real `tiny` run; a deep-MLP unit end to end, its Early-Bird ticket
against the net with the unkept neurons cut out by hand.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ebtheory.cli import estimate
from ebtheory.data.selection import training_subset
from ebtheory.verify import records, unit
from ebtheory.verify.families import FAMILIES, family_of, hidden_gram_lambda_min
from ebtheory.verify.presets import TINY
from ebtheory.verify.spec import MODELS, ExperimentSpec, earlybird_ratio

VERIFY = Path(unit.__file__).resolve().parent


@pytest.mark.parametrize("m, seed", [(40, 0), (40, 3), (97, 1)])
def test_estimate_and_the_harness_draw_the_same_training_subset(m: int, seed: int) -> None:
    args = argparse.Namespace(data="digits", data_dir=None, m=m, seed=seed)
    X_estimate, Y_estimate = estimate._load(args)
    spec = dataclasses.replace(TINY, ms=(16, 24, 32, m) if m > 32 else TINY.ms)
    data = unit.load_unit_data(spec, m, seed)
    assert torch.equal(X_estimate, data.X) and torch.equal(Y_estimate, data.Y)
    # nested in m for one seed, and another seed draws another subset
    smaller = training_subset("digits", None, m // 2, seed)
    assert torch.equal(smaller.indices, training_subset("digits", None, m, seed).indices[: m // 2])
    assert not torch.equal(training_subset("digits", None, m, seed + 1).indices, smaller.indices)


def test_training_subset_rejects_bad_arguments_naming_them() -> None:
    with pytest.raises(ValueError, match="m must be an integer in"):
        training_subset("digits", None, 10**6, 0)
    with pytest.raises(ValueError, match="seed"):
        training_subset("digits", None, 10, -1)
    with pytest.raises(ValueError, match="n_test"):
        training_subset("digits", None, 10, 0, n_test=-1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_gram_lambda_min_against_the_gram_built_entry_by_entry(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    m, d, N = 12, 5, 9
    X = torch.randn(m, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    W = torch.randn(N, d, generator=gen, dtype=torch.float64)
    H = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            both = sum(float(W[r] @ X[i] > 0 and W[r] @ X[j] > 0) for r in range(N))
            H[i, j] = float(X[i] @ X[j]) * both / N
    expected = float(np.linalg.eigvalsh(H)[0])
    assert hidden_gram_lambda_min(X, W) == pytest.approx(expected, abs=1e-12)


def test_hidden_gram_lambda_min_matrix_free_path_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(40, 8, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    W = torch.randn(30, 8, generator=gen, dtype=torch.float64)
    dense = hidden_gram_lambda_min(X, W)
    monkeypatch.setattr("ebtheory.verify.families.DENSE_GRAM_MAX_M", 10)
    lanczos = hidden_gram_lambda_min(X, W)
    assert dense is not None and lanczos is not None
    assert lanczos == pytest.approx(dense, rel=1e-6, abs=1e-9)
    monkeypatch.setattr("ebtheory.verify.families.MATRIX_FREE_MAX_MACS", 100)
    assert hidden_gram_lambda_min(X, W) is None  # too costly to measure: unmeasured, never a number


def test_recorded_hypotheses_follow_their_formulas_on_the_tiny_run(tiny_run: records.RunRecord) -> None:
    for u in tiny_run.units:
        hyp, constants = u.hypotheses, u.constants
        assert hyp is not None and constants is not None
        points = tiny_run.points_for(u.m, u.seed)
        lam0, m = constants.lambda0, u.m
        assert hyp.lazy_radius == pytest.approx(TINY.kappa * TINY.delta * lam0 / m**2, rel=1e-12)
        drifts = [p.diagnostics.drift for p in points]
        lams = [p.diagnostics.lambda_min_H for p in points]
        assert drifts[0] == 0.0 and hyp.drift_max == max(drifts)
        assert hyp.drift_within_radius == (max(drifts) <= hyp.lazy_radius)
        assert hyp.lambda_min_H0 == lams[0] and hyp.lambda_min_H_min == min(lams)
        assert hyp.lambda_min_H0_held == (lams[0] >= 0.75 * lam0)
        assert hyp.lambda_min_H_held == (min(lams) >= 0.5 * lam0)
        assert hyp.eta_bound == pytest.approx(lam0 / m**2) and hyp.eta_held == (TINY.eta <= hyp.eta_bound)
        assert hyp.width_bound == pytest.approx(m**6 / (lam0**4 * TINY.delta**3), rel=1e-9)
        assert hyp.width_held == (TINY.width >= hyp.width_bound)
        assert hyp.V_ratio_max == pytest.approx(max(p.V for p in points) / points[0].V)


def test_lambda_min_at_t0_is_that_of_the_initial_net(tiny_run: records.RunRecord) -> None:
    """The t = 0 diagnostics from the freshly built net, recomputed outside the unit."""
    m, seed = TINY.ms[0], TINY.seeds[0]
    data = unit.load_unit_data(TINY, m, seed)
    model = unit.build_model(TINY, data, seed)
    X = data.X.double()
    active = (X @ model.input_weights.detach().double().T > 0).double()
    H = (X @ X.T) * (active @ active.T) / TINY.width
    point = next(p for p in tiny_run.points_for(m, seed) if p.t == 0)
    assert point.diagnostics.lambda_min_H == pytest.approx(float(np.linalg.eigvalsh(H.numpy())[0]), abs=1e-12)


DEEP = ExperimentSpec(
    name="deep",
    dataset="digits",
    model="deep_mlp",
    ms=(16, 24, 32, 48),
    n_test=30,
    mlp_widths=(12, 10),
    eta=0.02,
    checkpoints=(0, 1, 2, 3, 4, 5),
    k=4,
    baselines=(),
    finetune_steps=2,
    finetune_eta=0.01,
    earlybird_window=3,
    earlybird_eps=0.5,
    imp_rounds=1,
)


def test_deep_mlp_unit_end_to_end(tmp_path: Path) -> None:
    unit.run_unit(DEEP, 16, 0, str(tmp_path), device="cpu")
    run_points = [records.read_point(tmp_path, 16, 0, t) for t in DEEP.checkpoints]
    for point in run_points:
        assert point.width is None and point.V is None and point.diagnostics is None
        assert set(point.subnets) == {"gfs_labels", "gfs_dense"}
        for entry in point.subnets.values():
            assert entry.lemma_a is None and entry.finetuned is not None
            assert 1 <= entry.distinct <= DEEP.k * len(DEEP.mlp_widths)
            assert entry.params_after < entry.params_before and entry.macs_after < entry.macs_before
    row = records.read_record(tmp_path / records.UNITS_DIR / records.unit_filename(16, 0), records.UnitRow)
    assert row.constants is None and row.predicted is None and row.hypotheses is None
    eb = row.earlybird
    assert eb.score == "neuron_norm" and eb.total == sum(DEEP.mlp_widths)
    assert eb.ratio == pytest.approx(earlybird_ratio(DEEP)) == pytest.approx(1 - 8 / 22)
    assert eb.kept == DEEP.k * len(DEEP.mlp_widths)
    if row.tickets is not None:
        tickets = row.tickets
        assert tickets.earlybird.neurons == tickets.gfs.neurons == sum(tickets.kept_per_block)
        assert tickets.earlybird.params == tickets.gfs.params  # formula vs layer-wise's smaller net
        assert tickets.imp.total_iterations == tickets.budget_iterations


def test_deep_mlp_earlybird_ticket_is_the_net_without_the_unkept_neurons() -> None:
    ctx = unit.unit_context(DEEP, 16, 0)
    family = FAMILIES["deep_mlp"]
    model = family.build(DEEP, ctx.data, 0).eval()
    mask = family.earlybird_mask(model, earlybird_ratio(DEEP))
    pair = family.tickets_at(ctx, model, mask, 3)
    # Slow twin: cut the unkept neurons out (rows of their layer, columns of the next).
    parts = mask.split(list(model.hidden_widths))
    cut = copy.deepcopy(model)
    with torch.no_grad():
        for index, part in enumerate(parts):
            layer, after = cut.layers[index], cut.layers[index + 1]
            layer.weight[~part] = 0
            layer.bias[~part] = 0
            after.weight[:, ~part] = 0
    expected = unit.network_numbers(DEEP, cut, ctx.data, torch.device("cpu"))
    assert dataclasses.asdict(pair.earlybird.pruned) == pytest.approx(dataclasses.asdict(expected))
    kept = [int(part.sum()) for part in parts]
    d, C = 64, 10
    sizes = [d, *kept, C]
    assert pair.earlybird.params == sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    assert pair.kept_per_block == tuple(kept) and 0 <= pair.overlap <= sum(kept)


def test_every_model_has_a_family_and_the_driving_code_has_no_model_branches() -> None:
    assert set(FAMILIES) == set(MODELS)
    assert all(
        family_of(dataclasses.replace(TINY, model=name, finetune_eta=0.01, baselines=())) is FAMILIES[name]
        for name in ("ntk", "mean_field")
    )
    for name in ("unit.py", "context.py", "earlybird_tickets.py"):
        source = (VERIFY / name).read_text()
        assert not re.search(r"model\s*(==|!=)|\.model\s+in\b", source), name


def test_sgd_with_batch_size_zero_trains_full_batch() -> None:
    spec = dataclasses.replace(TINY, optimizer="sgd", batch_size=0)
    config = unit.unit_context(spec, 16, 0).train_config()
    assert config.optimizer == "sgd" and config.batch_size == 16
    assert math.isclose(config.lr, spec.eta)
