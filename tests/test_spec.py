"""Specs: validation, --set overrides, the run-directory hash, and the pinned preset hashes."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch

from ebtheory.verify.presets import PRESETS, get_preset
from ebtheory.verify.spec import ExperimentSpec, log_checkpoints, run_dir_name, spec_from_dict, with_overrides

# Pinned so that old results stay findable: a change here moves every recorded run of the preset.
# Moved when the presets took evenly spaced Early-Bird mask times (earlybird_masks), and again for
# quick, fashion and mnist-paper when they took the 64-checkpoint fine grid (issue 10.2) and quick
# 5 sizes x 5 seeds (issue 10.4): their recorded runs (quick-c0041dc73335, fashion-45d1f361f716) are
# of the old specs and stay findable under the old hashes.
PINNED_HASHES = {
    "tiny": "b3ffec3b0c48",  # moved for dtype float64 (docs/theory.md, section 7.3; was df52ff9a5c40)
    "quick": "6c12d26ad4f0",  # moved for dtype float64 (was 3675dc103e7e)
    "fashion": "b58156744144",  # moved for dtype float64 (was b28f1120d551)
    "mnist-paper": "d7da9b226a37",  # moved for dtype float64 (was 1e3974769c0c)
    "paper-mlp": "cb4578abed92",
    "cnn": "807afec58816",  # moved for issue 12.3: the paper-cnn regime at smoke size (was 8e186373a434)
    "paper-cnn": "7b95e736e1a9",
    "certified": "dc66e9da53d2",
}


def test_preset_hashes_are_pinned():
    assert {name: spec.hash for name, spec in PRESETS.items()} == PINNED_HASHES


def test_hash_covers_only_non_default_hashed_fields():
    assert ExperimentSpec().hash == hashlib.sha256(b"{}").hexdigest()[:12]
    spec = ExperimentSpec(eta=0.5)
    assert spec.hash == hashlib.sha256(b'{"eta":0.5}').hexdigest()[:12]
    # data_dir says where files are, not what is computed: it must not move results.
    assert dataclasses.replace(spec, data_dir="/somewhere").hash == spec.hash
    assert dataclasses.replace(spec, k=3).hash != spec.hash
    assert run_dir_name(spec) == f"custom-{spec.hash}"


def test_presets_are_valid_and_meet_the_issue_minimums():
    for name, spec in PRESETS.items():
        assert len(spec.ms) >= 4 and len(spec.seeds) >= 3, name
        assert spec.checkpoints[0] == 0 and len(spec.checkpoints) >= 5, name
        assert spec_from_dict(spec.to_dict()) == spec
    quick = get_preset("quick")
    assert quick.dataset == "digits" and len(quick.ms) >= 5 and len(quick.seeds) >= 5  # issue 10.4
    for name in ("quick", "fashion", "mnist-paper"):
        assert len(get_preset(name).checkpoints) >= 60, name  # issue 10.2
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("nope")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"ms": (10, 20, 30)}, "ms"),
        ({"ms": (10, 30, 20, 40)}, "ms"),
        ({"seeds": (0, 1)}, "seeds"),
        ({"seeds": (0, 0, 1)}, "seeds"),
        ({"checkpoints": (1, 2, 3)}, "checkpoints"),
        ({"eta": 0.0}, "eta"),
        ({"eta": float("inf")}, "eta"),
        ({"eps": 1.0}, "eps"),
        ({"k": 0}, "k"),
        ({"k": 600, "replacement": False, "width": 512}, "k"),
        ({"targets": ()}, "targets"),
        ({"baselines": ("lottery",)}, "baselines"),
        ({"model": "transformer"}, "model"),
        ({"rel_tol": -1.0}, "rel_tol"),
        ({"threshold_loss": "max"}, "threshold_loss"),
    ],
)
def test_validation_names_the_field_and_value(changes, field):
    with pytest.raises(ValueError, match=rf"^{field} must be .*got {field}="):
        ExperimentSpec(**changes)


def test_overrides_parse_types_and_change_the_hash():
    base = get_preset("tiny")
    spec = with_overrides(base, ["ms=10,20,40,80", "eta=0.5", "replacement=false", "targets=dense", "k=3"])
    assert spec.ms == (10, 20, 40, 80) and spec.eta == 0.5 and spec.replacement is False
    assert spec.targets == ("dense",) and spec.k == 3 and spec.hash != base.hash
    assert with_overrides(base, []) == base
    with pytest.raises(ValueError, match="spec field"):
        with_overrides(base, ["nope=1"])
    with pytest.raises(ValueError, match="key=value"):
        with_overrides(base, ["eta"])
    with pytest.raises(ValueError, match="--set k needs"):
        with_overrides(base, ["k=three"])
    with pytest.raises(ValueError, match="^ms must be"):
        with_overrides(base, ["ms=10,20"])


def test_log_checkpoints_is_log_spaced_from_zero():
    grid = log_checkpoints(1000, 4)
    assert grid == (0, 1, 10, 100, 1000)
    with pytest.raises(ValueError):
        log_checkpoints(0, 3)


def test_earlybird_mask_times():
    from ebtheory.verify.spec import earlybird_times

    spec = ExperimentSpec(checkpoints=(0, 1, 3, 10, 100), earlybird_masks=5)
    assert earlybird_times(spec) == (0, 25, 50, 75, 100)
    assert earlybird_times(dataclasses.replace(spec, earlybird_masks=0)) == spec.checkpoints
    with pytest.raises(ValueError, match="earlybird_masks"):
        ExperimentSpec(earlybird_masks=3, earlybird_window=5)


def test_step_size_scaling():
    from ebtheory.verify.spec import step_size

    spec = ExperimentSpec(ms=(100, 200, 400, 800), eta=0.01, finetune_eta=0.002)
    assert [step_size(spec, m) for m in spec.ms] == [0.01] * 4
    scaled = dataclasses.replace(spec, eta_scaling="inverse_m")
    assert [step_size(scaled, m) for m in spec.ms] == pytest.approx([0.08, 0.04, 0.02, 0.01])
    assert step_size(scaled, 200, finetune=True) == pytest.approx(0.008)
    assert scaled.hash != spec.hash and spec.hash == dataclasses.replace(spec, eta_scaling="fixed").hash
    with pytest.raises(ValueError, match="eta_scaling"):
        ExperimentSpec(eta_scaling="sqrt")


# ---------------------------------------------------------------- validate up front (issue 14.5)


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"earlybird_masks": 300_000_000}, "earlybird_masks", "100000"),
        ({"imp_rounds": 100_000_000}, "imp_rounds", "100]"),
        ({"k": 10**9}, "k", "<= 1e\\+06"),
        ({"checkpoints": tuple(range(20_000))}, "checkpoints", "10000"),
        ({"checkpoints": (0, 10**9)}, "checkpoints", "at most"),
        ({"finetune_steps": 10**9}, "finetune_steps", "1e\\+08"),
        ({"width": 10**10, "k": 32}, "width", "GiB"),
        ({"ms": (1000, 2000, 4000, 10**6), "width": 10**5}, "width", "GiB"),
        ({"earlybird_ratio": 0.999999}, "earlybird_ratio", "at least one"),
        ({"width": 1, "k": 1, "earlybird": False}, "width", ">= 2"),
        ({"kappa": 1e-300}, "kappa", "normal floats"),
        ({"kappa": 1e300}, "kappa", "normal floats"),
        ({"eta": 1e300}, "eta", "as run"),
        ({"eta": 1e-14, "eta_scaling": "inverse_m", "ms": (1, 2, 3, 10**20)}, "ms", "sizes"),
        ({"eta": 1e14, "eta_scaling": "inverse_m", "ms": (2, 20, 200, 2000)}, "eta", "as run"),
        ({"finetune_eta": 1e300}, "finetune_eta", "as run"),
        ({"finetune_eta": 0.0, "model": "deep_mlp", "baselines": ()}, "finetune_eta", "two-layer"),
        ({"k": 600, "width": 512, "earlybird": False}, "k", "baselines"),
        ({"model": "deep_mlp", "mlp_widths": (8, 8), "k": 8, "baselines": (), "finetune_eta": 0.01}, "k", "auto"),
        ({"mlp_widths": ()}, "mlp_widths", "positive"),
        ({"cnn_widths": (0,)}, "cnn_widths", "positive"),
        ({"targets": ("labels", "labels")}, "targets", "subset"),
        ({"abs_tol": float("nan")}, "abs_tol", "float"),
        ({"k": True}, "k", "int"),
        ({"width": 64.0}, "width", "int"),
        ({"seeds": (0, 1, "2")}, "seeds", "int"),
        ({"replacement": 1}, "replacement", "bool"),
    ],
)
def test_fields_that_later_code_cannot_run_are_refused_up_front(changes, field, words):
    with pytest.raises(ValueError, match=rf"^{field} must be .*{words}.*; got {field}="):
        ExperimentSpec(**changes)


def test_extreme_but_valid_numbers_are_accepted():
    extreme = ExperimentSpec(kappa=1e-12, eta=1e-20, earlybird_ratio=0.99, width=512, k=32)
    assert (extreme.kappa, extreme.eta, extreme.earlybird_ratio) == (1e-12, 1e-20, 0.99)
    deep = ExperimentSpec(model="deep_mlp", mlp_widths=(64, 32), k=16, baselines=(), finetune_eta=0.01)
    assert deep.mlp_widths == (64, 32)
    # sgd with batch_size 0 is full batch, as the field's help says: the unit trains on batches of m
    from ebtheory.verify.context import UnitContext

    sgd = ExperimentSpec(optimizer="sgd", batch_size=0)
    context = UnitContext(spec=sgd, m=100, seed=0, data=None, device=torch.device("cpu"))  # type: ignore[arg-type]
    assert context.train_config().batch_size == 100


def test_unit_memory_estimate_grows_with_width_and_m():
    from ebtheory.verify.spec import estimate_unit_bytes

    base = ExperimentSpec()
    wider = dataclasses.replace(base, width=2 * base.width)
    assert estimate_unit_bytes(wider) > estimate_unit_bytes(base) > 8 * max(base.ms) * base.width


def test_fine_checkpoints_have_a_log_head_and_a_dense_tail():
    from ebtheory.verify.spec import FINE_GRID_COUNT, fine_checkpoints

    grid = fine_checkpoints(10_000)
    assert len(grid) == FINE_GRID_COUNT >= 60 and grid[0] == 0 and grid[-1] == 10_000
    assert all(a < b for a, b in zip(grid, grid[1:]))
    head = [t for t in grid if 0 < t <= 1000]
    tail = [t for t in grid if t > 1000]
    ratios = [b / a for a, b in zip(head[5:], head[6:])]
    assert max(ratios) / min(ratios) < 1.6  # geometric spacing, up to rounding
    gaps = [b - a for a, b in zip(tail, tail[1:])]
    assert max(gaps) - min(gaps) <= 1 and max(gaps) < 300  # evenly spaced, far finer than a log grid there
    assert fine_checkpoints(100) == tuple(sorted(set(fine_checkpoints(100)))) and len(fine_checkpoints(100)) == 64
    assert fine_checkpoints(20) == tuple(range(21))
    for bad in ({"t_max": 0}, {"t_max": 100, "count": 2}, {"t_max": 100, "tail_fraction": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad)) if len(bad) == 1 else list(bad)[-1]):
            fine_checkpoints(**bad)


def test_the_memory_estimate_counts_the_m_by_m_grams_only_where_a_unit_forms_them():
    from ebtheory.verify.presets import PAPER_MLP
    from ebtheory.verify.spec import DENSE_GRAM_MAX_M, H_INF_SPECTRUM_MAX_M, estimate_unit_bytes

    def at(m: int) -> int:
        return estimate_unit_bytes(dataclasses.replace(PAPER_MLP, ms=(m - 3, m - 2, m - 1, m)))

    N, d = PAPER_MLP.width, 784
    assert at(60_000) == 12 * 60_000 * N + 4 * N * d + 8 * N * N  # H_inf and the hidden Gram are skipped there
    assert at(60_000) < 2 * 2**30
    assert (
        at(H_INF_SPECTRUM_MAX_M) - (12 * H_INF_SPECTRUM_MAX_M * N + 4 * N * d + 8 * N * N)
        == 16 * H_INF_SPECTRUM_MAX_M**2
    )
    assert at(DENSE_GRAM_MAX_M) - (12 * DENSE_GRAM_MAX_M * N + 4 * N * d + 8 * N * N) == 24 * DENSE_GRAM_MAX_M**2
    wide = dataclasses.replace(PAPER_MLP, dtype="float64", ms=(59_997, 59_998, 59_999, 60_000))
    assert estimate_unit_bytes(wide) == 16 * 60_000 * N + 8 * N * d + 8 * N * N  # float64 training tensors


def test_headers_name_the_subnetwork_size_that_decides_it():
    from ebtheory.verify.presets import PAPER_CNN, QUICK
    from ebtheory.verify.spec import subnetwork_size

    assert subnetwork_size(QUICK) == "k = 128"
    assert subnetwork_size(PAPER_CNN) == "keeping 0.5 of each layer's units"  # its k is unused


def test_dtype_and_input_jitter_are_checked_with_the_range_named():
    base = ExperimentSpec()
    assert base.dtype == "float32" and base.input_jitter == 0.0
    with pytest.raises(ValueError, match=r"dtype must be one of \('float32', 'float64'\); got dtype='float16'"):
        dataclasses.replace(base, dtype="float16")
    # 1e-12 rounds away in float32: refused rather than a check that cannot fail
    with pytest.raises(ValueError, match=r"input_jitter must be 0, or in \[2.38e-07, 0.001\] for dtype 'float32'"):
        dataclasses.replace(base, input_jitter=1e-12)
    assert dataclasses.replace(base, dtype="float64", input_jitter=1e-12).input_jitter == 1e-12
    with pytest.raises(ValueError, match="input_jitter"):
        dataclasses.replace(base, dtype="float64", input_jitter=0.01)
    assert dataclasses.replace(base, dtype="float32").hash == base.hash  # the default: old runs keep their hash


def test_float64_specs_train_and_measure_in_float64():
    from ebtheory.verify.presets import TINY
    from ebtheory.verify.unit import build_model, load_unit_data

    assert TINY.dtype == "float64"
    data = load_unit_data(TINY, 16, 0)
    model = build_model(TINY, data, 0)
    assert data.X.dtype == data.Y.dtype == data.X_test.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in model.parameters())
    single = dataclasses.replace(TINY, dtype="float32")
    assert load_unit_data(single, 16, 0).X.dtype == torch.float32
    assert torch.equal(load_unit_data(single, 16, 0).X.to(torch.float64), data.X)  # an exact widening
