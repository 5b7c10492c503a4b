"""Exact GFS: the Gram and residual forms against the naive one-forward-per-candidate twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.prune.gfs import (
    atom_gram,
    atom_spread,
    greedy_forward_selection,
    greedy_forward_selection_naive,
)
from ebtheory.symbolic import lemma_a_bound

F64 = torch.float64


def make_instance(
    seed: int, m: int, n: int, outputs: int, *, with_bias: bool = False, duplicates: int = 0, dtype: torch.dtype = F64
) -> dict:
    """A random two-layer net on unit-norm inputs; `duplicates` neurons copied to higher indices."""
    gen = torch.Generator().manual_seed(seed)
    d = 4
    X = torch.randn(m, d, generator=gen, dtype=F64)
    X = X / X.norm(dim=1, keepdim=True)
    W1 = torch.randn(n, d, generator=gen, dtype=F64)
    W2 = torch.randn(n, outputs, generator=gen, dtype=F64) / math.sqrt(n)
    b1 = 0.1 * torch.randn(n, generator=gen, dtype=F64)
    for j in range(duplicates):
        W1[n - 1 - j] = W1[j]
        W2[n - 1 - j] = W2[j]
        b1[n - 1 - j] = b1[j]
    Y = torch.randn(m, outputs, generator=gen, dtype=F64)
    bias = torch.randn(outputs, generator=gen, dtype=F64) if with_bias else None
    X, W1, W2, b1, Y = (t.to(dtype) for t in (X, W1, W2, b1, Y))
    H = torch.relu(X @ W1.T + b1)
    return {"X": X, "H": H, "W1": W1, "b1": b1, "W2": W2, "Y": Y, "bias": None if bias is None else bias.to(dtype)}


def subnetwork_output(inst: dict, indices: torch.Tensor) -> torch.Tensor:
    """u_S = (1/|S|) sum_{r in S} g_r from the definition, atom by atom."""
    H, W2, n = inst["H"].to(F64), inst["W2"].to(F64), inst["H"].shape[1]
    bias = 0.0 if inst["bias"] is None else inst["bias"].to(F64)
    atoms = [n * H[:, r : r + 1] * W2[r] + bias for r in indices.tolist()]
    return torch.stack(atoms).mean(0)


def exact_candidate_losses(inst: dict, prefix: list[int]) -> torch.Tensor:
    """float64 sum loss of every candidate appended to `prefix`."""
    n = inst["H"].shape[1]
    Y = inst["Y"].to(F64)
    return torch.tensor(
        [0.5 * float((subnetwork_output(inst, torch.tensor(prefix + [r])) - Y).square().sum()) for r in range(n)],
        dtype=F64,
    )


sizes = st.tuples(st.integers(2, 25), st.integers(2, 14), st.integers(1, 3))


@given(
    seed=st.integers(0, 10**6),
    size=sizes,
    k=st.integers(1, 12),
    with_bias=st.booleans(),
    replacement=st.booleans(),
    subsample=st.booleans(),
    duplicates=st.integers(0, 2),
)
def test_fast_forms_choose_what_naive_chooses_float64(seed, size, k, with_bias, replacement, subsample, duplicates):
    m, n, outputs = size
    k = k if replacement else min(k, n)
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias, duplicates=min(duplicates, n // 2))
    options = dict(
        bias=inst["bias"], replacement=replacement, seed=seed, n_candidates=max(1, n // 2) if subsample else None
    )
    naive = greedy_forward_selection_naive(inst["H"], inst["W2"], inst["Y"], k, **options)
    for form in ("gram", "residual", "auto"):
        fast = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], k, form=form, **options)
        assert fast.indices.tolist() == naive.indices.tolist(), form
        np.testing.assert_allclose(fast.losses, naive.losses, rtol=1e-9, atol=1e-9)
        assert torch.equal(fast.counts, torch.bincount(naive.indices, minlength=n))


@given(seed=st.integers(0, 10**6), size=sizes, k=st.integers(1, 10), with_bias=st.booleans())
def test_losses_are_sum_losses_of_the_subnetwork_and_the_module_computes_it(seed, size, k, with_bias):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias)
    result = greedy_forward_selection(
        inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], W1=inst["W1"], b1=inst["b1"]
    )
    for step in range(1, k + 1):
        u = subnetwork_output(inst, result.indices[:step])
        expected = 0.5 * float((u - inst["Y"]).square().sum())
        assert result.losses[step - 1] == pytest.approx(expected, rel=1e-10, abs=1e-10)
    module_output = result.module(inst["X"])
    torch.testing.assert_close(module_output, subnetwork_output(inst, result.indices), rtol=1e-10, atol=1e-10)
    assert result.module.width == int((result.counts > 0).sum())


@pytest.mark.parametrize("form", ["gram", "residual", "naive"])
def test_planted_duplicate_ties_go_to_the_lowest_index(form):
    n, duplicates = 12, 4
    inst = make_instance(7, 30, n, 2, with_bias=True, duplicates=duplicates)
    # Make duplicate 0 the best first atom: the target is its atom, so both copies score a zero loss.
    inst["Y"] = n * inst["H"][:, :1] * inst["W2"][0] + inst["bias"]
    select = greedy_forward_selection_naive if form == "naive" else greedy_forward_selection
    options = {} if form == "naive" else {"form": form}
    result = select(inst["H"], inst["W2"], inst["Y"], 20, bias=inst["bias"], **options)
    assert int(result.indices[0]) == 0
    high_copies = set(range(n - duplicates, n))
    assert not high_copies & set(result.indices.tolist())


@pytest.mark.parametrize("form", ["gram", "residual", "naive"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_near_ties_within_the_relative_tolerance_go_to_the_lowest_index(form, sign):
    """A copy of neuron 0 at index n-1 with its readout moved by a relative 1e-12 (either way) and the
    target 1.5 times atom 0: the two copies are the best first choices and differ in loss at first
    order (~1e-12 relative, far above float64 round-off), one way or the other. Both lie within the
    tolerance, so the tie rule must pick index 0 both times; comparing exactly would pick n-1 once."""
    n = 10
    inst = make_instance(3, 25, n, 2, duplicates=1)
    inst["W2"][n - 1] = inst["W2"][0] * (1 + sign * 1e-12)
    inst["H"] = torch.relu(inst["X"] @ inst["W1"].T + inst["b1"])
    inst["Y"] = 1.5 * n * inst["H"][:, :1] * inst["W2"][0]
    losses = exact_candidate_losses(inst, [])
    assert set(torch.argsort(losses)[:2].tolist()) == {0, n - 1}
    assert float(losses[n - 1]) != float(losses[0])
    select = greedy_forward_selection_naive if form == "naive" else greedy_forward_selection
    options = {} if form == "naive" else {"form": form}
    result = select(inst["H"], inst["W2"], inst["Y"], 1, **options)
    assert int(result.indices[0]) == 0


@given(seed=st.integers(0, 10**6), size=sizes, k=st.integers(1, 10), with_bias=st.booleans())
def test_inputs_perturbed_at_1e_12_give_the_same_choices(seed, size, k, with_bias):
    """Reproducibility across machines (issue 10.5): a last-bits change of H, W2 and Y (another BLAS,
    another thread count) must not move a choice; the float64 default and the tie rule see to it."""
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias)
    gen = torch.Generator().manual_seed(seed + 1)

    def nudged(t: torch.Tensor) -> torch.Tensor:
        return t * (1 + 1e-12 * torch.randn(t.shape, generator=gen, dtype=F64))

    for form in ("gram", "residual"):
        base = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], form=form)
        moved = greedy_forward_selection(
            nudged(inst["H"]), nudged(inst["W2"]), nudged(inst["Y"]), k, bias=inst["bias"], form=form
        )
        assert moved.indices.tolist() == base.indices.tolist(), form


@given(seed=st.integers(0, 10**6), size=sizes, k=st.integers(1, 8), with_bias=st.booleans())
def test_default_is_float64_on_the_cpu_and_matches_the_naive_twin(seed, size, k, with_bias):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias, dtype=torch.float32)
    naive = greedy_forward_selection_naive(inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"])
    explicit = greedy_forward_selection(
        inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], dtype=F64, device="cpu", form="gram"
    )
    for form in ("gram", "residual"):
        default = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], form=form)
        assert default.indices.tolist() == explicit.indices.tolist() == naive.indices.tolist(), form
        assert default.indices.device.type == "cpu"


def test_bad_dtype_or_device_raise_naming_the_argument():
    inst = make_instance(0, 5, 4, 1)
    with pytest.raises(ValueError, match="dtype"):
        greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 2, dtype=torch.int64)
    with pytest.raises(ValueError, match="device"):
        greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 2, device="no-such-device")


@given(seed=st.integers(0, 10**6), size=sizes, k=st.integers(1, 12), with_bias=st.booleans())
def test_float32_choices_are_eps_optimal_in_float64(seed, size, k, with_bias):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias, dtype=torch.float32)
    inst64 = {key: (None if v is None else v.to(F64)) for key, v in inst.items()}
    atom_norms = torch.stack(
        [
            (n * inst64["H"][:, r : r + 1] * inst64["W2"][r] + (0 if inst64["bias"] is None else inst64["bias"])).norm()
            for r in range(n)
        ]
    )
    gmax = float(atom_norms.max())
    tie_unit = (gmax + float(inst64["Y"].norm())) * gmax
    for form in ("gram", "residual"):
        result = greedy_forward_selection(
            inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], form=form, dtype=torch.float32
        )
        for step in range(1, k + 1):
            prefix = result.indices[: step - 1].tolist()
            losses = exact_candidate_losses(inst64, prefix)
            chosen = int(result.indices[step - 1])
            slack = 1e-4 * step * tie_unit / (2 * step**2)  # float32 Gram round-off ~ k * 1e-7 * max|K|, with room
            assert float(losses[chosen]) <= float(losses.min()) + slack, (form, step)
            assert result.losses[step - 1] == pytest.approx(float(losses[chosen]), rel=1e-12, abs=1e-12)


@given(seed=st.integers(0, 10**6), size=sizes, k=st.integers(1, 8), with_bias=st.booleans())
def test_float64_compute_from_float32_activations_with_chunked_build_matches_naive(seed, size, k, with_bias):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias, dtype=torch.float32)
    naive = greedy_forward_selection_naive(inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], dtype=F64)
    for form in ("gram", "residual"):
        # A limit of exactly the N x N float64 Gram forces row chunks of N/4 rows in the conversion.
        fast = greedy_forward_selection(
            inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"], dtype=F64, form=form, memory_limit_bytes=n * n * 8
        )
        assert fast.indices.tolist() == naive.indices.tolist(), form


@given(seed=st.integers(0, 10**6), size=sizes, with_bias=st.booleans())
def test_atom_gram_is_the_gram_of_the_atoms(seed, size, with_bias):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias)
    atoms = torch.stack([subnetwork_output(inst, torch.tensor([r])) for r in range(n)])
    expected = torch.einsum("rmc,qmc->rq", atoms, atoms)
    gram = atom_gram(inst["H"], inst["W2"], inst["bias"])
    torch.testing.assert_close(gram, expected, rtol=1e-10, atol=1e-9 * float(expected.abs().max()))
    chunked = atom_gram(inst["H"].float(), inst["W2"].float(), inst["bias"], dtype=F64, memory_limit_bytes=n * n * 8)
    torch.testing.assert_close(chunked, atom_gram(inst["H"].float(), inst["W2"].float(), inst["bias"], dtype=F64))


@given(seed=st.integers(0, 10**6), size=sizes)
def test_atom_spread_matches_its_definition(seed, size):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs)
    atoms = torch.stack([subnetwork_output(inst, torch.tensor([r])) for r in range(n)])
    dense = inst["H"] @ inst["W2"]
    torch.testing.assert_close(atoms.mean(0), dense)
    brute = float((atoms - dense).square().sum()) / n
    assert atom_spread(inst["H"], inst["W2"]) == pytest.approx(brute, rel=1e-10, abs=1e-10)


@given(seed=st.integers(0, 10**6), size=sizes, k=st.integers(1, 15), with_bias=st.booleans())
def test_greedy_with_replacement_obeys_lemma_a(seed, size, k, with_bias):
    m, n, outputs = size
    inst = make_instance(seed, m, n, outputs, with_bias=with_bias)
    result = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], k, bias=inst["bias"])
    dense = inst["H"] @ inst["W2"] + (0 if inst["bias"] is None else inst["bias"])
    dense_loss = 0.5 * float((dense - inst["Y"]).square().sum())
    spread = atom_spread(inst["H"], inst["W2"])
    for step in range(1, k + 1):
        bound = lemma_a_bound(dense_loss, spread, step, 0.5)
        assert result.losses[step - 1] <= bound * (1 + 1e-12) + 1e-12


def test_without_replacement_takes_distinct_neurons_and_all_of_them_at_k_equal_n():
    inst = make_instance(3, 20, 9, 2)
    result = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 9, replacement=False)
    assert sorted(result.indices.tolist()) == list(range(9))
    assert result.losses[-1] == pytest.approx(0.5 * float((inst["H"] @ inst["W2"] - inst["Y"]).square().sum()))


def test_subsampling_is_seeded_and_restricts_the_candidates():
    inst = make_instance(5, 40, 30, 3)
    one = dict(n_candidates=1, seed=11)
    first = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 25, **one)
    again = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 25, **one)
    assert torch.equal(first.indices, again.indices)
    # One candidate per step: the choice is the seeded draw itself, whatever its loss.
    draws = np.random.default_rng(11)
    expected = [int(draws.choice(np.arange(30), size=1, replace=False)[0]) for _ in range(25)]
    assert first.indices.tolist() == expected


def test_auto_form_follows_memory_and_cost():
    inst = make_instance(1, 30, 20, 2)
    assert greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 10).form == "gram"
    small = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 10, memory_limit_bytes=20 * 20 * 8 - 1)
    assert small.form == "residual"
    few_steps = greedy_forward_selection(inst["H"], inst["W2"], inst["Y"], 2)  # N = 20 > 2 k C = 8
    assert few_steps.form == "residual"


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(k=0), "k must be a positive integer"),
        (dict(k=21, replacement=False), r"k must lie in \[1, N\]"),
        (dict(W2=torch.ones(19, 2, dtype=F64)), "W2 must have shape"),
        (dict(Y=torch.ones(29, 2, dtype=F64)), "Y must have shape"),
        (dict(bias=torch.ones(3, dtype=F64)), "bias must have shape"),
        (dict(H=torch.full((30, 20), math.nan, dtype=F64)), "H must be finite"),
        (dict(Y=torch.full((30, 2), math.inf, dtype=F64)), "Y must be finite"),
        (dict(form="fast"), "form must be one of"),
        (dict(n_candidates=21), "n_candidates must lie in"),
        (dict(dtype=torch.float16), "dtype must be"),
        (dict(form="gram", memory_limit_bytes=100), "memory_limit_bytes=100"),
        (dict(b1=torch.zeros(20, dtype=F64)), "b1 was given without W1"),
        (dict(W1=torch.zeros(19, 3, dtype=F64)), "W1 must have shape"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(change, match):
    inst = make_instance(2, 30, 20, 2)
    args = {"H": inst["H"], "W2": inst["W2"], "Y": inst["Y"], "k": 5}
    args.update(change)
    with pytest.raises(ValueError, match=match):
        greedy_forward_selection(**args)


def test_bench_command_quick_gfs_prints_valid_json(capsys):
    import argparse
    import json

    from ebtheory.cli import bench as cmd_bench

    parser = argparse.ArgumentParser()
    cmd_bench.add_arguments(parser)
    assert cmd_bench.run(parser.parse_args(["--which", "gfs", "--quick"])) == 0
    result = json.loads(capsys.readouterr().out)["gfs"]
    assert result["per_step"] and all(row["identical_choices"] for row in result["per_step"])
    assert {"naive_s_per_step", "gram_s_per_step", "residual_s_per_step"} <= set(result["per_step"][0])
    assert result["end_to_end"]["k"] == 30 and result["end_to_end"]["form"] in ("gram", "residual")
    from ebtheory.verify.bench.gfs_bench import gfs_markdown_table

    assert "| N | m | C |" in gfs_markdown_table(result)
