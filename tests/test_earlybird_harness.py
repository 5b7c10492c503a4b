"""Early-Bird and lottery-ticket baselines in the harness (issue 6, part 3).

The session's real `tiny` run (tests/conftest.py: tiny_run, a RunRecord) is the fixture; the tests check its
Early-Bird fields against slow, independent twins (replayed pre-training with masks drawn by hand,
the detection rule re-implemented on the recorded matrix, the EB ticket's outputs from the atoms),
the equal-size / equal-budget contract of the three tickets, the report section and figures (g), (h).
"""

from __future__ import annotations

import copy
import dataclasses
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ebtheory.prune.batchnorm import reestimate_batch_norm  # noqa: E402
from ebtheory.train import train_with_checkpoints  # noqa: E402
from ebtheory.verify import records, unit  # noqa: E402
from ebtheory.verify.analysis import analyze  # noqa: E402
from ebtheory.verify.analysis.tables import TICKETS  # noqa: E402
from ebtheory.verify.families import FAMILIES  # noqa: E402
from ebtheory.verify.presets import TINY  # noqa: E402
from ebtheory.verify.report import build_report, format_report, report_is_finite  # noqa: E402
from ebtheory.verify.spec import ExperimentSpec, earlybird_ratio, earlybird_times, with_overrides  # noqa: E402

MASK_TIMES = earlybird_times(TINY)


def _first_detection(D: np.ndarray, window: int, eps: float, compare: str) -> int | None:
    """You et al.'s rule written out on a distance matrix (slow twin of ebtheory.prune.earlybird)."""
    for i in range(window - 1, len(D)):
        if compare == "newest_vs_all":
            checked = [D[i, j] for j in range(i - window + 1, i)]
        else:
            checked = [D[j, j + 1] for j in range(i - window + 1, i)]
        if all(d <= eps for d in checked):
            return i
    return None


def _replayed_masks(spec: ExperimentSpec, m: int, seed: int) -> tuple[list[np.ndarray], dict[int, torch.nn.Module]]:
    """Pre-train unit (m, seed) again; at each checkpoint keep the n neurons of largest ||w_r|| by hand."""
    data = unit.load_unit_data(spec, m, seed)
    model = unit.build_model(spec, data, seed)
    keep = spec.k  # auto ratio p = 1 - k / width keeps k neurons
    masks, models = [], {}

    def draw(t, current):
        norms = current.input_weights.detach().double().norm(dim=1).numpy()
        order = sorted(range(len(norms)), key=lambda r: (-norms[r], r))
        mask = np.zeros(len(norms), dtype=bool)
        mask[order[:keep]] = True
        masks.append(mask)
        models[t] = {k: v.clone() for k, v in current.state_dict().items()}

    train_with_checkpoints(
        model,
        data.X,
        data.Y,
        unit.unit_context(spec, m, seed).train_config(),
        earlybird_times(spec),
        device="cpu",
        on_checkpoint=draw,
        keep_states=False,
    )
    return masks, models


def test_every_unit_records_a_valid_distance_matrix_and_the_rule_on_it(tiny_run):
    assert len(tiny_run.units) == len(TINY.ms) * len(TINY.seeds)
    detected = 0
    for u in tiny_run.units:
        D = np.asarray(u.earlybird_distance_matrix)
        assert u.earlybird_checkpoints == MASK_TIMES
        assert D.shape == (len(MASK_TIMES),) * 2
        assert np.allclose(D, D.T) and np.all(np.diag(D) == 0) and D.min() >= 0 and D.max() <= 1
        # a mask keeps k of N neurons, so distances are multiples of 1/N
        assert np.allclose(D * TINY.width, np.round(D * TINY.width))
        index = _first_detection(D, TINY.earlybird_window, TINY.earlybird_eps, TINY.earlybird_compare)
        eb = u.earlybird
        assert eb.detection_index == index
        assert u.earlybird_detection_t == (None if index is None else MASK_TIMES[index])
        detected += index is not None
        assert eb.kept == TINY.k and eb.total == TINY.width and eb.score == "neuron_norm"
        assert eb.ratio == pytest.approx(1 - TINY.k / TINY.width)
        assert (u.tickets is None) == (index is None)
        assert (eb.tickets_skipped is None) == (index is not None)
    assert detected > 0, "the tiny preset should detect at least once, or nothing downstream is tested"


