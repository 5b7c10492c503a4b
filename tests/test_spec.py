"""Specs: validation, --set overrides, the run-directory hash, and the pinned preset hashes."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from ebtheory.verify.presets import PRESETS, get_preset
from ebtheory.verify.spec import ExperimentSpec, log_checkpoints, run_dir_name, spec_from_dict, with_overrides

# Pinned so that old results stay findable: a change here moves every recorded run of the preset.
# Moved once, before any recorded result was published, when the presets took evenly spaced
# Early-Bird mask times (earlybird_masks).
PINNED_HASHES = {
    "tiny": "df52ff9a5c40",
    "quick": "c0041dc73335",
    "fashion": "45d1f361f716",
    "mnist-paper": "ead6784cc85d",
    "cnn": "8e186373a434",
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
    assert get_preset("quick").dataset == "digits"
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
