"""The practitioner regime's clock (issue 12.1): spec.ticks_per_epoch = q counts checkpoints, fine-tuning
and Early-Bird mask times in ticks of 1/q epoch, the same for every m; a unit maps them to iterations."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.epochs import epochs_to_steps, steps_per_epoch
from ebtheory.train import TrainConfig, train_with_checkpoints
from ebtheory.verify import records, unit
from ebtheory.verify.analysis import analyze
from ebtheory.verify.analysis.timeunits import available_units, comparison_unit, time_scale
from ebtheory.verify.presets import TINY
from ebtheory.verify.report import format_report
from ebtheory.verify.runner import run_sweep
from ebtheory.verify.spec import ExperimentSpec, tick_iterations

EPOCH_CLOCK = dataclasses.replace(
    TINY,
    name="clock",
    optimizer="sgd",
    train_loss="mean_squares",
    batch_size=4,
    ticks_per_epoch=4,
    checkpoints=(0, 1, 2, 4, 8),
    eta=0.5,
    finetune_steps=2,
    finetune_eta=0.1,
    earlybird_masks=0,
)


def test_ticks_count_iterations_by_default_and_epoch_fractions_on_an_epoch_clock() -> None:
    assert [tick_iterations(TINY, 48, t) for t in (0, 3, 100)] == [0, 3, 100]
    # m = 18, batch 4: an epoch is 5 steps; 1/4 epoch covers 4.5 examples -> 2 steps (the first that covers them)
    spec = dataclasses.replace(EPOCH_CLOCK, ms=(18, 24, 32, 48))
    assert [tick_iterations(spec, 18, t) for t in (0, 1, 2, 4, 8)] == [0, 2, 3, 5, 10]
    assert tick_iterations(spec, 48, 8) == 2 * steps_per_epoch(48, 4)


@given(q=st.integers(1, 8), tick=st.integers(0, 200), m=st.integers(2, 500), batch=st.integers(1, 64))
def test_tick_iterations_is_epochs_to_steps_of_tick_over_q(q: int, tick: int, m: int, batch: int) -> None:
    spec = dataclasses.replace(EPOCH_CLOCK, ticks_per_epoch=q, batch_size=batch, checkpoints=(0, 10**6))
    assert tick_iterations(spec, m, tick) == epochs_to_steps(Fraction(tick, q), m, min(batch, m))


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"ticks_per_epoch": 4, "optimizer": "gd"}, "ticks_per_epoch", "sgd"),
        ({"ticks_per_epoch": -1, "optimizer": "sgd"}, "ticks_per_epoch", "0 = iterations"),
        ({"ticks_per_epoch": 4, "batch_size": 8}, "checkpoints", "distinct iterations at every m; at m=16"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum", "adam"),
        ({"keep_fraction": 0.5}, "keep_fraction", "two-layer"),
        ({"gfs_examples": 100}, "gfs_examples", "two-layer"),
        ({"gfs_layer_finetune_ticks": 1, "model": "cnn", "optimizer": "gd", "ticks_per_epoch": 0}, "gfs_layer", "sgd"),
    ],
)
def test_a_clock_that_cannot_run_is_refused_up_front(changes: dict, field: str, words: str) -> None:
    base = {"optimizer": "sgd", "batch_size": 4, "ticks_per_epoch": 0}
    if changes.get("model") == "cnn":
        base.update(baselines=(), finetune_eta=0.01, k=4)
    with pytest.raises(ValueError, match=rf"^{field}\w* must be .*{words}"):
        dataclasses.replace(EPOCH_CLOCK, **{**base, **changes})


def test_the_time_units_of_an_epoch_clock() -> None:
    assert comparison_unit(EPOCH_CLOCK) == "epochs"
    assert available_units(EPOCH_CLOCK) == ("iterations", "epochs")
    assert time_scale(EPOCH_CLOCK, 48, "epochs") == pytest.approx(0.25)
    assert time_scale(EPOCH_CLOCK, 48, "iterations") == pytest.approx(12 / 4)
    assert time_scale(EPOCH_CLOCK, 48, "tau") is None
    adam = dataclasses.replace(EPOCH_CLOCK, optimizer="adam", eta=0.01)
    assert comparison_unit(adam) == "epochs" and time_scale(adam, 16, "iterations") == pytest.approx(1.0)


@pytest.mark.parametrize("optimizer, eta", [("sgd", 0.5), ("adam", 0.01)])
def test_a_unit_on_the_epoch_clock_measures_the_net_trained_for_those_epochs(tmp_path, optimizer: str, eta: float):
    """Every point's dense numbers are those of the same net trained directly for epochs_to_steps(t/q) steps."""
    spec = dataclasses.replace(EPOCH_CLOCK, optimizer=optimizer, eta=eta, earlybird=False)
    m, seed = 24, 1
    unit.run_unit(spec, m, seed, str(tmp_path), device="cpu")
    rows = {t: records.read_point(tmp_path, m, seed, t) for t in spec.checkpoints}
    assert sorted(rows) == list(spec.checkpoints)
    data = unit.load_unit_data(spec, m, seed)
    torch.manual_seed(seed)
    model = unit.build_model(spec, data, seed)
    config = TrainConfig(optimizer=optimizer, lr=eta, loss="mean_squares", batch_size=4, seed=seed)
    iterations = [epochs_to_steps(Fraction(t, 4), m, 4) for t in spec.checkpoints]
    assert iterations == [0, 2, 3, 6, 12]  # 6 steps an epoch at m = 24
    result = train_with_checkpoints(model, data.X, data.Y, config, iterations)
    for t, iteration in zip(spec.checkpoints, iterations):
        model.load_state_dict(result.states[iteration])
        numbers = unit.network_numbers(spec, model, data, torch.device("cpu"))
        assert rows[t].dense.train_loss_sum == pytest.approx(numbers.train_loss_sum, rel=1e-6)
        assert rows[t].dense.test_acc == numbers.test_acc


def test_an_epoch_clock_sweep_reports_in_epochs_and_does_not_compare_with_the_gd_bound(tmp_path) -> None:
    result = run_sweep(EPOCH_CLOCK, tmp_path, jobs=1, device="cpu", progress=False)
    run = records.load_run(result.run_dir)
    analysis = analyze(run)
    assert analysis.time_unit == "epochs"
    assert all(
        value is None for row in analysis.predictions for by_unit in row.t_star.values() for value in by_unit.values()
    )
    text = format_report(analysis)
    assert "compared in epochs (checkpoints every 1/4 epoch" in text
    assert "not compared with this sgd run" in text
    assert "the theorem assumes full-batch GD on the sum loss; this run used sgd on mean_squares" in text
    assert "longest pre-training t = 8 ticks of 1/4 epoch" in text
    # the tickets' budgets are on the same clock: t_EB + F ticks
    tickets = [u.tickets for u in run.units if u.tickets is not None]
    assert all(t.budget_iterations == t.t + EPOCH_CLOCK.finetune_steps for t in tickets)


def test_the_default_clock_keeps_every_preset_hash() -> None:
    assert ExperimentSpec().ticks_per_epoch == 0
    assert dataclasses.replace(TINY, ticks_per_epoch=0).hash == TINY.hash