def test_recorded_matrix_equals_masks_drawn_by_hand_on_a_replayed_run(tiny_run):
    m, seed = TINY.ms[1], TINY.seeds[1]
    masks, _ = _replayed_masks(TINY, m, seed)
    hand = np.array([[np.mean(a != b) for b in masks] for a in masks])
    np.testing.assert_allclose(tiny_run.unit(m, seed).earlybird_distance_matrix, hand, atol=1e-12)


def test_earlybird_ticket_is_the_averaged_subnetwork_of_the_mask(tiny_run):
    """Its outputs before fine-tuning, from the atoms: (1/n) sum_{r in mask} sqrt(N) a_r relu(w_r.x)."""
    u = next(u for u in tiny_run.units if u.tickets)
    masks, states = _replayed_masks(TINY, u.m, u.seed)
    index = u.earlybird.detection_index
    data = unit.load_unit_data(TINY, u.m, u.seed)
    model = unit.build_model(TINY, data, u.seed)
    model.load_state_dict(states[u.earlybird_detection_t])
    W1 = model.input_weights.detach().double().numpy()
    W2 = model.readout()[0].detach().double().numpy()
    mask = masks[index]
    X, Y = data.X.double().numpy(), data.Y.double().numpy()
    N, n = W1.shape[0], int(mask.sum())
    out = (N / n) * np.maximum(X @ W1[mask].T, 0) @ W2[mask]
    pruned = u.tickets.earlybird.pruned
    assert pruned.train_loss_sum == pytest.approx(0.5 * np.sum((out - Y) ** 2), rel=1e-4)
    assert pruned.train_acc == pytest.approx(np.mean(out.argmax(1) == data.y.numpy()))


def test_three_tickets_have_equal_size_and_equal_iteration_budget(tiny_run):
    d, C = 64, 10  # digits: 8x8 pixels, 10 classes
    with_tickets = [u for u in tiny_run.units if u.tickets]
    assert with_tickets
    for u in with_tickets:
        tickets = u.tickets
        t_eb, F = u.earlybird_detection_t, TINY.finetune_steps
        assert tickets.t == t_eb and tickets.budget_iterations == t_eb + F
        n = u.earlybird.kept
        assert tickets.earlybird.neurons == tickets.gfs.neurons == n
        assert tickets.earlybird.params == tickets.gfs.params == n * (d + C)
        assert tickets.imp.params == n * d and tickets.imp.remaining[-1] == n * d
        assert n <= tickets.imp.neurons <= TINY.width
        assert 0 <= tickets.overlap_neurons <= n
        for name in TICKETS:
            ticket = getattr(tickets, name)
            assert ticket.total_iterations == t_eb + F
            assert sum(ticket.iterations) == t_eb + F
            assert 0 <= ticket.train_acc <= 1 and 0 <= ticket.test_acc <= 1
        assert tickets.earlybird.iterations == tickets.gfs.iterations == (t_eb, F)
        assert len(tickets.imp.iterations) == TINY.imp_rounds + 1


@given(budget=st.integers(0, 10_000), parts=st.integers(1, 12))
def test_split_budget_is_exact_and_even(budget, parts):
    split = unit.split_budget(budget, parts)
    assert len(split) == parts and sum(split) == budget
    assert max(split) - min(split) <= 1 and split == sorted(split, reverse=True)


def test_imp_ticket_reaches_the_count_within_the_budget():
    spec = dataclasses.replace(TINY, imp_rounds=3)
    ctx = unit.unit_context(spec, 16, 0)
    ticket = unit.imp_ticket(FAMILIES[spec.model], ctx, weights=100, budget=9)
    assert ticket.params == 100 and ticket.iterations == (3, 2, 2, 2)
    assert ticket.remaining[0] == spec.width * 64 and len(ticket.remaining) == 4
    assert list(ticket.remaining) == sorted(ticket.remaining, reverse=True)


