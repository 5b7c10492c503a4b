"""One computation per loaded run: `per_run(fn)` memoises fn(run) on the RunRecord object itself.

The report and every figure of one command receive the same RunRecord; what they share (the analysis,
the spectral prediction) is computed once for it. The memo lives and dies with the record (a weak
reference), so nothing outlives the command and a reloaded run is computed afresh.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TypeVar

from ebtheory.verify.records import RunRecord

Result = TypeVar("Result")


def per_run(fn: Callable[[RunRecord], Result]) -> Callable[[RunRecord], Result]:
    """fn, computed at most once per RunRecord object (keyed by identity: records are frozen dataclasses
    whose field-wise equality would be costly; exceptions are not memoised)."""
    memo: dict[int, tuple[weakref.ref[RunRecord], Result]] = {}

    @functools.wraps(fn)
    def once(run: RunRecord) -> Result:
        key = id(run)
        held = memo.get(key)
        if held is not None and held[0]() is run:
            return held[1]
        result = fn(run)
        memo[key] = (weakref.ref(run, lambda _: memo.pop(key, None)), result)
        return result

    return once
