"""verify/bench/unit_phases.py: the per-phase CPU split of one unit adds up, and bad arguments are named.
No time is asserted (benchmarks measure; README, Benchmarks)."""

from __future__ import annotations

import pytest

from ebtheory.verify.bench.unit_phases import unit_phases


def test_unit_phases_on_tiny_add_up_and_count_the_gd_loop():
    result = unit_phases("tiny", 16, seed=1)
    phases = result["phases_s"]
    assert isinstance(phases, dict)
    # Every phase is non-negative; "other checkpoint work" is the checkpoint callbacks' time less the named
    # parts, so it can go negative if a part counts calls made outside the checkpoints, or counts them twice.
    assert all(seconds >= 0 for seconds in phases.values()), phases
    top = ("data and set-up", "pre-training GD", "checkpoints", "unit summary (constants, H_inf spectrum, t*)")
    assert sum(phases[name] for name in top) <= phases["total"] + 1e-3
    # The checkpoint work is measured: every tiny checkpoint runs GFS, fine-tuning and lambda_min(H(t)).
    assert phases["checkpoints: GFS selection (each target)"] > 0
    assert phases["checkpoints: fine-tuning GD"] > 0
    assert phases["checkpoints: lambda_min(H(t))"] > 0
    gd = result["pretraining_gd"]
    assert isinstance(gd, dict) and gd["iterations"] == 101 and gd["gflops_per_s"] > 0


@pytest.mark.parametrize(
    ("preset", "m", "message"),
    [("cnn", 250, "preset must be a full-batch GD two-layer NTK preset"), ("tiny", 17, "m must be one of")],
)
def test_unit_phases_refuses_what_it_cannot_split(preset, m, message):
    with pytest.raises(ValueError, match=message):
        unit_phases(preset, m)