def test_report_puts_the_three_rules_and_tickets_side_by_side(tiny_run):
    """The analysis layer's Early-Bird table (ebtheory.verify.analysis) against the unit rows it reads."""
    eb = analyze(tiny_run).earlybird
    assert eb is not None and [r.m for r in eb.per_m] == list(TINY.ms)
    for row in eb.per_m:
        units = [u for u in tiny_run.units if u.m == row.m]
        found = [u.earlybird_detection_t for u in units if u.earlybird_detection_t is not None]
        assert row.detected == len(found) and row.seeds == len(TINY.seeds)
        assert row.earlybird_t == (pytest.approx(np.mean(found)) if found else None)
        stars = [u.predicted["fixed_eta"].t_star for u in units]
        assert row.t_star_fixed_eta == pytest.approx(np.mean(stars))
        finals = [
            u.earlybird_distance_matrix[u.earlybird.detection_index][-1]
            for u in units
            if u.earlybird.detection_index is not None
        ]
        assert row.distance_to_final == (pytest.approx(np.mean(finals)) if finals else None)
        for name in TICKETS:
            accs = [getattr(u.tickets, name).test_acc for u in units if u.tickets]
            assert row.ticket_test_acc[name] == (pytest.approx(np.mean(accs)) if accs else None)
    report = build_report(tiny_run)
    assert report_is_finite(report)
    json.dumps(report, allow_nan=False)
    text = format_report(tiny_run)
    assert "Early-Bird vs the pre-training threshold" in text and "How to read it" in text


def test_report_without_earlybird_rows_has_no_section(tiny_run, tmp_path):
    run = records.load_run(tiny_run.run_dir)
    stripped = dataclasses.replace(
        run,
        units=tuple(
            dataclasses.replace(
                u,
                earlybird=None,
                earlybird_checkpoints=None,
                earlybird_distance_matrix=None,
                earlybird_detection_t=None,
                tickets=None,
            )
            for u in run.units
        ),
    )
    assert analyze(stripped).earlybird is None
    assert "Early-Bird vs the pre-training threshold" not in format_report(stripped)


def _render(name: str, run, out, monkeypatch):
    import importlib

    figures = {}
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.setdefault("fig", fig))
    module = importlib.import_module(name)
    paths = module.render(run, out)
    assert all(p.stat().st_size > 0 for p in paths)
    return [ax for ax in figures["fig"].axes if ax.get_label() != "<colorbar>"]


def test_figures_g_and_h_render_from_the_real_run(tiny_run, tmp_path, monkeypatch):
    axes = _render("ebtheory.figures.fig_g_earlybird_distance", tiny_run, tmp_path, monkeypatch)
    assert len(axes) == len(TINY.ms)
    for ax, m in zip(axes, TINY.ms):
        u = next(u for u in tiny_run.units if u.m == m)  # the first seed of each m is drawn
        np.testing.assert_allclose(ax.images[0].get_array(), u.earlybird_distance_matrix)
        index = u.earlybird.detection_index
        assert len(ax.lines) == (0 if index is None else 2)
        if index is not None:
            assert ax.lines[0].get_xdata()[0] == index and f"t = {u.earlybird_detection_t}" in ax.get_title()
    # Figure (h) draws the detections in the analysis layer's time unit (tests/test_figures.py checks
    # the values); here: one point per m that detected, and the earliest-detection marker.
    (ax,) = _render("ebtheory.figures.fig_h_detection_vs_m", tiny_run, tmp_path, monkeypatch)
    lines = {line.get_label(): line for line in ax.lines}
    by_m = {m: [u for u in tiny_run.units if u.m == m and u.earlybird_detection_t is not None] for m in TINY.ms}
    assert list(lines["Early-Bird detection"].get_xdata()) == [m for m in TINY.ms if by_m[m]]
    assert any(label.startswith("earliest possible detection") for label in lines)


