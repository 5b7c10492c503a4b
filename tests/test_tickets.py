"""Tickets you can keep (ebtheory.tickets): a real tiny unit saves its pruned subnetworks; each loads back
into an nn.Module whose numbers equal the recorded ones exactly, and its mask applies to the dense net
with torch.nn.utils.prune.custom_from_mask. Round trips for every family, and files that are refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from ebtheory import tickets
from ebtheory.models import DeepMLP, MeanFieldTwoLayer, ResidualCNN, TwoLayerNTK
from ebtheory.prune.layerwise import layerwise_gfs
from ebtheory.verify import records
from ebtheory.verify.context import network_numbers
from ebtheory.verify.presets import TINY
from ebtheory.verify.runner import prepare_run_dir
from ebtheory.verify.unit import TICKETS_DIR, build_model, run_unit, unit_context

M, SEED = 16, 0
T = max(TINY.checkpoints)


@pytest.fixture(scope="module")
def saved_unit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real tiny unit (m=16, seed=0) run with --save-tickets at its last checkpoint."""
    run_dir = prepare_run_dir(TINY, tmp_path_factory.mktemp("tickets"))
    run_unit(TINY, M, SEED, str(run_dir), "cpu", save_tickets=(T,))
    return run_dir


def _dense_at(t: int) -> nn.Module:
    """The unit's dense net after t pre-training iterations (the unit is deterministic)."""
    from ebtheory.train import train_with_checkpoints

    ctx = unit_context(TINY, M, SEED, "cpu")
    torch.manual_seed(SEED)
    model = build_model(TINY, ctx.data, SEED)
    train_with_checkpoints(model, ctx.data.X, ctx.targets, ctx.train_config(), [0, t], device=ctx.device)
    return model.eval()


def test_saved_tickets_reproduce_the_recorded_numbers_exactly(saved_unit: Path) -> None:
    point = records.read_point(saved_unit, M, SEED, T)
    ctx = unit_context(TINY, M, SEED, "cpu")
    folder = saved_unit / TICKETS_DIR / f"m{M}_s{SEED}_t{T}"
    assert sorted(p.stem for p in folder.glob("*.safetensors")) == sorted(point.subnets)
    for name, entry in point.subnets.items():
        ticket = tickets.load_ticket(folder / f"{name}.safetensors")
        numbers = network_numbers(TINY, ticket.module, ctx.data, ctx.device)
        assert (numbers.train_acc, numbers.test_acc) == (entry.train_acc, entry.test_acc), name
        assert numbers.train_loss_sum == entry.train_loss_sum, name
        assert ticket.header.numbers["test_acc"] == entry.test_acc
        assert ticket.header.provenance == {"run_hash": TINY.hash, "m": M, "seed": SEED, "t": T, "subnet": name}
        assert ticket.header.family == "two_layer" and ticket.module.width == entry.distinct
        assert len(ticket.header.selection["hidden"]) == point.k


def test_masks_apply_to_the_dense_net_with_custom_from_mask(saved_unit: Path) -> None:
    dense = _dense_at(T)
    X = unit_context(TINY, M, SEED, "cpu").data.X
    folder = saved_unit / TICKETS_DIR / f"m{M}_s{SEED}_t{T}"
    # magnitude: k distinct neurons, each with weight N/k in the averaged subnetwork u_S
    ticket = tickets.load_ticket(folder / "magnitude.safetensors")
    masked = tickets.apply_masks(dense, ticket.masks)
    assert prune.is_pruned(masked)
    N, k = masked.width, ticket.module.width
    with torch.no_grad():
        torch.testing.assert_close(masked(X) * (N / k), ticket.module(X), rtol=1e-5, atol=1e-5)
    kept_rows = masked.input_weights.abs().sum(dim=1) > 0
    assert int(kept_rows.sum()) == k
    torch.testing.assert_close(masked.input_weights[kept_rows], ticket.module.input_weights)


