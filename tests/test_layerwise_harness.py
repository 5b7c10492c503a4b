"""The layer-wise families in the practitioner regime (issue 12.3): BatchNorm statistics re-estimated for
every reported number (the dense net on a copy, every subnetwork, every fine-tuned net), GFS scored on a
seeded subset of spec.gfs_examples training rows, the magnitude (L1) and random baselines at the GFS
labels subnetwork's size per layer, and tiny cnn / deep_mlp sweeps on the epoch clock end to end."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from ebtheory.prune.batchnorm import batch_norms, reestimate_batch_norm
from ebtheory.prune.layerwise import LayerwiseOptions, l1_norm_units, layerwise_gfs, prune_units, random_units
from ebtheory.train import fine_tune
from ebtheory.verify import records, unit
from ebtheory.verify.analysis import analyze
from ebtheory.verify.context import UnitContext, point_seed
from ebtheory.verify.families import FAMILIES, LayerwiseFamily
from ebtheory.verify.presets import TINY
from ebtheory.verify.report import format_report
from ebtheory.verify.runner import run_sweep
from ebtheory.verify.spec import ExperimentSpec

CNN_CLOCK = dataclasses.replace(
    TINY,
    name="cnn-clock",
    dtype="float32",  # the layer-wise presets' float type (TINY is float64)
    model="cnn",
    cnn_widths=(4, 6),
    optimizer="sgd",
    train_loss="cross_entropy",
    batch_size=8,
    momentum=0.9,
    eta=0.05,
    ticks_per_epoch=2,
    checkpoints=(0, 1, 2, 4),
    earlybird_masks=0,
    earlybird_window=2,
    earlybird_eps=0.5,
    imp_rounds=1,
    k=2,
    keep_fraction=0.5,
    replacement=False,
    targets=("labels", "dense"),
    baselines=("magnitude", "random"),
    finetune_steps=1,
    finetune_eta=0.01,
    gfs_examples=20,
    n_test=60,
)
DEEP_CLOCK = dataclasses.replace(
    CNN_CLOCK, name="mlp-clock", model="deep_mlp", mlp_widths=(10, 12), train_loss="mean_squares", eta=0.5
)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items()}


def _trained_cnn(ctx: UnitContext) -> nn.Module:
    """A CNN of the spec after a few SGD steps, its running statistics then made stale on purpose."""
    model = FAMILIES["cnn"].build(ctx.spec, ctx.data, ctx.seed)
    fine_tune(model, ctx.data.X, ctx.targets, 6, ctx.train_config())
    with torch.no_grad():
        for bn in batch_norms(model):
            bn.running_var.mul_(4.0)
            bn.running_mean.add_(0.3)
    return model.eval()


def _recalibrated(ctx: UnitContext, model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    reestimate_batch_norm(twin, ctx.data.X)
    return twin


def test_dense_numbers_of_a_cnn_come_from_reestimated_statistics_and_leave_the_net_unchanged() -> None:
    ctx = unit.unit_context(CNN_CLOCK, 48, 0, "cpu")
    model = _trained_cnn(ctx)
    before = _state(model)
    numbers = FAMILIES["cnn"].dense_numbers(ctx, model)
    after = _state(model)
    assert all(torch.equal(before[name], after[name]) for name in before)  # the training net is untouched
    assert numbers == ctx.numbers(_recalibrated(ctx, model))
    assert numbers != ctx.numbers(model)  # the stale statistics give other numbers


def test_the_unit_reports_the_dense_net_through_the_family_hook(tmp_path: Path, monkeypatch) -> None:
    calls: list[int] = []
    family = FAMILIES["cnn"]
    original = family.dense_numbers

    def spy(ctx: UnitContext, model: nn.Module):
        calls.append(id(model))
        return original(ctx, model)

    monkeypatch.setattr(family, "dense_numbers", spy)
    spec = dataclasses.replace(CNN_CLOCK, earlybird=False, baselines=(), targets=("labels",), finetune_steps=0)
    unit.run_unit(spec, 16, 0, str(tmp_path), device="cpu")
    assert len(calls) == len(spec.checkpoints)


def test_finetuned_numbers_are_taken_after_reestimation() -> None:
    ctx = unit.unit_context(CNN_CLOCK, 48, 0, "cpu")
    model = _trained_cnn(ctx)
    before = _state(model)
    got = ctx.finetuned(model, 0.01)
    assert all(torch.equal(before[name], value) for name, value in _state(model).items())
    twin = copy.deepcopy(model)
    fine_tune(twin, ctx.data.X, ctx.targets, ctx.iterations(CNN_CLOCK.finetune_steps), ctx.train_config(finetune=True))
    stale = ctx.numbers(twin)
    reestimate_batch_norm(twin, ctx.data.X)
    assert got == ctx.numbers(twin)
    assert got != stale


def test_gfs_scores_on_the_seeded_subset_and_reestimates_on_all_m() -> None:
    ctx = unit.unit_context(CNN_CLOCK, 48, 0, "cpu")
    family = FAMILIES["cnn"]
    assert isinstance(family, LayerwiseFamily)
    model = _trained_cnn(ctx)
    rows = family._gfs_rows(ctx, 4)
    assert rows is not None and len(rows) == CNN_CLOCK.gfs_examples == len(set(rows.tolist()))
    assert torch.equal(rows, family._gfs_rows(ctx, 4))  # the same subset for both targets and the ticket
    measure = family.measure_point(ctx, model, model, 4)
    direct = layerwise_gfs(
        model,
        ctx.data.X[rows],
        ctx.targets[rows],
        options=LayerwiseOptions(keep=0.5, replacement=False, statistics="batch", reestimate_bn=True),
        loss="cross_entropy",
    )
    subnet = _recalibrated(ctx, direct.model).eval()
    entry = measure.subnets["gfs_labels"]
    assert (entry.train_acc, entry.test_acc) == (ctx.numbers(subnet).train_acc, ctx.numbers(subnet).test_acc)
    assert entry.distinct == sum(len(set(units)) for units in direct.selections.values())


def test_baselines_keep_as_many_units_per_layer_as_gfs_labels_and_are_reestimated() -> None:
    # With replacement GFS keeps fewer distinct channels than it takes steps: the baselines must match
    # the distinct channels per block, not k.
    spec = dataclasses.replace(CNN_CLOCK, replacement=True, keep_fraction=0.0, k=5, cnn_widths=(6, 8))
    ctx = unit.unit_context(spec, 48, 0, "cpu")
    family = FAMILIES["cnn"]
    assert isinstance(family, LayerwiseFamily)
    model = _trained_cnn(ctx)
    gfs = family._select(ctx, model, ctx.targets, "cross_entropy", spec.k, True, 4)
    sizes = [len(set(units)) for units in gfs.selections.values()]
    measure = family.measure_point(ctx, model, model, 4)
    labels = measure.subnets["gfs_labels"]
    for name, units in (
        ("magnitude", l1_norm_units(model, sizes)),
        ("random", random_units(model, sizes, point_seed(0, 4))),
    ):
        entry = measure.subnets[name]
        assert entry.target == "labels" and entry.finetuned is not None
        assert [len(u) for u in units.values()] == sizes
        assert entry.distinct == labels.distinct == sum(sizes)
        assert (entry.params_after, entry.macs_after) == (labels.params_after, labels.macs_after)
        twin = prune_units(model, units)
        reestimate_batch_norm(twin, ctx.data.X)
        numbers = ctx.numbers(twin)
        assert (entry.train_acc, entry.test_acc) == (numbers.train_acc, numbers.test_acc)


def _sweep_and_report(spec: ExperimentSpec, tmp_path: Path) -> str:
    run = records.load_run(run_sweep(spec, tmp_path, device="cpu", progress=False).run_dir)
    assert len(run.units) == len(spec.ms) * len(spec.seeds)
    for point in run.points:
        assert set(point.subnets) == {"gfs_labels", "gfs_dense", "magnitude", "random"}
        for entry in point.subnets.values():
            assert entry.finetuned is not None and entry.params_after < entry.params_before
    return format_report(analyze(run))


@pytest.mark.slow
def test_a_tiny_cnn_sweep_on_the_epoch_clock_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    text = _sweep_and_report(CNN_CLOCK, tmp_path)
    assert "magnitude" in text and "epochs" in text


def test_a_tiny_deep_mlp_sweep_on_the_epoch_clock_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    text = _sweep_and_report(DEEP_CLOCK, tmp_path)
    assert "magnitude" in text and "epochs" in text


@pytest.mark.parametrize("spec", [pytest.param(CNN_CLOCK, marks=pytest.mark.slow), DEEP_CLOCK], ids=["cnn", "deep_mlp"])
def test_layerwise_units_run_in_float64_when_the_spec_asks(spec: ExperimentSpec, tmp_path: Path) -> None:
    """dtype = float64 reaches the layer-wise families: data, the dense net and every scored net."""
    from ebtheory.verify.unit import build_model, unit_context

    wide = dataclasses.replace(spec, dtype="float64")
    ctx = unit_context(wide, wide.ms[0], wide.seeds[0], "cpu")
    model = build_model(wide, ctx.data, wide.seeds[0])
    assert ctx.data.X.dtype == torch.float64
    assert all(tensor.dtype == torch.float64 for tensor in model.state_dict().values() if tensor.is_floating_point())
    text = _sweep_and_report(wide, tmp_path)
    assert "magnitude" in text and "epochs" in text