def test_cnn_unit_records_bn_channel_masks_and_the_l1_penalty_moves_them(tmp_path):
    spec = ExperimentSpec(
        name="cnn-eb",
        dataset="digits",
        model="cnn",
        ms=(16, 24, 32, 48),
        n_test=20,
        cnn_widths=(4,),
        optimizer="sgd",
        train_loss="cross_entropy",
        eta=0.05,
        batch_size=8,
        checkpoints=(0, 1, 2, 3, 4, 5),
        k=2,
        targets=("labels",),
        baselines=(),
        earlybird_window=3,
        earlybird_eps=0.5,
        finetune_steps=2,
    )
    rows = {}
    for l1 in (0.0, 0.5):
        run_dir = tmp_path / f"l1_{l1}"
        variant = dataclasses.replace(spec, earlybird_bn_l1=l1)
        unit.run_unit(variant, 16, 0, str(run_dir), device="cpu")
        rows[l1] = records.read_record(run_dir / records.UNITS_DIR / records.unit_filename(16, 0), records.UnitRow)
    plain = rows[0.0]
    eb = plain.earlybird
    assert eb.score == "bn1_scale" and eb.ratio == 0.5
    assert eb.total == sum(spec.cnn_widths) and eb.kept == eb.total // 2
    D = np.asarray(plain.earlybird_distance_matrix)
    index = _first_detection(D, 3, 0.5, "newest_vs_all")
    assert index is not None and D.shape == (6, 6) and plain.earlybird_detection_t == spec.checkpoints[index]
    assert plain.dense_loss_curve[-1] != rows[0.5].dense_loss_curve[-1]
    tickets = plain.tickets
    assert sum(tickets.kept_per_block) == tickets.earlybird.neurons == tickets.gfs.neurons
    # EB params come from a formula over the masked dense net, GFS params from layerwise's smaller net
    assert tickets.earlybird.params == tickets.gfs.params
    for name in TICKETS:
        assert getattr(tickets, name).total_iterations == tickets.budget_iterations == index + spec.finetune_steps


def test_cnn_earlybird_ticket_is_the_net_without_the_unkept_channels():
    """Masking bn1's scale and shift equals deleting the channel's conv2 input slice (slow twin), both
    scored after BatchNorm re-estimation on the training set."""
    spec = dataclasses.replace(
        TINY,
        model="cnn",
        cnn_widths=(4, 6),
        optimizer="sgd",
        batch_size=8,
        train_loss="cross_entropy",
        targets=("labels",),
        baselines=(),
        finetune_eta=0.01,
    )
    ctx = unit.unit_context(spec, 16, 0)
    family = FAMILIES["cnn"]
    model = family.build(spec, ctx.data, 0).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.bn1.weight.uniform_(0.5, 1.5)
            block.bn1.bias.uniform_(-0.5, 0.5)
    mask = family.earlybird_mask(model, 0.5)
    pair = family.tickets_at(ctx, model, mask, 0)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for block, part in zip(reference.blocks, mask.split([4, 6])):
            block.conv2.weight[:, ~part] = 0
    reestimate_batch_norm(reference, ctx.data.X)  # the ticket is scored with statistics of its own
    expected = unit.network_numbers(spec, reference, ctx.data, torch.device("cpu"))
    assert dataclasses.asdict(pair.earlybird.pruned) == pytest.approx(dataclasses.asdict(expected))
    assert pair.kept_per_block == tuple(int(p.sum()) for p in mask.split([4, 6]))


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("earlybird_ratio", 1.0, "earlybird_ratio"),
        ("earlybird_window", 1, "earlybird_window"),
        ("earlybird_eps", -0.1, "earlybird_eps"),
        ("earlybird_compare", "pairs", "earlybird_compare"),
        ("earlybird_bn_l1", 1e-4, "earlybird_bn_l1"),
        ("imp_rounds", 0, "imp_rounds"),
        ("k", 64, "earlybird_ratio"),
    ],
)
def test_bad_earlybird_fields_raise_naming_the_field(field, value, words):
    with pytest.raises(ValueError, match=words):
        dataclasses.replace(TINY, **{field: value})


def test_earlybird_ratio_auto_and_override():
    assert earlybird_ratio(TINY) == pytest.approx(1 - TINY.k / TINY.width)
    assert earlybird_ratio(with_overrides(TINY, ["earlybird_ratio=0.3"])) == 0.3
    assert earlybird_ratio(dataclasses.replace(TINY, k=64, earlybird=False, earlybird_ratio=0.2)) == 0.2
    # the new fields at their defaults do not move a hash
    assert dataclasses.replace(TINY, earlybird_window=5, imp_rounds=2).hash == TINY.hash