def test_earlybird_tickets_are_saved_with_their_numbers(saved_unit: Path) -> None:
    unit = records.read_record(saved_unit / records.UNITS_DIR / records.unit_filename(M, SEED), records.UnitRow)
    if unit.tickets is None:
        pytest.skip("no Early-Bird detection in this unit")
    ctx = unit_context(TINY, M, SEED, "cpu")
    folder = saved_unit / TICKETS_DIR / f"m{M}_s{SEED}_t{unit.tickets.t}"
    for name in ("earlybird", "gfs"):
        recorded = getattr(unit.tickets, name).pruned
        module = tickets.load(folder / f"ticket_{name}.safetensors")
        assert network_numbers(TINY, module, ctx.data, ctx.device) == recorded
    imp = tickets.load_ticket(folder / "ticket_imp.safetensors")
    assert imp.header.family == "ntk" and list(imp.masks) == ["input_weights"]
    assert int(imp.masks["input_weights"].sum()) == unit.tickets.imp.params
    numbers = network_numbers(TINY, imp.module, ctx.data, ctx.device)
    assert (numbers.train_acc, numbers.test_acc) == (unit.tickets.imp.train_acc, unit.tickets.imp.test_acc)


# ------------------------------------------------------------------------------- library round trips


def test_round_trip_of_every_family(tmp_path: Path) -> None:
    X = torch.randn(10, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(10) % 3
    mlp = DeepMLP(8, [9, 7], 3, seed=0)
    result = layerwise_gfs(mlp, X, y, [3, 2], loss="cross_entropy")
    images = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    cnn = ResidualCNN(1, 3, 8, widths=(3, 4), seed=0).eval()
    cnn_result = layerwise_gfs(cnn, images, torch.arange(6) % 3, 2, loss="cross_entropy")
    modules = {
        "ntk": (TwoLayerNTK(8, 12, 3, kappa=0.5, output_mode="vectors", seed=1), X),
        "mean_field": (MeanFieldTwoLayer(8, 12, 3, seed=2), X),
        "deep_mlp": (result.model, X),
        "cnn": (cnn_result.model.eval(), images),
        "sequential": (nn.Sequential(nn.Linear(8, 5, bias=False), nn.ReLU(), nn.Linear(5, 3)), X),
    }
    for family, (module, inputs) in modules.items():
        path = tickets.save_ticket(tmp_path / f"{family}.safetensors", module)
        loaded = tickets.load_ticket(path)
        assert loaded.header.family == family
        with torch.no_grad():
            assert torch.equal(loaded.module(inputs), module(inputs)), family
    masks = tickets.layer_unit_masks(mlp, result.selections)
    # layer 1's weight loses the rows layer 1 dropped AND the columns layer 0 dropped
    kept_0, kept_1 = set(result.selections["layers.0"]), set(result.selections["layers.1"])
    expected = torch.tensor([[i in kept_1 and j in kept_0 for j in range(9)] for i in range(7)])
    assert torch.equal(masks["layers.1.weight"], expected)
    tickets.apply_masks(mlp, masks)
    assert torch.equal(mlp.layers[1].weight == 0, ~expected | (mlp.layers[1].weight_orig == 0))


def test_float64_and_prune_reparametrised_modules(tmp_path: Path) -> None:
    net = TwoLayerNTK(4, 6, 2, seed=0).double()
    prune.custom_from_mask(
        net, "input_weights", torch.tensor([1, 0, 1, 1, 0, 1], dtype=torch.bool)[:, None].expand(6, 4)
    )
    path = tickets.save_ticket(tmp_path / "t.safetensors", net, numbers={"test_acc": 0.5})
    loaded = tickets.load_ticket(path)
    X = torch.randn(5, 4, dtype=torch.float64)
    assert loaded.module.input_weights.dtype == torch.float64
    assert torch.equal(loaded.module(X), net(X))
    assert not prune.is_pruned(loaded.module)  # made permanent: weight = weight_orig * mask
    assert prune.is_pruned(net)  # the caller's module is left as it was


def test_bad_files_are_refused_by_name(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(tickets.TicketError, match="not an ebtheory ticket"):
        tickets.load(plain)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04\x95 this is a pickle, not a safetensors file")
    with pytest.raises(tickets.TicketError, match="not a safetensors file"):
        tickets.load(garbage)
    with pytest.raises(FileNotFoundError):
        tickets.load(tmp_path / "missing.safetensors")
    header = tickets.TicketHeader(family="two_layer", architecture={"d": 3, "width": 2, "outputs": 1})
    wrong = tmp_path / "wrong.safetensors"
    save_file({"input_weights": torch.zeros(2, 3)}, str(wrong), metadata={tickets.HEADER_KEY: header.to_json()})
    with pytest.raises(tickets.TicketError, match="architecture field 'input_bias' must be true or false"):
        tickets.load(wrong)
    data = json.loads(header.to_json())
    data["architecture"].update(input_bias=False, output_bias=False, width=5)
    save_file({"input_weights": torch.zeros(2, 3)}, str(wrong), metadata={tickets.HEADER_KEY: json.dumps(data)})
    with pytest.raises(tickets.TicketError, match="do not match the two_layer architecture"):
        tickets.load(wrong)
    data["family"] = "pickle"
    save_file({"w": torch.zeros(1)}, str(wrong), metadata={tickets.HEADER_KEY: json.dumps(data)})
    with pytest.raises(tickets.TicketError, match="field 'family' must be one of"):
        tickets.load(wrong)
    with pytest.raises(tickets.TicketError, match="layer 1 is Tanh"):
        tickets.save_ticket(tmp_path / "x.safetensors", nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
    with pytest.raises(tickets.TicketError, match="must be finite"):
        tickets.save_ticket(tmp_path / "x.safetensors", TwoLayerNTK(2, 2), numbers={"acc": math.nan})


@pytest.mark.slow
def test_run_save_tickets_from_the_cli(tmp_path: Path, capsys) -> None:
    from cli_helpers import run_cli

    argv = ["run", "tiny", "--out", str(tmp_path), "--device", "cpu", "--no-figures", "--no-progress"]
    code, _, err = run_cli([*argv, "--save-tickets", "--tickets-at", "0,100"], capsys)
    assert code == 0, err
    run = records.load_run(next(tmp_path.iterdir()))
    for point in run.points:
        folder = run.run_dir / TICKETS_DIR / f"m{point.m}_s{point.seed}_t{point.t}"
        saved = sorted(p.stem for p in folder.glob("*.safetensors") if not p.stem.startswith("ticket_"))
        assert saved == (sorted(point.subnets) if point.t in (0, 100) else []), (point.m, point.seed, point.t)
    code, _, err = run_cli([*argv, "--save-tickets", "--tickets-at", "7"], capsys)
    assert code == 2 and "--tickets-at must name checkpoints" in err


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, extra",
    [
        ("deep_mlp", {"mlp_widths": (16, 12)}),
        (
            "cnn",
            {"cnn_widths": (4, 6), "train_loss": "cross_entropy", "optimizer": "sgd", "batch_size": 8, "eta": 0.05},
        ),
    ],
)
def test_layerwise_families_save_tickets_that_reproduce_their_rows(model: str, extra: dict, tmp_path: Path) -> None:
    import dataclasses

    spec = dataclasses.replace(TINY, name=f"tiny-{model}", model=model, baselines=(), finetune_eta=0.01, k=3, **extra)
    run_dir = prepare_run_dir(spec, tmp_path)
    run_unit(spec, M, SEED, str(run_dir), "cpu", save_tickets=(T,))
    ctx = unit_context(spec, M, SEED, "cpu")
    point = records.read_point(run_dir, M, SEED, T)
    for name, entry in point.subnets.items():
        ticket = tickets.load_ticket(run_dir / TICKETS_DIR / f"m{M}_s{SEED}_t{T}" / f"{name}.safetensors")
        assert ticket.header.family == model and ticket.masks
        numbers = network_numbers(spec, ticket.module, ctx.data, ctx.device)
        assert (numbers.train_acc, numbers.test_acc, numbers.train_loss_sum) == (
            entry.train_acc,
            entry.test_acc,
            entry.train_loss_sum,
        )
    unit = records.read_record(run_dir / records.UNITS_DIR / records.unit_filename(M, SEED), records.UnitRow)
    if unit.tickets is not None:
        folder = run_dir / TICKETS_DIR / f"m{M}_s{SEED}_t{unit.tickets.t}"
        for name in ("earlybird", "gfs"):
            module = tickets.load(folder / f"ticket_{name}.safetensors")
            assert network_numbers(spec, module, ctx.data, ctx.device) == getattr(unit.tickets, name).pruned
        module = tickets.load(folder / "ticket_imp.safetensors")
        numbers = network_numbers(spec, module, ctx.data, ctx.device)
        assert (numbers.train_acc, numbers.test_acc) == (unit.tickets.imp.train_acc, unit.tickets.imp.test_acc)
