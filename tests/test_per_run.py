"""analysis.per_run: one computation per loaded run, shared by the report and the figures of a command."""

from __future__ import annotations

import gc

import pytest

from ebtheory.verify.analysis.per_run import per_run
from ebtheory.verify.records import load_run


def test_per_run_computes_once_per_record_object_and_forgets_a_collected_record(tiny_run_dir):
    calls: list[int] = []

    @per_run
    def count(run):
        calls.append(id(run))
        return len(calls)

    first = load_run(tiny_run_dir)
    assert count(first) == 1 and count(first) == 1  # the second call is the memo
    second = load_run(tiny_run_dir)  # an equal record, another object: computed afresh
    assert count(second) == 2 and count(first) == 1
    del first
    gc.collect()
    third = load_run(tiny_run_dir)
    assert count(third) == 3 and count(second) == 2 and len(calls) == 3


def test_per_run_does_not_memoise_an_exception(tiny_run):
    attempts: list[int] = []

    @per_run
    def fails_once(run):
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first call fails")
        return "second"

    with pytest.raises(ValueError, match="first call"):
        fails_once(tiny_run)
    assert fails_once(tiny_run) == "second" and fails_once(tiny_run) == "second" and len(attempts) == 2


def test_report_and_figure_i_share_the_default_prediction(tiny_run):
    from ebtheory.verify.analysis.prediction import default_prediction
    from ebtheory.verify.report import spectral_prediction

    assert spectral_prediction(tiny_run) is default_prediction(tiny_run)
